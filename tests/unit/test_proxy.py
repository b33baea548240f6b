"""proxy_flip against a real nginx and a real HAProxy on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _http, _lock, _proxy
from ansible_collections.maestro.conductor.plugins.module_utils._haproxy import HAProxy
from ansible_collections.maestro.conductor.plugins.module_utils._nginx import Nginx, flip_nginx
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import proxy_flip
from tests.servers import Backend, HAProxyServer, NginxServer
from tests.unit.test_modules import run

BLUE_COMMIT, GREEN_COMMIT = "1" * 40, "2" * 40


@pytest.fixture
def backends():
    blue, green = Backend("v1.0.0", BLUE_COMMIT), Backend("v1.1.0", GREEN_COMMIT)
    yield {"blue": blue, "green": green}
    blue.stop()
    green.stop()


@pytest.fixture
def nginx(tmp_path, backends):
    server = NginxServer(tmp_path / "nginx", "maestro_test", backends["blue"].address)
    yield server
    server.stop()


@pytest.fixture
def haproxy(tmp_path, backends):
    server = HAProxyServer(tmp_path, "be_test", backends["blue"].address, backends["green"].address)
    yield server
    server.stop()


def served(url: str) -> str:
    return _http.get(url + "/version").commit()


def nginx_args(nginx, backends, colour="green", **extra):
    return {"proxy": "nginx", "colour": colour, "tag": "v1.1.0", "servers": [backends[colour].address],
            "nginx_include": str(nginx.include), "nginx_upstream": nginx.upstream, "nginx_config": str(nginx.config),
            "nginx_binary": nginx.binary, "confirm_url": nginx.url + "/version",
            "expected_commit": BLUE_COMMIT if colour == "blue" else GREEN_COMMIT, "confirm_timeout": 5, **extra}


def test_nginx_flip_is_confirmed_and_a_second_flip_changes_nothing(nginx, backends, monkeypatch):
    assert served(nginx.url) == BLUE_COMMIT
    out = run(proxy_flip, nginx_args(nginx, backends, _ansible_diff=True), monkeypatch)
    assert not out.failed and out.result["changed"] and out.result["confirmed"], out.result
    assert "server " + backends["green"].address in out.result["diff"]["after"]
    assert served(nginx.url) == GREEN_COMMIT
    again = run(proxy_flip, nginx_args(nginx, backends), monkeypatch)
    assert again.result["changed"] is False and again.result["confirmed"] and again.result["previous_colour"] == "green"


def test_nginx_check_mode_shows_the_change_and_leaves_traffic(nginx, backends, monkeypatch):
    before = nginx.include.read_text()
    out = run(proxy_flip, nginx_args(nginx, backends, _ansible_check_mode=True, _ansible_diff=True), monkeypatch)
    assert out.result["changed"] is True and "colour=green" in out.result["diff"]["after"]
    assert nginx.include.read_text() == before and served(nginx.url) == BLUE_COMMIT


def test_nginx_config_that_fails_nginx_t_puts_the_previous_file_back(nginx, backends):
    before = nginx.include.read_text()
    proxy = Nginx(str(nginx.include), nginx.upstream, str(nginx.config), nginx.binary)
    # an address nginx cannot resolve makes `nginx -t` fail
    with pytest.raises(ConductorError, match="nginx -t rejected the configuration with the green upstream, previous file put back"):
        flip_nginx(proxy, "green", ["no-such-host.invalid:80"], confirm_url=nginx.url + "/version", commit=GREEN_COMMIT)
    assert nginx.include.read_text() == before
    assert served(nginx.url) == BLUE_COMMIT


def test_nginx_flip_to_the_wrong_commit_is_undone(nginx, backends, monkeypatch):
    out = run(proxy_flip, nginx_args(nginx, backends, expected_commit="3" * 40, confirm_timeout=1), monkeypatch)
    assert out.failed and "did not answer commit 3333333333333333333333333333333333333333" in out.result["msg"]
    assert "the previous upstream file put back and traffic with it" in out.result["msg"]
    assert served(nginx.url) == BLUE_COMMIT


@pytest.mark.parametrize("servers", [["127.0.0.1:80; include /etc/passwd"], ["$(reboot):80"], []])
def test_nginx_servers_are_validated_before_anything_is_written(nginx, backends, servers):
    before = nginx.include.read_text()
    proxy = Nginx(str(nginx.include), nginx.upstream, str(nginx.config), nginx.binary)
    with pytest.raises(ConductorError, match="servers .* are invalid"):
        flip_nginx(proxy, "green", servers)
    assert nginx.include.read_text() == before


def haproxy_args(haproxy, colour="green", **extra):
    return {"proxy": "haproxy", "colour": colour, "haproxy_socket": str(haproxy.socket), "haproxy_backend": haproxy.backend,
            "confirm_url": haproxy.url + "/version", "expected_commit": BLUE_COMMIT if colour == "blue" else GREEN_COMMIT,
            "confirm_timeout": 5, **extra}


def test_haproxy_flip_through_the_runtime_api(haproxy, backends, monkeypatch):
    proxy = HAProxy(str(haproxy.socket), haproxy.backend)
    assert proxy.states() == {"blue": "ready", "green": "maint"}
    assert served(haproxy.url) == BLUE_COMMIT
    out = run(proxy_flip, haproxy_args(haproxy, _ansible_diff=True), monkeypatch)
    assert out.result["changed"] and out.result["confirmed"] and out.result["previous_colour"] == "blue"
    assert proxy.states() == {"blue": "maint", "green": "ready"}
    assert {served(haproxy.url) for _request in range(10)} == {GREEN_COMMIT}
    assert run(proxy_flip, haproxy_args(haproxy), monkeypatch).result["changed"] is False
    back = run(proxy_flip, haproxy_args(haproxy, colour="blue"), monkeypatch)
    assert back.result["changed"] and {served(haproxy.url) for _request in range(10)} == {BLUE_COMMIT}


def test_haproxy_unconfirmed_flip_restores_the_server_states(haproxy, backends, monkeypatch):
    out = run(proxy_flip, haproxy_args(haproxy, expected_commit="3" * 40, confirm_timeout=1), monkeypatch)
    assert out.failed and "servers put back as they were" in out.result["msg"]
    assert HAProxy(str(haproxy.socket), haproxy.backend).states() == {"blue": "ready", "green": "maint"}


def test_haproxy_check_mode_and_unknown_backend(haproxy, backends, monkeypatch):
    out = run(proxy_flip, haproxy_args(haproxy, _ansible_check_mode=True, _ansible_diff=True), monkeypatch)
    assert out.result["changed"] and out.result["diff"]["after"] == "blue maint\ngreen ready\n"
    assert HAProxy(str(haproxy.socket), haproxy.backend).states()["green"] == "maint"
    missing = run(proxy_flip, haproxy_args(haproxy, haproxy_backend="be_nope"), monkeypatch)
    assert missing.failed and "be_nope" in missing.result["msg"]


def test_haproxy_socket_that_does_not_answer(tmp_path, monkeypatch):
    out = run(proxy_flip, {"proxy": "haproxy", "colour": "green", "haproxy_socket": str(tmp_path / "none.sock"),
                           "haproxy_backend": "be"}, monkeypatch)
    assert out.failed and "runtime API at" in out.result["msg"] and "did not answer" in out.result["msg"]


def test_version_answers_are_parsed_strictly():
    assert _http.Answer(200, json.dumps({"commit": BLUE_COMMIT})).commit() == BLUE_COMMIT
    assert _http.Answer(200, BLUE_COMMIT + "\n").commit() == BLUE_COMMIT
    assert _http.Answer(200, "{not json").commit() == ""
    assert _http.Answer(200, "[1, 2]").commit() == ""  # not a commit: a proxy's page or a list says nothing
    assert _http.Answer(200, "<html>502 Bad Gateway</html>").commit() == ""


def read_args(nginx, **extra):
    return {"proxy": "nginx", "nginx_include": str(nginx.include), "nginx_upstream": nginx.upstream, "nginx_config": str(nginx.config),
            "nginx_binary": nginx.binary, **extra}


def test_without_a_colour_the_module_only_reports(nginx, haproxy, backends, monkeypatch):
    before = nginx.include.read_text()
    out = run(proxy_flip, read_args(nginx), monkeypatch)
    # the fixture's include was not written by proxy_flip and no colour's servers are given: no colour is known
    assert (out.result["changed"], out.result["live_colour"], out.result["idle_colour"]) == (False, "", "blue")
    assert out.result["observation"]["config_loaded"] is True
    assert nginx.include.read_text() == before
    run(proxy_flip, nginx_args(nginx, backends), monkeypatch)
    out = run(proxy_flip, read_args(nginx), monkeypatch)
    assert (out.result["live_colour"], out.result["idle_colour"]) == ("green", "blue")
    out = run(proxy_flip, {"proxy": "haproxy", "haproxy_socket": str(haproxy.socket), "haproxy_backend": haproxy.backend}, monkeypatch)
    assert (out.result["changed"], out.result["live_colour"], out.result["idle_colour"]) == (False, "blue", "green")
    assert out.result["observation"]["config_servers"] == {"blue": [backends["blue"].address], "green": [backends["green"].address]}


def test_without_a_colour_and_with_a_confirm_url_the_module_reports_what_serves(nginx, backends, monkeypatch):
    out = run(proxy_flip, read_args(nginx, confirm_url=nginx.url + "/version"), monkeypatch)
    assert (out.result["serving_status"], out.result["serving_commit"], out.result["serving_tag"]) == (200, BLUE_COMMIT, "v1.0.0")
    backends["blue"].stop()
    out = run(proxy_flip, read_args(nginx, confirm_url=nginx.url + "/version"), monkeypatch)
    assert not out.failed and out.result["serving_status"] == 502 and out.result["serving_commit"] == ""


def test_without_a_colour_the_module_reports_what_each_colour_answers(nginx, backends, monkeypatch):
    colour_servers = {colour: [backend.address] for colour, backend in backends.items()}
    out = run(proxy_flip, read_args(nginx, colour_servers=colour_servers, version_path="/version"), monkeypatch)
    # the hand-written include lists blue's server: it is read as blue
    assert out.result["live_colour"] == "blue" and out.result["observation"]["config_colour"] == "blue"
    answers = out.result["observation"]["colour_answers"]
    assert [(a["status"], a["commit"], a["tag"]) for a in answers["blue"]] == [(200, BLUE_COMMIT, "v1.0.0")]
    assert [(a["status"], a["commit"]) for a in answers["green"]] == [(200, GREEN_COMMIT)]
    backends["green"].stop()
    out = run(proxy_flip, read_args(nginx, colour_servers=colour_servers, version_path="/version"), monkeypatch)
    assert [(a["status"], a["commit"]) for a in out.result["observation"]["colour_answers"]["green"]] == [(0, "")]


def test_an_include_whose_header_names_the_other_colours_servers_is_a_contradiction(nginx, backends, monkeypatch):
    nginx.include.write_text(Nginx(str(nginx.include), nginx.upstream, str(nginx.config)).render("green", [backends["blue"].address], "v1"))
    colour_servers = {colour: [backend.address] for colour, backend in backends.items()}
    out = run(proxy_flip, read_args(nginx, colour_servers=colour_servers), monkeypatch)
    assert out.result["live_colour"] == "" and out.result["observation"]["config_problem"] == (
        f"nginx include {nginx.include} says green but lists blue's servers ({backends['blue'].address})")


def test_an_include_written_but_never_loaded_is_seen_and_reloaded_by_the_next_flip(nginx, backends, monkeypatch):
    """A run that dies between writing the include and reloading nginx: the file says green, nginx still runs blue."""
    proxy = Nginx(str(nginx.include), nginx.upstream, str(nginx.config), nginx.binary)
    time.sleep(0.05)
    nginx.include.write_text(proxy.render("green", [backends["green"].address], "v1.1.0"))
    out = run(proxy_flip, read_args(nginx, confirm_url=nginx.url + "/version"), monkeypatch)
    assert out.result["observation"]["config_colour"] == "green" and out.result["observation"]["config_loaded"] is False
    assert out.result["serving_commit"] == BLUE_COMMIT
    again = run(proxy_flip, nginx_args(nginx, backends), monkeypatch)
    assert not again.failed and again.result["changed"] and again.result["confirmed"]
    assert served(nginx.url) == GREEN_COMMIT
    out = run(proxy_flip, read_args(nginx), monkeypatch)
    assert out.result["observation"]["config_loaded"] is True


def test_nginx_upstream_of_a_fleet_lists_every_host(nginx, monkeypatch):
    hosts = [Backend("v1.1.0", GREEN_COMMIT) for _host in range(3)]
    try:
        servers = [host.address for host in hosts]
        out = run(proxy_flip, {**read_args(nginx), "colour": "green", "servers": servers, "confirm_url": nginx.url + "/version",
                               "expected_commit": GREEN_COMMIT, "health_path": "/healthz", "version_path": "/version"}, monkeypatch)
        assert not out.failed and out.result["confirmed"] and len(out.result["preflight"]) == 6
        assert [line.strip() for line in nginx.include.read_text().splitlines() if "server " in line] == [f"server {s};" for s in servers]
    finally:
        for host in hosts:
            host.stop()


@pytest.fixture
def fleet(tmp_path):
    """HAProxy before three app hosts of each colour (servers blue-app1 ... green-app3), blue ready."""
    hosts = {colour: [Backend("v1.0.0" if colour == "blue" else "v1.1.0", BLUE_COMMIT if colour == "blue" else GREEN_COMMIT)
                      for _host in range(3)] for colour in ("blue", "green")}
    servers = [(f"{colour}-app{n + 1}", backend.address, colour == "blue") for colour, backends in hosts.items()
               for n, backend in enumerate(backends)]
    server = HAProxyServer(tmp_path, "be_fleet", servers=servers)
    server.hosts = hosts
    yield server
    server.stop()
    for backends in hosts.values():
        for backend in backends:
            backend.stop()


def test_haproxy_fleet_flips_every_server_of_the_colour(fleet, monkeypatch):
    proxy = HAProxy(str(fleet.socket), fleet.backend)
    observation = proxy.observe()
    assert observation.config_colour == "blue" and observation.config_problem == ""
    green = sorted(backend.address for backend in fleet.hosts["green"])
    out = run(proxy_flip, haproxy_args(fleet, servers=green, health_path="/healthz", version_path="/version"), monkeypatch)
    assert not out.failed and out.result["changed"] and out.result["previous_colour"] == "blue", out.result
    assert proxy.states() == {**{f"blue-app{n}": "maint" for n in (1, 2, 3)}, **{f"green-app{n}": "ready" for n in (1, 2, 3)}}
    assert {served(fleet.url) for _request in range(12)} == {GREEN_COMMIT}


def test_haproxy_servers_that_do_not_match_the_inventory_are_refused(fleet, monkeypatch):
    proxy = HAProxy(str(fleet.socket), fleet.backend)
    before = proxy.states()
    out = run(proxy_flip, haproxy_args(fleet, servers=["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]), monkeypatch)
    assert out.failed and "green servers are" in out.result["msg"] and "does not match the inventory" in out.result["msg"]
    assert proxy.states() == before


def test_haproxy_with_servers_of_both_colours_ready_is_a_contradiction(fleet):
    proxy = HAProxy(str(fleet.socket), fleet.backend)
    proxy.set_states({"green-app2": "ready"})
    observation = proxy.observe()
    assert observation.config_colour == "" and "more than one colour" in observation.config_problem
    assert "green-app2 ready" in observation.config_problem


def test_preflight_refuses_a_server_reporting_another_commit_and_moves_nothing(nginx, backends, monkeypatch):
    before = nginx.include.read_text()
    green = f"http://{backends['green'].address}"
    out = run(proxy_flip, nginx_args(nginx, backends, health_urls=[green + "/healthz"], version_urls=[green + "/version"],
                                     expected_commit="3" * 40), monkeypatch)
    assert out.failed and out.result["msg"] == f"preflight: {green}/version reports commit {GREEN_COMMIT}, expected {'3' * 40}"
    assert nginx.include.read_text() == before and served(nginx.url) == BLUE_COMMIT


def test_preflight_waits_for_a_server_that_does_not_answer_then_fails(nginx, backends, monkeypatch):
    before = nginx.include.read_text()
    green = f"http://{backends['green'].address}"
    backends["green"].stop()
    out = run(proxy_flip, nginx_args(nginx, backends, health_urls=[green + "/healthz"], confirm_timeout=1), monkeypatch)
    assert out.failed and out.result["msg"].startswith(f"preflight: {green}/healthz did not answer 200 within 1.")
    assert nginx.include.read_text() == before and served(nginx.url) == BLUE_COMMIT


def test_preflight_that_passes_is_reported_with_the_flip(haproxy, backends, monkeypatch):
    green = f"http://{backends['green'].address}"
    out = run(proxy_flip, haproxy_args(haproxy, health_urls=[green + "/healthz"], version_urls=[green + "/version"]), monkeypatch)
    assert not out.failed and out.result["changed"] and out.result["confirmed"], out.result
    first, second = out.result["preflight"]
    assert first.startswith(f"{green}/healthz answered 200 after 1 attempts")
    assert second.startswith(f"{green}/version answered commit {GREEN_COMMIT} after 1 attempts")


def test_an_include_that_routes_to_a_server_of_no_colour_is_seen(nginx, backends, monkeypatch):
    impostor = Backend("v1.0.0", BLUE_COMMIT)
    try:
        proxy = Nginx(str(nginx.include), nginx.upstream, str(nginx.config), nginx.binary)
        flip_nginx(proxy, "blue", [backends["blue"].address, impostor.address], tag="v1.0.0")
        colour_servers = {colour: [backend.address] for colour, backend in backends.items()}
        seen = run(proxy_flip, read_args(nginx, colour_servers=colour_servers), monkeypatch).result["observation"]
        assert seen["config_colour"] == "blue" and seen["config_exact"] is False and seen["config_unknown"] == [impostor.address]
    finally:
        impostor.stop()


def test_endpoints_named_by_host_name_match_the_addresses_a_proxy_reports(fleet, monkeypatch):
    by_name = {colour: [backend.address.replace("127.0.0.1", "localhost") for backend in backends] for colour, backends in fleet.hosts.items()}
    seen = HAProxy(str(fleet.socket), fleet.backend).observe(by_name)
    assert seen.config_colour == "blue" and seen.config_exact is True and seen.config_unknown == []
    out = run(proxy_flip, haproxy_args(fleet, servers=by_name["green"]), monkeypatch)
    assert not out.failed and out.result["changed"], out.result


def test_the_loaded_record_survives_a_worker_that_restarts(nginx, backends, monkeypatch):
    """A run that dies between writing the include and reloading: even when a worker is respawned afterwards (with the
    old configuration), the include is still known as never loaded."""
    proxy = Nginx(str(nginx.include), nginx.upstream, str(nginx.config), nginx.binary)
    flip_nginx(proxy, "blue", [backends["blue"].address], tag="v1.0.0")
    assert proxy.loaded(proxy.current()[0]) is True
    nginx.include.write_text(proxy.render("green", [backends["green"].address], "v1.1.0"))
    master = int((nginx.root / "nginx.pid").read_text())
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        try:
            if int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == master:
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
    time.sleep(0.5)  # the master starts a new worker, with the configuration it had
    assert proxy.loaded(proxy.current()[0]) is False and served(nginx.url) == BLUE_COMMIT


# --- every value rendered into a proxy's configuration is checked; a run that lost the lock changes nothing -----------

INJECTED_TAG = "v1.1.0\n}\nserver { listen 127.0.0.1:1; }\nupstream x {"


def test_a_tag_with_a_newline_and_braces_never_reaches_the_include(nginx, backends, monkeypatch):
    before = nginx.include.read_text()
    proxy = Nginx(str(nginx.include), nginx.upstream, str(nginx.config), nginx.binary)
    with pytest.raises(ConductorError, match="tag name .* is invalid"):
        proxy.render("green", [backends["green"].address], INJECTED_TAG)
    out = run(proxy_flip, nginx_args(nginx, backends, tag=INJECTED_TAG), monkeypatch)
    assert out.failed and out.result["msg"].startswith("tag name 'v1.1.0\\n}")
    assert nginx.include.read_text() == before and served(nginx.url) == BLUE_COMMIT


@pytest.mark.parametrize("colour, upstream, servers, message", [
    ("green\n}", "maestro_test", ["127.0.0.1:80"], "colour 'green\\n}' is invalid"),
    ("green", "up; include /etc/passwd", ["127.0.0.1:80"], "upstream name 'up; include /etc/passwd' is invalid"),
    ("green", "maestro_test", ["127.0.0.1:80 backup"], "'127.0.0.1:80 backup': expected a port 1-65535"),
])
def test_render_checks_every_value_it_writes(nginx, colour, upstream, servers, message):
    with pytest.raises(ConductorError, match=re.escape(message)):
        Nginx(str(nginx.include), upstream, str(nginx.config), nginx.binary).render(colour, servers, "v1.0.0")


@pytest.mark.parametrize("server", ["127.0.0.1:80", "app-1.example.com:18082", "app_1:8080", "[::1]:8080", "[2001:db8::1]:443",
                                    "unix:/run/app.sock", "localhost:65535"])
def test_addresses_a_proxy_may_be_given(server):
    assert _proxy.validate_servers([server]) == [server]


@pytest.mark.parametrize("server, problem", [
    ("127.0.0.1:99999", "port 1-65535"), ("127.0.0.1:0", "port 1-65535"), ("127.0.0.1", "port 1-65535"),
    ("-app:80", "host name"), ("app..example:80", "host name"), ("[not-v6]:80", "IPv6"), ("[127.0.0.1]:80", "IPv6"),
    ("app:80\n", "port 1-65535"), ("app{:80", "host name"), ("unix:/run/../etc/x", "unix:/absolute/path"),
    ("unix:/run/app.sock;", "unix:/absolute/path"), ("app:８0", "port 1-65535"),
])
def test_addresses_that_are_refused_before_anything_is_rendered(server, problem):
    with pytest.raises(ConductorError, match=f"servers .* are invalid: .*{problem}"):
        _proxy.validate_servers([server])


@pytest.mark.parametrize("option", ["health_path", "version_path"])
@pytest.mark.parametrize("path", ["/healthz\nHost: evil", "healthz", "/a b", "/version?x=1", "/v#frag"])
def test_paths_asked_on_the_servers_are_url_paths(nginx, backends, monkeypatch, option, path):
    before = nginx.include.read_text()
    out = run(proxy_flip, nginx_args(nginx, backends, **{option: path}), monkeypatch)
    assert out.failed and out.result["msg"].startswith(f"{option} {path!r} is invalid: expected a URL path")
    assert nginx.include.read_text() == before


def test_haproxy_runtime_api_commands_are_one_command(tmp_path):
    proxy = HAProxy(str(tmp_path / "none.sock"), "be")
    for line in ("show servers state be; shutdown sessions server be/blue", "show servers state be\ndisable frontend fe"):
        with pytest.raises(ConductorError, match="HAProxy runtime API command .* is invalid: expected printable ASCII without ';'"):
            proxy.command(line)


def _lost_lock(tmp_path) -> dict:
    """A lock this run took (generation 1) and lost: its lease ended on another controller, and another run took it."""
    path = str(tmp_path / "env.lock")
    _lock.acquire(path, "slow-run", ttl=900, lease=1, owner=_lock.Owner(host="ctl-2", pid=7, started=1, space="x"))
    time.sleep(1.1)
    _lock.acquire(path, "next-run", ttl=900)
    return {"path": path, "holder": "slow-run", "generation": 1}


def test_an_nginx_flip_of_a_run_that_lost_the_lock_changes_nothing(nginx, backends, tmp_path, monkeypatch):
    before = nginx.include.read_text()
    fence = _lost_lock(tmp_path)
    out = run(proxy_flip, nginx_args(nginx, backends, fence=fence), monkeypatch)
    assert out.failed and out.result["lost"] is True
    assert "no longer held by this run (slow-run, generation 1): it is held by next-run" in out.result["msg"]
    assert "stopped before changing proxy nginx" in out.result["msg"]
    assert nginx.include.read_text() == before and served(nginx.url) == BLUE_COMMIT
    held = _lock.read_lock(fence["path"])
    ours = run(proxy_flip, nginx_args(nginx, backends, fence={**fence, "holder": "next-run", "generation": 2}), monkeypatch)
    assert ours.result["changed"] and served(nginx.url) == GREEN_COMMIT
    assert _lock.read_lock(fence["path"]).renewed > held.renewed  # the fenced write renewed the lock


def test_a_haproxy_flip_of_a_run_that_lost_the_lock_changes_nothing(haproxy, backends, tmp_path, monkeypatch):
    out = run(proxy_flip, haproxy_args(haproxy, fence=_lost_lock(tmp_path)), monkeypatch)
    assert out.failed and out.result["lost"] is True and "slow-run" in out.result["msg"]
    assert HAProxy(str(haproxy.socket), haproxy.backend).states() == {"blue": "ready", "green": "maint"}
    assert served(haproxy.url) == BLUE_COMMIT
