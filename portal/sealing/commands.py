"""`portal keys rotate` and `portal keys retire-kek`: the key-encryption key's rotation and
retirement, run on the app's database (the areas register their sealed tables)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.audit.services import cli_actor
from portal.db import new_session
from portal.keys import KeyFileError
from portal.sealing.rotation import retire_kek, rotate_kek


@click.command("rotate")
@with_appcontext
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Rows re-wrapped per transaction.")
def rotate_command(batch_size: int) -> None:
    """Add a new key-encryption key and re-wrap every data key (resumes an interrupted run)."""
    def progress(table: str, done: int) -> None:
        click.echo(f"  {table}: {done} re-wrapped")

    with new_session(current_app) as session:
        try:
            report = rotate_kek(session, cli_actor(), batch_size=batch_size, progress=progress)
        except KeyFileError as exc:
            raise click.ClickException(str(exc)) from None
    if report.added_key:
        click.echo(f"Key-encryption key {report.to_version} added to the key file.")
    else:
        click.echo(f"Resumed the rotation to key-encryption key {report.to_version}.")
    click.echo(f"{report.total} data keys re-wrapped; no data was re-encrypted.")
    failed = sum(len(ids) for ids in report.failed.values())
    if failed:
        click.echo(f"{failed} rows failed their integrity check and were left as they are; "
                   "the data protection officer was alerted.", err=True)
    old = sorted(v for v in report.from_versions if v != report.to_version)
    if old:
        click.echo(f"Next: restart the portal, then retire the old key with `portal keys "
                   f"retire-kek {old[0]}`. Retiring is refused while a row written by a worker "
                   "that still had the old key uses it; run this command again then: with rows "
                   "left on an old key it finishes re-wrapping them and adds no new key.")


@click.command("retire-kek")
@with_appcontext
@click.argument("version", type=int)
def retire_kek_command(version: int) -> None:
    """Remove an old key-encryption key from the key file (refused while rows use it)."""
    with new_session(current_app) as session:
        try:
            retire_kek(session, cli_actor(), version)
            session.commit()
        except KeyFileError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"Key-encryption key {version} removed from the key file.")
