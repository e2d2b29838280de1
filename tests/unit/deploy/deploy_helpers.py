"""Helpers of the deployment tests: where things are, manifest loading, and an emulation of
FreeSWITCH's XML preprocessor (include / set / env-set / exec-set and double-dollar
variables) so the assembled configuration can be checked as FreeSWITCH would read it."""

from __future__ import annotations

import importlib.util
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
FREESWITCH_DIR = ROOT / "freeswitch"
CHART_DIR = ROOT / "deploy" / "helm" / "switchboard"
K8S_DIR = ROOT / "deploy" / "k8s"

# name -> (HTTP port, gRPC port), as the brief and services/*/settings.py define them.
SERVICES: dict[str, tuple[int, int]] = {
    "switch": (8101, 9101),
    "ivr": (8102, 9102),
    "routing": (8103, 9103),
    "cti": (8104, 9104),
    "recording": (8105, 9105),
    "tickets": (8106, 9106),
    "reporting": (8107, 9107),
    "admin": (8108, 9108),
}
CALL_SCALED_SERVICES = frozenset({"switch", "ivr", "routing"})
CALLS_METRIC = "switchboard_calls_in_progress"

Manifest = dict[str, Any]


def load_manifests(folder: Path = K8S_DIR) -> list[tuple[Path, Manifest]]:
    """Every object of every YAML file in `folder`, with the file it came from."""
    found: list[tuple[Path, Manifest]] = []
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((path, document))
    return found


def parse_documents(texts: Mapping[str, str]) -> list[Manifest]:
    """Objects of rendered templates (template path -> YAML text)."""
    objects: list[Manifest] = []
    for name in sorted(texts):
        if name.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(texts[name]) if doc)
    return objects


def find(objects: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def env_of(container: Manifest) -> dict[str, Manifest]:
    """A container's env entries by name (each entry keeps `value` or `valueFrom`)."""
    entries: list[Manifest] = container.get("env", [])
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"duplicate env in {container['name']}: {names}"
    return {entry["name"]: entry for entry in entries}


def load_renderer() -> ModuleType:
    """deploy/k8s/render.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("switchboard_k8s_render", K8S_DIR / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- FreeSWITCH preprocessor emulation ------------------------------------------------------

_PRE_PROCESS = re.compile(r'<X-PRE-PROCESS\s+cmd="(?P<cmd>[^"]+)"\s+data="(?P<data>[^"]*)"\s*/>')
_VARIABLE = re.compile(r"\$\$\{([^}]+)\}")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>\s*")

# Variables FreeSWITCH computes before reading any file.
BUILTIN_VARIABLES: dict[str, str] = {
    "hostname": "fs-node-host",
    "local_ip_v4": "10.1.2.3",
    "base_dir": "/usr",
    "conf_dir": "/etc/freeswitch",
    "recordings_dir": "/var/lib/freeswitch/recordings",
    "sounds_dir": "/usr/share/freeswitch/sounds",
}
EXEC_RESULT = "exec-result-of-the-command"


@dataclass
class Preprocessor:
    """Assembles freeswitch.xml the way FreeSWITCH's preprocessor does, line by line."""

    environment: Mapping[str, str]
    variables: dict[str, str] = field(default_factory=lambda: dict(BUILTIN_VARIABLES))
    unresolved: set[str] = field(default_factory=set)
    executed: list[str] = field(default_factory=list)
    included: list[Path] = field(default_factory=list)

    def expand(self, line: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.variables:
                self.unresolved.add(name)
                return ""
            return self.variables[name]

        return _VARIABLE.sub(replace, line)

    def process_file(self, path: Path) -> str:
        self.included.append(path)
        out: list[str] = []
        for raw_line in path.read_text().splitlines():
            line = self.expand(raw_line)
            match = _PRE_PROCESS.search(line)
            if match is None:
                out.append(line)
                continue
            out.append(line[: match.start()])
            self._command(match.group("cmd"), match.group("data"), path.parent, out)
            out.append(line[match.end() :])
        return "\n".join(out)

    def _command(self, cmd: str, data: str, cwd: Path, out: list[str]) -> None:
        if cmd == "include":
            pattern = data if data.startswith("/") else str(cwd / data)
            matches = sorted(Path("/").glob(pattern.lstrip("/")))
            assert matches, f"include {data!r} from {cwd} matches no file"
            for included in matches:
                out.append(_unwrap_include(self.process_file(included.resolve())))
            return
        name, _, value = data.partition("=")
        if cmd == "set":
            self.variables[name.strip()] = value.strip()
        elif cmd == "env-set":
            assert value.startswith("$"), f"env-set needs name=$ENV_NAME, got {data!r}"
            if value[1:] in self.environment:
                self.variables[name] = self.environment[value[1:]]
        elif cmd == "exec-set":
            self.executed.append(value.strip())
            self.variables[name.strip()] = EXEC_RESULT
        else:
            raise AssertionError(f"preprocessor command {cmd!r} is not one FreeSWITCH knows")


def _unwrap_include(text: str) -> str:
    """An included file contributes its content: an `include` wrapper is dropped."""
    text = _XML_DECLARATION.sub("", text)
    root = ET.fromstring(text)
    if root.tag != "include":
        return text
    inner = text[text.index("<include>") + len("<include>") : text.rindex("</include>")]
    return inner


def assemble(environment: Mapping[str, str] | None = None) -> tuple[ET.Element, Preprocessor]:
    """The whole configuration as FreeSWITCH parses it, given the container's environment."""
    preprocessor = Preprocessor(environment=dict(environment or {}))
    document = preprocessor.process_file(FREESWITCH_DIR / "freeswitch.xml")
    return ET.fromstring(_XML_DECLARATION.sub("", document)), preprocessor


def comments_of(text: str) -> Iterator[str]:
    yield from (match.group(0) for match in _COMMENT.finditer(text))


def configuration(root: ET.Element, name: str) -> ET.Element:
    """The `configuration` element FreeSWITCH finds for `name` (e.g. "switch.conf")."""
    found = root.findall(f"./section[@name='configuration']/configuration[@name='{name}']")
    assert len(found) == 1, f"expected one configuration {name}, found {len(found)}"
    return found[0]


def params(element: ET.Element, path: str = "./settings/param") -> dict[str, str]:
    """`param` elements as name -> value; a repeated name is a configuration error."""
    result: dict[str, str] = {}
    for param in element.findall(path):
        name = param.get("name", "")
        assert name not in result, f"param {name} set twice"
        result[name] = param.get("value", "")
    return result
