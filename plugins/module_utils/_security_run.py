# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""make security-updates, decided here: the plan (the live release, the colour every proxy sends traffic to, the batches
of app hosts, each batch leaving at least one host serving) and the verdict (each host green only when the live release
was proven on it after its updates; what serves at the end is the live release, verified again). The playbook carries
them out: drain, apply, reboot when required, restart from the verified release, prove, put back."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import SECURITY_HOST_STATES as HOST_STATES
from ansible_collections.maestro.conductor.plugins.module_utils._proxy import addresses
from ansible_collections.maestro.conductor.plugins.module_utils._run_metrics import RESULTS
from ansible_collections.maestro.conductor.plugins.module_utils._switch_plan import batches, live_colour


def plan(ledger: dict, verified: dict, proxies: list[dict], app_hosts: list[dict], batch: object = 1) -> dict:
    """``proxies``: each ``{"name", "observation"}`` as proxy_flip read it; ``app_hosts``: each ``{"name", "endpoints"}``;
    ``verified``: release_verify's strict result of the ledger's live release."""
    live, recorded = ledger.get("live") or "", ledger.get("live_commit") or ""
    if not live:
        raise ConductorError("the ledger names no live release: the stack is restarted from the live release after the updates, "
                             "so one must be live (deploy first)")
    if verified.get("tag") != live or not verified.get("ok"):
        raise ConductorError(f"the live release {live} did not verify strictly ({verified.get('msg') or 'no verdict'}): no app host "
                             "is touched, since none could be restarted from a verified release")
    commit = verified.get("commit") or ""
    if recorded and commit != recorded:
        raise ConductorError(f"the live release {live} peels to {commit}, the ledger recorded {recorded}: the tag moved; nothing touched")
    if not proxies:
        raise ConductorError("the inventory has no proxy: put the hosts that front the service in the group 'proxy'")
    if len(app_hosts) < 2:
        raise ConductorError(f"the inventory has {len(app_hosts)} app host(s): taking a host out of rotation for its updates needs "
                             "another to serve meanwhile; apply them in a maintenance window instead (security_updates state=applied)")
    lives = {proxy["name"]: live_colour(proxy["name"], proxy.get("observation") or {}) for proxy in proxies}
    colours = {found.colour for found in lives.values()}
    if len(colours) != 1 or "" in colours or any(found.repair for found in lives.values()):
        raise ConductorError("the proxies do not send traffic to one colour: "
                             + "; ".join(f"{name} to {found.colour or 'nothing'} ({found.how})" for name, found in lives.items())
                             + ": nothing touched (a deploy puts it right)")
    colour = colours.pop()
    for proxy in proxies:
        seen = proxy.get("observation") or {}
        if seen.get("config_source") == "servers":
            raise ConductorError(f"proxy {proxy['name']}'s include was not written by proxy_flip (it names no colour): a deploy writes "
                                 "it; nothing touched")
        if seen.get("serving_commit") != commit:
            raise ConductorError(f"proxy {proxy['name']} serves {seen.get('serving_commit') or 'nothing that names a commit'}, the live "
                                 f"release {live} is {commit}: nothing touched")
        if seen.get("config_exact") is False:
            raise ConductorError(f"proxy {proxy['name']} sends {colour}'s traffic to other servers than the app hosts' "
                                 f"({', '.join(seen.get('config_unknown') or []) or 'not all of them'}): nothing touched")
    endpoints = {}
    for host in app_hosts:
        found = (host.get("endpoints") or {}).get(colour)
        if not found:
            raise ConductorError(f"app host {host['name']} has no {colour} endpoint: set maestro_ports or maestro_app_endpoints for it")
        endpoints[host["name"]] = found
    drained = sorted({server for proxy in proxies for server in (proxy.get("observation") or {}).get("config_drained") or []})
    out = {name for name, server in endpoints.items() if any(addresses(server) & addresses(d) for d in drained)}
    # a host counts as serving only when, read from every proxy host, its live colour answered the live commit
    answers = [answer for proxy in proxies for answer in ((proxy.get("observation") or {}).get("colour_answers") or {}).get(colour) or []]
    silent = {name for name, server in endpoints.items()
              if not any(f"//{server}/" in str(a.get("url")) for a in answers)
              or any(f"//{server}/" in str(a.get("url")) and a.get("commit") != commit for a in answers)}
    # a host in rotation that does not answer: a drain would be refused for it (the hosts that stay must answer), and no
    # batch could be taken out safely while it serves; nothing is touched
    broken = sorted(silent - out)
    if broken:
        raise ConductorError(f"app host(s) {', '.join(broken)} in rotation do not answer {commit[:12]} on their {colour} colour (read "
                             "from every proxy host): nothing touched; deploy the live release again, or take them out of the "
                             "inventory, first")
    groups = batches([host["name"] for host in app_hosts], batch)
    for group in groups:
        # a host an earlier run left drained stays out until its own batch proves it
        serving = [name for name in endpoints if name not in group and name not in out and name not in silent]
        if not serving:
            raise ConductorError(f"batch {', '.join(group)} would leave no app host serving the live commit"
                                 + (f" ({', '.join(sorted(out))} out of rotation)" if out else "")
                                 + (f" ({', '.join(sorted(silent))} not answering {commit[:12]} on {colour})" if silent else "")
                                 + ": use smaller batches (maestro_security_batch), or deploy to put the hosts right first")
    return {"tag": live, "commit": commit, "colour": colour, "batches": groups, "endpoints": endpoints,
            "servers": [endpoints[host["name"]] for host in app_hosts], "drained": drained}


def _failed(result: dict | None) -> str:
    """Why a registered task result is no success ('' when it is one)."""
    if not result:
        return "not reached"
    # a looped task (one item a proxy): what the first item that failed said, and where
    items = [item for item in result.get("results") or [] if isinstance(item, dict) and (item.get("failed") or item.get("unreachable"))]
    if items and (result.get("failed") or result.get("unreachable")):
        first = items[0]
        return f"{first.get('item', '?')}: " + ("unreachable: " if first.get("unreachable") else "") + str(first.get("msg") or "failed")
    if result.get("unreachable"):
        return f"unreachable: {result.get('msg', '')}".strip()
    if result.get("failed"):
        return result.get("msg") or "failed"
    if result.get("skipped"):
        return "skipped"
    return ""


def host_state(results: dict, image_ids: list[str], check_mode: bool = False) -> dict:
    """One app host's run from its registered results (``lock``, ``drain``, ``applied``, ``reboot``, ``engine``, ``stage``,
    ``proof``, then ``relock`` and ``back``): green only when the proof that it runs the live release after its updates passed, every container on one
    of the verified ``image_ids``, and (once given) it was put back in rotation; otherwise red, naming the first step that
    failed."""
    steps = ("lock", "drain", "applied", "reboot", "engine", "stage", "proof", "relock", "back")
    applied = results.get("applied") or {}
    state = {"state": "green", "msg": "", "applied": list(applied.get("applied") or []),
             "pending_after": int(applied.get("count") or 0) if not applied.get("failed") else None,
             "rebooted": bool((results.get("reboot") or {}).get("rebooted")), "proof": "", "image_ids": []}
    for step in steps:
        result = results.get(step)
        if step in ("lock", "reboot", "engine", "relock", "back") and (not result or result.get("skipped")):
            # not given (a caller judging before the lock or the put-back), no reboot required, the engine asked only when the
            # host may have restarted it; a put-back skipped after a lock renewed is for a batch without a green host
            continue
        problem = _failed(result)
        if problem and not (check_mode and step in ("stage", "proof") and problem == "skipped"):
            state.update(state="red", msg=f"{step}: {problem}")
            return state
    proof = results.get("proof") or {}
    state["image_ids"] = sorted(set(proof.get("image_ids") or []))
    state["proof"] = ("the live colour runs image id(s) " + ", ".join(proof.get("image_ids") or [])) if proof.get("image_ids") else ""
    strangers = sorted(set(proof.get("image_ids") or []) - set(image_ids))
    # a dry run proves nothing running, but what it read of a foreign image is still red
    if strangers or (not check_mode and not proof.get("image_ids")):
        why = f"image id(s) {', '.join(strangers)} are no image of the verified release" if strangers else "no image id proven running"
        state.update(state="red", msg=f"proof: {why}")
    return state


def verdict(plan_: dict, hosts: dict[str, dict | None], verified: dict, proxies: list[dict], now: float, started: float,
            check_mode: bool = False) -> dict:
    """``hosts``: each app host's ``host_state`` (None: never reached, the run stopped before its batch); ``verified``: the
    live release's strict verification at the end; ``proxies``: what each serves at the end (proxy_flip read)."""
    lines, red = [], []
    reports = []
    for name, state in hosts.items():
        state = state or {"state": "not_run", "msg": "not reached: the run stopped at an earlier red batch", "applied": []}
        reports.append({"host": name, **state})
        if state["state"] == "red":
            # a host whose lock or drain failed was never taken out: it is still serving, untouched
            kept = state["msg"].startswith(("lock:", "drain:"))
            red.append(f"{name}: {state['msg']} ({'still in rotation, untouched' if kept else 'left out of rotation'})")
        lines.append(f"{name}: {state['state']}" + (f": {state['msg']}" if state["msg"] else "")
                     + (f"; applied {', '.join(state['applied'])}" if state.get("applied") else "")
                     + ("; rebooted" if state.get("rebooted") else ""))
    tag, commit = plan_.get("tag", ""), plan_.get("commit", "")
    if not verified.get("ok") or verified.get("commit") != commit:
        red.append(f"the live release {tag} did not verify again at the end: {verified.get('msg') or 'no verdict'}")
    for proxy in proxies:
        served = (proxy.get("observation") or {}).get("serving_commit") or proxy.get("serving_commit") or ""
        if served != commit:
            red.append(f"proxy {proxy.get('name') or proxy.get('item')} serves {served or 'nothing that names a commit'}, not {commit}")
    not_run = [report["host"] for report in reports if report["state"] == "not_run"]
    ok = not red and not not_run
    counts = {state: sum(1 for report in reports if report["state"] == state) for state in HOST_STATES}
    summary = [("DRY RUN, nothing applied or proven: " if check_mode else "")
               + f"security updates of {tag} ({commit[:12]}) on {len(reports)} app host(s): " + ("GREEN" if ok else "RED")
               + f", {counts['green']} green, {counts['red']} red, {counts['not_run']} not reached"] + red + lines
    gauges = [{"name": "maestro_security_update_ok", "labels": {}, "value": int(ok)},
              {"name": "maestro_security_update_last_run_timestamp_seconds", "labels": {}, "value": round(now, 3)},
              {"name": "maestro_security_update_duration_seconds", "labels": {}, "value": round(max(now - started, 0.0), 3)}]
    gauges += [{"name": "maestro_security_update_hosts", "labels": {"state": state}, "value": count} for state, count in counts.items()]
    # the ledger's per-host record of the re-verification, in the switch's shape
    ledger_hosts = [{"host": report["host"], "colour": plan_.get("colour", ""), "tag": tag, "commit": commit,
                     "image_ids": list(report.get("image_ids") or []), "result": report["state"]} for report in reports]
    return {"ok": ok, "red": red, "summary": summary, "hosts": reports, "ledger_hosts": ledger_hosts, "gauges": gauges,
            "increments": [{"name": "maestro_security_update_runs_total", "labels": {"result": RESULTS[ok]}, "by": 1}]}
