# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""make status: one screen per environment, from the ledger and the metrics.

The ledger says what is live, since when, and the last time to green; the writers' textfiles say the last
verification, the watch's verdict and drift; Prometheus, when one is configured, says the pass rate over a day and
which alerts are open. What cannot be read is shown as unknown, never as fine.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

from ansible_collections.maestro.conductor.plugins.module_utils import _metrics
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import validate_environment
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import WRITERS
from ansible_collections.maestro.conductor.plugins.module_utils._urls import has_credentials, strip_credentials
from ansible_collections.maestro.conductor.plugins.module_utils._watch import iso, parse_time, went_live

_MAX_ANSWER = 4 * 1024 * 1024


@dataclass
class Status:
    environment: str
    live: str = ""
    commit: str = ""
    since: str = ""
    how: str = ""
    time_to_green: float | None = None
    time_to_green_at: str = ""
    verification: dict = field(default_factory=dict)
    pass_rate: dict = field(default_factory=dict)
    watch: dict = field(default_factory=dict)
    drift: dict = field(default_factory=dict)
    alerts: list[dict] | None = None
    prometheus: str = ""
    unknown: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(vars(self))


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def read_textfiles(directory: str, environment: str) -> tuple[dict[str, list[tuple[str, str, dict, float]]], list[str]]:
    """Every sample of the environment's writers' files in ``directory``, by writer; and what could not be read."""
    samples: dict[str, list] = {}
    unreadable = []
    for writer in WRITERS:
        path = _metrics.textfile_path(directory, writer, environment)
        try:
            text, _own, problem = _metrics.read_textfile(path, writer, environment)
        except ConductorError as exc:
            unreadable.append(str(exc))
            continue
        if problem:
            unreadable.append(f"{path}: {problem}")
        elif text:
            samples[writer] = _metrics.parse(text)
    return samples, unreadable


def _values(samples: list, name: str) -> list[tuple[dict, float]]:
    return [(labels, value) for sample_name, _kind, labels, value in samples if sample_name == name]


def from_ledger(status: Status, records: list[dict], live: str, live_commit: str) -> None:
    status.live, status.commit = live, live_commit
    record = went_live(records, live) if live else {}
    if record:
        status.since, status.how = record["time"], record["event"] + (f" from {record['from_tag']}" if record.get("from_tag") else "")
    switches = [r for r in records if r.get("event") in ("deployed", "rollback") and "time_to_green" in (r.get("durations") or {})]
    if switches:
        status.time_to_green = float(switches[-1]["durations"]["time_to_green"])
        status.time_to_green_at = switches[-1]["time"]


def from_metrics(status: Status, by_writer: dict[str, list]) -> None:
    """The last verification (of any procedure), the watch's verdict (from the watch's own file only), drift, and the
    all-time pass rate the files hold."""
    samples = [sample for writer_samples in by_writer.values() for sample in writer_samples]
    successes = [value for _labels, value in _values(samples, "maestro_verify_last_success_timestamp_seconds")]
    oks = {labels.get("source"): value for labels, value in _values(samples, "maestro_verify_ok")}
    durations = {labels.get("source"): value for labels, value in _values(samples, "maestro_verify_duration_seconds")}
    watch_ok = oks.get("watch")
    if watch_ok is not None:
        status.verification = {"source": "watch", "ok": bool(watch_ok), "seconds": durations.get("watch")}
    elif oks:
        # which procedure verified last is not recorded: each one's last verdict is shown, a failure first
        sources = sorted(oks, key=lambda source: (bool(oks[source]), source))
        status.verification = {"source": ", ".join(f"{'PASS' if oks[s] else 'FAIL'} by {s}" for s in sources),
                               "ok": all(bool(oks[s]) for s in sources), "seconds": None}
    if successes:
        status.verification["last_success"] = iso(max(successes))
    runs = _values(samples, "maestro_verify_runs_total")
    passed = sum(value for labels, value in runs if labels.get("result") == "pass")
    failed = sum(value for labels, value in runs if labels.get("result") == "fail")
    if passed + failed:
        status.pass_rate = {"window": "all time (textfiles)", "passed": int(passed), "failed": int(failed),
                            "rate": passed / (passed + failed)}
    # the watch's verdict as the watch wrote it: a scheduled watch decides from it whether it is due (unknown is None)
    gauges = {name: value for name, _kind, labels, value in by_writer.get("watch", [])
              if name.startswith("maestro_watch_") and not labels.keys() - {"environment"}}
    if "maestro_watch_last_run_timestamp_seconds" in gauges:
        ok = gauges.get("maestro_watch_ok")
        status.watch = {"ok": None if ok is None else ok == 1, "last_run": gauges["maestro_watch_last_run_timestamp_seconds"],
                        "window_open": bool(gauges.get("maestro_watch_window_open", 0)),
                        "window_end": gauges.get("maestro_watch_window_end_timestamp_seconds", 0),
                        "interval": gauges.get("maestro_watch_interval_seconds", 0)}
    drift = {labels.get("kind"): int(value) for labels, value in _values(samples, "maestro_release_drift")}
    if drift:
        status.drift = drift


# --- Prometheus ------------------------------------------------------------------------------------------------------

def validate_prometheus_url(url: object) -> str:
    text = url if isinstance(url, str) else ""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or has_credentials(text) or parts.username or parts.query:
        raise ConductorError(f"prometheus_url {strip_credentials(text)!r} is invalid: expected Prometheus's http(s):// URL without "
                             "credentials or a query, such as http://127.0.0.1:9090")
    return text.rstrip("/")


def _get(url: str, timeout: float) -> dict:
    try:
        answer = open_url(url, method="GET", timeout=timeout, follow_redirects="none", headers={"Accept": "application/json"})
        document = json.loads(answer.read(_MAX_ANSWER))
    except HTTPError as exc:
        raise ConductorError(f"{strip_credentials(url)} answered HTTP {exc.code}") from None
    except (URLError, OSError, ValueError) as exc:
        raise ConductorError(f"{strip_credentials(url)} did not answer ({getattr(exc, 'reason', exc)})") from None
    if not isinstance(document, dict) or document.get("status") != "success":
        raise ConductorError(f"{strip_credentials(url)} did not answer success")
    return document.get("data") or {}


def pass_rate_query(environment: str) -> str:
    selector = f'maestro_verify_runs_total{{environment="{environment}"}}'
    return f'sum by (result) (increase({selector}[1d]))'


def from_prometheus(status: Status, url: str, timeout: float = 5.0) -> None:
    """The pass rate over the last day and the open alerts of the environment, from Prometheus's HTTP API."""
    base = validate_prometheus_url(url)
    try:
        data = _get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": pass_rate_query(status.environment)}), timeout)
        by_result = {item["metric"].get("result"): float(item["value"][1]) for item in data.get("result", [])}
        total = sum(by_result.values())
        if total > 0:
            status.pass_rate = {"window": "the last day (Prometheus)", "passed": round(by_result.get("pass", 0.0)),
                                "failed": round(by_result.get("fail", 0.0)), "rate": by_result.get("pass", 0.0) / total}
        groups = _get(f"{base}/api/v1/rules", timeout).get("groups", [])
        if not any(rule.get("name", "").startswith("Maestro") for group in groups for rule in group.get("rules", [])):
            raise ConductorError("it has no Maestro alert rules loaded (roles/monitoring installs them): open alerts are unknown")
        alerts = _get(f"{base}/api/v1/alerts", timeout).get("alerts", [])
        status.alerts = sorted(({"name": a["labels"].get("alertname", "?"), "severity": a["labels"].get("severity", ""),
                                 "state": a.get("state", ""), "since": a.get("activeAt", "")}
                                for a in alerts if a.get("labels", {}).get("environment") in (status.environment, None)
                                and a.get("labels", {}).get("alertname", "").startswith("Maestro")), key=lambda a: a["name"])
    except (ConductorError, KeyError, TypeError, ValueError) as exc:
        status.unknown.append(f"Prometheus: {exc}")


# --- the screen --------------------------------------------------------------------------------------------------------

def gather(environment: str, records: list[dict], live: str, live_commit: str, textfile_dir: str, prometheus_url: str,
           now: float) -> Status:
    status = Status(environment=validate_environment(environment))
    from_ledger(status, records, live, live_commit)
    if textfile_dir:
        samples, unreadable = read_textfiles(textfile_dir, environment)
        status.unknown += unreadable
        from_metrics(status, samples)
    if prometheus_url:
        status.prometheus = prometheus_url
        from_prometheus(status, prometheus_url)
    return status


def lines(status: Status, now: float) -> list[str]:
    out = [f"== {status.environment} =="]
    if status.live:
        since = f" since {status.since} ({_ago(now - parse_time(status.since))}, {status.how})" if status.since else ""
        out.append(f"live:               {status.live} ({status.commit[:12] or 'commit unknown'}){since}")
    else:
        out.append("live:               none recorded in the ledger")
    verification = status.verification
    if verification:
        seconds = f" in {verification['seconds']:.2f} s" if verification.get("seconds") is not None else ""
        last = f"; last pass {verification['last_success']}" if verification.get("last_success") else ""
        out.append(f"last verification:  {'PASS' if verification['ok'] else 'FAIL'}{seconds} ({verification['source']}){last}")
    else:
        out.append("last verification:  unknown (no metrics: run make watch)")
    rate = status.pass_rate
    out.append(f"pass rate:          {rate['rate']:.1%} over {rate['window']} ({rate['passed']} passed, {rate['failed']} failed)"
               if rate else "pass rate:          unknown (no verification counted)")
    out.append(f"last time-to-green: {status.time_to_green:.2f} s ({status.time_to_green_at})" if status.time_to_green is not None
               else "last time-to-green: none recorded")
    if status.drift:
        found = ", ".join(f"{kind} {count}" for kind, count in sorted(status.drift.items()) if count)
        out.append(f"drift:              {found or 'none'}")
    else:
        out.append("drift:              unknown (no watch metrics)")
    watch = status.watch
    if watch:
        stale = watch["interval"] and now - watch["last_run"] > 2 * watch["interval"]
        window = (f"; post-GA window open until {iso(watch['window_end'])}" if watch["window_open"] and watch["window_end"] > now
                  else "; after the post-GA window")
        verdict = "STALE (it stopped: what it said is old)" if stale else ("GREEN" if watch["ok"] else "RED")
        out.append(f"watch:              {verdict}, last run {_ago(now - watch['last_run'])}{window}")
    else:
        out.append("watch:              unknown (no watch metrics: run make watch)")
    if status.alerts is None:
        out.append("open alerts:        unknown (" + ("Prometheus: see below" if status.prometheus
                                                      else "no Prometheus configured: maestro_prometheus_url") + ")")
    else:
        out.append("open alerts:        " + (", ".join(f"{a['name']} ({a['severity']}, {a['state']} since {a['since'][:19]})"
                                                       for a in status.alerts) or "none"))
    out += [f"unknown:            {text}" for text in status.unknown]
    return out
