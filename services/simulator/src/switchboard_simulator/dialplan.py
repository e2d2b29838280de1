"""Dialplan decisions: the static in-memory map and the mod_xml_curl request/response format."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree

from switchboard_common.errors import UpstreamError
from switchboard_simulator.config import TenantNumber

Action = tuple[str, str]


@dataclass(slots=True)
class DialplanRequest:
    """What FreeSWITCH knows when it hunts a dialplan: the REQUEST_PARAMS event that
    mod_dialplan_xml builds (core headers, the channel's data and variables, `Hunt-*`)."""

    uuid: str
    destination_number: str
    context: str
    hostname: str
    params: list[tuple[str, str]]

    def form_fields(self) -> list[tuple[str, str]]:
        """The POST fields mod_xml_curl sends: its own five, then every param in order."""
        return [
            ("hostname", self.hostname),
            ("section", "dialplan"),
            ("tag_name", ""),
            ("key_name", ""),
            ("key_value", ""),
            *self.params,
        ]


@dataclass(slots=True)
class DialplanDecision:
    """The actions to run, or `None` when the number is not found."""

    actions: list[Action] | None
    tenant: str = ""


DialplanCallback = Callable[[DialplanDecision], None]
DialplanResolver = Callable[[DialplanRequest, DialplanCallback], None]


def tenant_actions(number: TenantNumber) -> list[Action]:
    """The platform's dialplan for a known number: tag the channel, then park it."""
    if number.actions is not None:
        return list(number.actions)
    return [
        ("set", f"sb_tenant={number.tenant}"),
        ("set", f"sb_number={number.number}"),
        ("park", ""),
    ]


class StaticDialplan:
    """The default resolver: an in-memory map from dialled number to tenant."""

    def __init__(self, numbers: list[TenantNumber]) -> None:
        self._numbers = {number.number: number for number in numbers}

    def add(self, number: TenantNumber) -> None:
        self._numbers[number.number] = number

    def lookup(self, destination: str) -> DialplanDecision:
        number = self._numbers.get(destination)
        if number is None:
            return DialplanDecision(None)
        return DialplanDecision(tenant_actions(number), tenant=number.tenant)

    def __call__(self, request: DialplanRequest, callback: DialplanCallback) -> None:
        callback(self.lookup(request.destination_number))


def parse_xml_dialplan(document: str, destination: str) -> DialplanDecision:
    """Read a mod_xml_curl answer: the first matching extension's actions, or not found.

    `<section name="result"><result status="not found"/>` (or a document whose dialplan
    section has no matching extension) is "not found". An empty or unreadable answer raises
    `UpstreamError`: FreeSWITCH then falls back to its static configuration.
    """
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as error:
        raise UpstreamError(
            f"unreadable dialplan document: {error}",
            error_id="dialplan-unreadable",
            details={"field": "body"},
        ) from None
    for section in root.iter("section"):
        if section.get("name") != "dialplan":
            continue
        for extension in section.iter("extension"):
            actions = _extension_actions(extension, destination)
            if actions is not None:
                tenant = next(
                    (
                        data.split("=", 1)[1]
                        for app, data in actions
                        if app == "set" and data.startswith("sb_tenant=")
                    ),
                    "",
                )
                return DialplanDecision(actions, tenant=tenant)
    return DialplanDecision(None)


def _extension_actions(extension: ElementTree.Element, destination: str) -> list[Action] | None:
    actions: list[Action] = []
    for condition in extension.iter("condition"):
        field_name = condition.get("field")
        expression = condition.get("expression")
        if (
            field_name in ("destination_number", "${destination_number}")
            and expression
            and re.search(expression, destination) is None
        ):
            return None
        for action in condition.findall("action"):
            application = action.get("application")
            if application:
                actions.append((application, action.get("data", "")))
    return actions
