"""inventories/example as written: the real playbooks run with it, unchanged, against six containers that play its hosts.

A release store (releases.prod.example.com: the bare repository, the release directories, the allowed signers), three
app hosts (app1..3.prod.example.com, each with its own docker engine) and two proxies (lb1: nginx, lb2: HAProxy), on a
user-defined docker network where each answers to its inventory name. The only thing added to the inventory is how to
connect to each host: a second inventory source given after it (``-i inventories/example -i CONNECTIONS.yml``), whose
host entries set ansible_host, ansible_port, ansible_user, the key and the SSH options, nothing else.

What a user checks: the deploy puts the verified release live through both proxies and on every app host (the image
id the manifest records), the ledger on lb1 says so, a rollback is confirmed through both proxies and quarantines what
it rolled back from, a second identical rollback changes nothing, and a check-mode switch shows both proxies' diffs and
changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.integration import fleet
from tests.integration.demo_env import ROOT, Env, out
from ansible_collections.maestro.conductor.plugins.module_utils import _http
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

INVENTORY = ROOT / "inventories" / "example"
INFRA_IMAGE = os.environ.get("INFRA_HOST_IMAGE", "maestro-infra-host:bookworm")  # as scripts/infra_host_image.sh names it
PREFIX = "maestro-example"  # container names and the fleet prefix label: leftovers of a killed run are removed at the next start
STORE = "releases.prod.example.com"
APPS = ["app1.prod.example.com", "app2.prod.example.com", "app3.prod.example.com"]
LB1, LB2 = "lb1.prod.example.com", "lb2.prod.example.com"
PORTS = {"blue": 18081, "green": 18082}  # inventories/example/group_vars/app.yml
LEDGER = "/var/lib/maestro/ledger/production.jsonl"  # inventories/example/group_vars/all.yml
DEPLOY_ROOT = "/var/lib/maestro/deploy"  # inventories/example/group_vars/app.yml
NGINX_INCLUDE = "/etc/nginx/maestro/production-upstream.conf"  # inventories/example/host_vars/lb1.prod.example.com.yml
HAPROXY_SOCKET = "/run/haproxy/admin.sock"  # inventories/example/host_vars/lb2.prod.example.com.yml

# lb1: what inventories/example/host_vars/lb1 describes (the include inside the http block, `/` to the upstream by name);
# the directives that matter as in demo/templates/nginx.conf.j2
NGINX_CONF = f"""\
worker_processes 1;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    include {NGINX_INCLUDE};
    server {{
        listen 80;
        location / {{
            proxy_pass http://production;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""
# hand-written before any switch: one server of neither colour's full set, so nothing is live yet
NGINX_FIRST_INCLUDE = "upstream production { server app1.prod.example.com:18081; }\n"

# lb2: what inventories/example/host_vars/lb2 describes; nothing live yet (every server disabled)
HAPROXY_CFG = f"""\
global
    stats socket {HAPROXY_SOCKET} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch

frontend production
    bind :80
    default_backend production

backend production
""" + "".join(f"    server {colour}-{app.split('.', maxsplit=1)[0]} {app}:{port} disabled\n" for colour, port in PORTS.items() for app in APPS)

# the runtime API from inside lb2 (no socat there): one command, its whole answer
HAPROXY_ASK = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()+b'\\n'); "
               "print(b''.join(iter(lambda: s.recv(65536), b'')).decode())")


def _run(*argv: str, input: str | None = None, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done


def _cleanup_leftovers() -> None:
    """Containers and networks a killed run left behind (found by the fleet's labels and this module's prefix)."""
    fleet.cleanup(PREFIX)
    for network in _run("docker", "network", "ls", "-q", "--filter", f"label={fleet.LABEL}",
                        "--filter", f"label={fleet.PREFIX_LABEL}={PREFIX}").stdout.split():
        _run("docker", "network", "rm", network, check=False)


class Example:
    """The six hosts, how to connect to them, and what a user asks of them."""

    def __init__(self, root: Path, demo: Env, key: Path):
        self.root, self.demo, self.key = root, demo, key
        self.hosts: dict[str, fleet.AppHost] = {}
        self.published: dict[str, dict[int, int]] = {}
        self.network = ""
        self.connections = root / "CONNECTIONS.yml"

    # --- setup -----------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.network = f"{PREFIX}-{secrets.token_hex(4)}"
        _run("docker", "network", "create", "--label", fleet.LABEL, "--label", f"{fleet.PREFIX_LABEL}={PREFIX}", self.network)
        specs = [(name, {"nested_docker": True}) for name in APPS]
        specs += [(name, {"nested_docker": False, "image": INFRA_IMAGE, "publish": (80,) if name in (LB1, LB2) else ()})
                  for name in (STORE, LB1, LB2)]
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            futures = {name: pool.submit(fleet.start_host, f"{PREFIX}-{name.split('.', maxsplit=1)[0]}", PREFIX, self.key, network=self.network,
                                         aliases=(name,), hostname=name, **spec) for name, spec in specs}
            errors = [future.exception() for future in futures.values()]
        for name, future in futures.items():
            if not future.exception():
                self.hosts[name], self.published[name] = future.result()
        if any(errors):
            raise next(error for error in errors if error)
        self.connections.write_text(yaml.safe_dump({"all": {"hosts": {name: {
            "ansible_host": "127.0.0.1",
            "ansible_port": host.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": " ".join(fleet.SSH_OPTIONS),
        } for name, host in self.hosts.items()}}}, sort_keys=False))

    def write(self, name: str, path: str, text: str) -> None:
        self.hosts[name].exec("sh", "-c", f'mkdir -p "$(dirname "{path}")" && cat >"{path}"', input=text)

    def prepare_store(self) -> None:
        """The bare repository with the demo's tags and main, the release directories, the allowed signers."""
        mirror = self.root / "service.git"
        _run("git", "clone", "--quiet", "--mirror", str(self.demo.root / "repo"), str(mirror))
        store = self.hosts[STORE]
        store.exec("mkdir", "-p", "/srv/git", "/srv/releases", "/etc/maestro")
        store.copy(mirror, "/srv/git/service.git")
        # "DIR/." (pathlib drops a trailing "."): docker cp copies the directory's content, not the directory
        _run("docker", "cp", f"{self.demo.root / 'releases'}/.", f"{store.name}:/srv/releases/")
        store.copy(self.demo.root / "keys" / "allowed_signers", "/etc/maestro/allowed_signers")

    def prepare_proxies(self) -> None:
        self.write(LB1, "/etc/nginx/nginx.conf", NGINX_CONF)
        self.write(LB1, NGINX_INCLUDE, NGINX_FIRST_INCLUDE)
        self.hosts[LB1].exec("nginx", "-t", "-q")
        self.hosts[LB1].exec("nginx")
        self.write(LB2, "/etc/haproxy/haproxy.cfg", HAPROXY_CFG)
        self.hosts[LB2].exec("mkdir", "-p", "/run/haproxy")
        self.hosts[LB2].exec("haproxy", "-c", "-q", "-f", "/etc/haproxy/haproxy.cfg")
        self.hosts[LB2].exec("haproxy", "-D", "-f", "/etc/haproxy/haproxy.cfg", "-p", "/run/haproxy.pid")
        for name in (LB1, LB2):  # each answers on its published port (502/503: nothing live yet)
            deadline = time.monotonic() + 10
            while True:
                try:
                    _http.get(self.url(name) + "/version", timeout=2)
                    break
                except ConductorError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def stop(self) -> None:
        if self.hosts:
            _run("docker", "rm", "-f", *(host.name for host in self.hosts.values()), check=False)
        fleet.cleanup(PREFIX)
        if self.network:
            _run("docker", "network", "rm", self.network, check=False)

    # --- what a user runs and asks -------------------------------------------------------------------------------------------
    def playbook(self, playbook: str, extra: dict, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("TAG", "DEMO_DIR", "MAKEFLAGS", "MAKELEVEL")}
        return subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(INVENTORY), "-i", str(self.connections),
                               str(ROOT / "playbooks" / playbook), "-e", json.dumps(extra), *args],
                              env={**env, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}, capture_output=True, text=True, timeout=600,
                              check=False)

    def url(self, proxy: str) -> str:
        return f"http://127.0.0.1:{self.published[proxy][80]}"

    def served(self, proxy: str) -> str:
        """The commit the proxy's /version answers, through its published port ('' when it answers none)."""
        try:
            answer = _http.get(self.url(proxy) + "/version", timeout=5)
        except ConductorError:
            return ""
        return answer.commit() if answer.status == 200 else ""

    def commit(self, tag: str) -> str:
        return self.demo.commit(tag)

    def image_id(self, tag: str) -> str:
        manifest = yaml.safe_load((self.demo.root / "releases" / tag / f"release-manifest-{tag}.yaml").read_text())
        return next(image["id"] for entry in manifest["artifacts"] for image in entry.get("images", []))

    def artifacts(self, tag: str) -> dict[str, str]:
        manifest = yaml.safe_load((self.demo.root / "releases" / tag / f"release-manifest-{tag}.yaml").read_text())
        return {entry["path"]: entry["sha256"] for entry in manifest["artifacts"]}

    def cached(self, app: str, tag: str) -> dict[str, str]:
        """The files of release ``tag`` in the app host's release cache (MAESTRO_DEPLOY_ROOT/releases, per tag or per
        environment and tag) with their sha256; {} when no single directory of the cache holds the tag."""
        found = self.hosts[app].exec("find", f"{DEPLOY_ROOT}/releases", "-maxdepth", "2", "-type", "d", "-name", tag,
                                     check=False).stdout.split()
        if len(found) != 1:
            return {}
        listing = self.hosts[app].exec("sh", "-c", f'cd "{found[0]}" && find . -type f ! -name ".*" -exec sha256sum {{}} +').stdout
        return {path.removeprefix("./"): digest for digest, path in (line.split(maxsplit=1) for line in listing.splitlines())}

    def running(self, app: str, colour: str) -> list[str]:
        """The image id of each running container of the colour's compose project on the app host."""
        host = self.hosts[app]
        ids = host.docker("ps", "--quiet", "--filter", f"label=com.docker.compose.project=production-{colour}").stdout.split()
        return host.docker("inspect", "--format", "{{.Image}}", *ids).stdout.split() if ids else []

    def ledger(self) -> list[dict]:
        text = self.hosts[LB1].exec("cat", LEDGER, check=False).stdout
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def nginx_include(self) -> str:
        return self.hosts[LB1].exec("cat", NGINX_INCLUDE).stdout

    def nginx_colour(self) -> str:
        found = re.search(r"colour=(\w+)", self.nginx_include())
        return found.group(1) if found else ""

    def haproxy_states(self) -> str:
        return self.hosts[LB2].exec("python3", "-c", HAPROXY_ASK, HAPROXY_SOCKET, "show servers state production").stdout

    def haproxy_ready(self) -> set[str]:
        """The servers of backend production that take traffic (no maintenance bit in srv_admin_state)."""
        ready = set()
        for line in self.haproxy_states().splitlines():
            fields = line.split()
            if len(fields) > 6 and not line.startswith("#") and fields[1] == "production" and not int(fields[6]) & 0x23:
                ready.add(fields[3])
        return ready

    def haproxy_colour(self) -> str:
        colours = {name.split("-", maxsplit=1)[0] for name in self.haproxy_ready()}
        return colours.pop() if len(colours) == 1 else ""


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    started = time.monotonic()
    root = tmp_path_factory.mktemp("example")
    subprocess.run([str(ROOT / "scripts" / "infra_host_image.sh")], check=True, stdout=subprocess.DEVNULL)
    fleet.ensure_image()
    _cleanup_leftovers()
    demo = Env(root / "demo", "example")
    found = Example(root, demo, fleet.make_key(root))
    try:
        # the demo's releases (about a minute of small Ansible tasks) are made while the six hosts start
        with ThreadPoolExecutor(max_workers=1) as pool:
            making = pool.submit(demo.playbook, "demo/make_releases.yml")
            try:
                found.start()
            finally:
                made = making.result()
        assert made.returncode == 0, out(made)[-3000:]
        found.prepare_store()
        found.prepare_proxies()
        merged = _run(str(ROOT / ".venv" / "bin" / "ansible-inventory"), "-i", str(INVENTORY), "-i", str(found.connections),
                      "--host", APPS[0]).stdout
        merged_vars = json.loads(merged)
        # the two sources merge: the example's group variables and the connection, on the same host
        assert merged_vars["ansible_port"] == found.hosts[APPS[0]].ssh_port and merged_vars["maestro_ports"] == PORTS, merged
        print(f"\nexample inventory: six hosts ready in {time.monotonic() - started:.1f}s")
        yield found
    finally:
        found.stop()


def test_the_inventories_merge_into_the_examples_groups(example):
    graph = _run(str(ROOT / ".venv" / "bin" / "ansible-inventory"), "-i", str(INVENTORY), "-i", str(example.connections),
                 "--list").stdout
    listing = json.loads(graph)
    assert listing["app"]["hosts"] == APPS
    assert listing["proxy"]["hosts"] == [LB1, LB2]
    assert listing["release_store"]["hosts"] == [STORE]
    assert not listing.get("ungrouped", {}).get("hosts")


def test_a_deploy_puts_the_verified_release_live_through_both_proxies_and_on_every_app_host(example):
    done = example.playbook("deploy.yml", {"tag": "v1.1.0"})
    text = out(done)
    assert done.returncode == 0, text[-6000:]
    commit = example.commit("v1.1.0")
    assert example.served(LB1) == commit
    assert example.served(LB2) == commit
    colour = example.nginx_colour()
    assert colour in PORTS and example.haproxy_colour() == colour, (example.nginx_include(), example.haproxy_states())
    for app in APPS:
        assert example.running(app, colour) == [example.image_id("v1.1.0")], app
        assert example.cached(app, "v1.1.0") == example.artifacts("v1.1.0"), app
    record = example.ledger()[-1]
    assert (record["event"], record["tag"], record["commit"], record["verdict"]) == ("deployed", "v1.1.0", commit, "green")
    assert [(h["host"], h["colour"], h["result"]) for h in record["hosts"]] == [(app, colour, "green") for app in APPS]


def test_a_rollback_is_confirmed_through_both_proxies_and_quarantines_the_release_rolled_back_from(example):
    done = example.playbook("rollback.yml", {"tag": "v1.0.0"})
    text = out(done)
    assert done.returncode == 0, text[-6000:]
    commit = example.commit("v1.0.0")
    for proxy in (LB1, LB2):
        assert {example.served(proxy) for _request in range(30)} == {commit}, proxy
    assert f"confirmed through {LB1} (nginx)" in text and f"{LB2} (haproxy)" in text, text[-4000:]
    assert "quarantined: v1.1.0" in text
    colour = example.nginx_colour()
    assert example.haproxy_colour() == colour
    for app in APPS:
        assert example.running(app, colour) == [example.image_id("v1.0.0")], app
    ledger = example.ledger()
    assert any(r.get("event") == "quarantine" and r.get("tag") == "v1.1.0" for r in ledger), ledger[-3:]
    rollback = [r for r in ledger if r.get("event") == "rollback"][-1]
    assert (rollback["tag"], rollback.get("from_tag"), rollback["verdict"]) == ("v1.0.0", "v1.1.0", "green")


def test_the_same_rollback_again_changes_nothing(example):
    before = (example.nginx_include(), example.haproxy_ready(), len(example.ledger()))
    done = example.playbook("rollback.yml", {"tag": "v1.0.0"})
    text = out(done)
    assert done.returncode == 0, text[-6000:]
    assert f"rollback production: v1.0.0 ({example.commit('v1.0.0')[:12]}) was already live" in text, text[-4000:]
    assert (example.nginx_include(), example.haproxy_ready(), len(example.ledger())) == before
    assert example.served(LB1) == example.served(LB2) == example.commit("v1.0.0")


def test_a_check_mode_rollback_shows_both_proxies_diffs_and_changes_nothing(example):
    before = (example.nginx_include(), example.haproxy_ready(), example.ledger())
    live = example.nginx_colour()
    target = "blue" if live == "green" else "green"
    done = example.playbook("rollback.yml", {"tag": "v1.1.0"}, "--check", "--diff")
    text = done.stdout + done.stderr
    assert done.returncode == 0, out(done)[-6000:]
    # nginx: the include's upstream goes from the live colour's servers to the target's
    assert f"+# maestro.conductor proxy_flip: colour={target} tag=v1.1.0" in text, text[-6000:]
    for app in APPS:
        assert f"-    server {app}:{PORTS[live]};" in text and f"+    server {app}:{PORTS[target]};" in text, app
    # HAProxy: the target colour's servers go ready, the live one's into maintenance
    for app in APPS:
        short = app.split(".", maxsplit=1)[0]
        assert f"+{target}-{short} ready" in text and f"-{target}-{short} maint" in text, short
        assert f"+{live}-{short} maint" in text and f"-{live}-{short} ready" in text, short
    assert "check mode: nothing was changed" in text
    assert (example.nginx_include(), example.haproxy_ready(), example.ledger()) == before
    assert example.served(LB1) == example.served(LB2) == example.commit("v1.0.0")
