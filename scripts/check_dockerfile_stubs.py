"""The Dockerfile builds the dependencies first, from the manifests alone, with empty stubs for
the sources. Cargo refuses a manifest whose declared `[[test]]`, `[[bench]]` or `[[example]]`
has no file, so a target added without its stub breaks the image build (two benchmarks did,
unnoticed: no container engine runs here). Checks, from the manifests, that the stub step
copies every member's manifest and creates every declared target's file.

    check_dockerfile_stubs.py        prints what is missing and exits 1, or exits 0
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIRS = {"test": "tests", "bench": "benches", "example": "examples"}


def stub_step(dockerfile: str) -> str:
    """The Dockerfile up to its first `cargo build`: what the dependency layer has."""
    return dockerfile.split("cargo build", 1)[0]


def problems(dockerfile: str) -> list[str]:
    stubs = stub_step(dockerfile)
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    found = []
    for member in members:
        manifest = f"{member}/Cargo.toml"
        if manifest not in stubs:
            found.append(f"{manifest} is not copied before the dependency build")
        declared = tomllib.loads((ROOT / manifest).read_text())
        for kind, directory in DEFAULT_DIRS.items():
            for target in declared.get(kind, []):
                name = target["name"]
                path = f"{member}/{target.get('path') or f'{directory}/{name}.rs'}"
                if path not in stubs:
                    found.append(f"{path} ([[{kind}]] {name}) has no stub before the dependency build")
    return found


def main() -> int:
    found = problems((ROOT / "Dockerfile").read_text())
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
