"""The art. 12(3) clock on real requests: end of month, leap years, suspension, extension."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal import clock
from portal.errors import Conflict
from portal.rights import queries, services
from portal.rights.deadlines import Urgency
from portal.rights.models import (
    Channel,
    ExtensionReason,
    RequesterType,
    RequestKind,
    RequestState,
)
from tests.rights.helpers import at


def _self_request(db, user, when):  # noqa: ANN001, ANN202
    with clock.frozen(when):
        return services.submit_request(db, user, kind=RequestKind.ACCESS, for_self=True)


@pytest.mark.parametrize(("received", "due"), [
    (at(2025, 1, 31), date(2025, 2, 28)),   # no 31 February: its last day
    (at(2024, 1, 31), date(2024, 2, 29)),   # leap year
    (at(2024, 1, 30), date(2024, 2, 29)),
    (at(2025, 3, 31), date(2025, 4, 30)),
    (at(2025, 12, 31), date(2026, 1, 31)),  # across the year
    (at(2025, 2, 28), date(2025, 3, 28)),
    (at(2025, 1, 31, 23), date(2025, 2, 28)),  # late in the (UTC) day
])
def test_the_answer_is_due_one_calendar_month_after_receipt(db, doctor, received, due) -> None:
    request = _self_request(db, doctor, received)
    assert request.original_due_on == due
    assert request.due_on == due
    assert services.current_due(request, received) == due


def test_a_suspension_while_identity_is_pending_shifts_the_due_date(db, dpo) -> None:
    with clock.frozen(at(2025, 3, 1)) as frozen:
        request = services.record_request(
            db, dpo, kind=RequestKind.ACCESS, requester_type=RequesterType.RELATIVE,
            channel=Channel.POST, received_on=date(2025, 3, 1), case_number="C-UNKNOWN",
            relative_basis="affected_person")
        assert request.due_on == date(2025, 4, 1)
        frozen.tick(timedelta(days=4))
        services.ask_identity(db, dpo, request)
        assert request.state == RequestState.IDENTITY_PENDING
        frozen.tick(timedelta(days=6))
        # While suspended, the due date moves day by day.
        assert services.current_due(request) == date(2025, 4, 7)
        frozen.tick(timedelta(days=4))
        services.confirm_identity(db, dpo, request)
        # 10 days suspended (5 March to 15 March): due 10 days later.
        assert request.due_on == date(2025, 4, 11)
        frozen.tick(timedelta(days=30))
        assert services.current_due(request) == date(2025, 4, 11)
    suspension = request.suspensions[0]
    assert (suspension.ended_at - suspension.started_at).days == 10


def test_a_patient_writing_directly_suspends_the_clock_from_the_start(db, dpo, doctor) -> None:
    with clock.frozen(at(2025, 1, 31)) as frozen:
        request = services.record_request(
            db, dpo, kind=RequestKind.ACCESS, requester_type=RequesterType.PATIENT_DIRECT,
            channel=Channel.EMAIL, received_on=date(2025, 1, 31), case_number="C-UNKNOWN",
            via_professional=doctor)
        assert request.state == RequestState.IDENTITY_PENDING
        frozen.tick(timedelta(days=7))
        services.confirm_identity(db, dpo, request)
    assert request.due_on == date(2025, 2, 28) + timedelta(days=7)


def test_one_extension_of_two_months_from_31_january_is_due_on_30_april(db, dpo, doctor) -> None:
    request = _self_request(db, doctor, at(2025, 1, 31))
    with clock.frozen(at(2025, 2, 20)):
        services.extend(db, dpo, request, months=2, reason=ExtensionReason.COMPLEXITY)
    assert request.state == RequestState.EXTENDED
    assert request.extended_due_on == date(2025, 4, 30)
    assert request.due_on == date(2025, 4, 30)
    assert request.original_due_on == date(2025, 2, 28)


def test_an_extension_recorded_on_the_due_date_is_accepted(db, dpo, doctor) -> None:
    request = _self_request(db, doctor, at(2024, 1, 31))
    with clock.frozen(at(2024, 2, 29, 22)):
        services.extend(db, dpo, request, months=1, reason=ExtensionReason.NUMBER_OF_REQUESTS)
    assert request.due_on == date(2024, 3, 31)


def test_an_extension_recorded_after_the_original_due_date_is_refused(db, dpo, doctor) -> None:
    request = _self_request(db, doctor, at(2024, 1, 31))
    with clock.frozen(at(2024, 3, 1, 0)), pytest.raises(Conflict) as refused:
        services.extend(db, dpo, request, months=2, reason=ExtensionReason.COMPLEXITY)
    assert "Too late to extend" in refused.value.message
    assert "2024-02-29" in refused.value.message
    assert request.state == RequestState.RECEIVED
    assert request.extension_recorded_at is None and request.due_on == date(2024, 2, 29)


def test_the_deadline_for_extending_counts_the_suspended_days(db, dpo) -> None:
    with clock.frozen(at(2025, 1, 10)) as frozen:
        request = services.record_request(
            db, dpo, kind=RequestKind.ACCESS, requester_type=RequesterType.RELATIVE,
            channel=Channel.POST, received_on=date(2025, 1, 10), case_number="C-UNKNOWN",
            relative_basis="affected_person")
        services.ask_identity(db, dpo, request)
        frozen.tick(timedelta(days=5))
        services.confirm_identity(db, dpo, request)
        # Original one-month date is 10 February; 5 suspended days move it to 15 February.
        frozen.tick(timedelta(days=36))  # 20 February
        with pytest.raises(Conflict):
            services.extend(db, dpo, request, months=1, reason=ExtensionReason.COMPLEXITY)
    with clock.frozen(at(2025, 2, 15)):
        services.extend(db, dpo, request, months=1, reason=ExtensionReason.COMPLEXITY)
    assert request.due_on == date(2025, 3, 15)


def test_only_one_extension_and_at_most_two_months(db, dpo, doctor) -> None:
    request = _self_request(db, doctor, at(2025, 5, 2))
    with clock.frozen(at(2025, 5, 10)):
        with pytest.raises(Exception, match="one or two months"):
            services.extend(db, dpo, request, months=3, reason=ExtensionReason.COMPLEXITY)
        services.extend(db, dpo, request, months=1, reason=ExtensionReason.COMPLEXITY)
        with pytest.raises(Conflict, match="already extended"):
            services.extend(db, dpo, request, months=1, reason=ExtensionReason.COMPLEXITY)
    assert request.due_on == date(2025, 7, 2)


def test_the_dashboard_sorts_by_due_date_and_flags_due_soon_and_overdue(db, dpo, doctor) -> None:
    late = _self_request(db, doctor, at(2025, 1, 5))      # due 5 Feb
    soon = _self_request(db, doctor, at(2025, 2, 12))     # due 12 Mar
    later = _self_request(db, doctor, at(2025, 3, 1))     # due 1 Apr
    answered = _self_request(db, doctor, at(2025, 1, 1))
    with clock.frozen(at(2025, 1, 20)):
        services.refuse(db, dpo, answered, reason="no_data")
    rows = queries.dashboard(db, at(2025, 3, 6))
    assert [row.request for row in rows] == [late, soon, later]
    assert [row.urgency for row in rows] == [Urgency.OVERDUE, Urgency.DUE_SOON, Urgency.OK]
    assert [row.due for row in rows] == [date(2025, 2, 5), date(2025, 3, 12), date(2025, 4, 1)]
