"""galaxy.yml declares every collection the roles, playbooks and scenarios call, and nothing it does not use."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# a module, filter, test or lookup named by its full name, in a collection other than ansible.builtin and this one
_FQCN = re.compile(r"\b(ansible\.posix|awx\.awx|community\.[a-z_0-9]+|ansible\.utils|ansible\.netcommon)\.[a-z_0-9]+\b")
_OWN = ("roles", "playbooks", "extensions", "demo")


def used_collections() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for top in _OWN:
        for path in (ROOT / top).rglob("*.yml"):
            for match in _FQCN.finditer(path.read_text()):
                used.setdefault(match.group(1), set()).add(str(path.relative_to(ROOT)))
    return used


def test_every_collection_the_content_calls_is_a_declared_dependency_with_a_range():
    dependencies = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]
    used = used_collections()
    missing = {name: sorted(paths)[:3] for name, paths in used.items() if name not in dependencies}
    assert not missing, f"called but not in galaxy.yml's dependencies: {missing}"
    assert set(dependencies) == set(used), f"declared, never called: {set(dependencies) - set(used)}"
    for name, spec in dependencies.items():
        assert re.fullmatch(r">=\d+\.\d+\.\d+,<\d+\.0\.0", spec), f"{name}: {spec!r} is not a tested range (>=tested,<next major)"


def test_the_execution_environment_installs_the_same_collections_in_the_same_ranges():
    dependencies = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]
    definition = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert definition["version"] == 3 and definition["dependencies"]["galaxy"] == "meta/ee-collections.yml"
    entries = yaml.safe_load((ROOT / "meta" / "ee-collections.yml").read_text())["collections"]
    ranges = {Path(e["name"]).name.removesuffix(".tar.gz").replace("-", ".", 1): e.get("version") for e in entries}
    assert ranges.pop("maestro.conductor") is None
    # what the dependencies depend on comes along unranged (community.docker's community.library_inventory_filtering_v1)
    assert {name: spec for name, spec in ranges.items() if spec} == dependencies
    # a collection's metadata paths are relative to its root (ansible-builder's introspection reads them so)
    for kind in ("python", "system", "galaxy"):
        assert (ROOT / definition["dependencies"][kind]).is_file()
    # ansible-core and ansible-runner as constraints.txt pins them
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    assert definition["dependencies"]["ansible_core"]["package_pip"] == f"ansible-core=={pins['ansible-core']}"
    assert definition["dependencies"]["ansible_runner"]["package_pip"] == f"ansible-runner=={pins['ansible-runner']}"
