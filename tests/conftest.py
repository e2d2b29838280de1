"""Shared fixtures: a fresh PostgreSQL database per run and the Kafka-protocol broker."""

import pytest

pytest_plugins = [
    "switchboard_common.testing.postgres",
    "switchboard_common.testing.kafka",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)
