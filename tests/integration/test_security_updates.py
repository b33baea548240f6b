"""make security-updates on a fleet, for real: three app hosts (containers with their own docker engine and sshd, reached over
SSH) behind a real nginx and a real HAProxy; a local apt file repository (bookworm-security) holding an updated package
whose maintainer script flags a reboot, as kernel and libc updates do. Each host's reboot is its container's: PID 1 ends, every
process with it, /run is emptied, the engine and the release's containers start again from disk (docker's restart policy).

What a user checks: the update is installed everywhere, each host rebooted and runs exactly the verified release again (its
image id), traffic never stopped nor served anything else, and a host that cannot be proven after its update stays out of
rotation, named, while the others serve.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _http
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._haproxy import HAProxy
from tests.apt_repo import deb, repository
from tests.integration import fleet
from tests.integration.demo_env import Env, keep_releases, out, seed
from tests.integration.test_fleet import ENVIRONMENT, Fleet

PACKAGE = "maestro-demo-lib"
# the hosts publish sshd and their colour ports on fixed ports (a reboot keeps them): this module's own range
PORTS_FROM = 19600
APT = "/srv/maestro-apt"
PROXIES = ("lb-nginx", "lb-haproxy")


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    root = tmp_path_factory.mktemp("security")
    demo = Env(root / "demo", ENVIRONMENT)
    seed(demo)
    made = demo.playbook("demo/make_releases.yml")
    assert made.returncode == 0, out(made)[-3000:]
    keep_releases(demo)
    key = fleet.make_key(root)
    hosts = fleet.start_app_hosts("maestro-sec", 3, key, ports_from=PORTS_FROM, restart="always")
    found = Fleet(root, hosts, key, demo)
    try:
        source = repository(root / "apt", "bookworm-security", [(PACKAGE, "1.1")], uri_root=APT,
                            postinst="touch /run/reboot-required\necho maestro-demo-lib >>/run/reboot-required.pkgs")
        installed = deb(root / "base", PACKAGE, "1.0")
        for host in hosts:
            host.copy(root / "apt", APT)
            host.copy(installed, "/tmp/installed.deb")
            host.exec("dpkg", "-i", "/tmp/installed.deb")
        (root / "metrics").mkdir()
        found.extra = {
            "maestro_security_sources": [source],
            # a container's reboot: PID 1 (tini) ends a second after the command returned, asked by a shell in a session of
            # its own that ignores SIGHUP from the start: Ansible runs this command on a terminal, whose end hangs up on the
            # child `setsid -f` forks if it has not yet left the session (under load it had not: the host was never asked,
            # and the reboot timed out); docker starts the container again. /var/log/reboots says when each host was asked
            "maestro_reboot_command": "/usr/bin/nohup /usr/bin/setsid -f /bin/sh -c "
                                      "'sleep 1; echo \"$(date +%T) TERM to PID 1\" >>/var/log/reboots; kill -TERM 1' >/dev/null 2>&1",
            # the kernel's boot id does not change with a container: PID 1's start time does
            "maestro_reboot_boot_time_command": "cut -d' ' -f22 /proc/1/stat",
            "maintenance_reboot_timeout": 120,
            "maestro_metrics_textfile_dir": str(root / "metrics"),
            "maestro_reports_dir": str(root / "reports"),
        }
        deployed = found.switch("deploy.yml", {"tag": "v1.1.0"}, proxies=PROXIES)
        assert deployed.returncode == 0, out(deployed)[-4000:]
        yield found
    finally:
        found.nginx.stop()
        found.haproxy.stop()
        fleet.stop_app_hosts(hosts)


def run(estate, *args: str, **extra):
    return estate.switch("security_updates.yml", {**estate.extra, **extra}, proxies=PROXIES, args=args)


def version(host: fleet.AppHost) -> str:
    return host.exec("dpkg-query", "-W", "-f", "${Version}", PACKAGE).stdout.strip()


def booted(host: fleet.AppHost) -> str:
    return fleet._run("docker", "inspect", "--format", "{{.State.StartedAt}}", host.name).stdout.strip()


def hosts_state(estate) -> str:
    """What docker says of each host (for a failure's message: whether a reboot happened, and how the host ended)."""
    listing = "{{.Name}} {{.State.Status}} started {{.State.StartedAt}} restarts {{.RestartCount}} exit {{.State.ExitCode}}"
    state = fleet._run("docker", "inspect", "--format", listing, *(host.name for host in estate.hosts), check=False)
    asked = {host.name: host.exec("cat", "/var/log/reboots", check=False).stdout for host in estate.hosts}
    return f"\n--- hosts ---\n{state.stdout}{state.stderr}--- reboots asked ---\n{asked}"


def nginx_servers(estate) -> list[str]:
    return [line.split()[1].rstrip(";") for line in estate.nginx.include.read_text().splitlines() if line.strip().startswith("server ")]


class Load:
    """Requests through both proxies, a new connection each, from the start of a run to its end: what users saw."""

    def __init__(self, urls: list[str]):
        self.urls, self.seen, self.stop = urls, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            for url in self.urls:
                try:
                    answer = _http.get(url + "/version", timeout=5)
                    self.seen.append((url, answer.status, answer.commit() if answer.status == 200 else ""))
                except ConductorError as exc:
                    self.seen.append((url, 0, str(exc)))
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def test_check_mode_says_what_would_be_applied_and_changes_nothing(estate):
    before = {host.name: booted(host) for host in estate.hosts}
    include, ledger = estate.nginx.include.read_text(), len(estate.ledger())
    done = run(estate, "--check", "--diff")
    text = out(done)
    assert done.returncode == 0, text[-4000:]
    assert f"{PACKAGE} 1.0 -> 1.1" in text
    assert all(version(host) == "1.0" for host in estate.hosts)
    assert {host.name: booted(host) for host in estate.hosts} == before
    assert estate.nginx.include.read_text() == include and len(estate.ledger()) == ledger


def test_every_host_is_updated_rebooted_and_proven_while_the_others_serve(estate):
    live = estate.nginx_colour()
    image = estate.image_id("v1.1.0")
    before = {host.name: booted(host) for host in estate.hosts}
    with Load([estate.nginx.url, estate.haproxy.url]) as load:
        done = run(estate)
    text = out(done)
    assert done.returncode == 0, text[-6000:] + hosts_state(estate)
    assert "GREEN, 3 green, 0 red, 0 not reached" in text
    for host in estate.hosts:
        assert version(host) == "1.1", host.name
        assert booted(host) != before[host.name], f"{host.name} was not rebooted"
        assert host.exec("test", "-e", "/run/reboot-required", check=False).returncode != 0
        assert estate.running(host, live) == [image], host.name
        assert f"{host.name}: green; applied {PACKAGE} 1.0 -> 1.1; rebooted" in text
    # users saw the verified release through both proxies all along: every request answered, none by anything else
    assert len(load.seen) > 50
    assert {(status, commit) for _url, status, commit in load.seen} == {(200, estate.commit("v1.1.0"))}, \
        [seen for seen in load.seen if seen[1] != 200][:5]
    # every host back in rotation on both proxies
    assert sorted(nginx_servers(estate)) == sorted(host.endpoint(live) for host in estate.hosts)
    assert "drained=" not in estate.nginx.include.read_text()
    states = HAProxy(str(estate.haproxy.socket), estate.haproxy.backend).states()
    assert {name: state for name, state in states.items() if name.startswith(live)} == {f"{live}-app{n}": "ready" for n in (1, 2, 3)}
    record = estate.ledger()[-1]
    assert (record["event"], record["tag"], record["verdict"], record["actor"]) == ("validation", "v1.1.0", "green", "security-updates")
    metrics = (estate.root / "metrics" / f"maestro_security_{ENVIRONMENT}.prom").read_text()
    assert f'maestro_security_update_ok{{environment="{ENVIRONMENT}"}} 1' in metrics
    assert f'maestro_security_update_hosts{{environment="{ENVIRONMENT}",state="green"}} 3' in metrics
    reports = sorted((estate.root / "reports" / ENVIRONMENT).glob("security-updates-*.json"))
    assert json.loads(reports[-1].read_text())["ok"] is True


def test_a_host_that_cannot_be_proven_stays_out_of_rotation_and_stops_the_run(estate):
    """app2's cached compose file is changed (a lying config file): after its updates the live release cannot be restarted
    from verified files there, so app2 stays out of rotation, app3 is never taken out, and users are served by the others."""
    live = estate.nginx_colour()
    app1, app2, app3 = estate.hosts
    cached = f"/var/lib/maestro/deploy/releases/{ENVIRONMENT}/v1.1.0/compose.yaml"
    app2.exec("sh", "-c", f"chmod u+w {cached} && sed -i 's/retries: 30/retries: 31/' {cached}")
    before = booted(app1)
    with Load([estate.nginx.url, estate.haproxy.url]) as load:
        done = run(estate)
    text = out(done)
    assert done.returncode != 0
    assert "RED, 1 green, 1 red, 1 not reached" in text, text[-8000:]
    assert f"{app2.name}: stage:" in text and "compose.yaml has sha256" in text and "(left out of rotation)" in text
    assert f"{app3.name}: not_run: not reached" in text
    assert booted(app1) == before  # nothing pending: no reboot
    assert {(status, commit) for _url, status, commit in load.seen} == {(200, estate.commit("v1.1.0"))}
    # app2 out of rotation on both proxies, the others serving
    assert sorted(nginx_servers(estate)) == sorted([app1.endpoint(live), app3.endpoint(live)])
    assert f"drained={app2.endpoint(live)}" in estate.nginx.include.read_text()
    states = HAProxy(str(estate.haproxy.socket), estate.haproxy.backend).states()
    assert (states[f"{live}-app1"], states[f"{live}-app2"], states[f"{live}-app3"]) == ("ready", "maint", "ready")
    record = estate.ledger()[-1]
    assert (record["event"], record["verdict"], record["actor"]) == ("validation", "red", "security-updates")
    assert app2.name in record["detail"]
    # the watch sees the host out of rotation
    watched = estate.switch("daily_verify.yml", {**estate.extra, "maestro_security_updates_check": False}, proxies=PROXIES)
    assert f"keeps {app2.endpoint(live)} out of rotation (drained)" in out(watched)

    # the next run copies the set-aside file afresh, proves app2 and puts it back
    again = run(estate)
    assert again.returncode == 0, out(again)[-4000:]
    assert sorted(nginx_servers(estate)) == sorted(host.endpoint(live) for host in estate.hosts)
    assert HAProxy(str(estate.haproxy.socket), estate.haproxy.backend).states()[f"{live}-app2"] == "ready"
    assert app2.exec("sh", "-c", "ls /var/lib/maestro/deploy/releases/.rejected/*/compose.yaml").returncode == 0
