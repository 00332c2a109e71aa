"""requirements.lock pins, with hashes, every dependency pyproject.toml declares (CI also checks,
with `make lock-check`, that it is exactly what `make lock` makes today; this is the offline part)."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")


def locked() -> dict[str, list[tuple[str, str]]]:
    pins: dict[str, list[tuple[str, str]]] = {}
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    for i, line in enumerate(lines):
        match = PIN.match(line)
        if match:
            assert lines[i + 1].strip().startswith("--hash=sha256:"), f"{line}: no hash"
            pins.setdefault(canonicalize_name(match["name"]), []).append(
                (match["version"], (match["marker"] or "").strip()))
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs.extend(extra)
    return [Requirement(spec) for spec in specs]


def test_every_declared_dependency_is_locked_at_a_version_it_allows():
    pins = locked()
    for requirement in declared():
        found = pins.get(canonicalize_name(requirement.name))
        assert found, f"{requirement.name} is not in requirements.lock: run `make lock`"
        for version, _marker in found:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {requirement.name}=={version}, pyproject.toml wants "
                f"{requirement.specifier}: run `make lock`")


def test_the_lock_is_made_by_make_lock():
    assert "#    make lock" in (ROOT / "requirements.lock").read_text()[:200]
