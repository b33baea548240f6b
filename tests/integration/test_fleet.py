"""The switch on a fleet: three app hosts, each a container with its own docker engine and sshd, reached over SSH
(tests/integration/fleet.py), behind a real nginx and a real HAProxy on this machine; the demo's signed releases.

What serves traffic must be exactly what was verified, on every host: each test puts something in the way (a
same-named image, a tampered cache copy, a host that never answers, a lying proxy, a switch that died half-way,
a proxy whose confirmation fails) and checks that the tampered thing never serves, and that what a user sees
through each proxy is the verified release or the one that was live before.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.integration import fleet
from tests.integration.demo_env import ROOT, Env, keep_releases, out, seed
from ansible_collections.maestro.conductor.plugins.module_utils._haproxy import HAProxy
from tests.servers import Backend, HAProxyServer, NginxServer

ENVIRONMENT = "fleet"
HOSTS = 3
PYTHON = str(ROOT / ".venv" / "bin" / "python")
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": PYTHON}


class Fleet:
    def __init__(self, root: Path, hosts: list[fleet.AppHost], key: Path, demo: Env):
        self.root, self.hosts, self.key, self.demo = root, hosts, key, demo
        endpoints = {colour: [host.endpoint(colour) for host in hosts] for colour in ("blue", "green")}
        # nothing live at first: nginx's hand-written include names one server of neither colour's set, HAProxy has all in maintenance
        self.nginx = NginxServer(root / "nginx", "fleet_upstream", endpoints["blue"][0])
        servers = [(f"{colour}-app{n + 1}", address, False) for colour, addresses in endpoints.items() for n, address in enumerate(addresses)]
        (root / "haproxy").mkdir()
        self.haproxy = HAProxyServer(root / "haproxy", "fleet_backend", servers=servers)
        self.proxy_vars = {
            "lb-nginx": {**LOCAL, "maestro_proxy": "nginx", "maestro_proxy_url": self.nginx.url, "maestro_nginx_config": str(self.nginx.config),
                         "maestro_nginx_include": str(self.nginx.include), "maestro_nginx_upstream": self.nginx.upstream},
            "lb-haproxy": {**LOCAL, "maestro_proxy": "haproxy", "maestro_proxy_url": self.haproxy.url,
                           "maestro_haproxy_socket": str(self.haproxy.socket), "maestro_haproxy_backend": self.haproxy.backend},
        }
        self.urls = {"lb-nginx": self.nginx.url, "lb-haproxy": self.haproxy.url}

    def inventory(self, proxies: tuple[str, ...], **proxy_overrides) -> Path:
        demo = self.demo.root
        inventory = {"all": {
            "vars": {"maestro_environment": ENVIRONMENT, "maestro_repo": str(demo / "repo"), "maestro_releases_root": str(demo / "releases"),
                     "maestro_allowed_signers": str(demo / "keys" / "allowed_signers"),
                     "maestro_ledger_path": str(self.root / "ledger" / f"{ENVIRONMENT}.jsonl"),
                     "maestro_lock_path": str(self.root / "locks" / f"{ENVIRONMENT}.lock")},
            "children": {
                "release_store": {"hosts": {"localhost": LOCAL}},
                "proxy": {"hosts": {name: {**self.proxy_vars[name], **proxy_overrides.get(name, {})} for name in proxies}},
                "app": {"hosts": fleet.inventory_hosts(self.hosts, self.key)},
            }}}
        path = self.root / f"inventory-{'-'.join(proxies)}.yml"
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        return path

    def switch(self, playbook: str, extra: dict | None = None, proxies: tuple[str, ...] = ("lb-nginx",), args: tuple = (),
               **proxy_overrides) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("TAG", "DEMO_DIR", "MAKEFLAGS", "MAKELEVEL")}
        return subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(self.inventory(proxies, **proxy_overrides)),
                               str(ROOT / "playbooks" / playbook), "-e", json.dumps(extra or {}), *args],
                              env={**env, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}, capture_output=True, text=True, timeout=900,
                              check=False)

    def served(self, proxy: str = "lb-nginx") -> str:
        return self.demo_get(self.urls[proxy] + "/version").get("commit", "")

    @staticmethod
    def demo_get(url: str) -> dict:
        found = subprocess.run(["/bin/busybox", "wget", "-q", "-O", "-", url], capture_output=True, text=True, check=False).stdout
        try:
            return json.loads(found)
        except ValueError:
            return {"body": found}

    def commit(self, tag: str) -> str:
        return self.demo.commit(tag)

    def image_id(self, tag: str) -> str:
        """The image id the release's manifest records for its image tarball."""
        manifest = yaml.safe_load((self.demo.root / "releases" / tag / f"release-manifest-{tag}.yaml").read_text())
        return next(image["id"] for entry in manifest["artifacts"] for image in entry.get("images", []))

    @staticmethod
    def running(host: fleet.AppHost, colour: str) -> list[str]:
        """The image id of each running container of the colour on the host."""
        ids = host.docker("ps", "--quiet", "--filter", f"label=com.docker.compose.project={ENVIRONMENT}-{colour}").stdout.split()
        return host.docker("inspect", "--format", "{{.Image}}", *ids).stdout.split() if ids else []

    def ledger(self) -> list[dict]:
        path = self.root / "ledger" / f"{ENVIRONMENT}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    def live_on_every_host(self, tag: str, colour: str) -> bool:
        return all(self.running(host, colour) == [self.image_id(tag)] for host in self.hosts)

    def nginx_colour(self) -> str:
        return re.search(r"colour=(\w+)", self.nginx.include.read_text()).group(1)

    def align_haproxy(self) -> None:
        """HAProxy's servers on the colour nginx sends traffic to, so that the two proxies agree."""
        live = self.nginx_colour()
        proxy = HAProxy(str(self.haproxy.socket), self.haproxy.backend)
        proxy.set_states({name: "ready" if name.startswith(live) else "maint" for name in proxy.states()})

    def reset(self, tag: str = "v1.1.0") -> str:
        """Put ``tag`` live (through nginx) however the fleet was left; return the colour it is on."""
        done = self.switch("deploy.yml", {"tag": tag})
        if done.returncode != 0:
            done = self.switch("deploy.yml", {"tag": tag, "release_switch_force": True})
        assert done.returncode == 0, out(done)[-4000:]
        assert self.served() == self.commit(tag)
        return self.nginx_colour()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    demo = Env(root / "demo", ENVIRONMENT)
    seed(demo)
    made = demo.playbook("demo/make_releases.yml")
    assert made.returncode == 0, out(made)[-3000:]
    keep_releases(demo)
    key = fleet.make_key(root)
    hosts = fleet.start_app_hosts("maestro-itest", HOSTS, key)
    found = Fleet(root, hosts, key, demo)
    yield found
    found.nginx.stop()
    found.haproxy.stop()
    fleet.stop_app_hosts(hosts)


def test_a_cold_deploy_loads_the_verified_image_on_every_host_and_flips_nginx(cluster):
    """No host has the image: each loads it from the release's tarball (copied, re-checked there), runs it by id."""
    done = cluster.switch("deploy.yml", {"tag": "v1.1.0"})
    text = out(done)
    assert done.returncode == 0, text[-4000:]
    assert cluster.served() == cluster.commit("v1.1.0")
    assert cluster.live_on_every_host("v1.1.0", "blue")
    for host in cluster.hosts:
        assert f"host {host.name}: blue v1.1.0 {cluster.commit('v1.1.0')[:12]} image {cluster.image_id('v1.1.0')} healthy" in text
    record = cluster.ledger()[-1]
    assert (record["event"], record["tag"], record["verdict"]) == ("deployed", "v1.1.0", "green")
    assert [(h["host"], h["colour"], h["image_ids"], h["result"]) for h in record["hosts"]] == [
        (host.name, "blue", [cluster.image_id("v1.1.0")], "green") for host in cluster.hosts]
    assert record["durations"]["time_to_green"] > 0


def test_a_rollback_across_the_fleet_then_back_to_the_colour_that_still_runs(cluster):
    cluster.reset("v1.1.0")
    broken = cluster.switch("deploy.yml", {"tag": "v1.2.0"})
    assert broken.returncode == 0, out(broken)[-4000:]
    assert cluster.served() == cluster.commit("v1.2.0") and cluster.live_on_every_host("v1.2.0", "green")
    back = cluster.switch("rollback.yml")
    text = out(back)
    assert back.returncode == 0, text[-4000:]
    assert "rollback fleet: v1.2.0 -> v1.1.0" in text and "quarantined: v1.2.0" in text
    assert "reused as it runs, not started again, on " + ", ".join(h.name for h in cluster.hosts) in text
    assert cluster.served() == cluster.commit("v1.1.0") and cluster.live_on_every_host("v1.1.0", "blue")


def test_a_same_named_image_on_one_host_never_runs(cluster):
    """app2's engine holds another image under the release's name: the verified one is loaded and runs there."""
    live = cluster.reset("v1.1.0")
    target = "green" if live == "blue" else "blue"
    app2 = cluster.hosts[1]
    app2.docker("compose", "-p", f"{ENVIRONMENT}-{target}", "down", "--timeout", "0")
    app2.docker("image", "rm", "--force", cluster.image_id("v1.0.0"), check=False)
    # an impostor: v1.2.0's image (another page, another commit) under v1.0.0's name
    app2.copy(cluster.demo.root / "releases" / "v1.2.0" / "image.tar", "/tmp/impostor.tar")
    app2.docker("load", "--input", "/tmp/impostor.tar")
    app2.docker("tag", cluster.image_id("v1.2.0"), "maestro-demo/web:v1.0.0")
    done = cluster.switch("rollback.yml", {"tag": "v1.0.0"})
    assert done.returncode == 0, out(done)[-4000:]
    assert cluster.running(app2, target) == [cluster.image_id("v1.0.0")] != [cluster.image_id("v1.2.0")]
    assert app2.docker("image", "inspect", "--format", "{{.Id}}", "maestro-demo/web:v1.0.0").stdout.strip() == cluster.image_id("v1.0.0")
    assert {cluster.served() for _request in range(9)} == {cluster.commit("v1.0.0")}


def test_a_release_copy_tampered_on_one_host_is_refused_and_nothing_moves(cluster):
    live = cluster.reset("v1.1.0")
    target = "green" if live == "blue" else "blue"
    app3 = cluster.hosts[2]
    cached = f"/var/lib/maestro/deploy/releases/{ENVIRONMENT}/v1.0.0/compose.yaml"
    app3.exec("test", "-f", cached)  # left by the rollback before: the cache holds v1.0.0
    app3.exec("sh", "-c", f"chmod u+w {cached} && sed -i 's/retries: 30/retries: 31/' {cached}")
    for host in cluster.hosts:
        host.docker("compose", "-p", f"{ENVIRONMENT}-{target}", "down", "--timeout", "0")
    done = cluster.switch("rollback.yml", {"tag": "v1.0.0"})
    text = out(done)
    assert done.returncode != 0
    assert f"{app3.name}: v1.0.0 on {ENVIRONMENT}-{target} failed at check: the release cache" in text
    assert "compose.yaml has sha256" in text and "It was changed after it was copied: nothing was started from it" in text
    assert f"Traffic was not moved: it stays on {live} (v1.1.0)" in text
    assert cluster.served() == cluster.commit("v1.1.0")
    # the colour the other hosts started for this run was stopped again; app3 started nothing
    assert all(cluster.running(host, target) == [] for host in cluster.hosts)
    assert app3.exec("sh", "-c", "ls /var/lib/maestro/deploy/releases/.rejected/*/compose.yaml").returncode == 0
    again = cluster.switch("rollback.yml", {"tag": "v1.0.0"})  # the set-aside copy is copied afresh
    assert again.returncode == 0, out(again)[-4000:]
    assert cluster.served() == cluster.commit("v1.0.0")


def test_a_host_that_never_answers_healthy_stops_the_switch_before_any_flip(cluster):
    live = cluster.reset("v1.1.0")
    target = "green" if live == "blue" else "blue"
    app2 = cluster.hosts[1]
    port = str(app2.inner_ports[target])
    for host in cluster.hosts:
        host.docker("compose", "-p", f"{ENVIRONMENT}-{target}", "down", "--timeout", "0")
    # app2's colour starts, but its port never answers on the host: its health check from the host times out
    app2.exec("iptables", "-I", "INPUT", "-i", "lo", "-p", "tcp", "--dport", port, "-j", "DROP")
    try:
        done = cluster.switch("rollback.yml", {"tag": "v1.0.0", "release_switch_deploy_timeout": 6})
    finally:
        app2.exec("iptables", "-D", "INPUT", "-i", "lo", "-p", "tcp", "--dport", port, "-j", "DROP")
    text = out(done)
    assert done.returncode != 0
    assert f"{app2.name}: v1.0.0 on {ENVIRONMENT}-{target} failed at probe: health:" in text
    assert f"Traffic was not moved: it stays on {live} (v1.1.0)" in text and "The colour this run started was stopped on" in text
    assert cluster.served() == cluster.commit("v1.1.0")
    assert all(cluster.running(host, target) == [] for host in cluster.hosts)


def test_a_reused_colour_whose_image_differs_is_not_reused(cluster):
    cluster.reset("v1.1.0")
    away = cluster.switch("rollback.yml", {"tag": "v1.0.0"})
    assert away.returncode == 0, out(away)[-4000:]
    idle = "green" if cluster.nginx_colour() == "blue" else "blue"  # the colour still running v1.1.0
    app1 = cluster.hosts[0]
    # on app1, the idle colour is recreated from an impostor image named as v1.1.0's
    app1.copy(cluster.demo.root / "releases" / "v1.2.0" / "image.tar", "/tmp/impostor.tar")
    app1.docker("load", "--input", "/tmp/impostor.tar")
    app1.docker("tag", cluster.image_id("v1.2.0"), "maestro-demo/web:v1.1.0")
    cached = f"/var/lib/maestro/deploy/releases/{ENVIRONMENT}/v1.1.0/compose.yaml"
    app1.exec("sh", "-c", f"cd /var/lib/maestro/deploy/releases/{ENVIRONMENT}/v1.1.0 && TAG=v1.1.0 PORT={app1.inner_ports[idle]} BIND_ADDRESS=0.0.0.0 "
                          f"docker compose -p {ENVIRONMENT}-{idle} -f {cached} up -d --pull never")
    assert cluster.running(app1, idle) != [cluster.image_id("v1.1.0")]
    back = cluster.switch("rollback.yml", {"tag": "v1.1.0"})
    text = out(back)
    assert back.returncode == 0, text[-4000:]
    reused = text.split("reused as it runs, not started again, on ")[1].split()[0:2]
    assert app1.name not in " ".join(reused) and cluster.hosts[1].name in " ".join(reused)
    assert cluster.live_on_every_host("v1.1.0", idle) and cluster.served() == cluster.commit("v1.1.0")


def test_an_include_that_lies_about_the_live_colour_is_refused_naming_both(cluster):
    """The include's header names the other colour while nginx runs (and the include lists) the live one's servers."""
    live = cluster.reset("v1.1.0")
    other = "green" if live == "blue" else "blue"
    include = cluster.nginx.include
    original = include.read_text()
    include.write_text(original.replace(f"colour={live}", f"colour={other}"))
    try:
        done = cluster.switch("rollback.yml", {"tag": "v1.0.0"})
    finally:
        include.write_text(original)
    text = out(done)
    assert done.returncode != 0
    assert f"proxy lb-nginx: nginx include {include} says {other} but lists {live}'s servers" in text
    assert "refusing to switch until it is put right" in text
    assert cluster.served() == cluster.commit("v1.1.0")


def test_a_switch_killed_between_writing_the_include_and_the_reload_is_repaired(cluster):
    live = cluster.reset("v1.1.0")
    other = "green" if live == "blue" else "blue"
    include = cluster.nginx.include
    # what proxy_flip writes for the other colour, then the run dies before `nginx -s reload`
    time.sleep(0.1)
    include.write_text(f"# maestro.conductor proxy_flip: colour={other} tag=v1.0.0\nupstream {cluster.nginx.upstream} {{\n"
                       + "".join(f"    server {host.endpoint(other)};\n" for host in cluster.hosts) + "    keepalive 16;\n}\n")
    assert cluster.served() == cluster.commit("v1.1.0")
    done = cluster.switch("rollback.yml", {"tag": "v1.0.0"})
    text = out(done)
    assert done.returncode == 0, text[-4000:]
    assert "Repair and flip each proxy" in text and f"lb-nginx -> {live}" in text
    assert cluster.served() == cluster.commit("v1.0.0")


def test_proxies_that_disagree_are_refused_then_two_flip_in_turn(cluster):
    cluster.reset("v1.1.0")
    # HAProxy sends traffic to the other colour than nginx does: a switch stopped between them
    other = "green" if cluster.nginx_colour() == "blue" else "blue"
    proxy = HAProxy(str(cluster.haproxy.socket), cluster.haproxy.backend)
    proxy.set_states({name: "ready" if name.startswith(other) else "maint" for name in proxy.states()})
    refused = cluster.switch("rollback.yml", {"tag": "v1.0.0"}, proxies=("lb-nginx", "lb-haproxy"))
    assert refused.returncode != 0 and "the proxies do not send traffic to the same colour: lb-nginx to " in out(refused)
    cluster.align_haproxy()
    both = cluster.switch("rollback.yml", {"tag": "v1.0.0"}, proxies=("lb-nginx", "lb-haproxy"))
    text = out(both)
    assert both.returncode == 0, text[-4000:]
    assert "confirmed through lb-nginx (nginx):" in text and "lb-haproxy (haproxy):" in text
    assert cluster.served("lb-nginx") == cluster.served("lb-haproxy") == cluster.commit("v1.0.0")
    # and behind HAProxy alone
    alone = cluster.switch("rollback.yml", {"tag": "v1.1.0"}, proxies=("lb-haproxy",))
    assert alone.returncode == 0, out(alone)[-4000:]
    assert cluster.served("lb-haproxy") == cluster.commit("v1.1.0")


def test_the_second_proxys_failed_confirmation_flips_the_first_back(cluster):
    cluster.reset("v1.1.0")
    cluster.align_haproxy()
    assert cluster.served("lb-nginx") == cluster.served("lb-haproxy") == cluster.commit("v1.1.0")
    # HAProxy's confirmation URL answers the live commit whatever HAProxy does: its confirmation of v1.0.0 fails
    stuck = Backend("v1.1.0", cluster.commit("v1.1.0"))
    try:
        done = cluster.switch("rollback.yml", {"tag": "v1.0.0", "release_switch_confirm_timeout": 3}, proxies=("lb-nginx", "lb-haproxy"),
                              **{"lb-haproxy": {"maestro_proxy_url": f"http://{stuck.address}"}})
    finally:
        stuck.stop()
    text = out(done)
    assert done.returncode != 0
    assert "flip to" in text and "not confirmed" in text and "servers put back as they were" in text
    assert "Traffic was flipped back to" in text and "on lb-nginx" in text
    assert cluster.served("lb-nginx") == cluster.served("lb-haproxy") == cluster.commit("v1.1.0")


def test_batches_stop_at_the_first_red_one_and_nothing_moves(cluster):
    """One host a batch: app2 cannot run the colour, so app3 is never touched, app1's colour is stopped again."""
    live = cluster.reset("v1.1.0")
    target = "green" if live == "blue" else "blue"
    app2 = cluster.hosts[1]
    for host in cluster.hosts:
        host.docker("compose", "-p", f"{ENVIRONMENT}-{target}", "down", "--timeout", "0")
    port = str(app2.inner_ports[target])
    app2.exec("iptables", "-I", "INPUT", "-i", "lo", "-p", "tcp", "--dport", port, "-j", "DROP")
    try:
        done = cluster.switch("rollback.yml", {"tag": "v1.0.0", "release_switch_batch": 1, "release_switch_deploy_timeout": 6})
    finally:
        app2.exec("iptables", "-D", "INPUT", "-i", "lo", "-p", "tcp", "--dport", port, "-j", "DROP")
    text = out(done)
    assert done.returncode != 0
    assert f"{app2.name}: v1.0.0 on {ENVIRONMENT}-{target} failed at probe" in text
    assert f"{cluster.hosts[2].name}: never reported (not reached, or a batch before it failed)" in text
    assert f"The colour this run started was stopped on {cluster.hosts[0].name}" in text
    assert cluster.served() == cluster.commit("v1.1.0") and all(cluster.running(host, target) == [] for host in cluster.hosts)
    # in batches of one, with every host green, the switch goes through as at once
    green = cluster.switch("rollback.yml", {"tag": "v1.0.0", "release_switch_batch": "34%"})
    assert green.returncode == 0, out(green)[-4000:]
    assert cluster.served() == cluster.commit("v1.0.0") and cluster.live_on_every_host("v1.0.0", target)
