# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daily verification's verdict and report (playbooks/daily_verify.yml).

It observes what the watch observes, deeper (the watch role with ``watch_deep``): the live release and the
rollback target verified strictly on the release store, every app host's copy of each re-hashed against the
verified manifest, the live colour proven by image ids, what every proxy serves, drift. The verdict is the
watch's findings on those observations plus the rollback target's own verification; its metrics are the
daily verification's own series (never the watch's, which another writer owns). Unknown is red: a check
that did not run is a finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils import _watch
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import DAILY_CHECKS, DEPENDABOT_SEVERITIES
from ansible_collections.maestro.conductor.plugins.module_utils._postmortem import inert_markdown as _cell
from ansible_collections.maestro.conductor.plugins.module_utils._watch import Finding, iso

REPORT_KIND = "maestro.conductor/daily-verification"
REPORT_FORMAT = 1
SOURCE = "daily"


@dataclass
class Daily:
    environment: str
    ok: bool = False
    findings: list[Finding] = field(default_factory=list)
    gauges: list[dict] = field(default_factory=list)
    increments: list[dict] = field(default_factory=list)
    report: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "environment": self.environment, "findings": [f.as_dict() for f in self.findings],
                "gauges": self.gauges, "increments": self.increments, "report": self.report,
                "summary": summary_lines(self.report)}


def _verification(result: dict | None, tag: str) -> dict:
    """A registered M(release_verify) result as the report keeps it."""
    result = result or {}
    if not tag:
        return {"ran": False, "ok": False, "failed_checks": [], "checks": [], "seconds": None, "error": "no release"}
    if result.get("skipped") or not result:
        return {"ran": False, "ok": False, "failed_checks": [], "checks": [], "seconds": None, "error": "not run"}
    checks = [{"name": str(c.get("name", "?")), "ok": bool(c.get("ok")), "detail": str(c.get("detail") or "")[:500]}
              for c in result.get("checks") or [] if isinstance(c, dict)]
    ok = bool(result.get("ok")) and not result.get("failed")
    failed = [str(name) for name in result.get("failed_checks") or []] or [c["name"] for c in checks if not c["ok"]]
    error = "" if ok or failed else str(result.get("msg") or "")
    return {"ran": bool(checks), "ok": ok, "failed_checks": failed, "checks": checks,
            "seconds": result.get("seconds"), "commit": str(result.get("commit") or ""), "error": error[:1000]}


def _host(entry: dict) -> dict:
    """A host's checks of its copies, as the watch judges them (the live colour's proof, the target's availability)."""
    seen = _watch.host_observation(entry)
    target_ok, target_problems = _watch.available(seen["rollback"] or None)
    return {"host": seen["host"], "live": {"ok": seen["live"]["ok"], "problems": [seen["live"]["msg"]] if seen["live"]["msg"] else []},
            "rollback": {"ok": target_ok, "problems": [str(p) for p in target_problems]}}


def _security(entry: dict, checked: bool) -> dict | None:
    """A host's pending security updates as the report keeps them; None when they are not read (watch_security_updates off)."""
    if not checked:
        return None
    found = entry.get("security") or {}
    if (not found or found.get("skipped") or found.get("failed") or found.get("unreachable")
            or not isinstance(found.get("pending"), list)):  # a result that names nothing pending is no reading
        reason = str(found.get("msg") or "never reported (unreachable, or not in this run)")[:500]
        return {"known": False, "count": 0, "oldest_pending_seconds": 0.0, "packages": [], "reboot_required": False, "error": reason}
    pending = [p for p in found.get("pending") or [] if isinstance(p, dict)]
    return {"known": True, "count": len(pending), "oldest_pending_seconds": float(found.get("oldest_pending_seconds") or 0),
            "packages": [f"{p.get('package')} {p.get('installed')} -> {p.get('candidate')} (since {p.get('since')})" for p in pending][:50],
            "reboot_required": bool(found.get("reboot_required")), "error": ""}


def _security_findings(hosts: list[dict], limit: float) -> list[Finding]:
    findings = []
    for host in hosts:
        security = host.get("security")
        if security is None:
            continue
        if not security["known"]:
            findings.append(Finding("security", f"{host['host']}: its pending security updates are unknown ({security['error']})"))
        elif security["count"] and security["oldest_pending_seconds"] > limit:
            days = security["oldest_pending_seconds"] / 86400
            findings.append(Finding("security", f"{host['host']}: {security['count']} security update(s) pending, the oldest for "
                                                f"{days:.1f} days (the limit is {limit / 86400:g})"))
    return findings


def _dependabot(observed: dict) -> dict | None:
    """The hosted repository's open Dependabot alerts as the report keeps them; None when they are not read."""
    if not observed.get("dependabot_checked"):
        return None
    ci = observed.get("ci") or {}
    found = ci.get("dependabot") if isinstance(ci.get("dependabot"), dict) else None
    if ci.get("failed") or found is None or found.get("error"):
        error = (found or {}).get("error") or ci.get("msg") or "not read"
        return {"known": False, "error": str(error), "open": 0, "severities": {}, "alerts": []}
    return {"known": True, "error": "", "open": int(found.get("open") or 0), "severities": dict(found.get("severities") or {}),
            "alerts": list(found.get("alerts") or [])[:50], "complete": bool(found.get("complete", True))}


def _dependabot_findings(dependabot: dict, red: list) -> list[Finding]:
    if not isinstance(red, list) or any(severity not in DEPENDABOT_SEVERITIES for severity in red):
        raise ConductorError(f"dependabot_red_severities {red!r} is invalid: expected a list of {', '.join(DEPENDABOT_SEVERITIES)} "
                             "(maestro_dependabot_red_severities)")
    if not dependabot["known"]:
        return [Finding("security", f"the hosted repository's Dependabot alerts are unknown ({dependabot['error']})")]
    findings = []
    if not dependabot.get("complete", True):
        findings.append(Finding("security", f"the hosted repository's Dependabot alerts were not all read ({dependabot['open']} read, "
                                            "the rest unknown): the severities of the rest are unknown"))
    counted = {severity: dependabot["severities"].get(severity, 0) for severity in red}
    if not any(counted.values()):
        return findings
    named = [f"#{a['number']} {a['package']} ({a['severity']}, {a['advisory'] or 'no advisory id'})" for a in dependabot["alerts"]
             if a.get("severity") in red][:5]
    return findings + [Finding("security", "open Dependabot alerts: "
                               + ", ".join(f"{count} {severity}" for severity, count in counted.items() if count) + ": " + "; ".join(named))]


def judge(observed: dict, now: float) -> Daily:
    """The verdict on one environment; ``observed`` is what the watch's observation gathers (see _watch.judge) plus
    ``target_verify`` (the rollback target's strict verification), ``started`` (epoch seconds) and ``report_paths``."""
    watched = _watch.judge(observed, now)
    daily = Daily(environment=watched.environment, findings=list(watched.findings))
    target = str((observed.get("target") or {}).get("tag") or "")
    live = _verification(observed.get("verify"), watched.live)
    rollback = _verification(observed.get("target_verify"), target)
    if target and not rollback["ok"]:
        reason = ("failed checks: " + ", ".join(rollback["failed_checks"])) if rollback["failed_checks"] else rollback["error"] or "no verdict"
        daily.findings.append(Finding("rollback_verify", f"strict verification of the rollback target {target} FAILED ({reason})"))
    checked = bool(observed.get("security_checked"))
    hosts = [{**_host(entry), "security": _security(entry, checked)} for entry in observed.get("hosts") or []]
    limit = observed.get("security_pending_limit", 7 * 86400)
    if checked and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0):
        raise ConductorError(f"security_pending_limit {limit!r} is invalid: expected seconds above 0 (maestro_security_pending_limit)")
    daily.findings += _security_findings(hosts, float(limit))
    dependabot = _dependabot(observed)
    if dependabot is not None:
        daily.findings += _dependabot_findings(dependabot, observed.get("dependabot_red_severities", ["critical", "high"]))
    daily.ok = not daily.findings
    started = observed.get("started")
    seconds = round(now - started, 3) if isinstance(started, (int, float)) and not isinstance(started, bool) else None
    daily.report = {
        "kind": REPORT_KIND, "format_version": REPORT_FORMAT, "environment": daily.environment, "ok": daily.ok,
        "started": iso(started) if seconds is not None else "", "finished": iso(now), "seconds": seconds,
        "live": {"tag": watched.live, "commit": watched.commit, "verification": live},
        "rollback": {"tag": target, "error": str((observed.get("target") or {}).get("error") or "") if not target else "",
                     "verification": rollback},
        "proxies": [_watch.proxy_observation(r) for r in observed.get("proxies") or []],
        "hosts": hosts,
        "dependabot": dependabot,
        "findings": [f.as_dict() for f in daily.findings],
    }
    _metrics(daily, live, now)
    return daily


def _metrics(daily: Daily, live: dict, now: float) -> None:
    def gauge(name: str, value: float, **labels: str) -> None:
        daily.gauges.append({"name": name, "labels": labels, "value": value})

    result = "pass" if daily.ok else "fail"
    gauge("maestro_daily_verify_ok", int(daily.ok))
    gauge("maestro_daily_verify_last_run_timestamp_seconds", round(now, 3))
    for check in DAILY_CHECKS:
        gauge("maestro_daily_verify_findings", sum(1 for f in daily.findings if f.check == check), check=check)
    if daily.report["seconds"] is not None:
        gauge("maestro_daily_verify_duration_seconds", daily.report["seconds"])
    daily.increments.append({"name": "maestro_daily_verify_runs_total", "labels": {"result": result}, "by": 1})
    for host in daily.report["hosts"]:
        if host["security"] and host["security"]["known"]:
            gauge("maestro_security_updates_pending", host["security"]["count"], host=host["host"])
            gauge("maestro_security_updates_oldest_pending_seconds", host["security"]["oldest_pending_seconds"], host=host["host"])
    dependabot = daily.report.get("dependabot")
    if dependabot and dependabot["known"] and dependabot.get("complete", True):  # an undercount is never written as the count
        for severity in DEPENDABOT_SEVERITIES:
            gauge("maestro_dependabot_alerts_open", dependabot["severities"].get(severity, 0), severity=severity)
    if daily.report["live"]["tag"]:
        gauge("maestro_verify_ok", int(live["ok"]), source=SOURCE)
        if live["ok"]:
            gauge("maestro_verify_last_success_timestamp_seconds", round(now, 3), source=SOURCE)
        if isinstance(live["seconds"], (int, float)) and not isinstance(live["seconds"], bool):
            gauge("maestro_verify_duration_seconds", round(float(live["seconds"]), 3), source=SOURCE)
        daily.increments.append({"name": "maestro_verify_runs_total", "labels": {"source": SOURCE, "result": "pass" if live["ok"] else "fail"},
                                 "by": 1})


def summary_lines(report: dict) -> list[str]:
    live, rollback = report.get("live") or {}, report.get("rollback") or {}
    head = (f"daily verification of {report.get('environment')}: live {live.get('tag') or 'none'}, "
            f"rollback target {rollback.get('tag') or 'none'}")
    findings = report.get("findings") or []
    if report.get("ok"):
        return [head, "GREEN: both verified strictly on the release store, every app host's copies re-hashed, "
                      "the live colour proven, served by every proxy, no drift"]
    return [head, f"RED: {len(findings)} finding(s)"] + [f"  {f['check']}: {f['message']}" for f in findings]


def _security_cell(security: dict | None) -> str:
    if security is None:
        return "not read"
    if not security["known"]:
        return f"UNKNOWN: {security['error']}"
    if not security["count"]:
        return "none"
    reboot = "; a reboot is required" if security["reboot_required"] else ""
    return f"{security['count']}: {', '.join(security['packages'])}{reboot}"


def render_markdown(report: dict) -> str:
    live, rollback = report.get("live") or {}, report.get("rollback") or {}
    lines = [f"# Daily verification: {_cell(report.get('environment'))}", "",
             f"**{'GREEN' if report.get('ok') else 'RED'}** at {_cell(report.get('finished'))}"
             + (f" ({report['seconds']} s)" if report.get("seconds") is not None else ""), "",
             "| release | tag | commit | strict verification on the release store |", "|---|---|---|---|"]
    for role, part in (("live", live), ("rollback target", rollback)):
        verification = part.get("verification") or {}
        failed = ", ".join(verification.get("failed_checks") or []) or verification.get("error") or "no verdict"
        state = "passed" if verification.get("ok") else f"FAILED: {failed}"
        lines.append(f"| {role} | {_cell(part.get('tag') or 'none')} | {_cell((part.get('commit') or verification.get('commit') or '')[:12])} "
                     f"| {_cell(state if part.get('tag') else part.get('error') or 'none')} |")
    lines += ["", "| app host | live colour and copy | rollback target's copy | security updates pending |", "|---|---|---|---|"]
    for host in report.get("hosts") or []:
        cells = ["proven" if host[k]["ok"] else "RED: " + "; ".join(host[k]["problems"]) for k in ("live", "rollback")]
        lines.append(f"| {_cell(host['host'])} | {_cell(cells[0])} | {_cell(cells[1])} | {_cell(_security_cell(host.get('security')))} |")
    dependabot = report.get("dependabot")
    if dependabot:
        lines += ["", "| hosted repository's open Dependabot alerts | |", "|---|---|"]
        if not dependabot["known"]:
            lines.append(f"| UNKNOWN | {_cell(dependabot['error'])} |")
        else:
            lines.append(f"| open | {'' if dependabot.get('complete', True) else 'at least '}{dependabot['open']} ("
                         + ", ".join(f"{dependabot['severities'].get(s, 0)} {s}" for s in DEPENDABOT_SEVERITIES) + ") |")
            lines += [f"| #{a['number']} {_cell(a['package'])} | {_cell(a['severity'])}: {_cell(a['advisory'])} {_cell(a['summary'])} |"
                      for a in dependabot["alerts"][:20]]
    lines += ["", "| proxy | colour | serves commit |", "|---|---|---|"]
    for proxy in report.get("proxies") or []:
        lines.append(f"| {_cell(proxy.get('proxy'))} | {_cell(proxy.get('colour') or '-')} | "
                     f"{_cell(proxy.get('error') or (proxy.get('commit') or '')[:12] or 'unknown')} |")
    lines += ["", "## Findings", ""]
    lines += [f"- {_cell(f['check'])}: {_cell(f['message'])}" for f in report.get("findings") or []] or ["None."]
    return "\n".join(lines) + "\n"
