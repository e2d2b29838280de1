"""Generate Python code (messages, gRPC stubs, .pyi types) from proto/switchboard/**.proto.

The generated files are committed under proto/python/; `--check` fails when they are stale.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT = PROTO_ROOT / "python"


def generate(out: Path) -> list[Path]:
    sources = sorted(PROTO_ROOT.glob("switchboard/**/*.proto"))
    if not sources:
        return []
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *[str(path.relative_to(PROTO_ROOT)) for path in sources],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package_dir in {p.parent for p in out.rglob("*_pb2.py")}:
        current = package_dir
        while current != out:
            (current / "__init__.py").touch()
            current = current.parent
    return sources


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args()
    if not args.check:
        generated = OUT / "switchboard"
        for stale in generated.rglob("*_pb2*.py*"):
            stale.unlink()
        sources = generate(OUT)
        print(f"generated code for {len(sources)} proto files into {OUT}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        sources = generate(Path(tmp))
        stale = []
        for fresh in Path(tmp).rglob("*_pb2*.py*"):
            committed = OUT / fresh.relative_to(tmp)
            if not committed.exists() or not filecmp.cmp(fresh, committed, shallow=False):
                stale.append(str(committed.relative_to(ROOT)))
        if stale:
            print(
                "generated protobuf code is stale; run `make proto`: " + ", ".join(stale),
                file=sys.stderr,
            )
            return 1
        print(f"protobuf code up to date ({len(sources)} proto files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
