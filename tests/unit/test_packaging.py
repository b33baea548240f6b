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
