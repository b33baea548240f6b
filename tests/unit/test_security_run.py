"""make security-updates' decisions: the plan (what is live, on which colour, in which batches) and each host's verdict."""

from __future__ import annotations

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _security_run
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

COMMIT, OTHER = "a" * 40, "b" * 40
IMAGE = "sha256:" + "1" * 64
HOSTS = [{"name": f"app{n}", "endpoints": {"blue": f"10.0.0.{n}:18081", "green": f"10.0.0.{n}:18082"}} for n in (1, 2, 3)]
LEDGER = {"live": "v1.1.0", "live_commit": COMMIT}
VERIFIED = {"tag": "v1.1.0", "ok": True, "commit": COMMIT}


def proxy(name="lb", colour="green", served=COMMIT, drained=(), exact=True, answers: dict | None = None) -> dict:
    """One proxy's reading; ``answers``: what a host's live colour reported (default: the live commit, each)."""
    servers = [h["endpoints"][colour] for h in HOSTS if h["endpoints"][colour] not in drained]
    answered = [{"url": f"http://{h['endpoints'][colour]}/version", "status": 200, "commit": (answers or {}).get(h["name"], served)}
                for h in HOSTS]
    return {"name": name, "observation": {"config_colour": colour, "config_source": "header", "config_problem": "", "config_loaded": True,
                                          "config_exact": exact, "config_unknown": [], "config_servers": {colour: servers},
                                          "config_drained": list(drained), "serving_status": 200, "serving_commit": served,
                                          "colour_answers": {colour: answered}}}


def test_the_plan_names_the_live_colour_and_one_host_a_batch():
    plan = _security_run.plan(LEDGER, VERIFIED, [proxy("lb-nginx"), proxy("lb-haproxy")], HOSTS)
    assert (plan["tag"], plan["commit"], plan["colour"]) == ("v1.1.0", COMMIT, "green")
    assert plan["batches"] == [["app1"], ["app2"], ["app3"]]
    assert plan["endpoints"] == {f"app{n}": f"10.0.0.{n}:18082" for n in (1, 2, 3)} and plan["drained"] == []
    assert _security_run.plan(LEDGER, VERIFIED, [proxy()], HOSTS, 2)["batches"] == [["app1", "app2"], ["app3"]]


@pytest.mark.parametrize("ledger, verified, proxies, hosts, batch, message", [
    ({}, VERIFIED, [proxy()], HOSTS, 1, "names no live release"),
    (LEDGER, {**VERIFIED, "ok": False, "msg": "artifact image.tar: sha256 is 9f2c"}, [proxy()], HOSTS, 1, "did not verify strictly (artifact"),
    (LEDGER, {**VERIFIED, "commit": OTHER}, [proxy()], HOSTS, 1, "the tag moved"),
    (LEDGER, VERIFIED, [], HOSTS, 1, "no proxy"),
    (LEDGER, VERIFIED, [proxy()], HOSTS[:1], 1, "needs another to serve meanwhile"),
    (LEDGER, VERIFIED, [proxy("a"), proxy("b", colour="blue")], HOSTS, 1, "do not send traffic to one colour"),
    (LEDGER, VERIFIED, [proxy(served=OTHER)], HOSTS, 1, f"serves {OTHER}"),
    (LEDGER, VERIFIED, [proxy()], HOSTS, 3, "would leave no app host serving"),
    (LEDGER, VERIFIED, [proxy()], HOSTS, "100%", "would leave no app host serving"),
    (LEDGER, VERIFIED, [proxy(drained=("10.0.0.3:18082",))], HOSTS, 2, "(app3 out of rotation)"),
    (LEDGER, VERIFIED, [proxy(answers={"app2": OTHER}), proxy("lb2", answers={"app3": ""})], HOSTS, 1,
     f"app host(s) app2, app3 in rotation do not answer {COMMIT[:12]} on their green colour"),
    (LEDGER, VERIFIED, [{**proxy(), "observation": {**proxy()["observation"], "config_source": "servers"}}], HOSTS, 1,
     "not written by proxy_flip"),
])
def test_nothing_is_touched_when_the_plan_cannot_keep_the_verified_release_serving(ledger, verified, proxies, hosts, batch, message):
    with pytest.raises(ConductorError) as raised:
        _security_run.plan(ledger, verified, proxies, hosts, batch)
    assert message in str(raised.value)


def test_a_host_out_of_rotation_that_does_not_answer_is_planned_to_be_proven():
    plan = _security_run.plan(LEDGER, VERIFIED, [proxy(drained=("10.0.0.2:18082",), answers={"app2": ""})], HOSTS)
    assert plan["drained"] == ["10.0.0.2:18082"]


def test_a_host_left_out_by_an_earlier_run_is_planned_and_counts_as_not_serving():
    plan = _security_run.plan(LEDGER, VERIFIED, [proxy(drained=("10.0.0.2:18082",))], HOSTS)
    assert plan["drained"] == ["10.0.0.2:18082"] and plan["batches"] == [["app1"], ["app2"], ["app3"]]


GREEN = {"drain": {"changed": True, "results": [{"item": "lb", "changed": True}]},
         "applied": {"changed": True, "applied": ["libssl3 3.0.15-1 -> 3.0.17-1"], "count": 0, "reboot_required": True},
         "reboot": {"changed": True, "rebooted": True}, "engine": {"rc": 0}, "stage": {"changed": True},
         "proof": {"changed": False, "image_ids": [IMAGE]}}


def test_a_host_is_green_only_when_the_release_was_proven_on_it_after_its_updates():
    state = _security_run.host_state(GREEN, [IMAGE])
    # a dry run proves nothing running, but a foreign image it read is still red
    assert _security_run.host_state({**GREEN, "proof": {"image_ids": []}}, [IMAGE], check_mode=True)["state"] == "green"
    assert _security_run.host_state({**GREEN, "proof": {"image_ids": ["sha256:" + "9" * 64]}}, [IMAGE], check_mode=True)["state"] == "red"
    assert state["state"] == "green" and state["rebooted"] and state["applied"] == ["libssl3 3.0.15-1 -> 3.0.17-1"]
    assert state["image_ids"] == [IMAGE]
    # no reboot required, the engine not asked: still green on the proof
    assert _security_run.host_state({**GREEN, "reboot": {"skipped": True}, "engine": {"skipped": True}}, [IMAGE])["state"] == "green"


@pytest.mark.parametrize("change, message", [
    ({"drain": {"failed": True, "msg": "One or more items failed", "results": [{"item": "lb-haproxy", "failed": True, "msg": "refused"}]}},
     "drain: lb-haproxy: refused"),
    ({"applied": {"failed": True, "msg": "apt-get update failed"}}, "applied: apt-get update failed"),
    ({"reboot": {"failed": True, "msg": "Timed out waiting for last boot time check"}}, "reboot: Timed out"),
    ({"reboot": {"unreachable": True, "msg": "ssh: connect to host"}}, "reboot: unreachable: ssh"),
    ({"stage": {"failed": True, "msg": "the release cache: compose.yaml has sha256 9f"}}, "stage: the release cache"),
    ({"stage": {"skipped": True}}, "stage: skipped"),
    ({"proof": None}, "proof: not reached"),
    ({"proof": {"changed": False, "image_ids": []}}, "no image id proven running"),
    ({"proof": {"changed": False, "image_ids": ["sha256:" + "2" * 64]}}, "are no image of the verified release"),
    ({"back": {"failed": True, "msg": "One or more items failed", "results": [{"item": "lb", "failed": True, "msg": "preflight"}]}},
     "back: lb: preflight"),
    ({"lock": {"failed": True, "msg": "the lock is held by another run", "lost": True}}, "lock: the lock is held by another run"),
    ({"lock": {"unreachable": True, "msg": "ledger host down"}}, "lock: unreachable"),
    ({"relock": {"failed": True, "msg": "lease ended"}, "back": {"skipped": True}}, "relock: lease ended"),
    ({"drain": {"unreachable": True, "msg": "lb-haproxy down"}}, "drain: unreachable"),
    ({"drain": {"unreachable": True, "results": [{"item": "lb-haproxy", "unreachable": True, "msg": "ssh: no route"}]}},
     "drain: lb-haproxy: unreachable: ssh: no route"),
])
def test_a_host_is_red_naming_the_first_step_that_failed(change, message):
    state = _security_run.host_state({**GREEN, **change}, [IMAGE])
    assert state["state"] == "red" and message in state["msg"], state


def test_the_verdict_is_red_for_a_red_host_one_not_reached_or_a_release_that_no_longer_verifies():
    plan = _security_run.plan(LEDGER, VERIFIED, [proxy()], HOSTS)
    green = _security_run.host_state(GREEN, [IMAGE])
    served = [{"item": "lb", "observation": {"serving_commit": COMMIT}}]
    ok = _security_run.verdict(plan, {"app1": green, "app2": green, "app3": green}, VERIFIED, served, 200.0, 100.0)
    assert ok["ok"] and ok["summary"][0].endswith("GREEN, 3 green, 0 red, 0 not reached")
    assert {"name": "maestro_security_update_duration_seconds", "labels": {}, "value": 100.0} in ok["gauges"]
    assert ok["ledger_hosts"][0] == {"host": "app1", "colour": "green", "tag": "v1.1.0", "commit": COMMIT, "image_ids": [IMAGE],
                                     "result": "green"}
    red = _security_run.host_state({**GREEN, "stage": {"failed": True, "msg": "health: timed out"}}, [IMAGE])
    bad = _security_run.verdict(plan, {"app1": green, "app2": red, "app3": None}, VERIFIED, served, 200.0, 100.0)
    assert not bad["ok"] and bad["summary"][0].endswith("RED, 1 green, 1 red, 1 not reached")
    assert "app2: stage: health: timed out (left out of rotation)" in bad["red"]
    refused = _security_run.host_state({**GREEN, "drain": {"failed": True, "msg": "refused"}}, [IMAGE])
    untouched = _security_run.verdict(plan, {"app1": refused, "app2": None, "app3": None}, VERIFIED, served, 2.0, 1.0)
    assert "app1: drain: refused (still in rotation, untouched)" in untouched["red"]
    assert {"name": "maestro_security_update_hosts", "labels": {"state": "not_run"}, "value": 1} in bad["gauges"]
    moved = _security_run.verdict(plan, {"app1": green, "app2": green, "app3": green}, {**VERIFIED, "ok": False, "msg": "tag moved"},
                                  [{"item": "lb", "observation": {"serving_commit": OTHER}}], 200.0, 100.0)
    assert not moved["ok"] and any("did not verify again" in line for line in moved["red"])
    assert any(f"proxy lb serves {OTHER}" in line for line in moved["red"])
    assert {"name": "maestro_security_update_runs_total", "labels": {"result": "fail"}, "by": 1} in moved["increments"]
