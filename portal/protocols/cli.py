"""The `protocol` command group: schema, check and the REDCap/ODM/XLSForm importers.

None of these commands needs the database, so they run without an application context.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
from flask.cli import AppGroup

from portal.protocols.importers.common import ImportFormatError, ImportReport, dump_yaml
from portal.protocols.importers.odm import import_odm_file
from portal.protocols.importers.redcap import import_redcap_files
from portal.protocols.importers.xlsform import import_xlsform_file
from portal.protocols.loader import ProtocolDefinitionError, check_path, load_path, load_text
from portal.protocols.schema import json_schema

protocol_cli = AppGroup("protocol", help="Describe, check and import PUT-SP protocol definitions.")

_DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")


@protocol_cli.command("schema", with_appcontext=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the schema to this file instead of the standard output.")
def schema_command(output: Path | None) -> None:
    """Print the JSON Schema of a protocol definition (for editors)."""
    text = json.dumps(json_schema(), indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"Wrote {output}")


def _definition_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in _DEFINITION_SUFFIXES)
        else:
            files.append(path)
    return files


@protocol_cli.command("check", with_appcontext=False)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def check_command(paths: tuple[Path, ...]) -> None:
    """Validate definitions and run the compliance rules; exit 1 on any problem."""
    files = _definition_files(paths)
    if not files:
        raise click.ClickException("no definition file (*.yaml, *.yml, *.json) found")
    failed = 0
    for path in files:
        problems = check_path(path)
        if problems:
            failed += 1
            for problem in problems:
                click.echo(str(problem), err=True)
        else:
            loaded = load_path(path)
            for warning in loaded.warnings:
                click.echo(f"warning: {warning}", err=True)
            pending = (f"; {len(loaded.warnings)} point(s) to settle before "
                       "`protocol install`") if loaded.warnings else ""
            click.echo(f"{path}: OK ({loaded.key} v{loaded.definition.version}, "
                       f"sha256 {loaded.content_hash[:12]}){pending}")
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} definition(s) cannot be installed")


def _output_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options every importer takes: where to write, and --strict."""
    command = click.option("--strict", is_flag=True,
                           help="Fail, writing nothing, if any field is rejected.")(command)
    return click.option("-o", "--output", required=True,
                        type=click.Path(dir_okay=False, path_type=Path),
                        help="Where to write the definition (YAML).")(command)


def _import(convert: Callable[[], tuple[dict, ImportReport]], output: Path, strict: bool,
            source: str) -> None:
    """Convert a source file (a file it cannot read is a clear error), print the report, then
    write the definition if allowed and if it passes the checks."""
    try:
        definition, report = convert()
    except ImportFormatError as error:
        raise click.ClickException(str(error)) from None
    click.echo(report.render())
    if strict and report.rejected:
        raise click.ClickException(
            f"{len(report.rejected)} field(s) rejected; nothing written (--strict)"
        )
    text = dump_yaml(definition, source)
    try:
        load_text(text, str(output), "yaml")  # the output must pass `protocol check`
    except ProtocolDefinitionError as error:
        raise click.ClickException(
            f"the imported definition does not pass the checks (please report):\n{error}"
        ) from None
    output.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {output}")


@protocol_cli.command("import-redcap", with_appcontext=False)
@click.argument("dictionary", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--events", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The project's events CSV (event_name, arm_num, unique_event_name, ...).")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The instrument-event mapping CSV (arm_num, unique_event_name, form).")
@click.option("--repeating", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The repeating instruments and events CSV (event_name, form_name, ...).")
@_output_options
def import_redcap_command(dictionary: Path, events: Path | None, mapping: Path | None,
                          repeating: Path | None, output: Path, strict: bool) -> None:
    """Convert a REDCap data dictionary into a protocol definition, with a report."""
    _import(lambda: import_redcap_files(dictionary, events, mapping, repeating), output, strict,
            str(dictionary))


@protocol_cli.command("import-odm", with_appcontext=False)
@click.argument("study", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_output_options
def import_odm_command(study: Path, output: Path, strict: bool) -> None:
    """Convert CDISC ODM 1.3 metadata into a protocol definition, with a report."""
    _import(lambda: import_odm_file(study), output, strict, str(study))


@protocol_cli.command("import-xlsform", with_appcontext=False)
@click.argument("form", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_output_options
def import_xlsform_command(form: Path, output: Path, strict: bool) -> None:
    """Convert an XLSForm (.xlsx, or the legacy CSV layout) into a protocol definition."""
    _import(lambda: import_xlsform_file(form), output, strict, str(form))


@protocol_cli.command("install")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--operator", help="Who runs the installation (default: your system login).")
def install_command(path: Path, operator: str | None) -> None:
    """Install a definition as the protocol version in force (refused if it breaks a rule)."""
    from flask import current_app

    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.protocols.services import IncompatibleVersion, ReleaseBlocked, install_protocol

    with new_session(current_app) as session:
        try:
            installed = install_protocol(session, cli_actor(operator), path)
        except ProtocolDefinitionError as error:
            raise click.ClickException(f"{path} cannot be installed:\n{error}") from None
        except IncompatibleVersion as error:
            lines = "\n".join(f"  - {b}" for b in error.breaks)
            raise click.ClickException(
                f"{path} would break stored submissions:\n{lines}"
            ) from None
        except ReleaseBlocked as error:
            session.commit()  # the install changed nothing; keep why it was refused
            raise click.ClickException(f"{path} is not put in force: {error}") from None
        session.commit()
        version = installed.version
        state = "installed" if installed.created else "already installed"
        click.echo(f"{version.protocol_key} version {version.version_label} {state} "
                   f"(content {version.content_hash[:12]}), now in force.")
