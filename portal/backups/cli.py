"""`portal backup`: create, verify, restore, prune and list the sealed backups."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.audit.services import cli_actor
from portal.backups import services
from portal.backups.services import BackupError
from portal.db import new_session

backup_cli = AppGroup("backup", help="Sealed backups: create, verify, restore, prune, list.")

_operator = click.option(
    "--operator",
    default=None,
    help="Who runs the command, for the audit trail (default: system login).",
)


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined]


@backup_cli.command("create")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write to (default: PORTAL_BACKUP_DIR or instance/backups).",
)
@_operator
def create_command(output: Path | None, operator: str | None) -> None:
    """Seal a consistent snapshot of the database under the backup key."""
    try:
        created = services.create_backup(_app(), cli_actor(operator), output)
    except BackupError as exc:
        raise click.ClickException(f"No backup was made: {exc}") from None
    click.echo(
        f"Backup written to {created.path} ({created.size} bytes, "
        f"{created.manifest.total_rows} rows, audit head "
        f"{created.manifest.audit_head['seq']})."
    )
    if created.copy_result:
        click.echo(f"Off-host copy: {created.copy_result}.")
        if not created.copy_ok:
            raise SystemExit(1)


@backup_cli.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--latest", is_flag=True, help="Verify the newest file of the backup directory.")
@click.option(
    "--status",
    "status_only",
    is_flag=True,
    help="Only check (with --latest) that the newest verified backup is recent "
    "enough: exit 1 otherwise (monitoring).",
)
@_operator
def verify_command(
    file: Path | None, latest: bool, status_only: bool, operator: str | None
) -> None:
    """Authenticate FILE, restore it into a scratch database and check what it holds."""
    app = _app()
    if status_only:
        with new_session(app) as session:
            status = services.verification_status(
                session, timedelta(hours=int(app.config["BACKUP_VERIFIED_MAX_AGE_HOURS"]))
            )
        click.echo(status.message[0].upper() + status.message[1:])
        raise SystemExit(0 if status.ok else 1)
    if latest == (file is not None):
        raise click.UsageError("give either FILE or --latest.")
    path = file if file is not None else services.latest_file(app)
    if path is None:
        raise click.ClickException(f"There is no backup in {services.backup_dir(app)}.")
    result = services.verify_backup(app, path, cli_actor(operator))
    if not result.ok:
        raise click.ClickException(result.message)
    click.echo(result.message)


@backup_cli.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--database",
    "database_url",
    required=True,
    help="SQLAlchemy URL of the EMPTY database to restore into.",
)
@_operator
def restore_command(file: Path, database_url: str, operator: str | None) -> None:
    """Restore FILE into an empty database, then re-apply the purges made since."""
    try:
        restored = services.restore_backup(_app(), file, database_url, cli_actor(operator))
    except BackupError as exc:
        raise click.ClickException(f"Nothing was restored: {exc}") from None
    manifest = restored.manifest
    click.echo(
        f"Restored {manifest.total_rows} rows made on {manifest.created_at:%Y-%m-%d %H:%M} "
        f"UTC (schema {manifest.schema_revision or 'unknown'}); "
        f"{restored.purged_again} purged cases purged again."
    )
    for note in restored.notes:
        click.echo(f"Note: {note}.")
    click.echo("Point the portal at it, run `portal db upgrade`, then `portal audit verify`.")


@backup_cli.command("prune")
@_operator
def prune_command(operator: str | None) -> None:
    """Delete the backups the rotation does not keep (PORTAL_BACKUP_KEEP_*)."""
    pruned = services.prune(_app(), cli_actor(operator))
    click.echo(f"Kept {len(pruned.kept)} backups, deleted {len(pruned.deleted)}.")
    for name in pruned.deleted:
        click.echo(f"  deleted {name}")


@backup_cli.command("list")
def list_command() -> None:
    """List the recorded backups, newest first, with their size and verification."""
    app = _app()
    directory = services.backup_dir(app)
    with new_session(app) as session:
        runs = services.list_runs(session)
    if not runs:
        click.echo("No backup recorded.")
    for run in runs:
        if run.verified_at is None:
            verified = "not verified"
        else:
            verified = (
                f"{'verified' if run.verified_ok else 'REFUSED'} "
                f"{run.verified_at:%Y-%m-%d %H:%M} UTC"
            )
        where = (
            "pruned"
            if run.pruned_at
            else ("present" if (directory / run.file_name).exists() else "not in " + str(directory))
        )
        click.echo(f"{run.file_name}  {run.size} bytes  {run.total_rows} rows  {verified}  {where}")
