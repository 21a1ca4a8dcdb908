"""[report-tables]: the report tables a protocol declares name fields that suit their statistic,
and never aggregate what identifies a person."""

from __future__ import annotations

import pytest
import yaml

from portal.protocols.rules import Rule, check
from portal.protocols.schema import Protocol

from .support import DEMO


def _findings(*tables: dict) -> list[str]:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["summary_reports"]["tables"] = list(tables)
    protocol = Protocol.model_validate(data)
    return [f.message for f in check(protocol) if f.rule == Rule.report_tables]


def _table(**kwargs: object) -> dict:
    return {"key": "t", "title": {"fr": "T", "en": "T"}, **kwargs}


def test_the_demo_declares_its_report_tables_cleanly() -> None:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    protocol = Protocol.model_validate(data)
    assert len(protocol.summary_reports.tables) >= 10
    assert [f for f in check(protocol) if f.rule == Rule.report_tables] == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_table(form="nope", field="sex", statistic="count"), "unknown form 'nope'"),
        (_table(form="access", field="nope", statistic="count"), "'nope' is not one"),
        (_table(form="access", statistic="count"), "needs a field of form 'access'"),
        (_table(form="access", field="pat_surname3", statistic="count"), "identifies a person"),
        (_table(form="access", field="prescriber_rpps", statistic="count"), "identifies a person"),
        (
            _table(form="access", field="sex", statistic="summary"),
            "statistic 'summary' cannot be computed on 'sex' (single_choice)",
        ),
        (_table(form="access", field="weight_kg", statistic="classes"), "without `bounds`"),
        (
            _table(form="access", field="weight_kg", statistic="classes", bounds=[50, 10]),
            "strictly ascending",
        ),
        (_table(form="access", field="sex", statistic="count", bounds=[1]), "for classes only"),
        (
            _table(form="access", field="sex", statistic="count", by="weight_kg"),
            "not a single choice or yes/no field",
        ),
        (
            _table(
                form="access",
                field="birth_month_year",
                statistic="classes",
                bounds=[18],
                age_at="renewal_no",
            ),
            "not a date field of form 'access'",
        ),
        (
            _table(
                form="access",
                field="aac_end_date",
                statistic="classes",
                bounds=[18],
                age_at="submitted",
            ),
            "not a month-year or year of birth",
        ),
        (
            _table(form="access", field="aac_ansm_ref", statistic="count"),
            "outside any code list or MedDRA",
        ),
        (
            _table(form="follow_up", field="efficacy_global", statistic="missing"),
            "takes no `field`",
        ),
    ],
)
def test_a_table_that_cannot_be_computed_is_refused(table: dict, message: str) -> None:
    found = _findings(table)
    assert len(found) == 1, found
    assert message in found[0]


def test_table_keys_are_unique() -> None:
    table = _table(form="access", field="sex", statistic="count")
    assert any("used twice" in m for m in _findings(table, table))
