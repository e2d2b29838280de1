"""FreeSWITCH mod_xml_curl endpoints: the dialplan for a dialled number and the directory
of a tenant's SIP domain.

mod_xml_curl POSTs `application/x-www-form-urlencoded` fields (`section`,
`Caller-Destination-Number`, `Hunt-Destination-Number`, `Caller-Context`, `domain`, `user`,
`purpose`, ...) and reads back a `<document type="freeswitch/xml">`. Both endpoints need
the internal secret, as HTTP basic auth (any user name; mod_xml_curl's
`gateway-credentials` = `freeswitch:<secret>`) or the `X-Switchboard-Internal-Secret` header.

Answers:
- known number of an active tenant: `set sb_tenant`, `set sb_number`, target variables,
  the tenant's concurrent-call limit (mod_limit), then `park`;
- number of a suspended tenant: optional announcement, then `hangup CALL_REJECTED`;
- unknown number: `respond 404` and `hangup UNALLOCATED_NUMBER`;
- anything else asked (another section, unknown domain): `<result status="not found"/>`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from fastapi import APIRouter, Request, Response
from pydantic import SecretStr

from switchboard_admin.domain.dialplan import DialplanDecision
from switchboard_admin.services import DirectoryDomain, FreeswitchService
from switchboard_common.auth import INTERNAL_SECRET_HEADER, internal_secret_matches
from switchboard_common.http import error_response

XML_MEDIA_TYPE = "text/xml"
DEFAULT_CONTEXT = "public"
_DIAL_STRING = (
    "{^^:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@${dialed_domain}}"
    "${sofia_contact(*/${dialed_user}@${dialed_domain})}"
)
_FORM_FIELDS: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "properties": {
                        "section": {"type": "string"},
                        "Caller-Destination-Number": {"type": "string"},
                        "Hunt-Destination-Number": {"type": "string"},
                        "Caller-Caller-ID-Number": {"type": "string"},
                        "Caller-Context": {"type": "string"},
                        "domain": {"type": "string"},
                        "user": {"type": "string"},
                        "purpose": {"type": "string"},
                    },
                }
            }
        },
    },
    "responses": {"200": {"content": {XML_MEDIA_TYPE: {"schema": {"type": "string"}}}}},
}


def parse_form(body: bytes) -> dict[str, str]:
    """mod_xml_curl's urlencoded fields (the last value wins for repeated names; NUL
    characters are dropped)."""
    text = body.decode("utf-8", errors="replace")
    fields = parse_qsl(text, keep_blank_values=True, max_num_fields=500)
    return {name.replace("\x00", ""): value.replace("\x00", "") for name, value in fields}


def presented_secret(request: Request) -> str | None:
    """The secret from the header, else the password of HTTP basic auth."""
    header = request.headers.get(INTERNAL_SECRET_HEADER)
    if header:
        return header
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, separator, password = decoded.partition(":")
    return password if separator else None


def _document() -> ElementTree.Element:
    return ElementTree.Element("document", {"type": "freeswitch/xml"})


def _render(document: ElementTree.Element) -> str:
    body = ElementTree.tostring(document, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n{body}\n'


def not_found_xml() -> str:
    """What mod_xml_curl understands as "no answer here"."""
    document = _document()
    section = ElementTree.SubElement(document, "section", {"name": "result"})
    ElementTree.SubElement(section, "result", {"status": "not found"})
    return _render(document)


def dialplan_xml(decision: DialplanDecision, context: str) -> str:
    document = _document()
    descriptions = {
        "route": "Switchboard tenant number",
        "suspended": "Switchboard: tenant suspended",
        "unallocated": "Switchboard: unallocated number",
    }
    section = ElementTree.SubElement(
        document, "section", {"name": "dialplan", "description": descriptions[decision.outcome]}
    )
    context_element = ElementTree.SubElement(section, "context", {"name": context})
    extension = ElementTree.SubElement(context_element, "extension", {"name": decision.extension})
    condition = ElementTree.SubElement(
        extension, "condition", {"field": "destination_number", "expression": decision.expression}
    )
    for application, data in decision.actions:
        attributes = {"application": application}
        if data:
            attributes["data"] = data
        ElementTree.SubElement(condition, "action", attributes)
    return _render(document)


def directory_xml(domains: list[DirectoryDomain]) -> str:
    document = _document()
    section = ElementTree.SubElement(document, "section", {"name": "directory"})
    for entry in domains:
        domain = ElementTree.SubElement(section, "domain", {"name": entry.domain})
        params = ElementTree.SubElement(domain, "params")
        ElementTree.SubElement(params, "param", {"name": "dial-string", "value": _DIAL_STRING})
        if entry.tenant_id:
            variables = ElementTree.SubElement(domain, "variables")
            ElementTree.SubElement(
                variables, "variable", {"name": "sb_tenant", "value": entry.tenant_id}
            )
        groups = ElementTree.SubElement(domain, "groups")
        group = ElementTree.SubElement(groups, "group", {"name": "agents"})
        users = ElementTree.SubElement(group, "users")
        for person in entry.users:
            user = ElementTree.SubElement(users, "user", {"id": person.extension})
            user_params = ElementTree.SubElement(user, "params")
            ElementTree.SubElement(
                user_params, "param", {"name": "a1-hash", "value": person.a1_hash}
            )
            user_variables = ElementTree.SubElement(user, "variables")
            for name, value in (
                ("sb_tenant", entry.tenant_id),
                ("sb_user", person.user_id),
                ("user_context", DEFAULT_CONTEXT),
                ("effective_caller_id_name", person.display_name),
                ("effective_caller_id_number", person.extension),
            ):
                ElementTree.SubElement(user_variables, "variable", {"name": name, "value": value})
    return _render(document)


def _first(fields: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = fields.get(name, "").strip()
        if value:
            return value
    return ""


def freeswitch_router(service: FreeswitchService, internal_secret: SecretStr) -> APIRouter:
    router = APIRouter(prefix="/v1/freeswitch", tags=["freeswitch"])

    def refuse() -> Response:
        response = error_response(
            401,
            "unauthenticated",
            "FreeSWITCH requests need the internal secret (basic auth password or header)",
            {"reason": "internal"},
        )
        response.headers["WWW-Authenticate"] = 'Basic realm="switchboard-freeswitch"'
        return response

    def xml(text: str) -> Response:
        return Response(content=text, media_type=XML_MEDIA_TYPE)

    @router.post(
        "/dialplan",
        summary="mod_xml_curl dialplan: route, reject (suspended) or refuse (unknown number)",
        openapi_extra=_FORM_FIELDS,
        response_class=Response,
    )
    async def dialplan(request: Request) -> Response:
        if not internal_secret_matches(presented_secret(request), internal_secret):
            return refuse()
        fields = parse_form(await request.body())
        if fields.get("section", "dialplan") != "dialplan":
            return xml(not_found_xml())
        destination = _first(
            fields,
            "Hunt-Destination-Number",
            "Caller-Destination-Number",
            "variable_destination_number",
            "destination_number",
        )
        context = _first(fields, "Hunt-Context", "Caller-Context") or DEFAULT_CONTEXT
        decision = await service.dialplan(destination[:64])
        return xml(dialplan_xml(decision, context[:64]))

    @router.post(
        "/directory",
        summary="mod_xml_curl directory: a tenant domain with its agents' SIP credentials",
        openapi_extra=_FORM_FIELDS,
        response_class=Response,
    )
    async def directory(request: Request) -> Response:
        if not internal_secret_matches(presented_secret(request), internal_secret):
            return refuse()
        fields = parse_form(await request.body())
        if fields.get("section", "directory") != "directory":
            return xml(not_found_xml())
        purpose = fields.get("purpose", "")
        if purpose == "gateways":
            names = await service.domains()
            return xml(directory_xml([DirectoryDomain(name, "", ()) for name in names]))
        if purpose:
            return xml(not_found_xml())
        domain_name = _first(fields, "domain", "key_value", "sip_auth_realm")
        user = _first(fields, "user", "sip_auth_username") or None
        if not domain_name:
            return xml(not_found_xml())
        found = await service.directory(domain_name[:253], user[:64] if user else None)
        if found is None:
            return xml(not_found_xml())
        return xml(directory_xml([found]))

    return router
