"""Writes the event contract for BI teams: one JSON Schema per event type (envelope + typed
data) and an AsyncAPI 3.0 document listing every topic and its messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from switchboard_common.events.envelope import EVENT_TYPE_PATTERN, Envelope, registered_payloads


def envelope_schema(event_type: str, data_schema: dict[str, Any]) -> dict[str, Any]:
    """A self-contained JSON Schema for one event type: the CloudEvents envelope with its data."""
    envelope = Envelope.model_json_schema()
    properties = dict(envelope["properties"])
    properties["type"] = {"const": event_type, "type": "string", "pattern": EVENT_TYPE_PATTERN}
    defs = data_schema.pop("$defs", {})
    properties["data"] = data_schema
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://switchboard.example/schemas/{event_type}.json",
        "title": event_type,
        "type": "object",
        "properties": properties,
        "required": ["specversion", "id", "source", "type", "time", "tenant", "data"],
    }
    if defs:
        schema["$defs"] = defs
    return schema


def build_documents() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The AsyncAPI document and the JSON Schemas by event type."""
    schemas: dict[str, dict[str, Any]] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, cls in registered_payloads().items():
        schema = envelope_schema(event_type, cls.model_json_schema())
        if cls.DESCRIPTION:
            schema["description"] = cls.DESCRIPTION
        schemas[event_type] = schema
        message_id = event_type.replace(".", "_")
        messages[message_id] = {
            "name": event_type,
            "title": cls.__name__,
            "summary": cls.DESCRIPTION or cls.__name__,
            "contentType": "application/cloudevents+json",
            "payload": {"$ref": f"./schemas/{event_type}.json"},
            "bindings": {"kafka": {"key": {"type": "string", "description": "tenant id"}}},
        }
        channel_id = cls.TOPIC.replace(".", "_")
        channel = channels.setdefault(
            channel_id,
            {
                "address": cls.TOPIC,
                "description": f"Kafka topic {cls.TOPIC}, keyed by tenant id (per-tenant order).",
                "messages": {},
            },
        )
        channel["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
    for channel_id, channel in channels.items():
        operations[f"consume_{channel_id}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{message_id}"}
                for message_id in channel["messages"]
            ],
        }
    asyncapi = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Switchboard events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 (structured JSON) published by Switchboard services. "
            "Every record is keyed by tenant id; consumers must be idempotent by "
            "event `id`.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
    return asyncapi, schemas


def write_event_docs(out: Path) -> list[Path]:
    asyncapi, schemas = build_documents()
    (out / "schemas").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for event_type, schema in schemas.items():
        path = out / "schemas" / f"{event_type}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    path = out / "asyncapi.yaml"
    path.write_text(yaml.safe_dump(asyncapi, sort_keys=False, width=100))
    written.append(path)
    return written
