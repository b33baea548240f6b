"""The execution environment of meta/execution-environment.yml, built by `make ee` (ansible-builder v3, docker, a base image
made here, collections and wheels staged: no registry, Galaxy or index is reachable from the build), then used as AWX uses
it: ansible-runner with process isolation runs the collection's verify_release playbook inside the image, against a
signed release mounted into the container."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ansible_runner
import pytest
import yaml

from tests.conftest import Release

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "maestro-conductor-ee:itest"


@pytest.fixture(scope="module")
def image():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    built = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "ee", f"EE_IMAGE={IMAGE}"], env=env, capture_output=True,
                           text=True, timeout=1500, check=False)
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    yield IMAGE
    subprocess.run(["docker", "image", "rm", IMAGE], capture_output=True, check=False)


def inside(image: str, *argv: str) -> str:
    return subprocess.run(["docker", "run", "--rm", "--network", "none", image, *argv], capture_output=True, text=True, timeout=120,
                          check=True).stdout


def verify_in(image: str, release: Release, private: Path):
    """playbooks/verify_release.yml of the collection installed in the image, by its full name, as an AWX job runs it."""
    (private / "inventory").mkdir(parents=True, exist_ok=True)
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"}},
        "children": {"release_store": {"hosts": {"localhost": None}}}}}))
    return ansible_runner.run(private_data_dir=str(private), playbook="maestro.conductor.verify_release", quiet=True,
                              inventory=str(private / "inventory" / "hosts.yml"),
                              extravars={"tag": release.tag, "repo": str(release.repo), "release_dir": str(release.dir),
                                         "allowed_signers": str(release.signers), "strict": True},
                              process_isolation=True, process_isolation_executable="docker", container_image=image,
                              container_volume_mounts=[f"{release.root}:{release.root}"],
                              container_options=["--network=none"])


def test_the_built_image_holds_the_collection_and_its_dependencies_in_the_tested_versions(image):
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    listed = yaml.safe_load(inside(image, "ansible-galaxy", "collection", "list", "--format", "yaml"))
    versions = {name: info["version"] for path in listed.values() for name, info in path.items()}
    assert versions["maestro.conductor"] == galaxy["version"]
    assert set(galaxy["dependencies"]) <= set(versions)
    assert inside(image, "ansible", "--version").startswith("ansible [core 2.19.14]")
    # the build's pip settings and wheels are not left in the image's filesystem
    settings, wheels = inside(image, "sh", "-c", 'echo "[$PIP_NO_INDEX][$PIP_FIND_LINKS]"; ls /wheels 2>&1 | head -1').splitlines()
    assert settings == "[][]" and "No such file" in wheels
    # the wheels were built here for this Python: the image's must be the same version
    assert inside(image, "python3", "-c", "import sys; print(sys.version_info[:2])").strip() == str(tuple(sys.version_info[:2]))


def test_verify_release_runs_inside_the_image_and_fails_closed_on_a_tampered_release(image, release: Release, tmp_path):
    good = verify_in(image, release, tmp_path / "good")
    text = " ".join(good.stdout.read().split())
    assert good.status == "successful", text[-3000:]
    command = json.loads(next((tmp_path / "good" / "artifacts").glob("*/command")).read_text())["command"]
    assert command[:2] == ["docker", "run"] and image in command
    stats = [e for e in good.events if e["event"] == "playbook_on_stats"][-1]["event_data"]["artifact_data"]
    assert stats["verify_release_ok"] is True and stats["verify_release_commit"] == release.commit
    (release.dir / "sbom.json").write_text('{"spdxVersion": "SPDX-2.2"}\n')
    bad = verify_in(image, release, tmp_path / "bad")
    text = " ".join(bad.stdout.read().split())
    assert bad.status == "failed" and "sbom.json" in text
