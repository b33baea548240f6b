# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The post-GA watch's verdict: what the watch playbook observed, turned into findings and metrics.

The playbook gathers (the ledger, what the proxy serves, the strict verification of the live release, the
availability of the live release and of the rollback target on the release store and in every app host's
cache, drift, the CI queue); this decides. Every check that could not be made is a finding: unknown is red.
The metrics are the catalogue's (_metric_catalogue), given to the metrics writer as gauges and increments.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils import _ledger
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import validate_environment
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import CHECKS
from ansible_collections.maestro.conductor.plugins.module_utils._switch_plan import live_colour as proxy_live_colour

DAY = 86400
# release_drift's finding kinds -> the metric's
_DRIFT_KINDS = {"moved": "tag_moved", "recreated": "tag_recreated", "deleted": "tag_deleted", "branch_not_at_release": "branch",
                "branch_missing": "branch", "running_commit": "running", "unknown": "unknown"}
_GOES_LIVE = ("deployed", "rollback")


@dataclass
class Finding:
    check: str
    message: str

    def as_dict(self) -> dict:
        return {"check": self.check, "message": self.message}


@dataclass
class Verdict:
    environment: str
    live: str = ""
    commit: str = ""
    live_since: float = 0.0
    window_open: bool = False
    window_end: float = 0.0
    interval: int = DAY
    findings: list[Finding] = field(default_factory=list)
    gauges: list[dict] = field(default_factory=list)
    increments: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def gauge(self, name: str, value: float, **labels: str) -> None:
        self.gauges.append({"name": name, "labels": labels, "value": value})

    def as_dict(self) -> dict:
        return {"ok": self.ok, "environment": self.environment, "live": self.live, "commit": self.commit,
                "live_since": iso(self.live_since),
                "window": {"open": self.window_open, "end": iso(self.window_end), "interval": self.interval},
                "findings": [f.as_dict() for f in self.findings], "gauges": self.gauges, "increments": self.increments,
                "summary": summary_lines(self)}


def iso(epoch: float) -> str:
    if not epoch:
        return ""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """A ledger time (ISO 8601, UTC) as epoch seconds."""
    return _ledger.parse_time(text).timestamp()


def went_live(records: list[dict], live: str) -> dict:
    """The record that put the live tag live: the last deploy or rollback (a later record of another tag would be live)."""
    for record in reversed(records):
        if record.get("event") in _GOES_LIVE:
            return record if record.get("tag") == live else {}
    return {}


def due(observed: dict, last_run: float | None, now: float) -> dict:
    """Whether a scheduled watch (run every close interval) should run now: always inside the post-GA window (and when
    the live release, the last run or its verdict is unknown); after it, once a day while the last watch was green and
    every close interval while it was red (``last_ok``), so that a red watch is looked at again until it is green."""
    window_days = _positive(observed, "window_days", 7)
    close, daily = _positive(observed, "close_interval", 300), _positive(observed, "daily_interval", DAY)
    ledger = observed.get("ledger") or {}
    record = went_live(ledger.get("records", []), ledger.get("live", "")) if ledger.get("live") else {}
    if not record:
        return {"due": True, "reason": "the live release or when it went live is unknown"}
    window_end = parse_time(record["time"]) + window_days * DAY
    if now < window_end:
        return {"due": True, "reason": f"inside the post-GA window (until {iso(window_end)}): every {close} s"}
    if last_run is None:
        return {"due": True, "reason": "after the post-GA window, and no earlier run is on record"}
    if last_run < window_end:
        # the first run after the window: it writes the daily interval the stale alerts then expect
        return {"due": True, "reason": "the post-GA window has just closed: the first daily run"}
    if last_run > now + 60:
        return {"due": True, "reason": f"the last run is recorded {round(last_run - now)} s in the future: the clock moved"}
    if observed.get("last_ok") is not True:
        verdict = "red" if observed.get("last_ok") is False else "of unknown verdict"
        return {"due": True, "reason": f"the last watch was {verdict}: every {close} s until it is green"}
    # a run one close interval early is on time: the schedule fires every close interval
    if now - last_run >= daily - close:
        return {"due": True, "reason": f"after the post-GA window: daily, and the last run was {round(now - last_run)} s ago"}
    return {"due": False, "reason": f"after the post-GA window (closed {iso(window_end)}) the watch runs daily; the last run, green, "
                                    f"was {round(now - last_run)} s ago"}


def _positive(observed: dict, name: str, default: int) -> int:
    value = observed.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConductorError(f"{name} {value!r} is invalid: expected a whole number of seconds (or days) above 0")
    return value


def judge(observed: dict, now: float) -> Verdict:
    """The watch's verdict on one environment from what the playbook observed (see the module docstring)."""
    verdict = Verdict(environment=validate_environment(observed.get("environment")))
    window_days = _positive(observed, "window_days", 7)
    close, daily = _positive(observed, "close_interval", 300), _positive(observed, "daily_interval", DAY)
    ledger = observed.get("ledger") or {}
    verdict.live, verdict.commit = ledger.get("live", ""), ledger.get("live_commit", "")
    env = verdict.environment
    if not verdict.live:
        verdict.findings.append(Finding("live", f"the ledger records no live release for environment {env}: nothing to watch "
                                                "(deploy one first; until then the watch is red)"))
    else:
        record = went_live(ledger.get("records", []), verdict.live)
        if record:
            verdict.live_since = parse_time(record["time"])
            verdict.window_end = verdict.live_since + window_days * DAY
            verdict.window_open = now < verdict.window_end
        else:
            verdict.findings.append(Finding("live", f"the ledger's records name no deploy or rollback of the live {verdict.live} "
                                                    "among those read: when it went live is unknown"))
    observed = {**observed, "proxies": [proxy_observation(r) for r in observed.get("proxies") or []],
                "hosts": [host_observation(h) for h in observed.get("hosts") or []]}
    verify_ok = _verification(verdict, observed, now)
    _served(verdict, observed, str((observed.get("verify") or {}).get("commit") or ""))
    _availability(verdict, observed)
    _drift(verdict, observed)
    _ci(verdict, observed)
    # as due() schedules it: every close interval inside the window and while red, else daily (what the stale alerts expect)
    verdict.interval = close if verdict.window_open or not verdict.ok else daily
    verdict.gauge("maestro_watch_window_open", int(verdict.window_open))
    verdict.gauge("maestro_watch_window_end_timestamp_seconds", round(verdict.window_end))
    verdict.gauge("maestro_watch_interval_seconds", verdict.interval)
    verdict.gauge("maestro_watch_last_run_timestamp_seconds", round(now, 3))
    if verdict.live_since:
        verdict.gauge("maestro_release_live_since_timestamp_seconds", round(verdict.live_since, 3))
    proven = verify_ok and not [f for f in verdict.findings if f.check in ("served", "hosts", "verify", "live")]
    if verdict.live and verdict.commit and proven:
        # only what the watch proved serving: verified, served by every proxy, run by every app host
        verdict.gauge("maestro_release_info", 1, tag=verdict.live, commit=verdict.commit)
    verdict.gauge("maestro_watch_ok", int(verdict.ok))
    for check in CHECKS:
        verdict.gauge("maestro_watch_findings", sum(1 for f in verdict.findings if f.check == check), check=check)
    verdict.increments.append({"name": "maestro_watch_runs_total", "labels": {"result": "pass" if verdict.ok else "fail"}, "by": 1})
    return verdict


def _served(verdict: Verdict, observed: dict, verified_commit: str) -> None:
    """What each proxy sends traffic to and what answers through it, against the ledger's live release and the commit
    its verification found (a live record without a commit is itself a finding: what to compare with is unknown)."""
    if not verdict.live:
        return
    if not verdict.commit:
        verdict.findings.append(Finding("served", f"the ledger's live record of {verdict.live} names no commit"))
    expected = verdict.commit or verified_commit
    proxies = observed.get("proxies") or []
    if not proxies:
        verdict.findings.append(Finding("served", "no proxy was observed: what serves traffic is unknown"))
    for proxy in proxies:
        name, served = proxy.get("proxy", "?"), proxy.get("commit", "")
        if proxy.get("error"):
            verdict.findings.append(Finding("served", f"what proxy {name} serves is unknown: {proxy['error']}"))
        elif not served:
            verdict.findings.append(Finding("served", f"what proxy {name} serves is unknown (no answer naming a commit)"))
        else:
            for commit, whose in ((verdict.commit, f"the ledger's live {verdict.live} is"), (verified_commit, "verification found")):
                if commit and served != commit:
                    verdict.findings.append(Finding("served", f"proxy {name} serves commit {served}, {whose} {commit}"))
                    break
        if proxy.get("drained") and not proxy.get("error"):
            verdict.findings.append(Finding("served", f"proxy {name} keeps {', '.join(proxy['drained'])} out of rotation (drained): "
                                                      "unproven since; make security-updates or a deploy proves it and puts it back"))
    if not expected:
        verdict.findings.append(Finding("served", "no commit to compare what the proxies serve with"))
    colours = sorted({proxy.get("colour") or "none" for proxy in proxies})
    if len(colours) > 1:
        verdict.findings.append(Finding("served", f"the proxies send traffic to different colours ({', '.join(colours)})"))


def live_colour(proxies: list[dict]) -> str:
    """The colour every proxy sends traffic to, or '' when they name none or disagree."""
    colours = {proxy.get("colour") or "" for proxy in proxies or []}
    return colours.pop() if len(colours) == 1 else ""


def _verification(verdict: Verdict, observed: dict, now: float) -> bool:
    """Strict verification of the live release; its verdict, duration and counters. True when it passed."""
    verify = observed.get("verify") or {}
    if not verdict.live:
        return False
    ok = bool(verify.get("ok")) and not verify.get("failed")
    seconds = observed.get("verify_seconds")
    labels = {"source": "watch"}
    if ok:
        verdict.gauge("maestro_verify_last_success_timestamp_seconds", round(now, 3), **labels)
    else:
        failed = verify.get("failed_checks") or []
        reason = ("failed checks: " + ", ".join(failed)) if failed else (verify.get("msg") or "it did not run to a verdict")
        verdict.findings.append(Finding("verify", f"strict verification of the live {verdict.live} FAILED ({reason})"))
    verdict.gauge("maestro_verify_ok", int(ok), **labels)
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        verdict.gauge("maestro_verify_duration_seconds", round(float(seconds), 3), **labels)
    verdict.increments.append({"name": "maestro_verify_runs_total", "labels": {**labels, "result": "pass" if ok else "fail"}, "by": 1})
    return ok


def available(availability: dict | None) -> tuple[bool, list[str]]:
    if not availability:
        return False, ["not checked"]
    if availability.get("failed"):
        return False, [availability.get("msg") or "the check failed"]
    return bool(availability.get("complete")), list(availability.get("problems") or [])


def _availability(verdict: Verdict, observed: dict) -> None:
    store = observed.get("store") or {}
    hosts = observed.get("hosts") or []
    target = observed.get("target") or {}
    if verdict.live:
        live = store.get("live") or {}
        ok, problems = available(live)
        verdict.gauge("maestro_artifact_available", int(ok), artifact="live_release_store")
        if not ok:
            verdict.findings.append(Finding("availability", f"the live {verdict.live} is not complete on the release store: "
                                                            + "; ".join(problems)))
        missing = list(live.get("evidence_missing") or []) if live else ["unknown: the release store was not checked"]
        verdict.gauge("maestro_evidence_missing_files", len(missing))
        if missing:
            verdict.findings.append(Finding("evidence", f"the evidence of the live {verdict.live} is incomplete: " + "; ".join(missing)))
        bad = [f"{h.get('host')}: {(h.get('live') or {}).get('msg') or 'not checked'}" for h in hosts if not (h.get("live") or {}).get("ok")]
        if not hosts:
            bad = ["no app host was checked"]
        verdict.gauge("maestro_artifact_available", int(not bad), artifact="live_app_hosts")
        if bad:
            verdict.findings.append(Finding("hosts", f"the live {verdict.live} is not proven running on every app host: " + "; ".join(bad)))
    if not target.get("tag"):
        if verdict.live:  # with nothing live, the live finding says it all
            verdict.findings.append(Finding("rollback_target", "no rollback target: " + (target.get("error") or "none was found")))
        verdict.gauge("maestro_artifact_available", 0, artifact="rollback_release_store")
        verdict.gauge("maestro_artifact_available", 0, artifact="rollback_app_hosts")
        return
    ok, problems = available(store.get("rollback"))
    verdict.gauge("maestro_artifact_available", int(ok), artifact="rollback_release_store")
    if not ok:
        verdict.findings.append(Finding("availability", f"the rollback target {target['tag']} is not complete on the release store: "
                                                        + "; ".join(problems)))
    bad = []
    for host in hosts:
        ok, problems = available(host.get("rollback"))
        if not ok:
            bad.append(f"{host.get('host')}: " + "; ".join(problems))
    if not hosts:
        bad = ["no app host was checked"]
    verdict.gauge("maestro_artifact_available", int(not bad), artifact="rollback_app_hosts")
    if bad:
        verdict.findings.append(Finding("availability", f"the rollback target {target['tag']} is not complete on every app host "
                                                        "(a rollback would copy it first): " + "; ".join(bad)))


def _drift(verdict: Verdict, observed: dict) -> None:
    drift = observed.get("drift") or {}
    counts = dict.fromkeys(("tag_moved", "tag_deleted", "tag_recreated", "branch", "running", "unknown"), 0)
    if not drift or drift.get("failed") and "findings" not in drift:
        counts["unknown"] = 1
        verdict.findings.append(Finding("drift", "drift could not be checked: " + (drift.get("msg") or "it did not run")))
    else:
        for finding in drift.get("findings") or []:
            counts[_DRIFT_KINDS.get(finding.get("kind"), "unknown")] += 1
            verdict.findings.append(Finding("drift", finding.get("message") or str(finding)))
    for kind, count in counts.items():
        verdict.gauge("maestro_release_drift", count, kind=kind)


def _ci(verdict: Verdict, observed: dict) -> None:
    """The hosted CI's queue and the release's hosted files, when a hosted source is configured."""
    if not observed.get("ci_configured"):
        return
    ci = observed.get("ci") or {}
    if not ci or ci.get("failed"):
        verdict.findings.append(Finding("ci", "the CI queue could not be read: " + (ci.get("msg") or "it did not run")))
        return
    for name in ("queued_workflow_runs", "stuck_workflow_runs", "queued_jobs"):
        if isinstance(ci.get(name), int):
            verdict.gauge(f"maestro_ci_{name}", ci[name])
    if ci.get("complete") is False:
        verdict.findings.append(Finding("ci", "the CI queue was read only in part (the page limit was reached): its depth is a floor"))
    for key, artifact in (("artifacts", "ci_artifacts"), ("release_assets", "release_assets")):
        part = ci.get(key)
        if not part:
            continue
        verdict.gauge("maestro_artifact_available", int(bool(part.get("available"))), artifact=artifact)
        expiry = part.get("earliest_expiry_epoch")
        if isinstance(expiry, (int, float)) and not isinstance(expiry, bool):
            verdict.gauge("maestro_artifact_expiry_timestamp_seconds", expiry, artifact=artifact)
        if not part.get("available"):
            what = "; ".join(str(x) for x in list(part.get("reasons") or []) + [f"{m} missing" for m in part.get("missing") or []])
            verdict.findings.append(Finding("availability", f"the {artifact.replace('_', ' ')} of the live release are not all available: "
                                                            + (what or "see the watch's report")))


def summary_lines(verdict: Verdict) -> list[str]:
    head = (f"{verdict.environment}: {verdict.live or 'no live release'}"
            + (f" ({verdict.commit[:12]}) live since {iso(verdict.live_since)}" if verdict.live_since else "")
            + (f"; post-GA watch window open until {iso(verdict.window_end)}" if verdict.window_open else "; after the watch window")
            + f"; next watch due within {verdict.interval} s")
    if verdict.ok:
        return [head, "GREEN: verified strictly, serving what the ledger says, complete everywhere, no drift"]
    return [head, f"RED: {len(verdict.findings)} finding(s)"] + [f"  {f.check}: {f.message}" for f in verdict.findings]


def proxy_observation(result: dict) -> dict:
    """One proxy's read (a registered M(proxy_flip) loop result without a colour) as the verdict reads it.

    The colour is judged as the switch judges it (``_switch_plan.live_colour``): a server that is no app host, a
    configuration that its answers contradict, or one written but never loaded is an error, never a colour."""
    result = result or {}
    name = str(result.get("item", "?"))
    error = result.get("msg", "") or "failed" if result.get("failed") or result.get("unreachable") else ""
    colour = ""
    if not error:
        try:
            live = proxy_live_colour(name, result.get("observation") or {})
        except ConductorError as exc:
            error = str(exc)
        else:
            colour = live.colour
            if live.repair:
                error = f"proxy {name}: {live.how}"
            elif not colour:
                error = f"proxy {name} sends traffic to neither colour"
    return {"proxy": name, "colour": colour if not error else "", "commit": result.get("serving_commit", "") if not error else "",
            "error": error, "drained": list((result.get("observation") or {}).get("config_drained") or [])}


def host_observation(entry: dict) -> dict:
    """One app host's registered results ({host, live, rollback}) as the verdict reads them."""
    entry = entry or {}
    live = entry.get("live")
    if not live:
        proof = {"ok": False, "msg": "never reported (unreachable, or not in this run)"}
    elif live.get("skipped"):
        proof = {"ok": False, "msg": "not checked: the live release did not verify, or the proxies name no one colour"}
    elif live.get("failed") or live.get("unreachable"):
        proof = {"ok": False, "msg": live.get("msg") or "failed"}
    else:
        proof = {"ok": True, "msg": ""}
    target = entry.get("rollback") or {}
    if target.get("skipped"):
        target = {}
    return {"host": str(entry.get("host", "?")), "live": proof, "rollback": target}
