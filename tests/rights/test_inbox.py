"""The DPO's inbox: open requests a page at a time, sorted, searched by request or case number."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal import clock
from portal.rights import queries, services
from portal.rights.models import RefusalReason, RequestKind
from tests.helpers_auth import login


@pytest.fixture
def requests(db, doctor, doctor_b, patient):  # noqa: ANN001, ANN201
    """Five open requests received a day apart (the oldest first), and a refused one."""
    made = []
    start = clock.now()
    for day, (who, kind, case) in enumerate((
            (doctor, RequestKind.ACCESS, patient.case_number),
            (doctor, RequestKind.RECTIFICATION, None),
            # Outside doctor B's perimeter: never linked, found through the blind index.
            (doctor_b, RequestKind.ACCESS, patient.case_number),
            (doctor, RequestKind.LIMITATION, patient.case_number),
            (doctor, RequestKind.ACCESS, None))):
        with clock.frozen(start + timedelta(days=day, hours=1)):
            made.append(services.submit_request(db, who, kind=kind, case_number=case,
                                                for_self=case is None))
            db.commit()
    with clock.frozen(start + timedelta(days=6)):
        refused = services.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                          case_number=patient.case_number)
        db.commit()
    return made, refused


@pytest.fixture
def as_dpo(app, dpo):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, dpo)
    return client


def _numbers(page: str) -> list[str]:
    if '<table id="open-requests">' not in page:
        return []
    table = page.split('<table id="open-requests">', 1)[1].split("</table>", 1)[0]
    return re.findall(r">(DR-\d{6})</a>", table)


def _next(page: str) -> str | None:
    found = re.search(r'href="(/rights/dpo\?[^"]+)" rel="next"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_inbox_comes_a_page_at_a_time_soonest_due_first(db, dpo, as_dpo, requests,
                                                            monkeypatch):
    made, refused = requests
    services.refuse(db, dpo, refused, reason=RefusalReason.UNFOUNDED_OR_EXCESSIVE,
                    justification="Same request as the day before, already being answered.")
    db.commit()
    monkeypatch.setattr(queries, "INBOX_PAGE_SIZE", 2)
    seen, url, pages = [], "/rights/dpo", 0
    while url:
        page = as_dpo.get(url).text
        rows = _numbers(page)
        assert 0 < len(rows) <= 2
        seen.extend(rows)
        url, pages = _next(page), pages + 1
    assert seen == [r.number for r in made] and pages == 3
    assert "First page" in page


def test_the_inbox_sorts_by_due_date_or_receipt_either_way(as_dpo, requests):
    made, refused = requests
    soonest = [r.number for r in made] + [refused.number]
    assert _numbers(as_dpo.get("/rights/dpo?sort=due_desc").text) == soonest[::-1]
    assert _numbers(as_dpo.get("/rights/dpo?sort=newest").text) == soonest[::-1]
    assert _numbers(as_dpo.get("/rights/dpo?sort=oldest").text) == soonest
    assert _numbers(as_dpo.get("/rights/dpo?sort=bogus").text) == soonest


def test_the_inbox_is_searched_by_request_or_case_number_in_a_post(as_dpo, requests, patient):
    made, refused = requests
    third = made[2]
    for typed in (third.number, third.number.lower(), str(third.id), f"DR{third.id}"):
        found = as_dpo.post("/rights/dpo", data={"q": typed})
        assert (found.status_code, _numbers(found.text)) == (200, [third.number]), typed
    by_case = as_dpo.post("/rights/dpo", data={"q": patient.case_number.replace("-", "")})
    # Linked requests and the one whose typed reference only the blind index knows.
    assert _numbers(by_case.text) == [made[0].number, third.number, made[3].number,
                                      refused.number]
    assert patient.case_number not in by_case.request.url
    assert f'value="{patient.case_number.replace("-", "")}"' in by_case.text


def test_a_search_that_is_no_number_is_a_form_error(as_dpo, requests):
    made, refused = requests
    response = as_dpo.post("/rights/dpo", data={"q": "Dupont"})
    assert response.status_code == 422
    assert "Type a request number" in response.text and 'value="Dupont"' in response.text
    # The inbox stays usable underneath.
    assert len(_numbers(response.text)) == len(made) + 1
    assert as_dpo.post("/rights/dpo", data={"q": "7K3M"}).status_code == 422
