"""How a look-up becomes the CustomerLookup reply, and survey scores."""

from datetime import UTC, datetime, timedelta

from switchboard.tickets.v1 import customers_pb2 as pb
from switchboard_common.events.ivr import SurveyAnswer, SurveyCompleted
from switchboard_tickets.domain import (
    CallContact,
    Priority,
    SurveyContact,
    TicketContact,
    TicketStatus,
    VipLevel,
)
from switchboard_tickets.grpc_server import lookup_response
from switchboard_tickets.schemas import CustomerCard, CustomerLookup, OpenTicketSummary
from switchboard_tickets.services import survey_score

AT = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)


def test_an_unknown_caller_has_no_customer() -> None:
    reply = lookup_response(CustomerLookup(phone_number="+33142685300", found=False))
    assert not reply.found
    assert reply.phone_number == "+33142685300"
    assert not reply.HasField("customer")


def test_every_part_of_a_lookup_is_mapped() -> None:
    base = {"tenant_id": "acme", "customer_id": "c1", "at": AT}
    lookup = CustomerLookup(
        phone_number="+33142685300",
        found=True,
        customer=CustomerCard(
            id="c1",
            name="Ada",
            company="AE",
            lifecycle="lead",
            vip_level=VipLevel.GOLD,
            owner_agent_id=None,
            tags=("vip",),
        ),
        open_tickets=[
            OpenTicketSummary(
                id="t1",
                number="T-000001",
                subject="Broken",
                status=TicketStatus.PENDING_CUSTOMER,
                priority=Priority.P4,
                due_at=None,
            )
        ],
        recent_contacts=[
            CallContact(id="k1", call_id="call-1", duration=timedelta(seconds=61.5), **base),
            SurveyContact(id="k2", survey_id="csat", **base),
            TicketContact(id="k3", ticket_id="t1", ticket_number="T-1", event="closed", **base),
        ],
    )
    reply = lookup_response(lookup)
    assert reply.customer.vip_level == pb.VIP_LEVEL_GOLD
    assert reply.customer.lifecycle == pb.LIFECYCLE_LEAD
    assert reply.customer.owner_agent_id == ""
    [ticket] = reply.open_tickets
    assert ticket.status == pb.TICKET_STATUS_PENDING_CUSTOMER
    assert ticket.priority == pb.PRIORITY_P4
    assert not ticket.HasField("due_at")
    call, survey, milestone = reply.recent_contacts
    assert (call.kind, call.duration_s, call.at.ToDatetime(tzinfo=UTC)) == (
        pb.CONTACT_KIND_CALL,
        61.5,
        AT,
    )
    assert (survey.kind, survey.survey_score) == (pb.CONTACT_KIND_SURVEY, -1)
    assert (milestone.kind, milestone.ticket_event) == (pb.CONTACT_KIND_TICKET, "closed")


def _survey(*answers: SurveyAnswer) -> SurveyCompleted:
    return SurveyCompleted(
        call_id="c",
        flow_id="f",
        survey_id="s",
        answers=list(answers),
        complete=True,
        completed_at=AT,
    )


def test_survey_scores_are_the_doubled_mean_of_scale_answers() -> None:
    scale = [SurveyAnswer(question_id=f"q{v}", kind="scale", value=v) for v in (5, 4, 4)]
    assert survey_score(_survey(*scale)) == 9
    yes = SurveyAnswer(question_id="y", kind="yes_no", value=True)
    assert survey_score(_survey(yes)) is None
    unanswered = SurveyAnswer(question_id="n", kind="scale", value=None)
    assert survey_score(_survey(unanswered, scale[0])) == 10
