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
