"""The switch's planner: the live colour each proxy really runs, what to put live where, in which batches, and how to
undo it. Plain data in, plain data out: every decision the playbooks carry out."""

from __future__ import annotations

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._switch_plan import (
    app_endpoints, batches, live_colour, phase_one_verdict, plan_switch)

OLD, NEW = "a" * 40, "b" * 40
HOSTS = [{"name": f"app{n}", "endpoints": {"blue": f"10.0.0.{n}:18081", "green": f"10.0.0.{n}:18082"}} for n in (1, 2, 3)]
VERIFIED = {"ok": True, "tag": "v1.1.0", "commit": NEW, "images": [{"artifact": "image.tar", "id": "sha256:" + "c" * 64}]}


def answers(blue: str = "", green: str = "", hosts: int = 3) -> dict:
    def one(commit: str) -> list[dict]:
        return [{"url": f"http://h{n}/version", "status": 200 if commit else 0, "commit": commit, "tag": ""} for n in range(hosts)]
    return {"blue": one(blue), "green": one(green)}


def observed(claim: str = "blue", serving: str = OLD, blue: str = OLD, green: str = "", loaded: bool | None = True, problem: str = "") -> dict:
    return {"config_colour": claim, "config_problem": problem, "config_loaded": loaded, "serving_status": 200 if serving else 502,
            "serving_commit": serving, "serving_tag": "", "colour_answers": answers(blue, green)}


def plan(proxies=None, ledger=None, verified=None, **kwargs):
    proxies = proxies if proxies is not None else [{"name": "lb1", "observation": observed()}]
    return plan_switch(kwargs.pop("mode", "rollback"), "prod", kwargs.pop("requested_tag", "v1.1.0"), verified or VERIFIED,
                       ledger if ledger is not None else {"live": "v1.2.0"}, proxies, kwargs.pop("hosts", HOSTS), **kwargs)


@pytest.mark.parametrize("observation, colour, repair", [
    (observed(), "blue", False),                                                   # claim and answers agree
    (observed(claim="", serving=OLD, blue=OLD), "blue", False),                   # an include written by hand: answers tell
    (observed(claim="green", serving=OLD, blue=OLD, green=OLD), "green", False),  # both colours run it: the claim decides
    (observed(claim="green", serving=OLD, blue=OLD, green=NEW, loaded=False), "blue", True),  # written, never loaded
    (observed(claim="blue", serving="", blue="", green=""), "blue", False),        # nothing answers: the claim
    (observed(claim="", serving="", blue="", green=""), "", False),                # a first deployment
    ({**observed(claim="blue", serving="", blue=""), "config_source": "servers"}, "", False),  # a first include, by hand
])
def test_live_colour_is_what_the_proxy_really_runs(observation, colour, repair):
    live = live_colour("lb1", observation)
    assert (live.colour, live.repair) == (colour, repair)


def test_a_configuration_that_lies_about_the_live_colour_is_refused_naming_both():
    with pytest.raises(ConductorError) as caught:
        live_colour("lb1", {**observed(claim="green", serving=OLD, blue=OLD, green=NEW), "serving_tag": "v1.0.0"})
    assert str(caught.value).startswith(f"proxy lb1: its configuration says green, but it serves commit {OLD} (v1.0.0), which only "
                                        "blue answers")


def test_an_unloaded_configuration_that_answers_cannot_place_is_refused():
    with pytest.raises(ConductorError, match="written after it last loaded one, and what it serves .* does not tell"):
        live_colour("lb1", observed(claim="green", serving=OLD, blue=OLD, green=OLD, loaded=False))


def test_a_commit_no_colour_answers_is_unknown_and_refused():
    with pytest.raises(ConductorError, match=f"proxy lb1 serves commit {'d' * 40}, which neither colour's servers answer"):
        live_colour("lb1", observed(claim="", serving="d" * 40))


def test_a_colour_only_some_of_whose_hosts_answer_does_not_count_as_answering():
    mixed = observed(claim="", serving=OLD, blue=OLD)
    mixed["colour_answers"]["blue"][1]["commit"] = NEW
    with pytest.raises(ConductorError, match="neither colour's servers answer"):
        live_colour("lb1", mixed)


def test_a_proxy_configuration_problem_is_refused():
    with pytest.raises(ConductorError, match="proxy lb2: HAProxy backend b has .*: refusing to switch"):
        live_colour("lb2", observed(problem="HAProxy backend b has servers of more than one colour"))


def test_a_rollback_goes_to_the_idle_colour_on_every_host_and_every_proxy_in_order():
    found = plan(proxies=[{"name": "lb1", "observation": observed()}, {"name": "lb2", "observation": observed()}])
    assert (found.action, found.live_colour, found.colour, found.from_tag, found.quarantine) == ("switch", "blue", "green", "v1.2.0", "v1.2.0")
    assert [f["proxy"] for f in found.flips] == ["lb1", "lb2"]
    assert found.flips[0]["servers"] == ["10.0.0.1:18082", "10.0.0.2:18082", "10.0.0.3:18082"]
    assert found.flips[0]["back_servers"] == ["10.0.0.1:18081", "10.0.0.2:18081", "10.0.0.3:18081"]
    assert found.batches == [["app1", "app2", "app3"]] and found.repairs == []


def test_the_tag_already_live_and_served_is_proven_not_switched():
    found = plan(ledger={"live": "v1.1.0"}, proxies=[{"name": "lb1", "observation": observed(serving=NEW, blue=NEW)}])
    assert (found.action, found.colour, found.flips, found.quarantine) == ("live", "blue", [], "")
    forced = plan(ledger={"live": "v1.1.0"}, proxies=[{"name": "lb1", "observation": observed(serving=NEW, blue=NEW)}], force=True)
    assert (forced.action, forced.colour) == ("switch", "green")


def test_the_ledger_saying_live_is_not_enough_when_the_proxy_serves_another_commit():
    found = plan(ledger={"live": "v1.1.0"})  # the proxy serves OLD
    assert (found.action, found.colour) == ("switch", "green")


def test_a_deploy_records_no_quarantine_and_a_first_deploy_goes_to_blue():
    found = plan(mode="deploy", ledger={}, proxies=[{"name": "lb1", "observation": observed(claim="", serving="", blue="")}])
    assert (found.action, found.live_colour, found.colour, found.quarantine, found.flips[0]["back_colour"]) == ("switch", "", "blue", "", "")


def test_proxies_that_disagree_are_refused_naming_each():
    with pytest.raises(ConductorError) as caught:
        plan(proxies=[{"name": "lb1", "observation": observed()},
                      {"name": "lb2", "observation": observed(claim="green", serving=OLD, blue="", green=OLD)}])
    assert "the proxies do not send traffic to the same colour: lb1 to blue" in str(caught.value) and "lb2 to green" in str(caught.value)


def test_an_unloaded_include_is_repaired_before_the_flip():
    found = plan(proxies=[{"name": "lb1", "observation": observed(claim="green", serving=OLD, blue=OLD, green=NEW, loaded=False)}])
    assert found.repairs == [{"proxy": "lb1", "colour": "blue", "servers": ["10.0.0.1:18081", "10.0.0.2:18081", "10.0.0.3:18081"]}]
    assert found.colour == "green"


@pytest.mark.parametrize("verified, message", [
    ({**VERIFIED, "ok": False}, "did not verify"),
    ({**VERIFIED, "tag": "v9"}, "not of the requested tag"),
])
def test_a_release_that_did_not_verify_is_never_planned(verified, message):
    with pytest.raises(ConductorError, match=message):
        plan(verified=verified)


def test_an_inventory_without_proxies_or_app_hosts_or_ports_is_refused():
    with pytest.raises(ConductorError, match="no proxy"):
        plan(proxies=[])
    with pytest.raises(ConductorError, match="no app host"):
        plan(hosts=[])
    with pytest.raises(ConductorError, match="app host app9 has no endpoint for green"):
        plan(hosts=[{"name": "app9", "endpoints": {"blue": "h:1"}}])


@pytest.mark.parametrize("batch, expected", [
    (0, [[1, 2, 3, 4, 5]]),
    (2, [[1, 2], [3, 4], [5]]),
    ("40%", [[1, 2], [3, 4], [5]]),
    ([1, "50%"], [[1], [2, 3, 4], [5]]),
    ("100%", [[1, 2, 3, 4, 5]]),
])
def test_batches_split_as_serial_would(batch, expected):
    assert batches([1, 2, 3, 4, 5], batch) == expected


@pytest.mark.parametrize("batch", ["x", -1, "0%", "150%"])
def test_a_bad_batch_size_is_refused(batch):
    with pytest.raises(ConductorError, match="batch size"):
        batches([1, 2], batch)


def test_endpoints_from_the_host_variables():
    assert app_endpoints("app1", {"ansible_host": "10.1.1.1"}) == {"blue": "10.1.1.1:18081", "green": "10.1.1.1:18082"}
    assert app_endpoints("app1", {"maestro_app_address": "a", "maestro_ports": {"blue": 1, "green": 2}}) == {"blue": "a:1", "green": "a:2"}
    assert app_endpoints("app1", {"maestro_app_endpoints": {"blue": "127.0.0.1:5"}, "maestro_ports": {"blue": 1, "green": 2}}) == {
        "blue": "127.0.0.1:5", "green": "app1:2"}


def test_phase_one_is_green_only_when_every_host_reports_green():
    found = plan().as_dict()
    green = {"changed": True, "image_ids": ["sha256:" + "c" * 64], "seconds": 1.5, "started": True}
    verdict = phase_one_verdict(found, {"app1": green, "app2": green, "app3": green})
    assert verdict["problems"] == [] and [h["result"] for h in verdict["hosts"]] == ["green"] * 3
    assert verdict["lines"][0] == f"host app1: green v1.1.0 {NEW[:12]} image sha256:{'c' * 64} healthy in 1.5s"
    assert verdict["hosts"][0] == {"host": "app1", "colour": "green", "tag": "v1.1.0", "commit": NEW, "image_ids": green["image_ids"],
                                   "health": "healthy", "seconds": 1.5, "started": True, "reused": False, "result": "green"}
    red = phase_one_verdict(found, {"app1": green, "app2": {"failed": True, "msg": "boom", "started": True},
                                    "app3": {"unreachable": True, "msg": "ssh: timed out"}})
    assert red["problems"] == ["app2: boom", "app3: unreachable: ssh: timed out"]
    assert [h["started"] for h in red["hosts"]] == [True, True, False]
    assert phase_one_verdict(found, {"app1": green})["problems"][0].startswith("app2: never reported")


def test_a_result_of_another_run_is_no_report_of_this_one():
    """An earlier switch in the same playbook left its result on a host this switch never reached (a red batch before)."""
    found = plan().as_dict()
    mine = {"image_ids": ["sha256:" + "c" * 64], "seconds": 1.0, "run_id": "this"}
    earlier = {**mine, "run_id": "earlier"}
    verdict = phase_one_verdict(found, {"app1": mine, "app2": mine, "app3": earlier}, run_id="this")
    assert verdict["problems"] == ["app3: never reported (not reached, or a batch before it failed)"]
    assert phase_one_verdict(found, {"app1": mine, "app2": mine, "app3": {"unreachable": True, "msg": "x"}}, "this")["problems"] == [
        "app3: unreachable: x"]


def test_a_host_that_proves_nothing_is_red_except_in_check_mode():
    found = plan().as_dict()
    proven = {"image_ids": ["sha256:" + "c" * 64], "seconds": 1.0}
    silent = {"failed": False, "image_ids": [], "containers": []}  # a result with nothing checked
    verdict = phase_one_verdict(found, {"app1": proven, "app2": silent, "app3": proven})
    assert verdict["problems"] == ["app2: reported no image id its containers run: nothing proves what it would serve"]
    assert phase_one_verdict(found, {"app1": silent, "app2": silent, "app3": silent}, check_mode=True)["problems"] == []


def test_a_proxy_sending_traffic_to_an_unknown_server_is_refused():
    impostor = {**observed(serving=NEW, blue=NEW), "config_unknown": ["127.0.0.1:18483"], "config_exact": False}
    with pytest.raises(ConductorError, match="proxy lb1 sends traffic to 127.0.0.1:18483, which is no app host of blue"):
        plan(ledger={"live": "v1.1.0"}, proxies=[{"name": "lb1", "observation": impostor}])


def test_a_proxy_reaching_only_some_of_the_live_colours_hosts_is_no_proof_that_it_is_live():
    partial = {**observed(serving=NEW, blue=NEW), "config_exact": False}  # e.g. an app host added to the inventory since
    found = plan(ledger={"live": "v1.1.0"}, proxies=[{"name": "lb1", "observation": partial}])
    assert (found.action, found.colour) == ("switch", "green")


def test_a_proxy_that_sends_traffic_nowhere_joins_the_live_colour():
    """A proxy added to the fleet, or one a first deployment stopped before: flipped along, flipped back to nothing."""
    found = plan(proxies=[{"name": "lb1", "observation": observed()},
                          {"name": "lb2", "observation": observed(claim="", serving="", blue=OLD)}])
    assert (found.live_colour, found.colour) == ("blue", "green")
    assert [(f["proxy"], f["back_colour"], len(f["back_servers"])) for f in found.flips] == [("lb1", "blue", 3), ("lb2", "", 0)]
