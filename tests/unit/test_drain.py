"""proxy_drain against a real nginx and a real HAProxy on loopback: app hosts taken out of rotation and put back, the live
colour kept, at least one server always serving, a server put back only when it answers the live commit."""

from __future__ import annotations

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils._haproxy import HAProxy
from ansible_collections.maestro.conductor.plugins.modules import proxy_drain, proxy_flip
from tests.servers import Backend
from tests.unit.test_modules import run
from tests.unit.test_proxy import BLUE_COMMIT, GREEN_COMMIT, read_args, served
# the fixtures this module's tests take
from tests.unit.test_proxy import backends, fleet, nginx  # noqa: F401  # pylint: disable=unused-import


@pytest.fixture
def green_fleet(nginx, monkeypatch):  # noqa: F811 - the fixture imported above
    """nginx sending traffic to three green hosts (flipped there by proxy_flip)."""
    hosts = [Backend("v1.1.0", GREEN_COMMIT) for _host in range(3)]
    servers = [host.address for host in hosts]
    out = run(proxy_flip, {**read_args(nginx), "colour": "green", "tag": "v1.1.0", "servers": servers}, monkeypatch)
    assert not out.failed, out.result
    nginx.hosts, nginx.servers = hosts, servers
    yield nginx
    for host in hosts:
        host.stop()


def nginx_drain(nginx, state, servers, **extra):  # noqa: F811
    return {"state": state, "servers": servers, "colour": "green", "colour_servers": nginx.servers, "proxy": "nginx",
            "nginx_include": str(nginx.include), "nginx_upstream": nginx.upstream, "nginx_config": str(nginx.config),
            "nginx_binary": nginx.binary, "confirm_url": nginx.url + "/version", "expected_commit": GREEN_COMMIT,
            "confirm_timeout": 5, "drain_timeout": 5, **extra}


def listed(nginx) -> list[str]:  # noqa: F811
    return [line.split()[1].rstrip(";") for line in nginx.include.read_text().splitlines() if line.strip().startswith("server ")]


def answering(url: str, hosts: list[Backend], requests: int = 30) -> set[str]:
    """Which hosts answered ``requests`` requests through the proxy (each host counts the requests it saw)."""
    seen = {host.address: 0 for host in hosts}
    originals = {host.address: host.server.RequestHandlerClass.do_GET for host in hosts}
    for host in hosts:
        def counted(self, address=host.address):
            seen[address] += 1
            return originals[address](self)
        host.server.RequestHandlerClass.do_GET = counted
    try:
        for _request in range(requests):
            served(url)
    finally:
        for host in hosts:
            host.server.RequestHandlerClass.do_GET = originals[host.address]
    return {address for address, count in seen.items() if count}


def test_nginx_drain_takes_a_host_out_and_puts_it_back_proven(green_fleet, monkeypatch):
    first, second, third = green_fleet.servers
    before = green_fleet.include.read_text()
    dry = run(proxy_drain, nginx_drain(green_fleet, "drained", [second], _ansible_check_mode=True, _ansible_diff=True), monkeypatch)
    assert dry.result["changed"] and f"drained={second}" in dry.result["diff"]["after"] and green_fleet.include.read_text() == before
    out = run(proxy_drain, nginx_drain(green_fleet, "drained", [second]), monkeypatch)
    assert not out.failed and out.result["changed"] and out.result["confirmed"], out.result
    assert out.result["drained"] == [second] and out.result["serving"] == [first, third]
    assert listed(green_fleet) == [first, third] and f"colour=green tag=v1.1.0 drained={second}" in green_fleet.include.read_text()
    assert answering(green_fleet.url, green_fleet.hosts) == {first, third}
    again = run(proxy_drain, nginx_drain(green_fleet, "drained", [second]), monkeypatch)
    assert not again.failed and again.result["changed"] is False
    back = run(proxy_drain, nginx_drain(green_fleet, "serving", [second], health_path="/healthz", version_path="/version"), monkeypatch)
    assert not back.failed and back.result["changed"] and len(back.result["preflight"]) == 2, back.result
    assert listed(green_fleet) == green_fleet.servers and "drained=" not in green_fleet.include.read_text()


def test_nginx_never_drains_the_last_server_nor_puts_back_one_of_another_commit(green_fleet, monkeypatch):
    first, second, third = green_fleet.servers
    assert not run(proxy_drain, nginx_drain(green_fleet, "drained", [first, second]), monkeypatch).failed
    before = green_fleet.include.read_text()
    out = run(proxy_drain, nginx_drain(green_fleet, "drained", [third]), monkeypatch)
    assert out.failed and "would leave nginx upstream" in out.result["msg"] and green_fleet.include.read_text() == before
    green_fleet.hosts[0].commit = "3" * 40  # the host put back reports some other commit
    out = run(proxy_drain, nginx_drain(green_fleet, "serving", [first], version_path="/version", confirm_timeout=2), monkeypatch)
    assert out.failed and "3333" in out.result["msg"] and green_fleet.include.read_text() == before
    # putting the second back leaves the first drained: a server not named stays as it is
    out = run(proxy_drain, nginx_drain(green_fleet, "serving", [second], version_path="/version"), monkeypatch)
    assert not out.failed and out.result["drained"] == [first] and listed(green_fleet) == [second, third]


def test_nginx_drain_refuses_another_colour_a_stranger_and_an_include_that_does_not_match(green_fleet, monkeypatch):
    first = green_fleet.servers[0]
    before = green_fleet.include.read_text()
    out = run(proxy_drain, {**nginx_drain(green_fleet, "drained", [first]), "colour": "blue"}, monkeypatch)
    assert out.failed and "says colour green, the live colour is blue" in out.result["msg"]
    out = run(proxy_drain, nginx_drain(green_fleet, "drained", ["127.0.0.1:1"]), monkeypatch)
    assert out.failed and "is no green server of the app hosts" in out.result["msg"]
    out = run(proxy_drain, {**nginx_drain(green_fleet, "drained", [first]), "colour_servers": [first, "127.0.0.1:2"]}, monkeypatch)
    assert out.failed and "does not match the inventory" in out.result["msg"]
    assert green_fleet.include.read_text() == before


def test_nginx_drain_not_confirmed_through_the_proxy_is_undone(green_fleet, monkeypatch):
    before = green_fleet.include.read_text()
    out = run(proxy_drain, nginx_drain(green_fleet, "drained", [green_fleet.servers[0]], expected_commit="4" * 40, confirm_timeout=1),
              monkeypatch)
    assert out.failed and "not confirmed" in out.result["msg"] and green_fleet.include.read_text() == before


def haproxy_drain(fleet, state, servers, **extra):  # noqa: F811
    return {"state": state, "servers": servers, "colour": "blue", "proxy": "haproxy", "haproxy_socket": str(fleet.socket),
            "haproxy_backend": fleet.backend, "confirm_url": fleet.url + "/version", "expected_commit": BLUE_COMMIT,
            "confirm_timeout": 5, "drain_timeout": 5, **extra}


def test_haproxy_drain_through_the_runtime_api(fleet, monkeypatch):  # noqa: F811
    proxy = HAProxy(str(fleet.socket), fleet.backend)
    blue = [backend.address for backend in fleet.hosts["blue"]]
    assert set(proxy.sessions()) == {f"{colour}-app{n}" for colour in ("blue", "green") for n in (1, 2, 3)}
    out = run(proxy_drain, haproxy_drain(fleet, "drained", [blue[1]], _ansible_diff=True), monkeypatch)
    assert not out.failed and out.result["changed"] and out.result["confirmed"], out.result
    assert "blue-app2 maint" in out.result["diff"]["after"] and out.result["unfinished"] == {}
    assert proxy.states() == {"blue-app1": "ready", "blue-app2": "maint", "blue-app3": "ready",
                              **{f"green-app{n}": "maint" for n in (1, 2, 3)}}
    assert answering(fleet.url, fleet.hosts["blue"]) == {blue[0], blue[2]}
    assert run(proxy_drain, haproxy_drain(fleet, "drained", [blue[1]]), monkeypatch).result["changed"] is False
    assert not run(proxy_drain, haproxy_drain(fleet, "drained", [blue[0]]), monkeypatch).failed
    out = run(proxy_drain, haproxy_drain(fleet, "drained", [blue[2]]), monkeypatch)
    assert out.failed and "no blue server ready" in out.result["msg"] and proxy.states()["blue-app3"] == "ready"
    out = run(proxy_drain, haproxy_drain(fleet, "serving", [blue[1]], version_path="/version", health_path="/healthz"), monkeypatch)
    assert not out.failed and out.result["drained"] == [blue[0]], out.result
    assert proxy.states()["blue-app2"] == "ready" and proxy.states()["blue-app1"] == "maint"


def test_haproxy_drain_refuses_what_is_not_the_live_colour_and_undoes_what_is_not_confirmed(fleet, monkeypatch):  # noqa: F811
    proxy = HAProxy(str(fleet.socket), fleet.backend)
    before = proxy.states()
    green = fleet.hosts["green"][0].address
    out = run(proxy_drain, {**haproxy_drain(fleet, "drained", [green]), "colour": "green", "expected_commit": GREEN_COMMIT}, monkeypatch)
    assert out.failed and "live colour is not green" in out.result["msg"]
    out = run(proxy_drain, haproxy_drain(fleet, "drained", [green]), monkeypatch)
    assert out.failed and "is no server of the live colour" in out.result["msg"]
    out = run(proxy_drain, haproxy_drain(fleet, "drained", [fleet.hosts["blue"][0].address], expected_commit="5" * 40,
                                         confirm_timeout=1), monkeypatch)
    assert out.failed and "servers put back as they were" in out.result["msg"]
    assert proxy.states() == before


@pytest.mark.parametrize("change, message", [
    ({"servers": ["127.0.0.1:80;evil"]}, "expected a port"),
    ({"drain_timeout": -1}, "drain_timeout -1 is invalid"),
    ({"version_path": "/v ersion"}, "version_path '/v ersion' is invalid"),
    ({"expected_commit": "main"}, "expected commit"),
])
def test_values_are_checked_before_the_proxy_is_touched(fleet, monkeypatch, change, message):  # noqa: F811
    proxy = HAProxy(str(fleet.socket), fleet.backend)
    before = proxy.states()
    out = run(proxy_drain, {**haproxy_drain(fleet, "drained", [fleet.hosts["blue"][0].address]), **change}, monkeypatch)
    assert out.failed and message in out.result["msg"], out.result
    assert proxy.states() == before


def test_a_drained_host_is_read_as_out_of_rotation_of_the_live_colour_and_the_watch_names_it(green_fleet, fleet, monkeypatch):  # noqa: F811
    from ansible_collections.maestro.conductor.plugins.module_utils import _watch
    second = green_fleet.servers[1]
    assert not run(proxy_drain, nginx_drain(green_fleet, "drained", [second]), monkeypatch).failed
    colour_servers = {"green": green_fleet.servers, "blue": ["127.0.0.1:1"]}
    read = run(proxy_flip, {**read_args(green_fleet), "colour_servers": colour_servers, "confirm_url": green_fleet.url + "/version"},
               monkeypatch).result
    seen = read["observation"]
    assert (read["live_colour"], seen["config_problem"], seen["config_drained"], seen["config_exact"]) == ("green", "", [second], True)
    watched = _watch.proxy_observation({"item": "lb-nginx", **read})
    assert watched["colour"] == "green" and watched["drained"] == [second] and not watched["error"]
    verdict = _watch.Verdict(environment="fleet", live="v1.1.0", commit=GREEN_COMMIT)
    _watch._served(verdict, {"proxies": [watched]}, GREEN_COMMIT)  # pylint: disable=protected-access
    assert [f.message for f in verdict.findings] == [f"proxy lb-nginx keeps {second} out of rotation (drained): unproven since; "
                                                     "make security-updates or a deploy proves it and puts it back"]
    # a drained proxy serving another commit is named for both
    _watch._served(wrong := _watch.Verdict(environment="fleet", live="v1.1.0", commit=BLUE_COMMIT),  # pylint: disable=protected-access
                   {"proxies": [watched]}, GREEN_COMMIT)
    assert [f.message[:40] for f in wrong.findings] == [f"proxy lb-nginx serves commit {GREEN_COMMIT}"[:40],
                                                        f"proxy lb-nginx keeps {second} out of rotation"[:40]]
    _watch._served(failed := _watch.Verdict(environment="fleet", live="v1.1.0", commit=GREEN_COMMIT),  # pylint: disable=protected-access
                   {"proxies": [{"proxy": "lb", "error": "refused", "commit": "", "drained": []}]}, GREEN_COMMIT)
    assert [f.message for f in failed.findings] == ["what proxy lb serves is unknown: refused"]
    # HAProxy: a server of the live colour in maintenance while the rest serve is drained, not a contradiction
    blue = [backend.address for backend in fleet.hosts["blue"]]
    assert not run(proxy_drain, haproxy_drain(fleet, "drained", [blue[0]]), monkeypatch).failed
    seen = HAProxy(str(fleet.socket), fleet.backend).observe({"blue": blue})
    assert (seen.config_colour, seen.config_problem, seen.config_drained, seen.config_exact) == ("blue", "", [blue[0]], True)


def test_a_drain_never_leaves_only_servers_that_do_not_answer_the_live_commit(green_fleet, monkeypatch):  # noqa: F811
    first, second, third = green_fleet.servers
    before = green_fleet.include.read_text()
    green_fleet.hosts[2].commit = "6" * 40  # app3 serves something else: with app1 out, only app2 would be right
    out = run(proxy_drain, nginx_drain(green_fleet, "drained", [first], version_path="/version", confirm_timeout=2), monkeypatch)
    assert out.failed and f"http://{third}/version reports commit {'6' * 40}" in out.result["msg"]
    assert green_fleet.include.read_text() == before
    for bad, message in (({"state": "serving", "servers": [first], "version_path": ""}, "state=serving needs version_path and expected_commit"),
                         ({"servers": ["unix:/run/app.sock"]}, "cannot be asked what they run from here")):
        out = run(proxy_drain, {**nginx_drain(green_fleet, "drained", [first]), **bad}, monkeypatch)
        assert out.failed and message in out.result["msg"], out.result
    assert green_fleet.include.read_text() == before


def test_haproxy_sends_a_state_only_to_the_servers_named(fleet, monkeypatch):  # noqa: F811
    proxy = HAProxy(str(fleet.socket), fleet.backend)
    sent = []
    original = HAProxy.command

    def recording(self, line):
        if line.startswith("set server"):
            sent.append(line)
        return original(self, line)
    monkeypatch.setattr(HAProxy, "command", recording)
    blue = [backend.address for backend in fleet.hosts["blue"]]
    assert not run(proxy_drain, haproxy_drain(fleet, "drained", [blue[1]]), monkeypatch).failed
    assert sent == [f"set server {fleet.backend}/blue-app2 state drain", f"set server {fleet.backend}/blue-app2 state maint"]
    assert proxy.states()["green-app1"] == "maint"
