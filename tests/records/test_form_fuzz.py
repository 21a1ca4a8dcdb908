"""Whatever a browser (or anything else) posts to a protocol form, the answer is a page: saved,
refused with the errors shown, or a 4xx; never a 500, and nothing half-stored."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from portal.records.models import Submission
from tests.helpers_auth import login
from tests.records import helpers

#: what a value can be: plausible, malformed, huge, unicode, control characters
JUNK = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.sampled_from([
        "", " ", "1e400", "-1e400", "NaN", "Infinity", "-0", "0x1F", "١٢٣", "12,5", "12.5.1",
        "2024-02-30", "0000-01-01", "9999-12-31", "31/12/2024", "2024-13", "13/2024", "1900",
        "99999999999999999999999", "yes", "no", "unknown", "M1", "D0", "\x00", "\r\n",
        "1 85 05 78 006 084 91", "<script>alert(1)</script>", "' OR 1=1 --", "a" * 5000,
    ]),
)
#: inputs a page never has, or has with an index out of range
ODD_NAMES = st.sampled_from([
    "f_unknown", "s_concomitant-999999-f_cm_atc", "s_concomitant--1-f_cm_atc",
    "s_concomitant-x-f_cm_atc", "s_concomitant-0-f_unknown", "s_nosuch-0-f_cm_atc",
    "s_concomitant-10-f_cm_ongoing", "f_bmi", "version", "parent", "action", "token",
])
_tokens = itertools.count()


def _stored(db) -> int:  # noqa: ANN001
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Submission)) or 0


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=st.dictionaries(st.integers(min_value=0, max_value=80), JUNK, max_size=8),
       extra=st.lists(st.tuples(ODD_NAMES, st.lists(JUNK, min_size=1, max_size=3)),
                      max_size=4),
       draft=st.booleans())
def test_any_post_gets_a_page_never_a_500(client, db, prescriber, patient, changes, extra,
                                          draft) -> None:  # noqa: ANN001
    # The fixtures live for the whole test, not per example: log in once (a second login
    # would replay the same one-time code).
    if not getattr(client, "fuzz_logged_in", False):
        login(client, prescriber)
        client.fuzz_logged_in = True
    path = f"/patients/{patient.handle}/forms/follow_up"
    data = helpers.form_data(helpers.follow_up_answers(), "follow_up", db)
    names = sorted(data)
    for index, value in changes.items():
        data[names[index % len(names)]] = value
    posted: list[tuple[str, str]] = [(k, v) for k, vs in data.items()
                                     for v in (vs if isinstance(vs, list) else [vs])]
    posted += [(name, value) for name, values in extra for value in values]
    posted += [("token", f"fuzz-token-{next(_tokens):08d}"),
               ("action", "draft" if draft else "submit")]
    before = _stored(db)
    response = client.post(path, data=MultiDict(posted))
    page = response.get_data(as_text=True)
    assert response.status_code in (303, 400, 404, 409, 413, 422), response.status_code
    assert "Traceback" not in page
    after = _stored(db)
    if response.status_code == 303:
        assert after - before <= 1
    else:
        assert after == before
