"""The importers on real files written elsewhere (tests/data/importers/, source and licence
beside each): every one imports with exit 0, names every source field in its report, passes
`protocol check`, and, once a person has completed the placeholders, installs on an empty
database and renders in French and English."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from flask_babel import force_locale
from markupsafe import escape
from openpyxl import load_workbook

from portal.protocols.cli import protocol_cli
from portal.protocols.loader import load_path
from portal.protocols.render import render_answers

CORPUS = Path(__file__).resolve().parents[1] / "data" / "importers"
REDCAP, ODM, XLSFORM = CORPUS / "redcap", CORPUS / "odm", CORPUS / "xlsform"

#: name → (command, source file, extra options)
CASES = {
    "redcapr-longitudinal": ("import-redcap", REDCAP / "redcapr-longitudinal" / "dictionary.csv",
                             ["--events", REDCAP / "redcapr-longitudinal" / "events.csv"]),
    "redcapr-validation-types": ("import-redcap",
                                 REDCAP / "redcapr-validation-types" / "dictionary.csv", []),
    "redcapr-super-wide-metadata": ("import-redcap", REDCAP / "redcapr-super-wide-metadata" /
                                    "dictionary.zip", []),
    "redcapapi-offline": ("import-redcap", REDCAP / "redcapapi-offline" / "dictionary.csv",
                          ["--events", REDCAP / "redcapapi-offline" / "events.csv",
                           "--mapping", REDCAP / "redcapapi-offline" / "mapping.csv"]),
    "redcapapi-metadata-api": ("import-redcap",
                               REDCAP / "redcapapi-metadata-api" / "dictionary.csv", []),
    "cdash-trace-xml": ("import-odm", ODM / "cdash-trace-xml" / "study.xml", []),
    "openclinica-captopril": ("import-odm", ODM / "openclinica-captopril" / "test_metadata.xml",
                              []),
    "pyxform-widgets": ("import-xlsform", XLSFORM / "pyxform-widgets" / "widgets.csv", []),
    "pyxform-spec-test": ("import-xlsform",
                          XLSFORM / "pyxform-spec-test" / "xlsform_spec_test.xlsx", []),
}


def _source(path: Path, tmp: Path) -> Path:
    """The file to import: a zipped dictionary is unzipped first, as its user would."""
    if path.suffix != ".zip":
        return path
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".csv"))
        target = tmp / Path(name).name
        target.write_bytes(archive.read(name))
    return target


def _source_fields(command: str, path: Path) -> list[str]:
    """How the report names each source field: REDCap variables, ODM ItemDef OIDs, XLSForm
    question names."""
    if command == "import-redcap":
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252")
        rows = list(csv.reader(io.StringIO(text)))
        return [row[0] for row in rows[1:] if row and row[0].strip()]
    if command == "import-odm":
        return re.findall(r'<ItemDef\s[^>]*OID="([^"]+)"', path.read_text(encoding="utf-8"))
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        sheet, header, names = None, None, []
        for row in rows:
            if row and row[0].strip():
                sheet, header = row[0].strip().lower(), None
            elif sheet == "survey" and any(c.strip() for c in row):
                if header is None:
                    header = [c.strip().lower() for c in row[1:]]
                else:
                    names.append(dict(zip(header, row[1:], strict=False)))
        rows_ = names
    else:
        sheet_ = load_workbook(path, read_only=True, data_only=True)["survey"]
        table = [list(r) for r in sheet_.iter_rows(values_only=True)]
        header = [str(c).strip().lower() if c is not None else "" for c in table[0]]
        rows_ = [dict(zip(header, r, strict=False)) for r in table[1:]]
    found = []
    for row in rows_:
        kind = str(row.get("type") or "").strip().lower()
        name = row.get("name")
        if kind and name not in (None, "") and not kind.startswith(("begin", "end")):
            found.append(str(name))
    return found


def _complete(definition: dict) -> dict:
    """What the protocol manager does before installing: product, references, bounds,
    translations and reviews (the importer left them as placeholders)."""
    definition["product"] = {"name": "Produit d'essai 10 mg", "code": "PE-10"}
    definition["indications"] = [{"code": "IND-1", "label": {"fr": "Indication d'essai",
                                                            "en": "Test indication"}}]
    definition["ansm"]["put_sp_reference"] = "PUT-SP-ESSAI"

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if set(node) == {"fr", "en"} and node["fr"] == node["en"]:
                node["fr"] = f"FR {node['en']}"
                return
            if node.get("type") in ("integer", "decimal"):
                node["min"] = max(node["min"], -99999)
                node["max"] = min(node["max"], 99999)
                if node["min"] > node["max"]:
                    node["min"] = node["max"]
            if isinstance(node.get("review"), dict):
                node["review"] = {**node["review"], "status": "confirmed",
                                  "justification": "Reviewed: the label only reads like it."}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(definition)
    return definition


def _import(name: str, tmp_path: Path) -> tuple[str, Path, Path, str]:
    command, source, extra = CASES[name]
    source = _source(source, tmp_path)
    out = tmp_path / f"{name}.yaml"
    result = CliRunner().invoke(protocol_cli, [command, str(source), *map(str, extra), "-o",
                                               str(out)])
    assert result.exit_code == 0, result.output[-3000:]
    return command, source, out, result.output


@pytest.mark.parametrize("name", list(CASES))
def test_a_real_file_imports_names_every_field_and_passes_check(name, tmp_path):
    command, source, out, output = _import(name, tmp_path)
    lines = [line for line in output.splitlines()
             if line.startswith("  ") and line.split()[0] in
             ("imported", "converted", "review", "rejected")]
    described = " ".join(re.sub(r"^\s*\S+\s+\S+", "", line, count=1) for line in lines)
    for field in _source_fields(command, source):
        wanted = {"import-redcap": f".{field} (line ", "import-odm": f"(ItemDef {field} (line "}
        needle = wanted.get(command)
        if needle is not None:
            assert needle in output, f"{field} not in the report"
        else:  # XLSForm: the report names the row's key, made from its name
            key = re.sub(r"[^a-z0-9]+", "_", field.lower()).strip("_")
            assert f".{key}" in output or f".item_{key}" in output, f"{field} not in the report"
    assert described  # every line says where the field came from
    check = CliRunner().invoke(protocol_cli, ["check", str(out)])
    assert check.exit_code == 0, check.output[-3000:]


@pytest.mark.parametrize("name", list(CASES))
def test_a_completed_import_installs_on_an_empty_database_and_renders(name, tmp_path, app, db):
    from portal.audit.services import cli_actor
    from portal.protocols.services import install_protocol

    _command, _source_path, out, _output = _import(name, tmp_path)
    definition = yaml.safe_load(out.read_text(encoding="utf-8"))
    completed = tmp_path / f"{name}-completed.yaml"
    completed.write_text(yaml.safe_dump(_complete(definition), allow_unicode=True,
                                        sort_keys=False), encoding="utf-8")
    loaded = load_path(completed)
    assert not loaded.warnings, loaded.warnings[:5]
    installed = install_protocol(db, cli_actor("corpus"), completed)
    db.commit()
    assert installed.created and installed.version.is_current
    with app.test_request_context():
        for form in loaded.definition.forms:
            label = form.sections[0].fields[0].label
            for locale in ("fr", "en"):
                with force_locale(locale):
                    page = str(render_answers(loaded, form.key, {}, locale=locale))
                assert str(escape(label.get(locale))) in page
