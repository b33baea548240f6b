# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docker engine and compose v2, driven through the docker CLI with argument lists.

A small runner that raises ConductorError naming the command and what docker said;
callers ask it questions (which images, which containers) and never parse docker's
output themselves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
_PROJECT_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# what the docker CLI and compose may take from the caller's environment: where the engine is, nothing else
# (COMPOSE_FILE, COMPOSE_PROFILES and the like would change what runs)
_PASSED_ENV = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")


def validate_project(name: str) -> str:
    if not isinstance(name, str) or not _PROJECT_RE.fullmatch(name):
        raise ConductorError(f"compose project name {name!r} is invalid: expected 1-63 lower-case letters, digits, '_' or '-'")
    return name


def validate_env(env: dict) -> dict[str, str]:
    """Variables for compose's interpolation: plain names, one-line values; none that steers docker or compose itself."""
    clean = {}
    for name, value in env.items():
        text = str(value)
        if not _ENV_NAME_RE.fullmatch(str(name)):
            raise ConductorError(f"compose variable name {name!r} is invalid: expected letters, digits and '_', not starting with a digit")
        if str(name).upper().startswith(("DOCKER_", "COMPOSE_")) or str(name) in _PASSED_ENV:
            raise ConductorError(f"compose variable {name} would change which engine or which files compose uses: it is not given to compose")
        if any(ch in text for ch in "\n\r\0") or len(text) > 4096:
            raise ConductorError(f"compose variable {name}: its value must be one line of at most 4096 characters")
        clean[str(name)] = text
    return clean


@dataclass
class Container:
    """One container of a compose project, as the engine reports it."""

    id: str
    name: str
    service: str
    image: str          # the image reference it was created with (the compose file's image:)
    image_id: str       # the image it runs, by id: what proves what runs
    status: str         # created, running, exited, ...
    health: str         # healthy, unhealthy, starting, or "" without a healthcheck
    started_at: str
    health_log: str = ""

    @property
    def ready(self) -> bool:
        return self.status == "running" and self.health in ("", "healthy")

    def as_dict(self) -> dict:
        return {"name": self.name, "service": self.service, "image": self.image, "image_id": self.image_id,
                "status": self.status, "health": self.health or "none"}


@dataclass
class Docker:
    """The docker CLI on this host."""

    binary: str = "docker"
    timeout: float = 120.0
    base_env: dict = field(default_factory=lambda: {k: os.environ[k] for k in _PASSED_ENV if k in os.environ})

    def run(self, args: list[str], stdin: bytes | None = None, env: dict | None = None, timeout: float | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        binary = shutil.which(self.binary) or self.binary
        try:
            done = subprocess.run([binary, *args], input=stdin, capture_output=True, env={**self.base_env, **(env or {})},
                                  timeout=timeout or self.timeout, check=False)
        except FileNotFoundError as exc:
            raise ConductorError(f"the docker CLI ({self.binary}) was not found on this host") from exc
        except subprocess.TimeoutExpired as exc:
            raise ConductorError(f"docker {' '.join(args[:3])} did not finish within {exc.timeout:.0f}s") from exc
        if check and done.returncode != 0:
            said = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
            raise ConductorError(f"docker {' '.join(args[:3])} failed (exit {done.returncode}): {said[-800:]}")
        return done

    # --- images -----------------------------------------------------------------------------------

    def images(self) -> tuple[set[str], dict[str, str]]:
        """Every image id the engine holds, and each repo:tag name with the id it points at."""
        out = self.run(["image", "ls", "--all", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]).stdout.decode()
        ids, names = set(), {}
        for line in out.splitlines():
            image_id, _sep, name = line.partition(" ")
            ids.add(image_id)
            if not name.startswith("<none>") and not name.endswith(":<none>"):
                names[name] = image_id
        return ids, names

    def load(self, path: str) -> None:
        self.run(["image", "load", "--quiet", "--input", path], timeout=max(self.timeout, 600))

    def tag(self, image_id: str, name: str) -> None:
        self.run(["image", "tag", image_id, name])

    # --- compose ----------------------------------------------------------------------------------

    def compose(self, project: str, directory: str, args: list[str], compose_file: bytes, env: dict,
                timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run compose on the compose file's bytes, given on stdin: the bytes that were checked are the bytes used."""
        base = ["compose", "--project-name", validate_project(project), "--project-directory", directory, "--file", "-"]
        return self.run(base + args, stdin=compose_file, env=validate_env(env), timeout=timeout)

    def down(self, project: str, timeout: int = 10) -> None:
        # by name: the project's containers carry its label, no compose file is needed to remove them
        self.run(["compose", "--project-name", validate_project(project), "down", "--remove-orphans", "--timeout", str(timeout)],
                 timeout=timeout + 60)

    def containers(self, project: str) -> list[Container]:
        """Every container of a compose project, running or not."""
        ids = self.run(["container", "ls", "--all", "--quiet", "--no-trunc", "--filter",
                        f"label=com.docker.compose.project={validate_project(project)}"]).stdout.decode().split()
        return self.inspect(ids)

    def inspect(self, ids: list[str]) -> list[Container]:
        if not ids:
            return []
        found = json.loads(self.run(["container", "inspect", *ids]).stdout or b"[]")
        return sorted((_container(entry) for entry in found), key=lambda c: c.name)


def _container(entry: dict) -> Container:
    state, config = entry.get("State") or {}, entry.get("Config") or {}
    labels = config.get("Labels") or {}
    health = state.get("Health") or {}
    log = health.get("Log") or []
    return Container(id=entry.get("Id", ""), name=entry.get("Name", "").lstrip("/"), service=labels.get("com.docker.compose.service", ""),
                     image=config.get("Image", ""), image_id=entry.get("Image", ""), status=state.get("Status", ""),
                     health=health.get("Status", ""), started_at=state.get("StartedAt", ""),
                     health_log=str(log[-1].get("Output", "")).strip()[-300:] if log else "")
