"""Imports every domain's payload module so that the registry is complete."""

import importlib

DOMAIN_MODULES: tuple[str, ...] = (
    "switchboard_common.events.calls",
    "switchboard_common.events.agents",
    "switchboard_common.events.queues",
    "switchboard_common.events.ivr",
    "switchboard_common.events.recordings",
    "switchboard_common.events.tickets",
    "switchboard_common.events.cdr",
    "switchboard_common.events.config",
)


def load_all() -> None:
    for name in DOMAIN_MODULES:
        importlib.import_module(name)
