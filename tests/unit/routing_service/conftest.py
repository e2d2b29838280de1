"""Makes `routing_service_fakes` importable under importlib mode; fixtures of the fakes."""

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from routing_service_fakes import FakeCallControl, FakeStore, ManualClock  # noqa: E402


@pytest.fixture()
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture()
def control() -> FakeCallControl:
    return FakeCallControl()


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()
