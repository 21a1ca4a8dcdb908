"""`portal meddra load DIR` and `portal meddra status`: the laboratory's licensed release."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

meddra_cli = AppGroup("meddra", help="Load the laboratory's MedDRA release (checks and names "
                                     "MedDRA codes).")


@meddra_cli.command("load")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--language", type=click.Choice(["fr", "en"]),
              help="The release's language (default: what meddra_release.asc says).")
@click.option("--meddra-version", "version",
              help="The MedDRA version, when the release has no meddra_release.asc.")
@click.option("--operator", help="Who loads the release (default: your system login).")
def load_command(directory: Path, language: str | None, version: str | None,
                 operator: str | None) -> None:
    """Load or replace the release of one language from its ASCII files (llt.asc, pt.asc).

    DIRECTORY is the release's MedAscii folder, or the folder that holds it.
    """
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.meddra.services import ReleaseRefused, load_release

    with new_session(current_app) as session:
        try:
            loaded = load_release(session, cli_actor(operator), directory, language, version)
        except ReleaseRefused as exc:
            raise click.ClickException(f"{directory} not loaded: {exc}") from None
        session.commit()
        release = loaded.release
        what = (f"replaces version {loaded.replaced}" if loaded.replaced
                else "first release for this language")
        click.echo(f"MedDRA {release.version} ({release.language}) loaded: "
                   f"{release.llt_count} LLTs, {release.pt_count} PTs ({what}).")
        for other in loaded.other_versions:
            click.echo(f"Warning: the other language's release is MedDRA {other}; load the "
                       f"same version in both languages.", err=True)


@meddra_cli.command("status")
def status_command() -> None:
    """Print the loaded releases (or that codes are checked for their format only)."""
    from portal.db import new_session
    from portal.i18n import local_time
    from portal.meddra.services import loaded_releases

    with new_session(current_app) as session:
        releases = loaded_releases(session)
    if not releases:
        click.echo("No MedDRA release loaded: codes are checked for their format only.")
    for release in releases:
        when = local_time(release.loaded_at, language="en")
        click.echo(f"{release.language}: MedDRA {release.version}, {release.llt_count} LLTs, "
                   f"{release.pt_count} PTs, loaded {when} by {release.loaded_by_label}")
