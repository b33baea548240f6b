"""tag_protection's git backend on a real bare repository, with real pushes.

Pushes here go over git's local transport, and the pusher's identity is the MAESTRO_ACTOR variable
that an authorized_keys entry would set over SSH; the same pushes over sshd in a container are the
integration test.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _tag_protection
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import tag_protection
from tests.conftest import GIT_ENV, commit, git
from tests.unit.test_modules import run


@pytest.fixture
def server(tmp_path):
    """A bare repository with v1.0.0, and a clone to push from."""
    bare = tmp_path / "app.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    commit(work, "first")
    git(work, "tag", "-a", "-m", "release", "v1.0.0")
    git(work, "push", "-q", "origin", "main", "v1.0.0")
    return bare, work


def push(work: Path, *refspecs: str, actor: str = "") -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if k != "MAESTRO_ACTOR"}, **GIT_ENV, **({"MAESTRO_ACTOR": actor} if actor else {})}
    return subprocess.run(["git", "-C", str(work), "push", "origin", *refspecs], env=env, capture_output=True, text=True, check=False)


def protect(bare: Path, monkeypatch, **extra):
    return run(tag_protection, {"repo": str(bare), "allowed_actors": ["release-manager"], **extra}, monkeypatch)


def remote_tag(bare: Path, tag: str) -> str:
    done = subprocess.run(["git", "-C", str(bare), "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def test_unauthorized_delete_and_move_are_rejected_creation_accepted(server, monkeypatch):
    bare, work = server
    out = protect(bare, monkeypatch, _ansible_diff=True)
    assert out.result["changed"] and "protected tags may only be deleted or moved by release-manager" in out.result["diff"]["after"]
    before = remote_tag(bare, "v1.0.0")
    deleted = push(work, ":refs/tags/v1.0.0", actor="mallory")
    assert deleted.returncode != 0
    assert "tag protection: deleting v1.0.0 is not allowed for mallory: protected tags may only be deleted or moved by release-manager" \
        in deleted.stderr
    commit(work, "second")
    git(work, "tag", "-f", "-a", "-m", "moved", "v1.0.0")
    moved = push(work, "--force", "refs/tags/v1.0.0")
    assert moved.returncode != 0 and "moving v1.0.0 is not allowed for an unidentified pusher" in moved.stderr
    assert remote_tag(bare, "v1.0.0") == before
    git(work, "tag", "-a", "-m", "release", "v1.1.0")
    created = push(work, "refs/tags/v1.1.0", actor="mallory")
    assert created.returncode == 0, created.stderr
    # unprotected tags and branches are none of its business
    git(work, "tag", "-a", "-m", "x", "nightly-1")
    assert push(work, "main", "refs/tags/nightly-1").returncode == 0
    assert push(work, ":refs/tags/nightly-1").returncode == 0


def test_the_allowed_actor_may_move_and_delete(server, monkeypatch):
    bare, work = server
    protect(bare, monkeypatch)
    commit(work, "second")
    git(work, "tag", "-f", "-a", "-m", "moved", "v1.0.0")
    assert push(work, "--force", "refs/tags/v1.0.0", actor="release-manager").returncode == 0
    assert remote_tag(bare, "v1.0.0") == git(work, "rev-parse", "v1.0.0")
    assert push(work, ":refs/tags/v1.0.0", actor="release-manager").returncode == 0
    assert remote_tag(bare, "v1.0.0") == ""


def test_second_run_changes_nothing_and_order_does_not_matter(server, monkeypatch):
    bare, _work = server
    assert protect(bare, monkeypatch, patterns=["v*", "release-*"], allowed_actors=["b", "a"]).result["changed"]
    again = protect(bare, monkeypatch, patterns=["release-*", "v*", "v*"], allowed_actors=["a", "b"])
    assert again.result["changed"] is False and again.result["policy"]["allowed_actors"] == ["a", "b"]


def test_check_mode_writes_nothing(server, monkeypatch):
    bare, _work = server
    out = protect(bare, monkeypatch, _ansible_check_mode=True)
    assert out.result["changed"] and not (bare / "hooks" / "pre-receive").exists()


def test_a_hook_already_there_keeps_working_and_comes_back(server, monkeypatch, tmp_path):
    bare, work = server
    hook = bare / "hooks" / "pre-receive"
    witness = tmp_path / "existing-hook-ran"
    hook.write_text(f"#!/bin/sh\ncat > {witness}\nexit 0\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    existing = hook.read_text()
    out = protect(bare, monkeypatch)
    assert out.result["chained"] and (bare / "hooks" / "pre-receive.maestro-chained").read_text() == existing
    git(work, "tag", "-a", "-m", "release", "v1.1.0")
    assert push(work, "refs/tags/v1.1.0").returncode == 0
    assert "refs/tags/v1.1.0" in witness.read_text()  # the old hook saw the push, with its input
    # a hook already there that rejects still rejects
    (bare / "hooks" / "pre-receive.maestro-chained").write_text("#!/bin/sh\necho 'existing policy says no' >&2\nexit 1\n")
    git(work, "tag", "-a", "-m", "release", "v1.2.0")
    refused = push(work, "refs/tags/v1.2.0")
    assert refused.returncode != 0 and "existing policy says no" in refused.stderr
    (bare / "hooks" / "pre-receive.maestro-chained").write_text(existing)
    removed = protect(bare, monkeypatch, state="absent")
    assert removed.result["changed"] and hook.read_text() == existing and not (bare / "hooks" / "pre-receive.maestro-chained").exists()
    assert protect(bare, monkeypatch, state="absent").result["changed"] is False


@pytest.mark.parametrize("extra, message", [
    ({"patterns": ["v*; rm -rf /"]}, "tag pattern 'v*; rm -rf /' is invalid"),
    ({"patterns": []}, "patterns is empty"),
    ({"allowed_actors": ["$(id)"]}, "allowed actor '$(id)' is invalid"),
    ({"actor_variable": "X; id"}, "actor variable 'X; id' is invalid"),
    ({"actor_variable": "MAESTRO_ACTOR\n"}, "actor variable 'MAESTRO_ACTOR\\n' is invalid"),
])
def test_bad_input_is_named_and_changes_nothing(server, monkeypatch, extra, message):
    bare, _work = server
    out = protect(bare, monkeypatch, **extra)
    assert out.failed and out.result["msg"].startswith(message)
    assert not (bare / "hooks" / "pre-receive").exists()


def test_a_repository_that_is_not_bare(server, monkeypatch):
    _bare, work = server
    out = protect(work, monkeypatch)
    assert out.failed and out.result["msg"] == f"repository {work} is not a bare repository (it has a work tree): protect the bare repository pushes go to"
    with pytest.raises(ConductorError, match="does not exist"):
        _tag_protection.ensure_git_hook(str(work / "nowhere"), _tag_protection.Policy.build(["v*"], [], "present"))


def test_a_hooks_path_inside_the_repository_gets_the_hook_and_git_runs_it(server, monkeypatch):
    bare, work = server
    git(bare, "config", "core.hooksPath", "custom-hooks")
    out = protect(bare, monkeypatch)
    assert not out.failed and out.result["hook"] == str(bare / "custom-hooks" / "pre-receive"), out.result
    assert not (bare / "hooks" / "pre-receive").exists()
    refused = push(work, ":refs/tags/v1.0.0", actor="mallory")
    assert refused.returncode != 0 and "tag protection: deleting v1.0.0 is not allowed for mallory" in refused.stderr
    assert remote_tag(bare, "v1.0.0")
    assert protect(bare, monkeypatch).result["changed"] is False


def test_a_hooks_path_outside_the_repository_is_refused_naming_the_setting(server, monkeypatch, tmp_path):
    bare, work = server
    shared = tmp_path / "shared-hooks"
    git(bare, "config", "core.hooksPath", str(shared))
    out = protect(bare, monkeypatch)
    assert out.failed
    assert out.result["msg"].startswith(f"repository {bare} has core.hooksPath = {shared} (set in file:")
    assert "a hook installed there would never run" in out.result["msg"]
    assert not (bare / "hooks" / "pre-receive").exists() and not shared.exists()
    # and indeed nothing guards the tag: the reason to fail rather than report success
    assert push(work, ":refs/tags/v1.0.0", actor="mallory").returncode == 0


def test_a_newline_in_an_actor_or_pattern_never_reaches_the_hook(server, monkeypatch):
    bare, _work = server
    for extra in ({"allowed_actors": ["alice\n"]}, {"patterns": ["v*\n"]}):
        out = protect(bare, monkeypatch, **extra)
        assert out.failed and "is invalid" in out.result["msg"], out.result
    assert not (bare / "hooks" / "pre-receive").exists()
