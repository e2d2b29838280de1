"""Flow version lifecycle: draft, publish, retire, roll back, discard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard_common.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from switchboard_ivr.domain import Flow, FlowHistory, FlowVersionState, bind_number, parse_flow

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def definition(cause: str = "NORMAL_CLEARING", flow_id: str = "main") -> Flow:
    return parse_flow(
        {"id": flow_id, "start": "h", "nodes": [{"id": "h", "kind": "hangup", "cause": cause}]}
    )


def states(history: FlowHistory) -> list[tuple[int, str]]:
    return [(v.number, v.state.value) for v in history.versions]


def test_draft_is_edited_in_place_then_published() -> None:
    history = FlowHistory("t1", "main")
    history = history.save_draft(definition(), T0)
    history = history.save_draft(definition("USER_BUSY"), T0 + timedelta(minutes=1))
    assert states(history) == [(1, "draft")]
    with pytest.raises(NotFound):
        history.active()
    published = history.publish(1, T0 + timedelta(minutes=2))
    assert states(published) == [(1, "published")]
    assert published.active().definition == definition("USER_BUSY")
    assert published.active().published_at == T0 + timedelta(minutes=2)
    assert states(history) == [(1, "draft")], "operations return a new history"


def test_publishing_retires_the_previous_version_and_rollback_restores_it() -> None:
    history = FlowHistory("t1", "main").save_draft(definition(), T0).publish(1, T0)
    history = history.save_draft(definition("USER_BUSY"), T0 + timedelta(hours=1))
    history = history.publish(2, T0 + timedelta(hours=2))
    assert states(history) == [(1, "retired"), (2, "published")]
    rolled = history.rollback(T0 + timedelta(hours=3))
    assert states(rolled) == [(1, "published"), (2, "retired")]
    assert rolled.active().number == 1
    again = rolled.rollback(T0 + timedelta(hours=4))
    assert again.active().number == 2


def test_illegal_moves_are_refused() -> None:
    history = FlowHistory("t1", "main").save_draft(definition(), T0)
    with pytest.raises(PreconditionFailed):
        history.rollback(T0)
    published = history.publish(1, T0)
    with pytest.raises(Conflict):
        published.publish(1, T0)
    with pytest.raises(PreconditionFailed) as caught:
        published.version(1).transition(FlowVersionState.DRAFT, T0)
    assert caught.value.error_id == "illegal-flow-version-transition"
    with pytest.raises(NotFound):
        published.publish(7, T0)
    with pytest.raises(ValidationFailed):
        published.save_draft(definition(flow_id="other"), T0)


def test_a_discarded_draft_cannot_be_published_and_numbers_are_not_reused() -> None:
    history = FlowHistory("t1", "main").save_draft(definition(), T0).discard_draft(T0)
    assert history.draft is None
    with pytest.raises(PreconditionFailed):
        history.publish(1, T0)
    history = history.save_draft(definition(), T0)
    assert states(history) == [(1, "discarded"), (2, "draft")]
    with pytest.raises(NotFound):
        history.discard_draft(T0).discard_draft(T0)


def test_a_number_can_point_only_at_a_published_flow() -> None:
    history = FlowHistory("t1", "main").save_draft(definition(), T0)
    with pytest.raises(PreconditionFailed):
        bind_number(history, "+33142685300")
    published = history.publish(1, T0)
    binding = bind_number(published, "+33142685300")
    assert (binding.tenant_id, binding.number, binding.flow_id) == ("t1", "+33142685300", "main")
    with pytest.raises(ValidationFailed):
        bind_number(published, "01 42 68 53 00")
