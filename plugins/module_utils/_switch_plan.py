# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The switch's decisions, as plain data in and out: what is live, what to put live, where, in which batches,
which proxies to flip and how to undo it. Playbooks carry the plan out; nothing here touches a host.

The live colour is what each proxy really runs: its configuration's claim (an nginx include, HAProxy's server
states) checked against what it serves compared with what each colour's servers answer. When they disagree the
switch refuses before anything changes and names both; an nginx include that a dead run wrote but never loaded
is repaired by flipping the proxy back to what it serves.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._proxy import COLOURS, other

MODES = ("deploy", "rollback")


@dataclass
class Live:
    """One proxy's live colour, and how it was told."""

    colour: str
    how: str
    repair: bool = False  # an nginx include written but never loaded: flip the proxy back to ``colour`` first


def _answering(observation: dict, commit: str) -> list[str]:
    """The colours all of whose servers answer ``commit``."""
    found = []
    for colour in COLOURS:
        answers = observation.get("colour_answers", {}).get(colour) or []
        if answers and all(a.get("status") == 200 and a.get("commit") == commit for a in answers):
            found.append(colour)
    return found


def live_colour(name: str, observation: dict) -> Live:
    """What proxy ``name`` sends traffic to; ConductorError naming both sides when its claim and its answers disagree."""
    if observation.get("config_problem"):
        raise ConductorError(f"proxy {name}: {observation['config_problem']}: refusing to switch until it is put right")
    claim, loaded = observation.get("config_colour", ""), observation.get("config_loaded")
    served = observation.get("serving_commit", "") if observation.get("serving_status") == 200 else ""
    answering = _answering(observation, served) if served else []
    by_answers = answering[0] if len(answering) == 1 else ""
    what = f"commit {served}" + (f" ({observation['serving_tag']})" if observation.get("serving_tag") else "")
    if observation.get("config_source") == "servers" and not served:
        claim = ""  # an include written by hand before any switch, and nothing answers through it: nothing is live
    if observation.get("config_unknown") and served:
        raise ConductorError(f"proxy {name} sends traffic to {', '.join(observation['config_unknown'])}, which is no app host of "
                             f"{claim or 'either colour'} in the inventory: refusing to switch (what serves there is unknown)")
    if by_answers and claim and by_answers != claim:
        if loaded is False:
            return Live(by_answers, f"it serves {what}, which only {by_answers} answers; its configuration says {claim} but was written "
                        "after it last loaded one (a switch died between writing and reloading): repaired", repair=True)
        raise ConductorError(f"proxy {name}: its configuration says {claim}, but it serves {what}, which only {by_answers} answers: "
                             "the configuration does not describe what runs; refusing to switch (put it right, or flip the proxy "
                             "to the colour it serves)")
    if claim and loaded is False and not by_answers:
        raise ConductorError(f"proxy {name}: its configuration says {claim} but was written after it last loaded one, and what it "
                             f"serves ({what if served else 'nothing'}) does not tell which colour is live: refusing to switch")
    if claim:
        return Live(claim, "its configuration" + (f", and only {claim} answers {what}" if by_answers else ""))
    if by_answers:
        return Live(by_answers, f"it serves {what}, which only {by_answers} answers")
    if served:
        raise ConductorError(f"proxy {name} serves {what}, which neither colour's servers answer: what it runs is unknown; "
                             "refusing to switch")
    return Live("", "nothing is live")


@dataclass
class Plan:
    mode: str
    environment: str
    tag: str
    commit: str
    from_tag: str
    live_colour: str
    colour: str
    action: str                       # switch: stage the idle colour and flip; live: the tag already serves, prove it
    how_live: dict = field(default_factory=dict)
    repairs: list[dict] = field(default_factory=list)
    flips: list[dict] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)
    quarantine: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def batches(hosts: list[str], batch: object) -> list[list[str]]:
    """Split ``hosts`` as Ansible's ``serial`` would: a size, a percentage, or a list of them (the last repeats)."""
    sizes = batch if isinstance(batch, list) else [batch]
    if not hosts:
        return []
    counts = []
    for size in sizes:
        text = str(size).strip()
        try:
            count = math.ceil(len(hosts) * float(text[:-1]) / 100) if text.endswith("%") else int(text)
        except ValueError as exc:
            raise ConductorError(f"batch size {size!r} is invalid: expected a number of hosts, a percentage such as '25%', or a list") from exc
        if count < 0 or (text.endswith("%") and not 0 < float(text[:-1]) <= 100):
            raise ConductorError(f"batch size {size!r} is invalid: expected a positive number of hosts or a percentage up to 100%")
        counts.append(count or len(hosts))
    result, index = [], 0
    while index < len(hosts):
        count = counts[min(len(result), len(counts) - 1)]
        result.append(hosts[index:index + count])
        index += count
    return result


def freeze_refusal(mode: str, ledger: dict, tag: str = "") -> str:
    """Why a switch may not run now ('' when it may). While an incident freezes the environment, a deploy may not, and a
    rollback may go only to a release with a green verdict and no quarantine (a rollback to anything else would be a
    deploy by another name)."""
    frozen = [entry for entry in ledger.get("frozen") or [] if isinstance(entry, dict)]
    if not frozen:
        return ""
    named = "; ".join(f"{entry.get('incident')} ({entry.get('reason') or 'no reason recorded'})" for entry in frozen)
    lift = f"lift the freeze with make unfreeze INCIDENT={frozen[-1].get('incident')} once the post-mortem's action items are filled in"
    many = "s" if len(frozen) > 1 else ""
    if mode == "deploy":
        return f"deploys are frozen by incident{many} {named}: rollbacks may run; {lift}"
    healthy = list(ledger.get("healthy") or [])
    if tag and tag != ledger.get("live") and tag not in healthy:
        return (f"{tag} has no green verdict without quarantine, and incident{many} {named} freeze{'' if many else 's'} the "
                f"environment: a rollback may go only to {', '.join(healthy) or 'no release (none is healthy)'}; {lift}")
    return ""


def plan_switch(mode: str, environment: str, requested_tag: str, verified: dict, ledger: dict, proxies: list[dict],
                app_hosts: list[dict], batch: object = 0, force: bool = False) -> Plan:
    """Decide the switch. ``proxies``: each ``{"name", "observation"}`` as proxy_flip reported it; ``app_hosts``: each
    ``{"name", "endpoints": {"blue": "host:port", "green": ...}}``; ``verified``: release_verify's result."""
    if mode not in MODES:
        raise ConductorError(f"mode {mode!r} is invalid: expected deploy or rollback")
    refusal = freeze_refusal(mode, ledger, verified.get("tag") or requested_tag)
    if refusal:
        raise ConductorError(refusal)
    if not proxies:
        raise ConductorError("the inventory has no proxy: put the hosts that front the service in the group 'proxy'")
    if not app_hosts:
        raise ConductorError("the inventory has no app host: put the hosts that run the service in the group 'app'")
    for host in app_hosts:
        missing = [colour for colour in COLOURS if not (host.get("endpoints") or {}).get(colour)]
        if missing:
            raise ConductorError(f"app host {host['name']} has no endpoint for {', '.join(missing)}: set maestro_ports (and "
                                 "maestro_app_address or maestro_app_endpoints) for it")
    if requested_tag and verified.get("tag") != requested_tag:
        raise ConductorError(f"verification is of {verified.get('tag')!r}, not of the requested tag {requested_tag!r}")
    if not verified.get("ok", False):
        raise ConductorError(f"release {verified.get('tag')} did not verify: nothing may go live from it")
    lives = {proxy["name"]: live_colour(proxy["name"], proxy.get("observation") or {}) for proxy in proxies}
    # a proxy that sends traffic nowhere (a new one, or a first deployment that stopped half-way) joins the live colour
    colours = {live.colour for live in lives.values()} - {""}
    if len(colours) > 1:
        raise ConductorError("the proxies do not send traffic to the same colour: "
                             + "; ".join(f"{name} to {live.colour or 'nothing'} ({live.how})" for name, live in lives.items())
                             + ". A switch stopped between proxies: flip them to one colour before switching again")
    live = colours.pop() if colours else ""
    tag, commit = verified["tag"], verified["commit"]
    from_tag = ledger.get("live") or ""
    # already live needs every proxy to send traffic to exactly the live colour's app hosts, not a part or more of them
    serves_it = all((p.get("observation") or {}).get("serving_commit") == commit and (p.get("observation") or {}).get("config_exact") is not False
                    for p in proxies)
    action = "live" if (tag == from_tag and live and serves_it and not force) else "switch"
    target = live if action == "live" else other(live)
    endpoints = {colour: [host["endpoints"][colour] for host in app_hosts] for colour in COLOURS}
    plan = Plan(mode=mode, environment=environment, tag=tag, commit=commit, from_tag=from_tag, live_colour=live, colour=target,
                action=action, how_live={name: live.how for name, live in lives.items()},
                batches=batches([host["name"] for host in app_hosts], batch),
                quarantine=from_tag if mode == "rollback" and action == "switch" and from_tag not in ("", tag) else "")
    plan.repairs = [{"proxy": name, "colour": live_.colour, "servers": endpoints[live_.colour]}
                    for name, live_ in lives.items() if live_.repair]
    if action == "switch":
        # each proxy is flipped back to what it sent traffic to: the live colour, or nothing for one that sent it nowhere
        plan.flips = [{"proxy": proxy["name"], "colour": target, "servers": endpoints[target],
                       "back_colour": lives[proxy["name"]].colour, "back_servers": endpoints[live] if lives[proxy["name"]].colour else [],
                       "back_tag": from_tag}
                      for proxy in proxies]
    return plan


def phase_one_verdict(plan: dict, results: dict[str, dict], run_id: str = "", check_mode: bool = False) -> dict:
    """What went wrong on the app hosts (``problems``, empty when every host of the plan is green: a host that did not
    report is red), one report per host for the ledger (``hosts``) and one line per host for the summary (``lines``).
    ``run_id``: a result of another run (an earlier switch in the same playbook) is no report of this one. Green needs
    proof: the image ids the host's containers run (in check mode, where nothing runs, a result without failure)."""
    problems, reports = [], []
    for name in [host for batch in plan.get("batches", []) for host in batch]:
        result = results.get(name) or {}
        if run_id and result.get("run_id") != run_id and not result.get("unreachable"):
            result = {}
        if not result or result.get("skipped"):
            problems.append(f"{name}: never reported (not reached, or a batch before it failed)")
        elif result.get("unreachable"):
            problems.append(f"{name}: unreachable: {result.get('msg', '')}")
        elif result.get("failed"):
            problems.append(f"{name}: {result.get('msg', 'failed')}")
        elif not result.get("image_ids") and not check_mode:
            problems.append(f"{name}: reported no image id its containers run: nothing proves what it would serve")
        green = bool(result) and not (result.get("skipped") or result.get("unreachable") or result.get("failed"))
        green = green and (check_mode or bool(result.get("image_ids")))
        reports.append({"host": name, "colour": plan.get("colour", ""), "tag": plan.get("tag", ""), "commit": plan.get("commit", ""),
                        "image_ids": list(result.get("image_ids") or []), "health": ("not run (check mode)" if check_mode else "healthy") if green else "red",
                        "seconds": float(result.get("seconds") or 0.0), "started": bool(result.get("started")),
                        "reused": bool(result.get("reused")), "result": "green" if green else "red"})
    lines = [f"host {r['host']}: {r['colour']} {r['tag']} {r['commit'][:12]} image {','.join(r['image_ids']) or 'none'} {r['health']} "
             f"in {r['seconds']}s" + (", reused" if r["reused"] else "") for r in reports]
    return {"problems": problems, "hosts": reports, "lines": lines}


def app_endpoints(name: str, host_vars) -> dict[str, str]:
    """Where the proxies reach each colour of app host ``name``: maestro_app_endpoints, else its address and ports."""
    explicit = host_vars.get("maestro_app_endpoints") or {}
    address = host_vars.get("maestro_app_address") or host_vars.get("ansible_host") or name
    ports = host_vars.get("maestro_ports") or {"blue": 18081, "green": 18082}
    return {colour: str(explicit.get(colour) or f"{address}:{ports[colour]}") for colour in COLOURS}
