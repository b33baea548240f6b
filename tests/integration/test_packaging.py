"""The collection as an AWX administrator gets it: its tarball built, installed offline into an empty collections path with
the collections galaxy.yml depends on (rebuilt as tarballs from the `ansible` package's bundle: Galaxy cannot be reached
from here, scripts/collection_tarballs.py), and its playbooks run from the installed copy alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import Release

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT / "scripts"))
from collection_tarballs import rebuild_with_dependencies  # noqa: E402  pylint: disable=wrong-import-position


def isolated_env(collections: Path) -> dict:
    """Ansible that sees only ``collections``: not this checkout's link, not the bundle in site-packages, no ansible.cfg."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "DEMO_"))}
    return {**env, "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            "ANSIBLE_NOCOLOR": "1"}


def run(*argv: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_the_tarball_installs_offline_with_its_dependencies_and_its_playbooks_run_from_the_installed_copy(release: Release, tmp_path):
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    built = tmp_path / "built"
    env = isolated_env(tmp_path / "collections")
    done = run(BIN / "ansible-galaxy", "collection", "build", "--output-path", built, ROOT, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ours = built / f"maestro-conductor-{galaxy['version']}.tar.gz"
    # without its dependencies, an offline install is refused, naming them: galaxy.yml declares what the roles call
    alone = run(BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", tmp_path / "collections", ours, env=env, cwd=tmp_path)
    said = " ".join((alone.stdout + alone.stderr).split())
    assert alone.returncode != 0 and "(dependency of maestro.conductor" in said, said
    dependencies = rebuild_with_dependencies(list(galaxy["dependencies"]), tmp_path / "dependencies")
    done = run(BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", tmp_path / "collections", ours, *dependencies,
               env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = run(BIN / "ansible-galaxy", "collection", "list", "--format", "yaml", env=env, cwd=tmp_path)
    installed = {name: info["version"] for path in yaml.safe_load(listed.stdout).values() for name, info in path.items()}
    assert set(galaxy["dependencies"]) | {"maestro.conductor"} <= set(installed), installed
    copy = tmp_path / "collections" / "ansible_collections" / "maestro" / "conductor"
    assert (copy / "playbooks" / "deploy.yml").is_file() and not (copy / ".venv").exists() and not (copy / ".demo").exists()

    # every playbook parses from the installed copy: each module and role it names resolves among what was installed
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                                         "ansible_python_interpreter": sys.executable}},
                                                 "children": {group: {"hosts": {"localhost": None}}
                                                              for group in ("release_store", "app", "proxy", "drill", "git_server")}}}))
    for playbook in sorted((copy / "playbooks").glob("*.yml")):
        parsed = run(BIN / "ansible-playbook", "--syntax-check", "-i", inventory, playbook, env=env, cwd=tmp_path)
        assert parsed.returncode == 0, f"{playbook.name}: {parsed.stdout[-1500:]} {parsed.stderr[-1500:]}"
    # and the verification runs from it, strictly, on a signed release
    verified = run(BIN / "ansible-playbook", "-i", inventory, copy / "playbooks" / "verify_release.yml", "-e",
                   f'{{"tag": "{release.tag}", "repo": "{release.repo}", "release_dir": "{release.dir}", '
                   f'"allowed_signers": "{release.signers}", "strict": true}}', env=env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout[-3000:]
    assert f"release {release.tag}" in verified.stdout and "PASS" in verified.stdout
    # a release tampered with fails from the installed copy as from the checkout
    (release.dir / "sbom.json").write_text('{"spdxVersion": "SPDX-2.2"}\n')
    tampered = run(BIN / "ansible-playbook", "-i", inventory, copy / "playbooks" / "verify_release.yml", "-e",
                   f'{{"tag": "{release.tag}", "repo": "{release.repo}", "release_dir": "{release.dir}", '
                   f'"allowed_signers": "{release.signers}", "strict": true}}', env=env, cwd=tmp_path)
    assert tampered.returncode != 0 and "sbom.json" in tampered.stdout
