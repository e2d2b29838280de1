"""The Kafka event bus: publisher, consumer-group consumer, idempotency stores, and the
embedded broker. The transactional outbox lives in `switchboard_common.outbox`."""

from switchboard_common.bus.broker import (
    BrokerEndpoint,
    EmbeddedBroker,
    ExternalBroker,
    default_topics,
    ensure_topics,
    free_port,
    wait_for_broker,
)
from switchboard_common.bus.consumer import EventConsumer, Handler, Outcome, PartitionsCallback
from switchboard_common.bus.errors import (
    BrokerStartFailed,
    BusNotStarted,
    BusUnavailable,
    PublishRejected,
)
from switchboard_common.bus.idempotency import (
    InMemoryProcessedEvents,
    ProcessedEvents,
    SqlProcessedEvents,
    create_processed_events_table,
    drop_processed_events_table,
    processed_events_table,
)
from switchboard_common.bus.producer import EventPublisher, RecordPublisher
from switchboard_common.bus.records import (
    Delivery,
    OutgoingRecord,
    TopicPartition,
    dead_letter_topic,
    partition_for_key,
    partition_for_tenant,
    record_for,
)
from switchboard_common.bus.settings import ConsumerSettings, ProducerSettings

__all__ = [
    "BrokerEndpoint",
    "BrokerStartFailed",
    "BusNotStarted",
    "BusUnavailable",
    "ConsumerSettings",
    "Delivery",
    "EmbeddedBroker",
    "EventConsumer",
    "EventPublisher",
    "ExternalBroker",
    "Handler",
    "InMemoryProcessedEvents",
    "Outcome",
    "OutgoingRecord",
    "PartitionsCallback",
    "ProcessedEvents",
    "ProducerSettings",
    "PublishRejected",
    "RecordPublisher",
    "SqlProcessedEvents",
    "TopicPartition",
    "create_processed_events_table",
    "dead_letter_topic",
    "default_topics",
    "drop_processed_events_table",
    "ensure_topics",
    "free_port",
    "partition_for_key",
    "partition_for_tenant",
    "processed_events_table",
    "record_for",
    "wait_for_broker",
]
