"""Tag protection on a self-hosted git server: sshd and a bare repository inside a container (never
this machine's own sshd or users), managed by Ansible, pushed to over SSH with two client keys whose
authorized_keys entries name their pushers."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV, commit, git
from tests.integration.demo_env import ROOT, out
from tests.servers import free_port

IMAGE = "maestro-git-server:test"
REPO = "/srv/git/app.git"


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The git server container with a bare repository holding main and v1.0.0, pushed as alice."""
    root = tmp_path_factory.mktemp("git-server")
    subprocess.run(["bash", str(ROOT / "scripts" / "drill_host_image.sh")], check=True, capture_output=True)
    docker("build", "--quiet", "--tag", IMAGE, str(ROOT / "tests" / "integration" / "git_server"))
    keys = {}
    for name in ("alice", "mallory"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(root / name)], check=True)
        keys[name] = (root / f"{name}.pub").read_text().strip()
    port, name = free_port(), f"maestro-git-server-{uuid.uuid4().hex[:8]}"
    docker("run", "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:22", IMAGE)
    try:
        entries = "".join(f'command="env MAESTRO_ACTOR={who} git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"",no-port-forwarding,no-pty {key}\n'
                          for who, key in keys.items())
        docker("exec", "--interactive", "--user", "git", name, "sh", "-c", "cat > /home/git/.ssh/authorized_keys", input=entries)
        docker("exec", "--user", "git", name, "git", "init", "--quiet", "--bare", "--initial-branch=main", REPO)
        work = root / "work"
        work.mkdir()
        git(work, "init", "-q", "--initial-branch=main")
        commit(work, "first")
        git(work, "tag", "-a", "-m", "release", "v1.0.0")
        git(work, "remote", "add", "origin", f"ssh://git@127.0.0.1:{port}{REPO}")
        env = Server(name, port, root, work)
        deadline = time.monotonic() + 20
        while env.push("main", "refs/tags/v1.0.0", who="alice").returncode != 0:
            assert time.monotonic() < deadline, "the git server never accepted a push"
            time.sleep(0.5)
        yield env
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, check=False)


class Server:
    def __init__(self, name: str, port: int, root: Path, work: Path):
        self.name, self.port, self.root, self.work = name, port, root, work
        self.inventory = root / "inventory.yml"
        self.inventory.write_text(json.dumps({"git_server": {"hosts": {name: {
            "ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"}}}}))

    def push(self, *refspecs: str, who: str) -> subprocess.CompletedProcess:
        ssh = f"ssh -i {self.root / who} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        env = {**os.environ, **GIT_ENV, "GIT_SSH_COMMAND": ssh}
        return subprocess.run(["git", "-C", str(self.work), "push", "origin", *refspecs], env=env, capture_output=True, text=True, check=False)

    def protect(self, **variables) -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(self.inventory), str(ROOT / "playbooks" / "tag_protection.yml"),
                               "-e", json.dumps({"repo": REPO, **variables})],
                              capture_output=True, text=True, check=False, env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})

    def tag(self, tag: str) -> str:
        done = subprocess.run(["docker", "exec", "--user", "git", self.name, "git", "-C", REPO, "rev-parse", "--verify", "--quiet",
                               f"refs/tags/{tag}"], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    def read(self, path: str) -> str:
        return docker("exec", self.name, "cat", path).stdout


def test_over_ssh_only_the_allowed_key_deletes_or_moves_and_anyone_creates(server):
    # a hook the server had before: it must keep running
    docker("exec", "--interactive", server.name, "sh", "-c", f"cat > {REPO}/hooks/pre-receive && chmod 755 {REPO}/hooks/pre-receive",
           input="#!/bin/sh\ncat >> /tmp/existing-hook.log\n")
    done = server.protect(allowed_actors=["alice"])
    assert done.returncode == 0 and "changed=1" in done.stdout.split("PLAY RECAP")[-1], out(done)[-3000:]
    again = server.protect(allowed_actors=["alice"])
    assert again.returncode == 0 and "changed=0" in again.stdout.split("PLAY RECAP")[-1], out(again)[-3000:]

    released = server.tag("v1.0.0")
    deleted = server.push(":refs/tags/v1.0.0", who="mallory")
    assert deleted.returncode != 0 and "tag protection: deleting v1.0.0 is not allowed for mallory" in deleted.stderr
    commit(server.work, "second")
    git(server.work, "tag", "-f", "-a", "-m", "moved", "v1.0.0")
    moved = server.push("--force", "main", "refs/tags/v1.0.0", who="mallory")
    assert moved.returncode != 0 and "tag protection: moving v1.0.0 is not allowed for mallory" in moved.stderr
    assert server.tag("v1.0.0") == released

    git(server.work, "tag", "-a", "-m", "release", "v1.1.0")
    created = server.push("main", "refs/tags/v1.1.0", who="mallory")
    assert created.returncode == 0, created.stderr
    assert "refs/tags/v1.1.0" in server.read("/tmp/existing-hook.log")  # the existing hook saw it

    assert server.push("--force", "refs/tags/v1.0.0", who="alice").returncode == 0
    assert server.tag("v1.0.0") == git(server.work, "rev-parse", "v1.0.0") != released
    assert server.push(":refs/tags/v1.1.0", who="alice").returncode == 0 and server.tag("v1.1.0") == ""

    removed = server.protect(allowed_actors=["alice"], state="absent")
    assert removed.returncode == 0, out(removed)[-3000:]
    assert server.read(f"{REPO}/hooks/pre-receive") == "#!/bin/sh\ncat >> /tmp/existing-hook.log\n"


def test_over_ssh_a_hooks_path_outside_the_repository_is_refused_by_name(server):
    docker("exec", "--user", "git", server.name, "git", "--git-dir", REPO, "config", "core.hooksPath", "/srv/git/shared-hooks")
    try:
        done = server.protect(allowed_actors=["alice"])
    finally:
        docker("exec", "--user", "git", server.name, "git", "--git-dir", REPO, "config", "--unset", "core.hooksPath")
    assert done.returncode != 0, out(done)[-3000:]
    assert f"repository {REPO} has core.hooksPath = /srv/git/shared-hooks (set in file:{REPO}/config)" in out(done)


def make_protect(env: dict, **variables: str) -> subprocess.CompletedProcess:
    """`make protect-tags` as an operator types it, with the embedded local inventory."""
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "protect-tags", *(f"{k}={v}" for k, v in variables.items())],
                          capture_output=True, text=True, check=False, env={**os.environ, **env}, timeout=300)


def recap(done: subprocess.CompletedProcess) -> str:
    return done.stdout.split("PLAY RECAP")[-1]


def test_make_protect_tags_on_a_local_bare_repository(tmp_path):
    bare = tmp_path / "app.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    done = make_protect({}, REPO=str(bare), ACTORS="alice,bob")
    assert done.returncode == 0 and "changed=1" in recap(done), out(done)[-3000:]
    assert "delete or move: alice, bob; create: open" in out(done)
    assert "MAESTRO_ACTOR" in (bare / "hooks" / "pre-receive").read_text()
    assert "changed=0" in recap(make_protect({}, REPO=str(bare), ACTORS="alice,bob"))
    missing = make_protect({}, REPO=str(tmp_path / "nope.git"))
    assert missing.returncode != 0 and f"repository {tmp_path / 'nope.git'} does not exist" in out(missing)
    unknown = make_protect({}, BACKEND="bitbucket", PROJECT="acme/app")
    assert unknown.returncode != 0 and "backend is git, github, gitlab or gitea (given: bitbucket)" in out(unknown)


@pytest.mark.parametrize(("backend", "root", "actors"), [("github", "", "Team:42"), ("gitlab", "/api/v4", ""),
                                                         ("gitea", "/api/v1", "release-bot,team:releasers")])
def test_make_protect_tags_on_a_hosted_service(backend, root, actors):
    # GitHub, GitLab and Gitea cannot be reached from here: tests/hosted_api.py serves their documented
    # endpoints on loopback, and the playbook talks to it as it would to the real service
    from tests.hosted_api import ADMIN, HostedApi  # pylint: disable=import-outside-toplevel

    api = HostedApi()
    try:
        token = {"MAESTRO_TAG_PROTECTION_TOKEN": ADMIN, "ANSIBLE_VERBOSITY": "3"}
        variables = {"BACKEND": backend, "PROJECT": "acme/app", "API_URL": api.url + root, "ACTORS": actors}
        check = make_protect(token, **variables, PLAYBOOK_ARGS="--check --diff")
        done = make_protect(token, **variables)
        again = make_protect(token, **variables)
        wrong = make_protect({**token, "MAESTRO_TAG_PROTECTION_TOKEN": "not-the-token-5521"}, **variables)
    finally:
        api.stop()
    assert check.returncode == 0 and "changed=1" in recap(check), out(check)[-3000:]
    assert done.returncode == 0 and "changed=1" in recap(done), out(done)[-3000:]
    assert again.returncode == 0 and "changed=0" in recap(again), out(again)[-3000:]
    held = api.rulesets or api.protected_tags or api.protections
    assert len(held) == 1, "one protection for the one pattern, none from the check-mode run"
    assert wrong.returncode != 0 and ": 401 the token was rejected" in out(wrong)
    for run in (check, done, again, wrong):
        assert ADMIN not in run.stdout + run.stderr and "not-the-token-5521" not in run.stdout + run.stderr


def check_drift(env: dict, *extra: str) -> subprocess.CompletedProcess:
    """`make check-drift` as an operator types it, with the embedded local inventory."""
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "check-drift", *extra], capture_output=True, text=True,
                          check=False, env={**os.environ, **env}, timeout=300)


def test_make_check_drift_turns_red_when_a_release_tag_moves(release):
    # the embedded inventory pointed at a repository and release of the test's own (DEMO_DIR), and at
    # a proxy port where nothing listens: the running commit is unknown, which is red until the operator accepts it
    port = free_port()
    env = {"DEMO_DIR": str(release.root), "DEMO_PROXY_PORT": str(port)}
    unknown = check_drift(env)
    assert unknown.returncode != 0, out(unknown)[-3000:]
    assert f"environment demo: the running commit is unknown (http://127.0.0.1:{port}/version did not answer" in out(unknown)
    clean = check_drift(env, "ALLOW_UNKNOWN_RUNNING_COMMIT=true")
    assert clean.returncode == 0 and "drift: none" in out(clean), out(clean)[-3000:]
    assert "no running commit compared" in out(clean) and "not checked: environment demo: the running commit is unknown" in out(clean)
    commit(release.repo, "hotfix on main, not released")
    git(release.repo, "tag", "-f", "-a", "-m", "moved", "v1.0.0")
    moved = check_drift(env, "ALLOW_UNKNOWN_RUNNING_COMMIT=true")
    assert moved.returncode != 0, out(moved)[-3000:]
    assert f"tag v1.0.0 moved on {release.repo}" in out(moved)
    report = check_drift(env, "FAIL_ON_DRIFT=false", "BRANCHES=main")
    assert report.returncode == 0 and "drift: tag v1.0.0 moved" in out(report), out(report)[-3000:]


def test_make_check_drift_is_red_without_a_release_repository_unless_accepted(tmp_path):
    env = {"DEMO_DIR": str(tmp_path / "nothing-here"), "DEMO_PROXY_PORT": str(free_port())}
    missing = check_drift(env, "ALLOW_UNKNOWN_RUNNING_COMMIT=true")
    assert missing.returncode != 0, out(missing)[-3000:]
    assert f"release repository {tmp_path / 'nothing-here' / 'repo'} does not exist: release tags and protected branches were not compared" \
        in " ".join(out(missing).split())
    accepted = check_drift(env, "ALLOW_UNKNOWN_RUNNING_COMMIT=true", "ALLOW_MISSING_REPOSITORY=true")
    assert accepted.returncode == 0 and "drift: none (0 release tags, 0 protected branches" in out(accepted), out(accepted)[-3000:]
    assert "not checked:" in out(accepted) and "does not exist" in out(accepted)
    bad = check_drift(env, "ALLOW_MISSING_REPOSITORY=maybe")
    assert bad.returncode != 0 and "drift_allow_missing_repository" in out(bad) and "are true or false" in out(bad)


@pytest.mark.parametrize(("content_type", "body", "green"), [
    ("text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>", False),
    ("application/json", '{"status": "ok"}', False),
    # the demo service's busybox httpd answers its JSON /version as application/octet-stream: the body names the commit
    ("application/octet-stream", None, True),
])
def test_make_check_drift_reads_what_runs_and_is_red_when_it_cannot(release, content_type, body, green):
    from tests.unit.test_drift import VersionEndpoint  # pylint: disable=import-outside-toplevel

    from ansible_collections.maestro.conductor.plugins.module_utils import _ledger  # pylint: disable=import-outside-toplevel

    (release.root / "ledger").mkdir(exist_ok=True)
    _ledger.append(str(release.root / "ledger" / "demo.jsonl"),
                   _ledger.make_record("demo", "deployed", "v1.0.0", "ci", commit=release.commit, verdict="green"))
    endpoint = VersionEndpoint(200, content_type, body if body is not None else json.dumps({"tag": "v1.0.0", "commit": release.commit}))
    try:
        done = check_drift({"DEMO_DIR": str(release.root), "DEMO_PROXY_PORT": str(endpoint.server.server_address[1])})
    finally:
        endpoint.stop()
    if green:
        assert done.returncode == 0 and "drift: none" in out(done) and "the running commit compared" in out(done), out(done)[-3000:]
    else:
        assert done.returncode != 0, out(done)[-3000:]
        assert f"answered {content_type} (" in out(done) and "naming no commit" in " ".join(out(done).split())
