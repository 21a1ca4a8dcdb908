"""`portal users ...`: accounts from the command line (the first administrator, lost access).

Every command acts as the CLI operator (`cli_actor()`) and is audited like its web page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale

from portal.accounts import services
from portal.accounts.notifications import notify
from portal.audit.services import cli_actor
from portal.db import new_session
from portal.errors import PortalError

users_cli = AppGroup("users", help="Create, disable, reset and unlock accounts.")


def _in_english(command: Callable[..., Any]) -> Callable[..., Any]:
    # Messages of the services are translated; outside a request there is no browser language.
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with force_locale("en"):
            return command(*args, **kwargs)

    return wrapper


def _user(session, login: str):  # noqa: ANN001, ANN202
    user = services.user_by_login(session, login)
    if user is None:
        raise click.ClickException(f"No account has the login {login!r}.")
    return user


def _mail_link(session, user, token: str, kind: str) -> None:  # noqa: ANN001
    link = services.activation_url(session, token)
    click.echo(f"Activation link (single use, valid 24 hours): {link}")
    if notify(current_app._get_current_object(), user, kind, link=link,  # type: ignore[attr-defined]
              hours=int(services.TOKEN_LIFETIME.total_seconds() // 3600)):
        click.echo(f"The link was also mailed to {user.email}.")
    else:
        click.echo("The link could not be mailed: give it to the person yourself.", err=True)


@users_cli.command("create")
@_in_english
@click.argument("login")
@click.option("--first-name", required=True)
@click.option("--last-name", required=True)
@click.option("--email", required=True, help="Professional e-mail address.")
@click.option("--rpps", default=None, help="RPPS number (healthcare professionals).")
@click.option("--specialty", default=None)
@click.option("--phone", default=None)
@click.option("--locale", type=click.Choice(["fr", "en"]), default=None)
def create_command(login: str, first_name: str, last_name: str, email: str, rpps: str | None,
                   specialty: str | None, phone: str | None, locale: str | None) -> None:
    """Create the account LOGIN and print its activation link (the person sets the password)."""
    with new_session(current_app) as session:
        data = services.NewAccount(login=login, first_name=first_name, last_name=last_name,
                                   email=email, phone=phone, specialty=specialty, rpps=rpps,
                                   locale=locale)
        try:
            user, token = services.create_user(session, cli_actor(), data)
        except PortalError as exc:
            raise click.ClickException(exc.message or "refused") from None
        session.commit()
        click.echo(f"Account {user.login} created for {user.full_name}.")
        _mail_link(session, user, token, "activation")


@users_cli.command("disable")
@_in_english
@click.argument("login")
def disable_command(login: str) -> None:
    """Disable LOGIN: its sessions, second factor and pending links end at once."""
    with new_session(current_app) as session:
        user = _user(session, login)
        try:
            ended = services.disable_user(session, cli_actor(), user)
        except PortalError as exc:
            raise click.ClickException(exc.message or "refused") from None
        session.commit()
        click.echo(f"Account {user.login} disabled; {ended} session(s) ended.")


@users_cli.command("reset")
@_in_english
@click.argument("login")
@click.option("--second-factor", is_flag=True,
              help="Also reset the second factor (lost telephone): the person enrols again.")
def reset_command(login: str, second_factor: bool) -> None:
    """Issue a new single-use link for LOGIN to choose a new password; print it."""
    with new_session(current_app) as session:
        user = _user(session, login)
        try:
            token = services.reset_user(session, cli_actor(), user,
                                        reset_second_factor=second_factor)
        except PortalError as exc:
            raise click.ClickException(exc.message or "refused") from None
        session.commit()
        click.echo(f"Sessions of {user.login} ended.")
        _mail_link(session, user, token, "reset" if user.is_activated else "activation")


@users_cli.command("unlock")
@_in_english
@click.argument("login")
def unlock_command(login: str) -> None:
    """Lift the login lock of LOGIN (check the person's identity first)."""
    with new_session(current_app) as session:
        user = _user(session, login)
        services.unlock_user(session, cli_actor(), user)
        session.commit()
        click.echo(f"Account {user.login} unlocked.")


@users_cli.command("force-change")
@_in_english
@click.argument("login")
def force_change_command(login: str) -> None:
    """Make LOGIN choose a new password at the next page (suspected compromise)."""
    with new_session(current_app) as session:
        user = _user(session, login)
        services.force_password_change(session, cli_actor(), user)
        session.commit()
        click.echo(f"{user.login} must choose a new password at the next login.")


@users_cli.command("list")
@_in_english
def list_command() -> None:
    """List the accounts and their state (no secret is printed)."""
    with new_session(current_app) as session:
        for user in services.list_users(session):
            state = services.account_status(user)
            click.echo(f"{user.login}\t{user.full_name}\t{state}")
