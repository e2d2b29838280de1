"""The Helm chart: Chart.yaml and values.yaml, and (with helm-python-sdk, Helm's own engine
without the helm binary) its rendering under other values and the freshness of deploy/k8s."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import (
    CALL_SCALED_SERVICES,
    CHART_DIR,
    FREESWITCH_DIR,
    SERVICES,
    Manifest,
    env_of,
    find,
    load_renderer,
    parse_documents,
)

CHART = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
VALUES_TEXT = (CHART_DIR / "values.yaml").read_text()
VALUES: dict[str, Any] = yaml.safe_load(VALUES_TEXT)
SECRETS: dict[str, Any] = {
    "existingSecret": "",
    "values": {
        "databaseUrl": "postgresql+asyncpg://switchboard:pw@db:5432/switchboard",
        "internalSecret": "internal-secret-0123456789",
        "jwtSecret": "jwt-secret-0123456789abcdef",
        "eslPassword": "esl-password-0123",
        "adminOperatorToken": "operator-token-0123456789",
    },
}


def _values_for(name: str) -> dict[str, Any]:
    values: dict[str, Any] = VALUES["switch"] if name == "switch" else VALUES["services"][name]
    return values


def test_chart_yaml_describes_an_application_chart() -> None:
    assert CHART["apiVersion"] == "v2"
    assert CHART["name"] == "switchboard"
    assert CHART["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", CHART["version"])
    assert CHART["appVersion"]


def test_freeswitch_files_are_the_repository_folder() -> None:
    linked = CHART_DIR / "files" / "freeswitch"
    assert linked.resolve() == FREESWITCH_DIR.resolve()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_values_give_each_service_its_ports_and_scaling(name: str) -> None:
    values = _values_for(name)
    assert (values["httpPort"], values["grpcPort"]) == SERVICES[name]
    assert values["resources"]["requests"] and values["resources"]["limits"]
    autoscaling = values["autoscaling"]
    assert autoscaling["minReplicas"] <= autoscaling["maxReplicas"]
    calls = autoscaling.get("callsInProgress", {})
    assert bool(calls.get("enabled")) == (name in CALL_SCALED_SERVICES)
    assert values["pdb"]["maxUnavailable"] >= 1


def test_values_name_no_other_service() -> None:
    assert set(VALUES["services"]) | {"switch"} == set(SERVICES)


def test_values_are_documented() -> None:
    # Every top-level key and every key of a top-level section has a comment above it
    # (directly, or above the section's first key).
    lines = VALUES_TEXT.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^[a-zA-Z]\w*:", line):
            above = lines[index - 1] if index else ""
            assert above.startswith("#"), f"values.yaml: {line.split(':')[0]} has no comment"


def test_values_ship_no_secret() -> None:
    assert VALUES["secrets"]["existingSecret"]
    assert all(value == "" for value in VALUES["secrets"]["values"].values())


# ---- rendering with Helm's engine -----------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> Any:
    return pytest.importorskip("helm_python", reason="helm-python-sdk renders the chart")


def _render(helm: Any, overrides: dict[str, Any] | None = None) -> list[Manifest]:
    with helm.Chart.load(str(CHART_DIR)) as chart:
        rendered = chart.render(
            overrides or {}, name="switchboard", namespace="switchboard", is_install=True
        )
    return parse_documents(rendered)


def _validate(objects: list[Manifest]) -> None:
    validator: Any = pytest.importorskip("kubernetes_validate")
    for manifest in objects:
        if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            continue
        validator.validate(manifest, "1.27.0", strict=True)


def test_deploy_k8s_is_the_chart_rendered_with_default_values(helm: Any) -> None:
    stale = load_renderer().differences()
    assert stale == [], f"run `.venv/bin/python deploy/k8s/render.py`; stale: {stale}"


def test_chart_passes_helm_lint(helm: Any) -> None:
    for values in ({}, {"secrets": SECRETS, "metrics": {"serviceMonitor": {"enabled": True}}}):
        report = helm.lint(str(CHART_DIR), values, strict=True, kube_version="v1.27.0")
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert report["errors"] == [] and problems == [], report


def test_migrations_job_is_a_pre_install_and_pre_upgrade_hook(helm: Any) -> None:
    job = find(_render(helm), "Job", "switchboard-migrate")
    hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
    assert hooks == {"pre-install", "pre-upgrade"}


def test_chart_made_secret_exists_before_the_migrations_hook(helm: Any) -> None:
    objects = _render(helm, {"secrets": SECRETS})
    _validate(objects)
    secret = find(objects, "Secret", "switchboard-secrets")
    job = find(objects, "Job", "switchboard-migrate")
    weight = int(secret["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert weight < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert secret["stringData"]["esl-password"] == "esl-password-0123"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("internalSecret", "too-short"),
        ("jwtSecret", "short"),
        ("eslPassword", 'breaks"xml'),
        ("databaseUrl", ""),
        ("adminOperatorToken", "short-token"),
    ],
)
def test_chart_refuses_unusable_secrets(helm: Any, field: str, value: str) -> None:
    secrets = copy.deepcopy(SECRETS)
    secrets["values"][field] = value
    with pytest.raises(helm.HelmError):
        _render(helm, {"secrets": secrets})


def test_without_host_network_each_freeswitch_pod_gets_sip_and_rtp_service(helm: Any) -> None:
    objects = _render(
        helm,
        {"freeswitch": {"hostNetwork": False, "rtpPorts": {"start": 20000, "end": 20099}}},
    )
    _validate(objects)
    pod = find(objects, "StatefulSet", "switchboard-switch")["spec"]["template"]["spec"]
    assert "hostNetwork" not in pod
    max_replicas = VALUES["switch"]["autoscaling"]["maxReplicas"]
    for ordinal in range(max_replicas):
        service = find(objects, "Service", f"switchboard-switch-sip-{ordinal}")
        assert service["spec"]["selector"]["statefulset.kubernetes.io/pod-name"] == (
            f"switchboard-switch-{ordinal}"
        )
        udp = {p["port"] for p in service["spec"]["ports"] if p["protocol"] == "UDP"}
        assert set(range(20000, 20100)) | {5060, 5080} == udp
    env = env_of(pod["containers"][0])
    assert (env["FREESWITCH_RTP_START_PORT"]["value"], env["FREESWITCH_RTP_END_PORT"]["value"]) == (
        "20000",
        "20099",
    )


def test_without_host_network_a_huge_rtp_range_is_refused(helm: Any) -> None:
    with pytest.raises(helm.HelmError):
        _render(helm, {"freeswitch": {"hostNetwork": False}})


def test_service_monitor_is_opt_in_and_scrapes_each_service_once(helm: Any) -> None:
    assert not [o for o in _render(helm) if o["kind"] == "ServiceMonitor"]
    objects = _render(helm, {"metrics": {"serviceMonitor": {"enabled": True}}})
    monitor = find(objects, "ServiceMonitor", "switchboard")
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "Service" and selector.items() <= o["metadata"]["labels"].items()
    ]
    assert sorted(scraped) == sorted(f"switchboard-{name}" for name in SERVICES)
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_disabled_autoscaling_fixes_the_replica_count(helm: Any) -> None:
    objects = _render(
        helm,
        {
            "services": {"tickets": {"autoscaling": {"enabled": False}, "replicas": 3}},
            "switch": {"autoscaling": {"enabled": False}, "replicas": 4},
        },
    )
    _validate(objects)
    assert find(objects, "Deployment", "switchboard-tickets")["spec"]["replicas"] == 3
    assert find(objects, "StatefulSet", "switchboard-switch")["spec"]["replicas"] == 4
    autoscaled = {o["metadata"]["name"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    assert "switchboard-tickets" not in autoscaled and "switchboard-switch" not in autoscaled
    assert "switchboard-routing" in autoscaled


def test_other_release_names_rename_every_address(helm: Any) -> None:
    with helm.Chart.load(str(CHART_DIR)) as chart:
        rendered = chart.render({}, name="cc", namespace="voice", is_install=True)
    objects = parse_documents(rendered)
    routing = find(objects, "Deployment", "cc-switchboard-routing")
    env = env_of(routing["spec"]["template"]["spec"]["containers"][0])
    assert env["SB_ADMIN_HTTP"]["value"] == "http://cc-switchboard-admin:8108"
    assert find(objects, "Service", "cc-switchboard-admin")


def test_changing_freeswitch_config_rolls_the_switch_pods(helm: Any, tmp_path: Path) -> None:
    def checksum(chart_dir: Path) -> str:
        with helm.Chart.load(str(chart_dir)) as chart:
            objects = parse_documents(chart.render({}, name="switchboard", namespace="sb"))
        pod = find(objects, "StatefulSet", "switchboard-switch")["spec"]["template"]
        value: str = pod["metadata"]["annotations"]["checksum/freeswitch-config"]
        return value

    copied = tmp_path / "switchboard"
    shutil.copytree(CHART_DIR, copied, symlinks=False)
    before = checksum(copied)
    switch_conf = copied / "files" / "freeswitch" / "autoload_configs" / "switch.conf.xml"
    switch_conf.write_text(switch_conf.read_text().replace('value="3000"', 'value="2500"'))
    assert re.fullmatch(r"[0-9a-f]{64}", before)
    assert checksum(copied) != before
    assert checksum(CHART_DIR) == before
