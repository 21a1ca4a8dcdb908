"""`portal access ...`: establishments, memberships, grants, review and expiry on the command line.

The operator of the command line is trusted (they hold the server), so grants are created
without a second person, except directly identifying health data: those stay pending until a
second administrator approves them, on the web page or with `portal access approve ID --by
LOGIN`, or at once with `grant ... --approved-by LOGIN` where LOGIN is the administrator who
approved the request (recorded as the approver; the trail notes the command line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal import clock
from portal.access import reporting, services
from portal.access.models import AccessGrant, Category, Establishment, GrantStatus, Scope
from portal.accounts.models import User
from portal.accounts.services import user_by_login
from portal.audit.services import cli_actor
from portal.db import new_session
from portal.errors import PortalError
from portal.permissions import Role

access_cli = AppGroup("access", help="Establishments, access grants, annual review, expiry.")
establishment_cli = AppGroup("establishment", help="Establishments (FINESS).")
access_cli.add_command(establishment_cli)

_DATE = click.DateTime(formats=["%Y-%m-%d"])


@contextmanager
def _transaction() -> Iterator[Session]:
    """One session committed at the end; domain errors become one line and exit code 1."""
    session = new_session(current_app._get_current_object())  # type: ignore[attr-defined]
    # Outside a request there is no browser language to follow: messages are in English.
    with force_locale("en"):
        try:
            yield session
            session.commit()
        except PortalError as exc:
            session.rollback()
            raise click.ClickException(str(exc.message or exc)) from None
        finally:
            session.close()


def find_user(session: Session, login: str) -> User:
    """Return the account with this login (case-insensitive) or fail with a clear message."""
    user = user_by_login(session, login)
    if user is None:
        raise click.ClickException(f"No account with the login {login!r}.")
    return user


def _find_establishment(session: Session, finess: str) -> Establishment:
    establishment = services.establishment_by_finess(session, finess)
    if establishment is None:
        raise click.ClickException(f"No establishment with the FINESS number {finess!r}.")
    return establishment


def _find_grant(session: Session, grant_id: int) -> AccessGrant:
    grant = session.get(AccessGrant, grant_id)
    if grant is None:
        raise click.ClickException(f"No grant #{grant_id}.")
    return grant


def _choice(values: Any) -> click.Choice:
    return click.Choice([str(v) for v in values])


# --- establishments and members --------------------------------------------------------------


@establishment_cli.command("add")
@click.argument("finess")
@click.argument("name")
@click.option("--city", default=None, help="City of the establishment.")
def establishment_add(finess: str, name: str, city: str | None) -> None:
    """Register an establishment by its FINESS number."""
    with _transaction() as session:
        made = services.create_establishment(session, cli_actor(), finess, name, city)
        click.echo(f"Establishment {made.finess} {made.name} created.")


@establishment_cli.command("list")
def establishment_list() -> None:
    """List the establishments and their number of members."""
    with _transaction() as session:
        for e in session.scalars(select(Establishment).order_by(Establishment.name)):
            click.echo(f"{e.finess}  {e.name}  {e.city or ''}  members={len(e.members)}")


@access_cli.command("member")
@click.argument("login")
@click.argument("finess")
@click.option("--remove", is_flag=True, help="Remove the person from the establishment.")
def member(login: str, finess: str, remove: bool) -> None:
    """Make LOGIN a member of the establishment FINESS (or remove them)."""
    with _transaction() as session:
        user, establishment = find_user(session, login), _find_establishment(session, finess)
        if remove:
            services.remove_member(session, cli_actor(), user, establishment)
            click.echo(f"{user.login} is no longer a member of {establishment.name}.")
        else:
            services.add_member(session, cli_actor(), user, establishment)
            click.echo(f"{user.login} is now a member of {establishment.name}.")


# --- grants ----------------------------------------------------------------------------------


@access_cli.command("grant")
@click.argument("login")
@click.argument("role", type=_choice(Role))
@click.option("--scope", required=True, type=_choice(Scope), help="Data scope.")
@click.option("--category", required=True, type=_choice(Category), help="Data category.")
@click.option("--until", "until", required=True, type=_DATE,
              help="Last day of validity (YYYY-MM-DD, local time, inclusive).")
@click.option("--from", "start", type=_DATE, default=None,
              help="First day of validity (default: now).")
@click.option("--establishment", "finess", multiple=True,
              help="FINESS of an establishment (healthcare roles; repeat for several).")
@click.option("--protocol", default=None, help="Protocol key (default: every protocol).")
@click.option("--motivation", type=_choice(services.MOTIVATIONS), default=None,
              help="Auditors: why the access is needed.")
@click.option("--reference", default=None, help="Auditors: the reference number.")
@click.option("--approved-by", "approved_by", default=None,
              help="Identifying health data: login of the administrator who approved it.")
def grant_command(login: str, role: str, scope: str, category: str, until: datetime,
                  start: datetime | None, finess: tuple[str, ...], protocol: str | None,
                  motivation: str | None, reference: str | None,
                  approved_by: str | None) -> None:
    """Give LOGIN the role ROLE with a scope, a category and an end date."""
    with _transaction() as session:
        zone = reporting.local_zone(session)
        user = find_user(session, login)
        establishments = [_find_establishment(session, f) for f in finess]
        valid_from = reporting.day_start(start.date(), zone) if start else clock.now()
        valid_until = reporting.day_end(until.date(), zone)
        approver = find_user(session, approved_by) if approved_by else None
        grant = services.request_grant(session, cli_actor(), services.GrantRequest(
            user, role, scope, category, valid_from, valid_until, establishments,
            protocol_key=protocol, motivation=motivation, motivation_reference=reference,
        ))
        if approver is not None:
            if grant.status != GrantStatus.PENDING_APPROVAL:
                raise click.ClickException("--approved-by is only for identifying health data.")
            services.approve_grant(session, approver, grant, via="cli")
        click.echo(reporting.describe(grant))
        if grant.status == GrantStatus.PENDING_APPROVAL:
            click.echo(f"Waiting for a second administrator: portal access approve {grant.id} "
                       "--by LOGIN, or the access page.")


@access_cli.command("approve")
@click.argument("grant_id", type=int)
@click.option("--by", "by", required=True, help="Login of the approving administrator.")
def approve(grant_id: int, by: str) -> None:
    """Record that administrator BY approved the pending grant GRANT_ID."""
    with _transaction() as session:
        grant = _find_grant(session, grant_id)
        services.approve_grant(session, find_user(session, by), grant, via="cli")
        click.echo(reporting.describe(grant))


def _ending(name: str, action: Callable[..., None], help_text: str) -> None:
    @access_cli.command(name, help=help_text)
    @click.argument("grant_id", type=int)
    @click.option("--reason", required=True, type=_choice(
        r for r in services.END_REASONS if r != "review_overdue"))
    def command(grant_id: int, reason: str) -> None:
        with _transaction() as session:
            grant = _find_grant(session, grant_id)
            action(session, cli_actor(), grant, reason)
            click.echo(reporting.describe(grant))


_ending("revoke", services.withdraw_grant,
        "Withdraw grant GRANT_ID; the person's open sessions end at once.")
_ending("suspend", services.suspend_grant,
        "Suspend grant GRANT_ID until it is reinstated; open sessions end at once.")


@access_cli.command("list")
@click.option("--login", default=None, help="Only this person's grants.")
@click.option("--all", "show_all", is_flag=True, help="Include ended grants.")
def list_grants(login: str | None, show_all: bool) -> None:
    """List grants (current and pending by default)."""
    with _transaction() as session:
        query = select(AccessGrant).options(selectinload(AccessGrant.establishments),
                                            selectinload(AccessGrant.user))
        if login:
            query = query.where(AccessGrant.user_id == find_user(session, login).id)
        if not show_all:
            query = query.where(AccessGrant.status.in_(
                [GrantStatus.ACTIVE, GrantStatus.PENDING_APPROVAL, GrantStatus.SUSPENDED]))
        grants = session.scalars(query.order_by(AccessGrant.id)).all()
        for grant in grants:
            click.echo(reporting.describe(grant))
        if not grants:
            click.echo("No grant.")


@access_cli.command("review")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the list to this CSV file.")
def review(csv_path: Path | None) -> None:
    """List the grants due for their annual review, grouped by manager."""
    with _transaction() as session:
        groups = services.grants_due_for_review(session)
        for group in groups:
            manager = group.manager
            click.echo(f"Manager: {manager.login} ({manager.full_name})" if manager
                       else "Manager: none (created on the command line)")
            for grant in group.grants:
                due = services.review_due_at(grant).isoformat(timespec="seconds")
                click.echo(f"  {reporting.describe(grant)}  due={due}")
        if not groups:
            click.echo("No grant is due for review.")
        if csv_path is not None:
            csv_path.write_text(reporting.export_review(session, cli_actor()), encoding="utf-8")
            click.echo(f"Written to {csv_path}.")


@access_cli.command("expire")
def expire_command() -> None:
    """Expire ended grants, disable inactive accounts, suspend overdue reviews (run daily)."""
    with _transaction() as session:
        report = services.expire(session, clock.now(), actor=cli_actor())
        click.echo(f"Expired grants: {len(report.expired_grants)}; disabled accounts: "
                   f"{len(report.disabled_users)}; suspended for overdue review: "
                   f"{len(report.suspended_grants)}.")
