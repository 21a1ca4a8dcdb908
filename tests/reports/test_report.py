"""A report over a seeded cohort whose counts are computed by hand (tests/reports/conftest.py):
every table matches, no output shows a count from 1 to 4 or a case number, the PDF and the XLSX
read back, and regenerating after a rectification gives the same report."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from portal import clock
from portal.audit.models import AuditEvent
from portal.records import submissions
from portal.reports.calendar import add_months, plan_report
from portal.reports.dataset import Table
from portal.reports.services import generate, generate_files
from tests.records import helpers
from tests.reports.conftest import LOCK

SMALL = {"1", "2", "3", "4"}


def _table(tables: list[Table], key: str, scope: str) -> dict[str, list[str]]:
    table = next(t for t in tables if t.key == key and t.scope == scope)
    return dict(zip(table.row_labels, table.rows_text(), strict=True))


def test_every_table_matches_the_hand_counts(db, cohort) -> None:
    tables = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK).tables
    # 10 initiated (4 before, 6 during); 3 stopped, all among those initiated before or during.
    assert _table(tables, "cases", "cumulative") == {
        "Demandes d'accès": ["12"],
        "En cours de traitement à la date de gel": ["n.d."],  # 7, hidden beside the <5
        "Arrêt de traitement avant la date de gel": ["<5"],  # 3
        "Patients initiés": ["10"],
    }
    # During the interval: 8 requests; 6 initiated (patients 2-6, 9), of whom 1 (patient 2)
    # stopped.
    assert _table(tables, "cases", "interval") == {
        "Demandes d'accès": ["8"],
        "En cours de traitement à la date de gel": ["n.d."],  # 5, the smaller partner
        "Arrêt de traitement avant la date de gel": ["<5"],
        "Patients initiés": ["6"],
    }
    assert _table(tables, "sex", "cumulative") == {
        "Masculin": ["5"],
        "Féminin": ["7"],
        "Total": ["12"],
    }
    # F 5 is hidden: with the total 8 shown it would give M = 3.
    assert _table(tables, "sex", "interval") == {
        "Masculin": ["<5"],
        "Féminin": ["n.d."],
        "Total": ["8"],
    }
    # Columns Oui / Non / Total. 10022891 appears once: its row total is small too, and
    # 10019211's cells go with it so that neither can be recomputed from the totals.
    assert _table(tables, "ae_serious", "cumulative") == {
        "10019211": ["0", "n.d.", "n.d."],
        "10022891": ["0", "<5", "<5"],
        "Total": ["0", "7", "7"],
    }
    assert _table(tables, "stop_reason", "cumulative")["Décision du patient"] == ["<5"]
    weight = _table(tables, "weight", "cumulative")
    assert weight == {
        "Réponses": ["12"],
        "Médiane": ["64.2"],
        "Minimum": ["64.2"],
        "Maximum": ["64.2"],
    }


def _all_cells(tables: list[Table]) -> list[str]:
    return [cell for t in tables for row in t.rows_text() for cell in row]


def test_no_output_holds_a_small_count_or_a_case_number(db, cohort, tmp_path: Path) -> None:
    generated, paths = generate_files(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK, tmp_path)
    db.commit()
    assert SMALL.isdisjoint(_all_cells(generated.tables))
    names = {p.name for p in paths}
    assert {"rapport.pdf", "resume.pdf", "tableaux.xlsx", "rapport.csv"} <= names
    texts = []
    book = load_workbook(tmp_path / "tableaux.xlsx")
    assert book.sheetnames[0] == "Rapport"
    for sheet in book.worksheets[1:]:
        for row in sheet.iter_rows(min_row=3, values_only=True):
            for value in row[1:]:
                assert str(value) not in SMALL, (sheet.title, row)
        texts.append(" ".join(str(v) for r in sheet.iter_rows(values_only=True) for v in r))
    sex = book["sex_periode"]
    assert [[c.value for c in r] for r in sex.iter_rows(min_row=2, max_row=5)] == [
        ["Sexe", "Effectif"],
        ["Masculin", "<5"],
        ["Féminin", "n.d."],
        ["Total", 8],
    ]
    for path in (tmp_path / "csv").iterdir():
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        for row in rows[2:]:
            assert SMALL.isdisjoint(row[1:]), (path.name, row)
        texts.append(path.read_text(encoding="utf-8"))
    for name in ("rapport.pdf", "resume.pdf"):
        reader = PdfReader(tmp_path / name)
        text = "\n".join(page.extract_text() for page in reader.pages)
        assert generated.generation.fingerprint in text.replace("\n", "")
        assert "Date de gel des données" in text
        texts.append(text)
    assert "Arrêts de traitement par motif" in texts[-2]
    assert "(sur la période)" not in texts[-1]  # the résumé gives the cumulative tables
    everything = "\n".join(texts)
    for number in cohort.case_numbers:
        assert number not in everything
    entry = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "reports:report:generate")
    ).one()
    assert entry.details["submissions"] == 32
    # Each file states the export's purpose, as the audit entry does.
    assert entry.details["purpose"] == "summary_report"
    info = dict(csv.reader(io.StringIO((tmp_path / "rapport.csv").read_text(encoding="utf-8"))))
    assert info["Finalité"] == "rapport de synthèse (summary_report)"
    assert ("Finalité", "rapport de synthèse (summary_report)") in [
        tuple(r[:2]) for r in book["Rapport"].iter_rows(values_only=True)]
    pdf = "\n".join(p.extract_text() for p in PdfReader(tmp_path / "rapport.pdf").pages)
    assert "rapport de synthèse (summary_report)" in pdf


def test_a_rectification_after_the_data_lock_changes_nothing_and_is_listed_next(db, cohort) -> None:
    first = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK)
    db.commit()
    access = cohort.access[3]  # a woman's request, during the interval
    answers = helpers.valid(db, "access", {**helpers.access_answers(), "sex": "M"})
    with clock.running_from(clock.now() + timedelta(days=1)):  # the day after the data lock
        submissions.rectify(
            db,
            helpers.CLI,
            access,
            answers,
            "transcription_error",
            submissions.new_token(),
            access.version,
        )
        db.commit()
    again = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK)
    assert again.generation.fingerprint == first.generation.fingerprint
    assert [t.rows_text() for t in again.tables] == [t.rows_text() for t in first.tables]
    # A year later (add_months: a 29 February lock moves to the 28th).
    next_lock = add_months(LOCK, 12)
    plan_report(db, helpers.CLI, helpers.PROTOCOL_KEY, data_lock=next_lock)
    db.commit()
    with clock.running_from(clock.now() + timedelta(days=400)):
        second = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, next_lock)
    rectified = _table(second.tables, "rectifications", "cumulative")
    assert rectified == {"F0. Accès au traitement et AAC": ["<5"]}
    assert _table(second.tables, "sex", "cumulative") == {
        "Masculin": ["6"],
        "Féminin": ["6"],
        "Total": ["12"],
    }
    db.commit()
    # The second report, suppressed against the first, is frozen too: regenerated after a
    # rectification made after its own data lock, it is the same.
    other = cohort.access[0]
    answers = helpers.valid(db, "access", {**helpers.access_answers(), "sex": "M"})
    with clock.running_from(clock.now() + timedelta(days=401)):
        submissions.rectify(
            db,
            helpers.CLI,
            other,
            answers,
            "transcription_error",
            submissions.new_token(),
            other.version,
        )
        db.commit()
        second_again = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, next_lock)
    assert second_again.matches_first
    assert [t.rows_text() for t in second_again.tables] == [t.rows_text() for t in second.tables]


def test_the_other_declared_tables_match_the_hand_counts(db, cohort) -> None:
    tables = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK).tables
    # Every request is for a woman or a man born in April 1961, aged 65 or 66 at the decision.
    assert _table(tables, "age", "cumulative") == {
        "0 à moins de 18": ["0", "0", "0"],
        "18 à moins de 65": ["0", "0", "0"],
        "65 et plus": ["5", "7", "12"],
        "Total": ["5", "7", "12"],
    }
    # In the interval 3 men and 5 women: the men's count is small, the women's is hidden beside
    # it, here and in the column totals, which are the requests by sex (hidden there too).
    assert _table(tables, "age", "interval") == {
        "0 à moins de 18": ["0", "0", "0"],
        "18 à moins de 65": ["0", "0", "0"],
        "65 et plus": ["<5", "n.d.", "8"],
        "Total": ["<5", "n.d.", "8"],
    }
    assert _table(tables, "access_indication", "cumulative") == {
        "Forme sévère": ["12"],
        "Forme modérée réfractaire": ["0"],
        "Total": ["12"],
    }
    assert _table(tables, "indication", "interval") == {
        "Forme sévère": ["6"],
        "Forme modérée réfractaire": ["0"],
        "Total": ["6"],
    }
    dose = _table(tables, "dose", "cumulative")
    assert dose["Réponses"] == ["10", "0", "0"]  # mg, mg/kg, mg/m²
    assert dose["Médiane"] == [helpers.DISTINCTIVE["dose"], "—", "—"]
    action = _table(tables, "ae_action", "cumulative")
    assert action["Aucune"] == ["7"] and action["Total"] == ["7"]
    assert {row[0] for label, row in action.items() if label not in ("Aucune", "Total")} == {"0"}
    outcome = _table(tables, "ae_outcome", "cumulative")
    assert outcome["En cours de guérison"][-1] == "7"
    assert set(outcome["Décès"]) == {"0"}  # no fatal outcome
    stop = _table(tables, "stop_reason", "cumulative")
    assert stop["Décision du patient"] == ["<5"] and stop["Total"] == ["<5"]
    assert stop["Décès"] == ["0"] and stop["Perdu de vue"] == ["0"]
    # No follow-up and no pregnancy was filled in.
    assert set(_table(tables, "completeness_follow_up", "cumulative")["Formulaires remplis"]) == {
        "0"
    }
    assert _table(tables, "pregnancy", "cumulative")["Total"] == ["0"]
    assert _table(tables, "efficacy", "cumulative")["Total"][-1] == "0"


def test_no_hidden_count_of_the_seeded_report_can_be_recomputed(db, cohort) -> None:
    # The reader of test_linked_suppression, on this one report: each table's totals and the
    # counts several tables give of the same requests.
    from tests.reports.test_linked_suppression import Reader

    tables = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK).tables
    reader = Reader([tables])
    reader.table_totals()
    for scope in ("interval", "cumulative"):
        reader.same_counts(0, scope)
    assert reader.hidden  # the cohort has small counts, and partners hidden beside them
    reader.assert_nothing_derivable()
