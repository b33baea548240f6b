"""A demo environment of the project's own (its directory, environment name, ports, proxy) for
integration tests, driven through make and ansible-playbook as a user would."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ansible_collections.maestro.conductor.plugins.module_utils import _bundle, _http, _ledger
from ansible_collections.maestro.conductor.plugins.module_utils._haproxy import HAProxy
from tests.conftest import GIT_ENV
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = "itest"


class Env:
    def __init__(self, root: Path, environment: str = ENVIRONMENT, proxy: str = "nginx"):
        self.root, self.environment = root, environment
        self.proxy_port, self.blue, self.green, self.drill = free_port(), free_port(), free_port(), free_port()
        self.vars = {"DEMO_DIR": str(root), "DEMO_ENVIRONMENT": environment, "DEMO_PROXY": proxy, "DEMO_PROXY_PORT": str(self.proxy_port),
                     "DEMO_BLUE_PORT": str(self.blue), "DEMO_GREEN_PORT": str(self.green), "DEMO_DRILL_PORT": str(self.drill)}
        self.url = f"http://127.0.0.1:{self.proxy_port}"

    def env(self, **extra: str) -> dict:
        base = {k: v for k, v in os.environ.items() if k not in ("TAG", "MAKEFLAGS", "MAKELEVEL")}
        return {**base, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), **self.vars, **extra}

    def playbook(self, path: str, *extra_args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(ROOT / "inventories" / "local" / "hosts.yml"),
                               str(ROOT / path), *extra_args], env=env or self.env(), capture_output=True, text=True, timeout=600, check=False)

    def rollback(self, *extra_args: str, **env: str) -> subprocess.CompletedProcess:
        return self.playbook("playbooks/rollback.yml", *extra_args, env=self.env(**env))

    def served(self) -> str:
        return _http.get(self.url + "/version").commit()

    def commit(self, tag: str) -> str:
        return subprocess.run(["git", "-C", str(self.root / "repo"), "rev-parse", f"{tag}^{{commit}}"], capture_output=True, text=True,
                              check=True).stdout.strip()

    def ledger(self) -> list[dict]:
        return _ledger.read(str(self.root / "ledger" / f"{self.environment}.jsonl"))

    def running(self, colour: str) -> bool:
        return bool(self.started(colour))

    def started(self, colour: str) -> str:
        """The ids and start times of the colour's running containers: what changes when it is started again."""
        ids = subprocess.run(["docker", "ps", "--filter", f"label=com.docker.compose.project={self.environment}-{colour}", "-q"],
                             capture_output=True, text=True, check=True).stdout.split()
        if not ids:
            return ""
        return subprocess.run(["docker", "inspect", "--format", "{{.Id}} {{.State.StartedAt}}", *ids], capture_output=True, text=True,
                              check=True).stdout.strip()

    def containers(self) -> set[str]:
        """Each running container of the environment, as 'name image'."""
        listing = subprocess.run(["docker", "ps", "--filter", "label=com.docker.compose.project", "--format", "{{.Names}} {{.Image}}"],
                                 capture_output=True, text=True, check=True).stdout.split("\n")
        return {line for line in listing if line.startswith(f"{self.environment}-")}

    def add_release(self, tag: str, compose: str, image_from: str = "") -> Path:
        """A tag on the demo repository whose release carries ``compose`` as its compose file, and the
        image tarball of release ``image_from`` when one is named."""
        repo = self.root / "repo"
        subprocess.run(["git", "-C", str(repo), "tag", "-a", "-m", tag, tag, "v1.0.0^{commit}"], env={**os.environ, **GIT_ENV}, check=True)
        rel = self.root / "releases" / tag
        rel.mkdir(parents=True)
        (rel / "compose.yaml").write_text(compose)
        if image_from:
            (rel / "image.tar").write_bytes((self.root / "releases" / image_from / "image.tar").read_bytes())
        plan = _bundle.plan_bundle(_bundle.BundleRequest(release_dir=str(rel), tag=tag, repo=str(repo),
                                                         signing_key=str(self.root / "keys" / "release_signing_key")))
        _bundle.write_bundle(plan, str(rel))
        return rel


def out(done: subprocess.CompletedProcess) -> str:
    """Everything it printed, white space folded: the YAML callback wraps long messages."""
    return " ".join((done.stdout + done.stderr).split())


# The demo's repository, releases, signing key and the stamps that say each release was made, as the session's first
# demo made them (saved before any test touched them). Later demos start from a copy: make_releases.yml then finds every
# release made and makes none again; every other step runs as a fresh `make demo` runs it.
_RELEASE_PARTS = ("repo", "releases", "keys", "made")
_made: list[Path] = []


def seed(env: Env) -> None:
    """Give ``env`` the session's demo releases, if a demo made them already."""
    if _made:
        for part in _RELEASE_PARTS:
            shutil.copytree(_made[0] / part, env.root / part, symlinks=True)


def keep_releases(env: Env) -> None:
    """After ``env``'s releases were made (and before anything tampered with them): save them for later demos."""
    if not _made and all((env.root / part).is_dir() for part in _RELEASE_PARTS):
        saved = Path(tempfile.mkdtemp(prefix="maestro-demo-releases-"))
        atexit.register(shutil.rmtree, saved, True)
        for part in _RELEASE_PARTS:
            shutil.copytree(env.root / part, saved / part, symlinks=True)
        _made.append(saved)


def make_demo(env: Env) -> Env:
    """`make demo` in ``env`` (its releases from the session's first demo when there was one)."""
    seed(env)
    env.demo_run = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "demo"], env=env.env(), capture_output=True, text=True,
                                  timeout=900, check=False)
    if env.demo_run.returncode == 0:
        keep_releases(env)
    return env


def tear_down(env: Env) -> None:
    # its colours, and the restore drill a test left standing (a drill keeps its service unless told to tear it down)
    for project in (f"{env.environment}-blue", f"{env.environment}-green", f"drill-{env.environment}"):
        subprocess.run(["docker", "compose", "-p", project, "down", "--timeout", "0"], capture_output=True, check=False)
    subprocess.run(["nginx", "-c", str(env.root / "nginx" / "nginx.conf"), "-s", "quit"], capture_output=True, check=False)
    subprocess.run(["pkill", "--pidfile", str(env.root / "haproxy" / f"{env.environment}.pid"), "haproxy"], capture_output=True, check=False)


def haproxy_states(env: Env) -> dict[str, str]:
    return HAProxy(str(env.root / "haproxy" / f"{env.environment}.sock"), "maestro_demo").states()
