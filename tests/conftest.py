"""Fixtures shared by unit and integration tests: real git repositories and real releases."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import git as gitpython
import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _bundle

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Releaser",
    "GIT_AUTHOR_EMAIL": "releaser@test.invalid",
    "GIT_COMMITTER_NAME": "Test Releaser",
    "GIT_COMMITTER_EMAIL": "releaser@test.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, message: str, date: str = "2026-01-01T00:00:00Z") -> str:
    (repo / "VERSION").write_text(message + "\n")
    git(repo, "add", "VERSION")
    git(repo, "commit", "-q", "-m", message, date=date)
    return git(repo, "rev-parse", "HEAD")


def snapshot(*roots: Path) -> dict[str, tuple[bytes, int]]:
    """Every file (content and mtime) and every git ref under ``roots``: what 'nothing changed' means."""
    state = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and "/.git/objects/" not in str(path) and not path.name.endswith(".lock"):
                state[str(path)] = (path.read_bytes(), path.stat().st_mtime_ns)
    return state


@dataclass
class Release:
    root: Path
    repo: Path
    dir: Path
    tag: str
    commit: str
    key: Path
    signers: Path

    def manifest(self) -> Path:
        return self.dir / f"release-manifest-{self.tag}.yaml"

    def evidence(self) -> Path:
        return self.dir / f"evidence-{self.tag}.json"

    def attestation(self) -> Path:
        return self.dir / f"release-attestation-{self.tag}.jsonld"

    def envelope(self) -> Path:
        return self.dir / f"release-attestation-{self.tag}.dsse.json"

    def bundle(self, **overrides) -> _bundle.BundlePlan:
        request = _bundle.BundleRequest(release_dir=str(self.dir), tag=self.tag, repo=str(self.repo),
                                        signing_key=str(self.key), **overrides)
        plan = _bundle.plan_bundle(request)
        _bundle.write_bundle(plan, str(self.dir))
        return plan


def make_keypair(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path


@pytest.fixture
def release(tmp_path: Path) -> Release:
    """A repository with annotated tag v1.0.0 and its signed release of three artifacts."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "--initial-branch=main")
    first = commit(repo, "first")
    git(repo, "tag", "-a", "-m", "release", "v1.0.0", date="2026-01-02T00:00:00Z")
    rel = tmp_path / "releases" / "v1.0.0"
    (rel / "images").mkdir(parents=True)
    (rel / "compose.yaml").write_text("services: {web: {image: 'demo:v1.0.0'}}\n")
    (rel / "images" / "web.tar").write_bytes(hashlib.sha256(b"seed").digest() * 40000)
    (rel / "sbom.json").write_text('{"spdxVersion": "SPDX-2.3"}\n')
    key = make_keypair(tmp_path / "signing_key", "releaser")
    signers = tmp_path / "allowed_signers"
    signers.write_text(f'releaser@test.invalid namespaces="maestro-release" {(tmp_path / "signing_key.pub").read_text().strip()}\n')
    result = Release(root=tmp_path, repo=repo, dir=rel, tag="v1.0.0", commit=first, key=key, signers=signers)
    result.bundle(checks=[{"name": "unit tests", "result": "pass"}])
    return result


@pytest.fixture
def processes(monkeypatch) -> list[list[str]]:
    """Every process started from Python (directly or by GitPython), as argument lists."""
    started: list[list[str]] = []
    real = subprocess.Popen

    class Recording(real):  # type: ignore[misc,valid-type]
        def __init__(self, args, *rest, **kwargs):
            started.append(list(args) if not isinstance(args, (str, bytes)) else [args])
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Recording)
    monkeypatch.setattr(gitpython.cmd, "Popen", Recording)
    monkeypatch.setattr(gitpython.cmd, "safer_popen", Recording)
    return started
