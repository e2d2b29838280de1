"""The production FreeSWITCH configuration (freeswitch/): well-formed files, and the assembled
document as FreeSWITCH's preprocessor builds it from the container's environment."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from deploy_helpers import (
    EXEC_RESULT,
    FREESWITCH_DIR,
    Preprocessor,
    assemble,
    comments_of,
    configuration,
    params,
)

XML_FILES = sorted(FREESWITCH_DIR.rglob("*.xml"))
PRODUCTION_ENV = {
    "FREESWITCH_ESL_PASSWORD": "esl-password-from-secret",
    "SWITCHBOARD_INTERNAL_SECRET": "internal-secret-from-secret",
    "SB_ADMIN_HTTP": "http://switchboard-admin:8108",
    "SWITCH_NODE_ID": "switchboard-switch-0",
    "FREESWITCH_RTP_START_PORT": "20000",
    "FREESWITCH_RTP_END_PORT": "21999",
    "FREESWITCH_EXTERNAL_IP": "203.0.113.7",
    "FREESWITCH_CARRIER_CIDRS": "198.51.100.0/24,192.0.2.10/32",
}


def _relative(path: Path) -> str:
    return str(path.relative_to(FREESWITCH_DIR))


@pytest.fixture(scope="module")
def production() -> tuple[ET.Element, Preprocessor]:
    return assemble(PRODUCTION_ENV)


@pytest.fixture(scope="module")
def bare() -> tuple[ET.Element, Preprocessor]:
    """The configuration started with none of the platform's environment variables."""
    return assemble({})


def test_the_folder_holds_every_expected_file() -> None:
    expected = {
        "freeswitch.xml",
        "vars.xml",
        "autoload_configs/event_socket.conf.xml",
        "autoload_configs/switch.conf.xml",
        "autoload_configs/xml_curl.conf.xml",
        "autoload_configs/modules.conf.xml",
        "autoload_configs/sofia.conf.xml",
        "sip_profiles/internal.xml",
        "sip_profiles/external.xml",
    }
    assert expected <= {_relative(path) for path in XML_FILES}
    assert (FREESWITCH_DIR / "README.md").is_file()


@pytest.mark.parametrize("path", XML_FILES, ids=_relative)
def test_each_file_is_well_formed_xml(path: Path) -> None:
    text = path.read_text()
    ET.fromstring(text.split("?>", 1)[1] if text.startswith("<?xml") else text)
    assert text.endswith("\n") and not text.endswith("\n\n")


@pytest.mark.parametrize("path", XML_FILES, ids=_relative)
def test_no_preprocessor_command_hides_in_a_comment(path: Path) -> None:
    # FreeSWITCH runs preprocessor lines even inside comments.
    for comment in comments_of(path.read_text()):
        assert "X-PRE-PROCESS" not in comment, comment


@pytest.mark.parametrize(
    "path", sorted((FREESWITCH_DIR / "autoload_configs").glob("*.xml")), ids=_relative
)
def test_each_module_config_is_named_after_its_file(path: Path) -> None:
    root = ET.fromstring(path.read_text())
    assert root.tag == "configuration"
    assert root.get("name") == path.name.removesuffix(".xml")


def test_the_whole_document_assembles_with_every_variable_defined(
    production: tuple[ET.Element, Preprocessor],
) -> None:
    root, preprocessor = production
    assert root.tag == "document" and root.get("type") == "freeswitch/xml"
    assert {s.get("name") for s in root.findall("./section")} == {
        "configuration",
        "dialplan",
        "directory",
    }
    assert preprocessor.unresolved == set()
    assert set(XML_FILES) == set(preprocessor.included), "a file is never included"


def test_event_socket_listens_on_loopback_with_the_password_from_the_environment(
    production: tuple[ET.Element, Preprocessor],
) -> None:
    settings = params(configuration(production[0], "event_socket.conf"))
    assert settings["listen-ip"] == "127.0.0.1"
    assert settings["listen-port"] == "8021"
    assert settings["password"] == "esl-password-from-secret"
    assert settings["apply-inbound-acl"] == "loopback.auto"


def test_event_socket_password_without_the_environment_is_random_not_the_default(
    bare: tuple[ET.Element, Preprocessor],
) -> None:
    root, preprocessor = bare
    password = params(configuration(root, "event_socket.conf"))["password"]
    assert password == EXEC_RESULT
    assert "cat /proc/sys/kernel/random/uuid" in preprocessor.executed


def test_switch_conf_raises_the_session_limits_for_contact_center_load(
    production: tuple[ET.Element, Preprocessor],
) -> None:
    settings = params(configuration(production[0], "switch.conf"))
    assert int(settings["max-sessions"]) == 3000
    assert int(settings["sessions-per-second"]) == 100
    assert settings["switchname"] == "switchboard-switch-0"
    assert (settings["rtp-start-port"], settings["rtp-end-port"]) == ("20000", "21999")


def test_switch_conf_defaults_without_the_environment(
    bare: tuple[ET.Element, Preprocessor],
) -> None:
    settings = params(configuration(bare[0], "switch.conf"))
    assert (settings["rtp-start-port"], settings["rtp-end-port"]) == ("16384", "32768")
    assert settings["switchname"] == "fs-node-host"


def _curl_bindings(root: ET.Element) -> dict[str, dict[str, str]]:
    """Section bound -> the binding's params (url under "gateway-url")."""
    bound: dict[str, dict[str, str]] = {}
    for binding in configuration(root, "xml_curl.conf").findall("./bindings/binding"):
        settings = params(binding, "./param")
        url_param = binding.find("./param[@name='gateway-url']")
        assert url_param is not None
        section = url_param.get("bindings", "")
        assert section not in bound, f"two bindings for {section}"
        bound[section] = settings
    return bound


def test_xml_curl_binds_dialplan_and_directory_to_admin(
    production: tuple[ET.Element, Preprocessor],
) -> None:
    bindings = _curl_bindings(production[0])
    assert set(bindings) == {"dialplan", "directory"}
    assert bindings["dialplan"]["gateway-url"] == (
        "http://switchboard-admin:8108/v1/freeswitch/dialplan"
    )
    assert bindings["directory"]["gateway-url"] == (
        "http://switchboard-admin:8108/v1/freeswitch/directory"
    )
    for settings in bindings.values():
        assert settings["gateway-credentials"] == "freeswitch:internal-secret-from-secret"
        assert settings["auth-scheme"] == "basic"
        assert 0 < int(settings["timeout"]) <= 5


def test_xml_curl_defaults_to_the_admin_service_name(
    bare: tuple[ET.Element, Preprocessor],
) -> None:
    bindings = _curl_bindings(bare[0])
    assert bindings["dialplan"]["gateway-url"] == "http://admin:8108/v1/freeswitch/dialplan"
    assert bindings["directory"]["gateway-url"] == "http://admin:8108/v1/freeswitch/directory"
    assert bindings["dialplan"]["gateway-credentials"] == f"freeswitch:{EXEC_RESULT}"


def test_modules_load_what_the_platform_needs_once_each(
    production: tuple[ET.Element, Preprocessor],
) -> None:
    loads = [
        load.get("module")
        for load in configuration(production[0], "modules.conf").findall("./modules/load")
    ]
    assert len(loads) == len(set(loads))
    required = {
        "mod_event_socket",
        "mod_sofia",
        "mod_xml_curl",
        "mod_dptools",
        "mod_commands",
        "mod_conference",
        "mod_sndfile",
        "mod_native_file",
        "mod_tone_stream",
        "mod_say_en",
        "mod_dialplan_xml",
        "mod_loopback",
        "mod_opus",
        "mod_hash",
    }
    assert required <= set(loads)
    assert loads[0] == "mod_logfile", "the logger loads first"


def test_every_module_that_needs_a_configuration_has_one(
    production: tuple[ET.Element, Preprocessor],
) -> None:
    root = production[0]
    loads = {
        load.get("module") for load in configuration(root, "modules.conf").findall("./modules/load")
    }
    needs = {
        "mod_event_socket": "event_socket.conf",
        "mod_sofia": "sofia.conf",
        "mod_xml_curl": "xml_curl.conf",
        "mod_logfile": "logfile.conf",
        "mod_conference": "conference.conf",
    }
    for module, config_name in needs.items():
        if module in loads:
            configuration(root, config_name)


def _profiles(root: ET.Element) -> dict[str, dict[str, str]]:
    profiles = configuration(root, "sofia.conf").findall("./profiles/profile")
    return {profile.get("name", ""): params(profile) for profile in profiles}


def test_sip_profiles_internal_for_agents_and_external_for_carriers(
    production: tuple[ET.Element, Preprocessor],
) -> None:
    profiles = _profiles(production[0])
    assert set(profiles) == {"internal", "external"}
    internal, external = profiles["internal"], profiles["external"]
    assert internal["sip-port"] == "5060" and external["sip-port"] == "5080"
    assert internal["auth-calls"] == "true"
    assert "disable-register" not in internal, "agents register on the internal profile"
    assert external["apply-inbound-acl"] == "carriers"
    assert external["disable-register"] == "true"
    assert external["context"] == "public"
    for settings in profiles.values():
        assert settings["ext-sip-ip"] == settings["ext-rtp-ip"] == "203.0.113.7"
        assert settings["sip-ip"] == "10.1.2.3"


def test_carriers_acl_admits_the_listed_networks_only(
    production: tuple[ET.Element, Preprocessor], bare: tuple[ET.Element, Preprocessor]
) -> None:
    def carriers(root: ET.Element) -> tuple[str | None, list[str | None]]:
        found = configuration(root, "acl.conf").find("./network-lists/list[@name='carriers']")
        assert found is not None
        return found.get("default"), [node.get("cidr") for node in found.findall("./node")]

    assert carriers(production[0]) == ("deny", ["198.51.100.0/24,192.0.2.10/32"])
    assert carriers(bare[0]) == ("deny", ["127.0.0.1/32"])


def test_static_dialplan_only_parks(production: tuple[ET.Element, Preprocessor]) -> None:
    contexts = production[0].findall("./section[@name='dialplan']/context")
    assert {context.get("name") for context in contexts} >= {"public", "agents"}
    profile_contexts = {settings["context"] for settings in _profiles(production[0]).values()}
    assert profile_contexts <= {context.get("name") for context in contexts}
    for context in contexts:
        for extension in context.findall("./extension"):
            actions = [a.get("application") for a in extension.findall("./condition/action")]
            assert actions[-1] == "park"
            assert not {"bridge", "answer", "transfer"} & set(actions)


def test_static_directory_holds_no_users(production: tuple[ET.Element, Preprocessor]) -> None:
    assert production[0].findall(".//section[@name='directory']//user") == []
