"""`portal meddra load DIR`: a release per language, replaced whole, refused when malformed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.meddra.models import LLT, PT, MeddraRelease, MeddraTerm
from portal.meddra.services import TermNames, code_problem, loaded_releases
from tests.meddra.conftest import ENGLISH, FRENCH


def _terms(db, language: str) -> dict[tuple[str, str], MeddraTerm]:  # noqa: ANN001
    db.expire_all()
    return {(t.level, t.code): t for t in db.scalars(
        select(MeddraTerm).join(MeddraRelease).where(MeddraRelease.language == language))}


def test_load_both_languages_from_the_ascii_files(db, runner) -> None:
    english = runner.invoke(args=["meddra", "load", str(ENGLISH)])
    assert english.exit_code == 0, english.output
    assert "MedDRA 99.0 (en) loaded: 5 LLTs, 2 PTs (first release for this language)." \
        in english.output
    french = runner.invoke(args=["meddra", "load", str(FRENCH), "--language", "fr"])
    assert french.exit_code == 0, french.output
    terms = _terms(db, "fr")
    assert terms[(LLT, "90001001")].name == "Éruption cutanée de Velnor"
    assert terms[(LLT, "90001001")].pt_code == "90001000"
    assert terms[(LLT, "90001002")].current is False
    assert terms[(PT, "90002000")].name == "Crampe de Lindqvist"
    assert _terms(db, "en")[(LLT, "90001001")].name == "Velnor skin eruption"
    entries = list(db.scalars(select(AuditEvent).where(
        AuditEvent.action == "meddra:release:load").order_by(AuditEvent.seq)))
    assert [(e.target_ref, e.details["llt_count"], e.details["pt_count"]) for e in entries] \
        == [("en@99.0", 5, 2), ("fr@99.0", 5, 2)]
    assert entries[0].actor_kind == "cli"
    status = runner.invoke(args=["meddra", "status"])
    assert "en: MedDRA 99.0, 5 LLTs, 2 PTs" in status.output
    assert "fr: MedDRA 99.0, 5 LLTs, 2 PTs" in status.output


def test_status_without_a_release_says_codes_are_not_checked(runner) -> None:
    result = runner.invoke(args=["meddra", "status"])
    assert "No MedDRA release loaded: codes are checked for their format only." in result.output


def test_a_new_version_replaces_the_language_release(db, runner, french_copy: Path) -> None:
    assert runner.invoke(args=["meddra", "load", str(FRENCH)]).exit_code == 0
    (french_copy / "meddra_release.asc").write_text("99.1$French$$\n", encoding="utf-8")
    llt = french_copy / "llt.asc"
    lines = llt.read_text(encoding="utf-8").splitlines(keepends=True)
    llt.write_text("".join(line for line in lines if not line.startswith("90002001")),
                   encoding="utf-8")
    result = runner.invoke(args=["meddra", "load", str(french_copy)])
    assert result.exit_code == 0, result.output
    assert "MedDRA 99.1 (fr) loaded: 4 LLTs, 2 PTs (replaces version 99.0)." in result.output
    assert (LLT, "90002001") not in _terms(db, "fr")
    assert [(r.language, r.version) for r in loaded_releases(db)] == [("fr", "99.1")]
    assert db.scalar(select(func.count()).select_from(MeddraTerm)) == 6


def _spoil(path: Path, line: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(("name", "line", "text", "message"), [
    ("llt.asc", 3, "9000100$Taches de Velnor$90001000$$$$$$$N$$",
     "llt.asc, line 3: llt_code '9000100' is not an 8-digit code"),
    ("llt.asc", 2, "90001001$Éruption cutanée de Velnor$90001000$Y$$",
     "llt.asc, line 2: 5 fields where 11 are expected"),
    ("llt.asc", 5, "90002001$Crampe de jambe$90003000$$$$$$$Y$$",
     "llt.asc, line 5: pt_code 90003000 is not in pt.asc"),
    ("llt.asc", 4, "90002000$Crampe de Lindqvist$90002000$$$$$$$maybe$$",
     "llt.asc, line 4: llt_currency 'maybe' is neither Y nor N"),
    ("pt.asc", 2, "90002000$$$90009000$$$$$$$$",
     "pt.asc, line 2: pt_name is empty or unreadable"),
])
def test_a_malformed_line_is_refused_with_its_file_and_line(db, runner, french_copy: Path,
                                                            name: str, line: int, text: str,
                                                            message: str) -> None:
    assert runner.invoke(args=["meddra", "load", str(ENGLISH)]).exit_code == 0
    _spoil(french_copy / name, line, text)
    result = runner.invoke(args=["meddra", "load", str(french_copy)])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert [r.language for r in loaded_releases(db)] == ["en"]  # nothing written
    assert _terms(db, "fr") == {}


def test_a_release_in_another_language_than_asked_is_refused(db, runner) -> None:
    result = runner.invoke(args=["meddra", "load", str(FRENCH), "--language", "en"])
    assert result.exit_code == 1
    assert "meddra_release.asc says this release is in 'fr', not 'en'" in result.output
    assert loaded_releases(db) == []


def test_without_a_release_file_the_version_must_be_given(db, runner,
                                                          french_copy: Path) -> None:
    (french_copy / "meddra_release.asc").unlink()
    refused = runner.invoke(args=["meddra", "load", str(french_copy), "--language", "fr"])
    assert refused.exit_code == 1 and "--meddra-version" in refused.output
    loaded = runner.invoke(args=["meddra", "load", str(french_copy), "--language", "fr",
                                 "--meddra-version", "99.0"])
    assert loaded.exit_code == 0, loaded.output
    assert [(r.language, r.version) for r in loaded_releases(db)] == [("fr", "99.0")]


def test_a_directory_without_llt_asc_is_refused(runner, tmp_path: Path) -> None:
    result = runner.invoke(args=["meddra", "load", str(tmp_path)])
    assert result.exit_code == 1 and "no llt.asc here" in result.output


def test_codes_checked_against_the_release(app, db, both_releases) -> None:
    with app.test_request_context():
        assert code_problem(db, "90001001", LLT) is None
        assert code_problem(db, "90001000", LLT) is None  # a PT is also its own LLT
        assert code_problem(db, "90001002", LLT) == (
            "90001002 is a non-current MedDRA LLT (MedDRA 99.0): choose a current term.")
        assert code_problem(db, "90009999", LLT) == (
            "90009999 is not a MedDRA LLT of the loaded release (MedDRA 99.0).")
        assert code_problem(db, "90001000", PT) is None
        assert code_problem(db, "90001001", PT) == (
            "90001001 is not a MedDRA PT of the loaded release (MedDRA 99.0).")
        assert code_problem(db, "9000100", LLT) == "A MedDRA code has 8 digits."


def test_without_a_release_only_the_format_is_checked(app, db) -> None:
    with app.test_request_context():
        assert code_problem(db, "18505751", LLT) is None
        assert code_problem(db, "1850575", LLT) == "A MedDRA code has 8 digits."
        assert TermNames(db, "fr").describe("18505751") == (
            "18505751 (not checked: no MedDRA release is loaded)")


def test_names_in_the_reader_language_else_the_other(app, db, english_only) -> None:
    with app.test_request_context():
        assert TermNames(db, "fr").describe("90001001") == "90001001 — Velnor skin eruption"
        assert TermNames(db, "fr").describe("90009999") == (
            "90009999 (not in the loaded MedDRA release)")


def test_a_version_given_by_hand_is_checked(db, runner, french_copy: Path) -> None:
    (french_copy / "meddra_release.asc").unlink()
    result = runner.invoke(args=["meddra", "load", str(french_copy), "--language", "fr",
                                 "--meddra-version", "twenty-seven point zero, March"])
    assert result.exit_code == 1
    assert "'twenty-seven point zero, March' is not a MedDRA version" in result.output
    assert loaded_releases(db) == []


def test_the_demo_protocol_fields_coded_in_meddra(db, protocol) -> None:
    from portal.meddra.services import level_of
    from portal.records.versions import protocol_of

    definition = protocol_of(protocol).definition
    levels = {fld.key: level_of(fld) for form in definition.forms
              for section in form.sections for fld in section.fields if level_of(fld)}
    # The comorbidities are a closed protocol list: chosen, not typed, so not looked up.
    assert levels == {"meddra_llt_code": LLT, "anomaly_pt": PT}


def test_a_release_in_windows_1252_is_read_with_its_accents(db, runner,
                                                           french_copy: Path) -> None:
    for name in ("llt.asc", "pt.asc"):
        path = french_copy / name
        path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252"))
    result = runner.invoke(args=["meddra", "load", str(french_copy)])
    assert result.exit_code == 0, result.output
    assert _terms(db, "fr")[(LLT, "90001001")].name == "Éruption cutanée de Velnor"


def test_a_version_unlike_the_other_language_is_loaded_with_a_warning(db, runner,
                                                                      french_copy: Path) -> None:
    assert runner.invoke(args=["meddra", "load", str(ENGLISH)]).exit_code == 0
    (french_copy / "meddra_release.asc").write_text("99.1$French$$\n", encoding="utf-8")
    result = runner.invoke(args=["meddra", "load", str(french_copy)])
    assert result.exit_code == 0, result.output
    assert "Warning: the other language's release is MedDRA 99.0" in result.output
    assert [(r.language, r.version) for r in loaded_releases(db)] == [("en", "99.0"),
                                                                      ("fr", "99.1")]
