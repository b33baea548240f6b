"""A fleet of app hosts for integration tests and benchmarks: containers started here, each with its own
docker engine and sshd, so the collection deploys to them over SSH as it would to real servers.

Each host publishes sshd and its colour ports on 127.0.0.1 only (ports docker picks, so parallel runs never
race for them); a proxy on this machine reaches a colour through ``AppHost.endpoint``. The image comes from
scripts/app_host_image.sh. Containers carry the label ``maestro.test=fleet`` and their prefix, so a run that
died leaves nothing ``cleanup`` cannot find.
"""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("APP_HOST_IMAGE", "maestro-app-host:bookworm")  # as scripts/app_host_image.sh names it
LABEL = "maestro.test=fleet"
PREFIX_LABEL = "maestro.fleet.prefix"
INNER_PORTS = {"blue": 18081, "green": 18082}
READY_TIMEOUT = 60.0
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
# what nested docker needs here (--privileged is refused): see ../shared/ENVIRONMENT.md
NESTED_DOCKER = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
                 "--security-opt", "apparmor=unconfined", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroupns", "host"]


def _run(*argv: str, input: str | bytes | None = None, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """Text in and out, unless the input is bytes (an image tarball for ``docker load``); a failure shows its stderr."""
    try:
        return subprocess.run(argv, input=input, capture_output=True, text=not isinstance(input, bytes), check=check, timeout=timeout)
    except subprocess.CalledProcessError as error:
        stderr = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else error.stderr
        error.add_note(f"stderr: {stderr.strip()}")
        raise


def ensure_image() -> None:
    """Build the app host image unless the current recipe is already built (a no-op then, in well under a second)."""
    subprocess.run([str(ROOT / "scripts" / "app_host_image.sh")], check=True, stdout=subprocess.DEVNULL)


def make_key(directory: Path) -> Path:
    """An ed25519 key pair without passphrase for Ansible (reused when present); returns the private key."""
    key = Path(directory) / "fleet_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "maestro-fleet", "-f", str(key))
    return key


@dataclass
class AppHost:
    name: str
    container: str
    ssh_port: int
    ports: dict[str, int]  # colour -> port published on 127.0.0.1 here
    inner_ports: dict[str, int] = field(default_factory=lambda: dict(INNER_PORTS))  # colour -> port inside the host
    ip: str = ""

    def exec(self, *argv: str, input: str | bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command inside the host, bypassing SSH (setup and assertions, not what is under test)."""
        return _run("docker", "exec", *(["-i"] if input is not None else []), self.name, *argv, input=input, check=check)

    def docker(self, *args: str, input: str | bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """The host's own docker engine, e.g. ``host.docker("ps", "-q")`` or ``host.docker("load", input=tar_bytes)``."""
        return self.exec("docker", *args, input=input, check=check)

    def copy(self, source: Path, destination: str) -> None:
        """Copy a file from this machine into the host (``docker cp``: no need to stream it through Python)."""
        _run("docker", "cp", str(source), f"{self.name}:{destination}")

    def endpoint(self, colour: str) -> str:
        """Where a proxy on this machine reaches the colour's service port on this host."""
        return f"127.0.0.1:{self.ports[colour]}"

    def ssh(self, key: Path, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command over SSH as Ansible would connect."""
        return _run("ssh", "-i", str(key), "-p", str(self.ssh_port), *SSH_OPTIONS, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                    "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "root@127.0.0.1", *command, check=check, timeout=30)


def _start(name: str, prefix: str, key: Path, inner_ports: dict[str, int], ports_from: int = 0, restart: str = "") -> AppHost:
    # ports docker picks change when the container restarts; a host that reboots (restart) keeps fixed ones
    inner = (22, *inner_ports.values())
    published = [arg for n, port in enumerate(inner) for arg in ("-p", f"127.0.0.1:{ports_from + n if ports_from else ''}:{port}")]
    public_key = Path(f"{key}.pub").read_text().strip()
    container = _run("docker", "run", "-d", "--name", name, "--hostname", name, "--label", LABEL, "--label", f"{PREFIX_LABEL}={prefix}",
                     *NESTED_DOCKER, "-e", f"AUTHORIZED_KEY={public_key}", "-e", f"APP_HOST_NAME={name}", *published,
                     *(["--restart", restart] if restart else []), IMAGE).stdout.strip()
    inspected = _run("docker", "inspect", "--format",
                     '{{.NetworkSettings.IPAddress}}{{range $p, $b := .NetworkSettings.Ports}} {{$p}}={{(index $b 0).HostPort}}{{end}}',
                     name).stdout.split()
    bound = dict(item.split("=") for item in inspected[1:])
    host = AppHost(name=name, container=container, ssh_port=int(bound["22/tcp"]),
                   ports={colour: int(bound[f"{port}/tcp"]) for colour, port in inner_ports.items()},
                   inner_ports=dict(inner_ports), ip=inspected[0])
    _wait_ready(host, key)
    return host


def _wait_ready(host: AppHost, key: Path) -> None:
    """Ready means its dockerd answers and sshd lets the key in: what Ansible needs, checked the way it connects."""
    deadline = time.monotonic() + READY_TIMEOUT
    docker_up, reason = False, "dockerd does not answer"
    while time.monotonic() < deadline:
        if not docker_up:
            info = host.docker("info", "--format", "{{.ServerVersion}}", check=False)
            if "is not running" in info.stderr:  # the container itself died: no point in waiting
                reason = "the container exited"
                break
            docker_up = info.returncode == 0
        if docker_up:
            ssh = host.ssh(key, "true", check=False)
            if ssh.returncode == 0:
                return
            reason = f"ssh: {ssh.stderr.strip()}"
        time.sleep(0.2)
    else:
        reason += f", still after {READY_TIMEOUT:.0f} s"
    dockerd_log = host.exec("tail", "-20", "/var/log/dockerd.log", check=False)
    container_log = _run("docker", "logs", "--tail", "20", host.name, check=False)
    raise RuntimeError(f"app host {host.name} did not come up: {reason}\n"
                       f"--- /var/log/dockerd.log (tail) ---\n{dockerd_log.stdout}{dockerd_log.stderr}"
                       f"--- container log (sshd) ---\n{container_log.stdout}{container_log.stderr}")


def start_app_hosts(prefix: str, count: int, key: Path, inner_ports: dict[str, int] | None = None, ports_from: int = 0,
                    restart: str = "") -> list[AppHost]:
    """Start ``<prefix>-app1`` ... ``<prefix>-app<count>`` in parallel and wait until each is ready.

    Leftovers of the same prefix (a run that was killed) are removed first; if any host fails to come up,
    all of them are removed before the error is raised, so a failed fixture leaves nothing running.
    ``ports_from``: publish sshd and the colour ports of host n on fixed ports from ``ports_from + 3 * (n - 1)`` (a host that
    restarts keeps them); ``restart``: docker's restart policy (``always``: a host whose PID 1 ends, as ``reboot`` ends it,
    comes back, its disk as it was).
    """
    ensure_image()
    cleanup(prefix)
    names = [f"{prefix}-app{index}" for index in range(1, count + 1)]
    width = 1 + len(inner_ports or INNER_PORTS)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(_start, name, prefix, key, dict(inner_ports or INNER_PORTS), ports_from + width * n if ports_from else 0,
                               restart) for n, name in enumerate(names)]
        errors = [future.exception() for future in futures]
    if any(errors):
        cleanup(prefix)
        raise next(error for error in errors if error)
    return [future.result() for future in futures]


def stop_app_hosts(hosts: list[AppHost]) -> None:
    """Remove the hosts at once: ``docker rm -f`` kills each with everything it runs (its engine, its containers)."""
    if hosts:
        _run("docker", "rm", "-f", *(host.name for host in hosts), check=False)


def cleanup(prefix: str) -> None:
    """Remove every fleet container of this prefix, whoever started it."""
    found = _run("docker", "ps", "-aq", "--filter", f"label={LABEL}", "--filter", f"label={PREFIX_LABEL}={prefix}").stdout.split()
    if found:
        _run("docker", "rm", "-f", *found, check=False)


def inventory_hosts(hosts: list[AppHost], key: Path) -> dict[str, dict]:
    """The ``app`` group's host entries: how Ansible reaches each host, and the variables the collection reads
    (inner colour ports, where a proxy here reaches them, and a bind address the published ports can reach)."""
    return {host.name: {
        "ansible_host": "127.0.0.1",
        "ansible_port": host.ssh_port,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": " ".join(SSH_OPTIONS),
        "ansible_python_interpreter": "/usr/bin/python3",
        "maestro_ports": dict(host.inner_ports),
        "maestro_app_endpoints": {colour: host.endpoint(colour) for colour in host.ports},
        "maestro_compose_env": {"BIND_ADDRESS": "0.0.0.0"},
        "maestro_deploy_root": "/var/lib/maestro/deploy",
    } for host in hosts}


def write_inventory(path: Path, hosts: list[AppHost], key: Path) -> Path:
    """An inventory file with the hosts in group ``app``, for ``ansible -i`` / ``ansible-playbook -i``."""
    Path(path).write_text(yaml.safe_dump({"all": {"children": {"app": {"hosts": inventory_hosts(hosts, key)}}}}, sort_keys=False))
    return Path(path)


def start_host(name: str, prefix: str, key: Path, *, image: str = IMAGE, nested_docker: bool = True, network: str = "",
               aliases: tuple[str, ...] = (), hostname: str = "", publish: tuple[int, ...] = ()) -> tuple[AppHost, dict[int, int]]:
    """Start one host container as ``_start`` does (the fleet's labels, AUTHORIZED_KEY, sshd published on 127.0.0.1),
    optionally on a user-defined ``network`` under ``aliases`` (the names other containers reach it by), with other
    ports of ``publish`` published on 127.0.0.1 too, and with or without its own docker engine (``nested_docker``:
    the app host image; an image without dockerd is ready once sshd lets the key in). Returns the host and the
    published ports (inner port -> port on 127.0.0.1 here); a host that does not come up is removed, then the error raised."""
    published = [arg for port in (22, *publish) for arg in ("-p", f"127.0.0.1::{port}")]
    on_network = (["--network", network] if network else []) + [arg for alias in aliases for arg in ("--network-alias", alias)]
    public_key = Path(f"{key}.pub").read_text().strip()
    container = _run("docker", "run", "-d", "--name", name, "--hostname", hostname or name, "--label", LABEL,
                     "--label", f"{PREFIX_LABEL}={prefix}",
                     *(NESTED_DOCKER if nested_docker else []), "-e", f"AUTHORIZED_KEY={public_key}", "-e", f"APP_HOST_NAME={name}",
                     *on_network, *published, image).stdout.strip()
    try:
        listing = '{{range $p, $b := .NetworkSettings.Ports}}{{if $b}} {{$p}}={{(index $b 0).HostPort}}{{end}}{{end}}'
        bound = dict(item.split("=") for item in _run("docker", "inspect", "--format", listing, name).stdout.split())
        ports = {int(inner.split("/")[0]): int(outer) for inner, outer in bound.items()}
        host = AppHost(name=name, container=container, ssh_port=ports[22], ports={}, inner_ports={})
        if nested_docker:
            _wait_ready(host, key)
        else:
            deadline = time.monotonic() + READY_TIMEOUT
            while (ssh := host.ssh(key, "true", check=False)).returncode != 0:
                if time.monotonic() > deadline:
                    log = _run("docker", "logs", "--tail", "20", name, check=False)
                    raise RuntimeError(f"host {name} did not come up: ssh: {ssh.stderr.strip()}\n--- container log ---\n"
                                       f"{log.stdout}{log.stderr}")
                time.sleep(0.2)
    except BaseException:
        _run("docker", "rm", "-f", name, check=False)
        raise
    return host, ports
