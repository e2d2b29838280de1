"""Command-line parsing and the dialplan document format, without sockets."""

from __future__ import annotations

import pytest

from switchboard_common.errors import UpstreamError, ValidationFailed
from switchboard_simulator.cli import build_config
from switchboard_simulator.dialplan import DialplanRequest, parse_xml_dialplan

SUPERVISOR_ARGS = [
    "--esl-port",
    "8021",
    "--stats-port",
    "8120",
    "--seed",
    "1",
    "--call-rate",
    "0.5",
    "--agents",
    "5",
    "--dialplan-url",
    "http://127.0.0.1:8108/v1/freeswitch/dialplan",
]


def test_supervisor_command_line_builds_the_demo_world() -> None:
    config = build_config(SUPERVISOR_ARGS)
    world = config.world
    assert [(n.number, n.tenant) for n in world.numbers] == [
        ("+12025550100", "acme"),
        ("+12025550200", "globex"),
    ]
    assert [n.calls_per_minute for n in world.numbers] == [15.0, 15.0]
    keys = [agent.key for agent in world.agents]
    assert keys[:5] == [f"{1001 + i}@acme.example" for i in range(5)]
    assert keys[5:] == [f"{1001 + i}@globex.example" for i in range(5)]
    assert config.esl_port == 8021 and config.stats_port == 8120
    assert config.dialplan_url == "http://127.0.0.1:8108/v1/freeswitch/dialplan"
    assert world.seed == 1


def test_agents_as_count_or_endpoints_and_explicit_numbers() -> None:
    config = build_config(
        [
            "--number",
            "5000=acme",
            "--agents",
            "1001@acme.example,1002@acme.example",
            "--call-rate",
            "1",
        ]
    )
    assert [n.number for n in config.world.numbers] == ["5000"]
    assert config.world.numbers[0].calls_per_minute == 60.0
    assert [a.key for a in config.world.agents] == ["1001@acme.example", "1002@acme.example"]
    assert len(build_config(["--agents", "2"]).world.agents) == 4
    assert len(build_config([]).world.agents) == 10
    assert build_config(["--dialplan-secret", "x"]).dialplan_secret == "x"


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--agents", "nobody"], "agents"),
        (["--number", "5000"], "number"),
        (["--call-rate", "-1"], "call_rate"),
    ],
)
def test_bad_arguments_name_the_field(argv: list[str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build_config(argv)
    assert caught.value.details["field"] == field


def test_dialplan_documents() -> None:
    found = parse_xml_dialplan(
        '<document type="freeswitch/xml"><section name="dialplan"><context name="public">'
        '<extension><condition field="destination_number" expression="^\\+1555(\\d+)$">'
        '<action application="set" data="sb_tenant=acme"/><action application="park"/>'
        "</condition></extension></context></section></document>",
        "+15550100",
    )
    assert found.actions == [("set", "sb_tenant=acme"), ("park", "")]
    assert found.tenant == "acme"
    other = parse_xml_dialplan(
        '<document><section name="dialplan"><extension><condition field="destination_number"'
        ' expression="^9$"><action application="park"/></condition></extension></section>'
        "</document>",
        "+15550100",
    )
    assert other.actions is None
    not_found = parse_xml_dialplan(
        '<document type="freeswitch/xml"><section name="result">'
        '<result status="not found"/></section></document>',
        "+15550100",
    )
    assert not_found.actions is None
    for garbage in ("", "not xml", "<document>"):
        with pytest.raises(UpstreamError) as caught:
            parse_xml_dialplan(garbage, "+15550100")
        assert caught.value.error_id == "dialplan-unreadable"


def test_form_fields_start_with_mod_xml_curl_s_own() -> None:
    request = DialplanRequest(
        uuid="u",
        destination_number="5000",
        context="public",
        hostname="sim-fs",
        params=[("Event-Name", "REQUEST_PARAMS"), ("Hunt-Destination-Number", "5000")],
    )
    assert request.form_fields() == [
        ("hostname", "sim-fs"),
        ("section", "dialplan"),
        ("tag_name", ""),
        ("key_name", ""),
        ("key_value", ""),
        ("Event-Name", "REQUEST_PARAMS"),
        ("Hunt-Destination-Number", "5000"),
    ]


def test_callers_keys_and_agents_talk_time_are_settings() -> None:
    config = build_config([*SUPERVISOR_ARGS, "--keys", "1=5, 2=3,9=1,12#=0", "--handle-time", "8"])
    assert config.world.callers.dtmf_choices == {"1": 5.0, "2": 3.0, "9": 1.0, "12#": 0.0}
    assert {agent.handle_time_mean_s for agent in config.world.agents} == {8.0}
    for bad in ("1", "x=1", "1=-2", "1=0", "1=many"):
        with pytest.raises(ValidationFailed) as refused:
            build_config(["--keys", bad])
        assert refused.value.error_id == "invalid-keys"
    with pytest.raises(ValidationFailed):
        build_config(["--handle-time", "0"])
