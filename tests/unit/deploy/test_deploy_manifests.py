"""The plain manifests of deploy/k8s: valid Kubernetes objects (offline schemas), one
workload and one Service per service, and the wiring the services rely on."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from deploy_helpers import (
    CALL_SCALED_SERVICES,
    CALLS_METRIC,
    FREESWITCH_DIR,
    K8S_DIR,
    SERVICES,
    Manifest,
    env_of,
    find,
    load_manifests,
)

MANIFESTS = load_manifests()
OBJECTS = [manifest for _, manifest in MANIFESTS]
KUBERNETES_OBJECTS = [(p, m) for p, m in MANIFESTS if m["kind"] != "Kustomization"]
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion), and a recent one.
KUBERNETES_VERSIONS = ("1.27.0", "1.33.0")
NAMESPACE = "switchboard"


def _object_id(item: tuple[Path, Manifest]) -> str:
    path, manifest = item
    return f"{path.name}:{manifest['kind']}/{manifest['metadata']['name']}"


def _workload(name: str) -> Manifest:
    kind = "StatefulSet" if name == "switch" else "Deployment"
    return find(OBJECTS, kind, f"switchboard-{name}")


def _container(name: str) -> Manifest:
    containers: list[Manifest] = _workload(name)["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


def _secret_key(entry: Manifest) -> tuple[str, str]:
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("item", KUBERNETES_OBJECTS, ids=_object_id)
def test_every_object_is_valid_for_kubernetes(item: tuple[Path, Manifest], version: str) -> None:
    validator: Any = pytest.importorskip("kubernetes_validate")
    validator.validate(item[1], version, strict=True)


def test_kustomization_lists_exactly_the_manifest_files() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    files = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    assert kustomization["namespace"] == NAMESPACE


def test_there_is_a_namespace_and_every_object_lives_in_it() -> None:
    assert find(OBJECTS, "Namespace", NAMESPACE)
    for _, manifest in KUBERNETES_OBJECTS:
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == NAMESPACE, _object_id((_, manifest))


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_has_its_workload_and_service(name: str) -> None:
    http_port, grpc_port = SERVICES[name]
    workload = _workload(name)
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    selector = workload["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()

    service = find(OBJECTS, "Service", f"switchboard-{name}")
    assert service["spec"]["selector"] == selector
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert (ports["http"]["port"], ports["grpc"]["port"]) == (http_port, grpc_port)

    container = _container(name)
    assert container["command"] == ["python", "-m", f"switchboard_{name}"]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container_ports == {"http": http_port, "grpc": grpc_port}
    env = env_of(container)
    prefix = name.upper()
    assert env[f"{prefix}_HTTP_PORT"]["value"] == str(http_port)
    assert env[f"{prefix}_GRPC_PORT"]["value"] == str(grpc_port)
    assert f"{prefix}_HTTP_HOST" in env and f"{prefix}_GRPC_HOST" in env


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_gets_the_platform_settings(name: str) -> None:
    env = env_of(_container(name))
    assert env["SWITCHBOARD_ENV"]["value"] == "production"
    assert env["KAFKA_ENABLE_IDEMPOTENCE"]["value"] == "true"
    assert env["KAFKA_BOOTSTRAP_SERVERS"]["value"]
    assert env["OTEL_TRACES_EXPORTER"]["value"] == "otlp"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"]
    secrets = {
        "DATABASE_URL": "database-url",
        "SWITCHBOARD_INTERNAL_SECRET": "internal-secret",
        "SWITCHBOARD_JWT_SECRET": "jwt-secret",
    }
    for variable, key in secrets.items():
        assert _secret_key(env[variable]) == ("switchboard-secrets", key)
        assert "value" not in env[variable]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_finds_every_other_through_existing_services(name: str) -> None:
    env = env_of(_container(name))
    for peer, (http_port, grpc_port) in SERVICES.items():
        http = urlsplit(env[f"SB_{peer.upper()}_HTTP"]["value"])
        host, _, port = env[f"SB_{peer.upper()}_GRPC"]["value"].rpartition(":")
        assert http.scheme == "http" and http.hostname == host
        assert (http.port, int(port)) == (http_port, grpc_port)
        service_ports = {p["port"] for p in find(OBJECTS, "Service", host)["spec"]["ports"]}
        assert {http_port, grpc_port} <= service_ports


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_is_probed_limited_and_locked_down(name: str) -> None:
    pod = _workload(name)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False, "link variables would mix with settings"
    for container in pod["containers"]:
        assert container["resources"]["requests"] and container["resources"]["limits"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
    container = _container(name)
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts, "a read-only root needs a writable /tmp"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_autoscales_on_cpu_and_calls_where_it_counts(name: str) -> None:
    hpa = find(OBJECTS, "HorizontalPodAutoscaler", f"switchboard-{name}")
    workload = _workload(name)
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (workload["kind"], workload["metadata"]["name"])
    assert "replicas" not in workload["spec"], "the HPA owns the replica count"
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    if name in CALL_SCALED_SERVICES:
        pods = metrics["Pods"]["pods"]
        assert pods["metric"]["name"] == CALLS_METRIC
        assert pods["target"]["type"] == "AverageValue"
        assert float(pods["target"]["averageValue"]) > 0
    else:
        assert "Pods" not in metrics


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_has_a_disruption_budget_over_its_pods(name: str) -> None:
    pdb = find(OBJECTS, "PodDisruptionBudget", f"switchboard-{name}")
    pod_labels = _workload(name)["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] >= 1


def test_switch_pods_pair_freeswitch_with_the_switch_service_over_loopback_esl() -> None:
    statefulset = _workload("switch")
    pod = statefulset["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["freeswitch", "switch"]
    switch_env = env_of(_container("switch"))
    assert switch_env["FREESWITCH_ESL"]["value"] == "127.0.0.1:8021"
    assert _secret_key(switch_env["FREESWITCH_ESL_PASSWORD"]) == (
        "switchboard-secrets",
        "esl-password",
    )
    node_id = switch_env["SWITCH_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert node_id == "metadata.name"
    freeswitch = pod["containers"][0]
    freeswitch_env = env_of(freeswitch)
    assert _secret_key(freeswitch_env["FREESWITCH_ESL_PASSWORD"]) == _secret_key(
        switch_env["FREESWITCH_ESL_PASSWORD"]
    )
    assert freeswitch_env["SB_ADMIN_HTTP"] == switch_env["SB_ADMIN_HTTP"]
    headless = find(OBJECTS, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"


def test_switch_pods_on_the_host_network_are_one_per_node() -> None:
    pod = _workload("switch")["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    terms = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["topologyKey"] == "kubernetes.io/hostname"
    pod_labels = _workload("switch")["spec"]["template"]["metadata"]["labels"]
    assert terms[0]["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_freeswitch_config_map_is_the_freeswitch_folder_mounted_at_its_paths() -> None:
    pod = _workload("switch")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "freeswitch-config")
    config_map = find(OBJECTS, "ConfigMap", volume["configMap"]["name"])
    files = {str(p.relative_to(FREESWITCH_DIR)): p for p in FREESWITCH_DIR.rglob("*.xml")}
    mounted = {item["path"]: item["key"] for item in volume["configMap"]["items"]}
    assert set(mounted) == set(files)
    for path, key in mounted.items():
        assert config_map["data"][key] == files[path].read_text(), path
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"])
    assert (mount["mountPath"], mount["readOnly"]) == ("/etc/freeswitch", True)


def test_freeswitch_is_started_on_the_mounted_config_with_writable_state() -> None:
    freeswitch = _workload("switch")["spec"]["template"]["spec"]["containers"][0]
    args = freeswitch["args"]
    options = dict(zip(args[3::2], args[4::2], strict=True))
    assert args[:3] == ["-nf", "-nc", "-nonat"]
    assert options["-conf"] == "/etc/freeswitch"
    mounts = {m["mountPath"] for m in freeswitch["volumeMounts"]}
    # FreeSWITCH needs -conf, -log and -db together; everything it writes is a volume.
    for option in ("-log", "-db", "-run", "-recordings", "-storage", "-cache", "-temp"):
        assert options[option] in mounts, option
    assert freeswitch["securityContext"]["readOnlyRootFilesystem"] is True


def test_migrations_job_runs_switchboard_migrate_with_the_database_secret() -> None:
    job = find(OBJECTS, "Job", "switchboard-migrate")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["switchboard", "migrate"]
    assert _secret_key(env_of(container)["DATABASE_URL"]) == ("switchboard-secrets", "database-url")
    assert "annotations" not in job["metadata"], "Helm hook annotations mean nothing here"


def test_admin_gets_its_operator_token_from_the_secret() -> None:
    env = env_of(_container("admin"))
    assert _secret_key(env["ADMIN_OPERATOR_TOKEN"]) == (
        "switchboard-secrets",
        "admin-operator-token",
    )


def test_no_secret_value_is_committed() -> None:
    assert [m for m in OBJECTS if m["kind"] == "Secret"] == []
