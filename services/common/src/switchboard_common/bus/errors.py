"""Errors of the event bus, with stable ids like every other `AppError`."""

from __future__ import annotations

from switchboard_common.errors import PreconditionFailed, Unavailable, UpstreamError


class BusUnavailable(Unavailable):
    """The broker could not be reached (or did not answer) within the bounded retries."""

    error_id = "event-bus-unavailable"


class PublishRejected(UpstreamError):
    """The broker refused a record for a reason that retrying will not fix (size, topic...)."""

    error_id = "event-publish-rejected"


class BusNotStarted(PreconditionFailed):
    """A publisher or consumer was used before `start()` or after `stop()`."""

    error_id = "event-bus-not-started"


class BrokerStartFailed(Unavailable):
    """The embedded broker did not come up (binary missing, port taken, no answer in time)."""

    error_id = "broker-start-failed"
