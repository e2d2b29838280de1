"""Kafka consumers of the tickets service: decode the event, call the service.

- contact history: calls, queues, IVR (surveys, voicemails) and config (the agent
  directory) in the service's consumer group; each event the service uses is handled once
  (`ContactHistoryService` claims its id in the handler's own transaction, in
  `tickets_processed_events`), the many it ignores cost no write;
- the phone-number index: customer events on the tickets topic, in a group of its own per
  instance (every instance must see every change), starting from the latest offset.
"""

from __future__ import annotations

import uuid

from switchboard_common.bus import (
    ConsumerSettings,
    EventConsumer,
    RecordPublisher,
)
from switchboard_common.events import topics
from switchboard_tickets.services import ContactHistoryService, PhoneIndexListener

CONTACT_TOPICS: tuple[str, ...] = (topics.CALLS, topics.QUEUES, topics.IVR, topics.CONFIG)
INDEX_TOPICS: tuple[str, ...] = (topics.TICKETS,)


def contact_history_consumer(
    settings: ConsumerSettings,
    service: ContactHistoryService,
    *,
    dead_letters: RecordPublisher | None = None,
) -> EventConsumer:
    return EventConsumer(settings, CONTACT_TOPICS, service.handle, dead_letters=dead_letters)


def phone_index_group(base: str) -> str:
    """A consumer group of this instance alone."""
    return f"{base}-phone-index-{uuid.uuid4().hex[:12]}"


def phone_index_consumer(settings: ConsumerSettings, listener: PhoneIndexListener) -> EventConsumer:
    return EventConsumer(settings, INDEX_TOPICS, listener.handle)
