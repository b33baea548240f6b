# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The post-GA watch's alert rules, mixin style: a Prometheus rule file made in Python from a small config.

Every alert is named ``Maestro...``, carries ``severity`` (critical pages, warning is a ticket) and the annotations
``summary``, ``description`` (the environment and the values) and ``runbook_url`` (its section of docs/alerts.md).
The metric names come from the catalogue, so a renamed metric breaks a unit test, not a page at night.
``metrics_markdown`` writes docs/metrics.md from the same catalogue, with the alerts that watch each metric.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import validate_environment
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import ARTIFACTS, SPECS, Spec

# galaxy.yml's repository (a unit test keeps them equal): the runbooks live beside the code
REPOSITORY = "https://example.invalid/maestro/conductor"
RUNBOOK_BASE_URL = f"{REPOSITORY}/blob/main/docs/alerts.md"
RULES_SOURCE = "plugins/module_utils/_alert_rules.py"

# what the watch writes on every run, for every environment: one of them gone means the watch (or its path to
# Prometheus) is broken for that environment, and the alerts built on it are blind. Not maestro_release_info: the
# watch withdraws it while the live release fails verification, which has its own alert.
DEFAULT_ABSENT_METRICS = (
    "maestro_watch_last_run_timestamp_seconds",
    "maestro_watch_interval_seconds",
    "maestro_verify_ok",
    "maestro_verify_duration_seconds",
    "maestro_verify_runs_total",
    "maestro_evidence_missing_files",
    "maestro_release_drift",
    "maestro_artifact_available",
)

# the artifact sets a rollback or a restore needs: losing one pages, a hosted source's files do not
_CRITICAL_ARTIFACTS = tuple(a for a in ARTIFACTS if a.startswith(("live_", "rollback_")))

# label matchers as PromQL writes them: name op "value", comma separated
_MATCHER = r'[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\\n]|\\.)*"'
_SELECTOR_RE = re.compile(rf"(?:{_MATCHER})(?:\s*,\s*{_MATCHER})*")
_URL_RE = re.compile(r"https?://[^\s\"'<>#{}|\\^`]+")
_DAY = 86400
# words YAML reads as strings when bare: names, severities, durations (never true/false/null or a number)
_PLAIN_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*|[0-9]+[smhdwy]")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}


@dataclass(frozen=True)
class Config:
    """What an operator tunes; every field but ``environments`` has a default."""

    # the environments the watch covers: absent() needs them named, as it cannot notice what it never saw
    environments: tuple[str, ...]
    # the series node_exporter's scrape gives the textfile collector's own metrics
    textfile_selector: str = 'job="node"'
    # the watch's pushed series: with honor_labels the job is the one pushed (maestro_watch), not the scrape's
    pushgateway_selector: str = 'job="maestro_watch"'
    verify_latency_seconds: float = 30
    ci_queued_runs_high: float = 20
    restore_drill_overdue_days: float = 35
    # a day between runs, and two hours' slack for a timer's randomized delay and a long run
    daily_verify_overdue_hours: float = 26
    # a week between runs, and a day's slack
    weekly_validation_overdue_days: float = 8
    # how long an app host's security updates may wait (the daily verification's limit, maestro_security_pending_limit)
    security_pending_days: float = 7
    artifact_expiry_warning_days: float = 7
    # metrics are stale once the watch missed two runs and this grace on top
    stale_grace_seconds: float = 600
    absent_metrics: tuple[str, ...] = DEFAULT_ABSENT_METRICS
    runbook_base_url: str = RUNBOOK_BASE_URL


def config_from(value: Config | Mapping | None, require_environments: bool = True) -> Config:
    """A Config from a mapping of its fields (as a role passes them), validated; names the field that is wrong.

    The dashboard takes its environments from the data, so it asks with ``require_environments=False``.
    """
    if value is None and not require_environments:
        value = {}
    if isinstance(value, Config):
        value = {f.name: getattr(value, f.name) for f in fields(Config)}
    if not isinstance(value, Mapping):
        raise ConductorError(f"alert rules config must be a mapping, got {type(value).__name__}")
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConductorError(f"alert rules config: unknown field(s) {', '.join(map(str, unknown))}; "
                             f"expected some of {', '.join(sorted(known))}")
    given = {k: v for k, v in value.items() if v is not None}
    if "environments" not in given and require_environments:
        raise ConductorError("alert rules config: environments is required (a list of environment names)")
    defaults = Config(environments=())
    out = {}
    out["environments"] = _names("environments", given.get("environments", ()), validate_environment)
    if not out["environments"] and require_environments:
        raise ConductorError("alert rules config: environments is empty; expected at least one environment name")
    for name in ("textfile_selector", "pushgateway_selector"):
        out[name] = _selector(name, given.get(name, getattr(defaults, name)))
    for name in ("verify_latency_seconds", "ci_queued_runs_high", "restore_drill_overdue_days", "artifact_expiry_warning_days",
                 "daily_verify_overdue_hours", "weekly_validation_overdue_days", "security_pending_days"):
        out[name] = _number(name, given.get(name, getattr(defaults, name)), positive=True)
    out["stale_grace_seconds"] = _number("stale_grace_seconds", given.get("stale_grace_seconds", defaults.stale_grace_seconds))
    out["absent_metrics"] = _names("absent_metrics", given.get("absent_metrics", defaults.absent_metrics), _catalogued)
    url = given.get("runbook_base_url", defaults.runbook_base_url)
    if not isinstance(url, str) or not _URL_RE.fullmatch(url):
        raise ConductorError(f"alert rules config: runbook_base_url {url!r} is invalid: expected an http(s) URL without a fragment")
    out["runbook_base_url"] = url
    return Config(**out)


def _names(field: str, value: object, check) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConductorError(f"alert rules config: {field} must be a list, got {value!r}")
    try:
        names = tuple(check(item) for item in value)
    except ConductorError as exc:
        raise ConductorError(f"alert rules config: {field}: {exc}") from exc
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConductorError(f"alert rules config: {field} lists {', '.join(duplicates)} more than once")
    return names


def _catalogued(name: object) -> str:
    if not isinstance(name, str) or name not in SPECS:
        raise ConductorError(f"metric {name!r} is not in the metric catalogue (plugins/module_utils/_metric_catalogue.py)")
    return name


def _selector(field: str, value: object) -> str:
    if not isinstance(value, str) or not (value == "" or _SELECTOR_RE.fullmatch(value.strip())):
        raise ConductorError(f"alert rules config: {field} {value!r} is invalid: expected PromQL label matchers such as job=\"node\"")
    return value.strip()


def _number(field: str, value: object, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or (positive and value == 0):
        expected = "a positive number" if positive else "a non-negative number"
        raise ConductorError(f"alert rules config: {field} {value!r} is invalid: expected {expected}")
    # 30.0 from a role's float is 30: the same rule file and dashboard whatever the number's type
    return int(value) if float(value).is_integer() else float(value)


def num(value: float) -> str:
    """A number as PromQL and people read it: 30, not 30.0."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def matchers(*parts: str) -> str:
    """``{a, b}`` from the non-empty parts, or '' when there are none."""
    kept = [p for p in parts if p]
    return "{" + ", ".join(kept) + "}" if kept else ""


@dataclass(frozen=True)
class Alert:
    name: str
    group: str
    severity: str
    expr: str
    summary: str
    description: str
    for_: str = ""
    # the metrics it reads, for docs/metrics.md
    metrics: tuple[str, ...] = ()

    def rule(self, config: Config) -> dict:
        rule: dict = {"alert": self.name, "expr": self.expr}
        if self.for_:
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {"summary": self.summary, "description": self.description,
                               "runbook_url": f"{config.runbook_base_url}#{anchor(self.name)}"}
        return rule


def anchor(alert_name: str) -> str:
    """The anchor a Markdown renderer gives the heading ``## <alert_name>``."""
    return alert_name.lower()


_ENV = "{{ $labels.environment }}"
# the live tag, read when the alert fires (the info metric names only a release the watch proved serving); an alert
# must not depend on it being there
_LIVE_TAG = ('{{ with printf "maestro_release_info{environment=%q}" $labels.environment | query }}'
             '{{ . | first | label "tag" }}{{ else }}not proven{{ end }}')
_INTERVAL = ('{{ with printf "max(maestro_watch_interval_seconds{environment=%q})" $labels.environment | query }}'
             '{{ . | first | value | humanizeDuration }}{{ else }}(interval not reported){{ end }}')


def alerts(config: Config | Mapping) -> list[Alert]:
    """Every alert, in the order of the rule file."""
    c = config_from(config)
    latency, overdue, expiry = num(c.verify_latency_seconds), num(c.restore_drill_overdue_days), num(c.artifact_expiry_warning_days)
    # how old the watch's output may grow: two runs missed, plus the grace
    stale_limit = f"(2 * max by (environment) (maestro_watch_interval_seconds) + {num(c.stale_grace_seconds)})"
    critical_artifacts = "|".join(_CRITICAL_ARTIFACTS)
    textfile = matchers(c.textfile_selector, 'file=~"(?:.*/)?maestro_watch_.+[.]prom"')
    return [
        Alert("MaestroVerificationFailed", "maestro-release", "critical",
              'maestro_verify_ok{source="watch"} == 0',
              f"The live release of {_ENV} failed verification.",
              f"The watch's strict verification of the live release of {_ENV} failed on its last run: what serves traffic is "
              "not the release that was signed and recorded, or it could not be checked.",
              metrics=("maestro_verify_ok",)),
        Alert("MaestroServingUnproven", "maestro-release", "critical",
              'maestro_watch_findings{check=~"live|served|hosts"} > 0',
              f"What serves traffic in {_ENV} is not proven to be the live release ({{{{ $labels.check }}}}).",
              f"The watch of {_ENV} could not prove that what serves traffic is the verified live release: {{{{ $value }}}} "
              "finding(s) of its check {{ $labels.check }} (a proxy serving another commit, sending traffic to a server that is "
              "no app host, or to another colour than the others; an app host not running the release by image id; a ledger "
              "that does not say what is live).",
              metrics=("maestro_watch_findings",)),
        Alert("MaestroWatchRed", "maestro-release", "warning",
              "maestro_watch_ok == 0",
              f"The post-GA watch of {_ENV} is red.",
              f"The watch of {_ENV} found something red, or something it could not check, on every run for 10 minutes; its "
              "output and maestro_watch_findings name the checks.",
              for_="10m", metrics=("maestro_watch_ok", "maestro_watch_findings")),
        Alert("MaestroVerificationSlow", "maestro-release", "warning",
              f"maestro_verify_duration_seconds > {latency}",
              f"Verification in {_ENV} takes longer than {latency} s.",
              f"The last verification in {_ENV} by {{{{ $labels.source }}}} took {{{{ $value | humanizeDuration }}}}; "
              f"the target is under {latency} s.",
              for_="15m", metrics=("maestro_verify_duration_seconds",)),
        Alert("MaestroVerificationPassRateLow", "maestro-release", "warning",
              _day_count('result="pass"') + "\n/\n" + _day_count("") + "\n< 1",
              f"Verification pass rate in {_ENV} is below 100% over a day.",
              f"{{{{ $value | humanizePercentage }}}} of the verifications in {_ENV} passed over the last day (every procedure "
              "that verifies counted); the target is 100%.",
              metrics=("maestro_verify_runs_total",)),
        Alert("MaestroEvidenceMissing", "maestro-release", "warning",
              "maestro_evidence_missing_files > 0",
              f"Evidence of the live release of {_ENV} is missing.",
              f"{{{{ $value }}}} evidence file(s) or record(s) of the live release of {_ENV} are missing or incomplete.",
              for_="10m", metrics=("maestro_evidence_missing_files",)),
        Alert("MaestroReleaseDrift", "maestro-release", "critical",
              "maestro_release_drift > 0",
              f"Release drift in {_ENV}: {{{{ $labels.kind }}}}.",
              f"The watch found {{{{ $value }}}} drift finding(s) of kind {{{{ $labels.kind }}}} in {_ENV} (live release {_LIVE_TAG}); "
              "kind unknown means a check could not be made, which counts as drift.",
              for_="10m", metrics=("maestro_release_drift", "maestro_release_info")),
        Alert("MaestroArtifactUnavailable", "maestro-artifacts", "critical",
              f'maestro_artifact_available{{artifact=~"{critical_artifacts}"}} == 0',
              f"Artifact set {{{{ $labels.artifact }}}} of {_ENV} is unavailable.",
              f"The artifact set {{{{ $labels.artifact }}}} of {_ENV} is incomplete or unreachable: a rollback or restore that "
              "needs it would fail.",
              for_="10m", metrics=("maestro_artifact_available",)),
        Alert("MaestroArtifactUnavailable", "maestro-artifacts", "warning",
              f'maestro_artifact_available{{artifact!~"{critical_artifacts}"}} == 0',
              f"Artifact set {{{{ $labels.artifact }}}} of {_ENV} is unavailable.",
              f"The hosted files {{{{ $labels.artifact }}}} of the live release of {_ENV} are missing, expired or unreachable.",
              for_="30m", metrics=("maestro_artifact_available",)),
        Alert("MaestroArtifactExpiring", "maestro-artifacts", "warning",
              f"maestro_artifact_expiry_timestamp_seconds - time() < {num(c.artifact_expiry_warning_days * _DAY)}",
              f"Hosted files of {_ENV} expire within {expiry} days.",
              f"The earliest of the hosted files {{{{ $labels.artifact }}}} of {_ENV} expires in {{{{ $value | humanizeDuration }}}}.",
              for_="30m", metrics=("maestro_artifact_expiry_timestamp_seconds",)),
        Alert("MaestroCIQueueHigh", "maestro-ci", "warning",
              f"maestro_ci_queued_workflow_runs > {num(c.ci_queued_runs_high)}",
              f"The CI queue of {_ENV} is long.",
              f"{{{{ $value }}}} CI workflow runs are queued for {_ENV}, not counting stuck ones; "
              f"the threshold is {num(c.ci_queued_runs_high)}.",
              for_="15m", metrics=("maestro_ci_queued_workflow_runs",)),
        Alert("MaestroCIRunsStuck", "maestro-ci", "warning",
              "maestro_ci_stuck_workflow_runs > 0",
              f"CI workflow runs of {_ENV} are stuck in the queue.",
              f"{{{{ $value }}}} CI workflow run(s) of {_ENV} have been queued for longer than the stuck floor.",
              for_="15m", metrics=("maestro_ci_stuck_workflow_runs",)),
        Alert("MaestroRestoreDrillOverdue", "maestro-drills", "warning",
              f"time() - maestro_restore_drill_last_success_timestamp_seconds > {num(c.restore_drill_overdue_days * _DAY)}",
              f"The restore drill of {_ENV} is overdue.",
              f"The last successful restore drill of {_ENV} was {{{{ $value | humanizeDuration }}}} ago; one is due every {overdue} days.",
              for_="1h", metrics=("maestro_restore_drill_last_success_timestamp_seconds",)),
        Alert("MaestroRestoreDrillNeverSucceeded", "maestro-drills", "warning",
              "\nor\n".join(f'absent(maestro_restore_drill_last_success_timestamp_seconds{{environment="{e}"}})' for e in c.environments),
              f"No restore drill of {_ENV} has succeeded.",
              f"No successful restore drill of {_ENV} is on record: nobody has shown that its releases can be restored.",
              for_="1h", metrics=("maestro_restore_drill_last_success_timestamp_seconds",)),
        *_scheduled_check("DailyVerification", "daily verification", "maestro_daily_verify", c.environments,
                          c.daily_verify_overdue_hours * 3600, f"day (overdue after {num(c.daily_verify_overdue_hours)} hours)",
                          "found something red, or something it could not check: the live release or the rollback target failed "
                          "strict verification, an app host's copy does not hash to the verified manifest, or what serves is not "
                          "proven. Its report and maestro_daily_verify_findings name the checks.",
                          "nobody checks every day that the live release and the rollback target are still what was verified.",
                          ("maestro_daily_verify_ok", "maestro_daily_verify_findings")),
        *_scheduled_check("WeeklyValidation", "weekly validation", "maestro_weekly_validation", c.environments,
                          c.weekly_validation_overdue_days * _DAY,
                          f"week (overdue after {num(c.weekly_validation_overdue_days)} days)",
                          "found a release in the audit window that is invalid, or one it could not check; a rollback target "
                          "proven bad was quarantined. Its report names each release and each problem.",
                          "the releases in the audit window are not being checked.",
                          ("maestro_weekly_validation_ok", "maestro_weekly_validation_releases")),
        Alert("MaestroSecurityUpdatesPending", "maestro-maintenance", "warning",
              f"max by (environment, host) (maestro_security_updates_oldest_pending_seconds)\n> {num(c.security_pending_days * _DAY)}",
              f"{{{{ $labels.host }}}} of {_ENV} has security updates pending for too long.",
              f"An app host of {_ENV}, {{{{ $labels.host }}}}, has had a security update pending for {{{{ $value | humanizeDuration }}}} "
              f"(the limit is {num(c.security_pending_days)} days). The daily verification's report names each package.",
              metrics=("maestro_security_updates_oldest_pending_seconds", "maestro_security_updates_pending")),
        Alert("MaestroRetentionFailed", "maestro-maintenance", "warning", "maestro_retention_ok == 0",
              f"What the audit window of {_ENV} needs is not all kept.",
              f"The last retention check of {_ENV} found a release inside the audit window incomplete on the release store, "
              "a release the ledger saw live gone from it, or the hosted CI keeping evidence for less than the window (or "
              "could not ask it). Its report names each problem.",
              metrics=("maestro_retention_ok", "maestro_retention_releases")),
        Alert("MaestroWatchStopped", "maestro-meta", "warning",
              # the newest copy counts: a textfile and a Pushgateway group may both carry the watch's metrics
              f"time() - max by (environment) (maestro_watch_last_run_timestamp_seconds)\n> {stale_limit}",
              f"The post-GA watch of {_ENV} has stopped.",
              f"The watch of {_ENV} last ran {{{{ $value | humanizeDuration }}}} ago; it is due every {_INTERVAL}. "
              "Until it runs again its metrics show the past and its alerts are blind.",
              metrics=("maestro_watch_last_run_timestamp_seconds", "maestro_watch_interval_seconds")),
        Alert("MaestroTextfileStale", "maestro-meta", "warning",
              f"time() - label_replace(node_textfile_mtime_seconds{textfile}, "
              '"environment", "$1", "file", "(?:.*/)?maestro_watch_(.+)[.]prom")\n'
              f"> on (environment) group_left ()\n{stale_limit}",
              f"The watch's textfile for {_ENV} is stale.",
              f"{{{{ $labels.file }}}} on {{{{ $labels.instance }}}} was last written {{{{ $value | humanizeDuration }}}} ago; "
              f"the watch of {_ENV} is due every {_INTERVAL}.",
              metrics=("maestro_watch_interval_seconds",)),
        Alert("MaestroPushStale", "maestro-meta", "warning",
              f"time() - push_time_seconds{matchers(c.pushgateway_selector)}\n> on (environment) group_left ()\n{stale_limit}",
              f"The watch's Pushgateway group for {_ENV} is stale.",
              f"The watch of {_ENV} last pushed to the Pushgateway {{{{ $value | humanizeDuration }}}} ago "
              f"(group job={{{{ $labels.job }}}}); it is due every {_INTERVAL}.",
              metrics=("maestro_watch_interval_seconds",)),
        Alert("MaestroTextfileUnreadable", "maestro-meta", "warning",
              f"node_textfile_scrape_error{matchers(c.textfile_selector)} > 0",
              "node_exporter cannot read a file of its textfile directory.",
              "node_exporter on {{ $labels.instance }} failed to read or parse a file of its textfile directory: "
              "that file's metrics are missing from every scrape.",
              for_="5m"),
        Alert("MaestroMetricsAbsent", "maestro-meta", "warning",
              "\nor\n".join(_absent(name, e) for e in c.environments for name in c.absent_metrics),
              f"{{{{ $labels.metric }}}} of {_ENV} is absent.",
              f"Prometheus has no {{{{ $labels.metric }}}} series for {_ENV}: the watch does not run for it, or its metrics "
              "do not reach Prometheus. The alerts built on that metric cannot fire.",
              for_="10m", metrics=c.absent_metrics),
    ]


def _scheduled_check(name: str, what: str, prefix: str, environments: tuple[str, ...], overdue_seconds: float, every: str,
                     red: str, never: str, red_metrics: tuple[str, ...]) -> list[Alert]:
    """A scheduled check's three alerts: its last run red, overdue, and never on record (absent, named per environment)."""
    last = f"{prefix}_last_run_timestamp_seconds"
    return [
        Alert(f"Maestro{name}Failed", "maestro-maintenance", "warning", f"{prefix}_ok == 0",
              f"The {what} of {_ENV} is red.", f"The last {what} of {_ENV} {red}", metrics=red_metrics),
        Alert(f"Maestro{name}Overdue", "maestro-maintenance", "warning",
              f"time() - max by (environment) ({last})\n> {num(overdue_seconds)}",
              f"The {what} of {_ENV} is overdue.",
              f"The {what} of {_ENV} last ran {{{{ $value | humanizeDuration }}}} ago; it is due every {every}.",
              for_="1h", metrics=(last,)),
        Alert(f"Maestro{name}NeverRan", "maestro-maintenance", "warning",
              "\nor\n".join(f'absent({last}{{environment="{e}"}})' for e in environments),
              f"No {what} of {_ENV} is on record.",
              f"No {what} of {_ENV} has run to its end, or its metrics do not reach Prometheus: {never}",
              for_="1h", metrics=(last,)),
    ]


def _day_count(matcher: str) -> str:
    """Verifications counted over the last day, by environment. increase() never counts a counter's first sample, so a
    series born within the day (a writer's first failure appears at 1) counts whole instead."""
    series = f"maestro_verify_runs_total{{{matcher}}}" if matcher else "maestro_verify_runs_total"
    return f"sum by (environment) (\nsum without () ({series} unless {series} offset 1d)\nor increase({series}[1d])\n)"


def _absent(name: str, environment: str) -> str:
    """absent() with explicit matchers, labelled with the metric it misses (absent() keeps only equality matchers)."""
    spec: Spec = SPECS[name]
    selector = matchers(f'environment="{environment}"', 'source="watch"' if "source" in spec.labels else "")
    return f'label_replace(absent({name}{selector}), "metric", "{name}", "", "")'


def rules(config: Config | Mapping) -> dict:
    """The Prometheus rule file (as a dict to dump as YAML), one group per concern."""
    c = config_from(config)
    groups: dict[str, list[dict]] = {}
    for alert in alerts(c):
        groups.setdefault(alert.group, []).append(alert.rule(c))
    return {"groups": [{"name": name, "rules": group} for name, group in groups.items()]}


def rules_yaml(config: Config | Mapping) -> str:
    """The rule file as YAML text: block scalars for multi-line expressions, so that a person can read it in place.

    Written out here rather than by a YAML library, which is not always there where module_utils are imported;
    a unit test reads it back with PyYAML and compares it with ``rules``.
    """
    lines = [f"# Generated by maestro.conductor from {RULES_SOURCE}: change its config, not this file.", "groups:"]
    for group in rules(config)["groups"]:
        lines += [f"  - name: {_yaml_scalar(group['name'], 6)}", "    rules:"]
        for rule in group["rules"]:
            for index, (key, value) in enumerate(rule.items()):
                lead = "      - " if index == 0 else "        "
                if isinstance(value, dict):
                    lines.append(f"{lead}{key}:")
                    lines += [f"          {k}: {_yaml_scalar(v, 12)}" for k, v in value.items()]
                else:
                    lines.append(f"{lead}{key}: {_yaml_scalar(value, 10)}")
    return "\n".join(lines) + "\n"


def _yaml_scalar(value: str, indent: int) -> str:
    """The plainest YAML scalar that reads back as ``value``: a bare word, a literal block for clean multi-line text,
    single quotes, or double quotes (JSON's string syntax is YAML's too)."""
    parts = value.split("\n")
    if len(parts) > 1 and all(p and p == p.strip() and p.isprintable() for p in parts):
        return "|-\n" + "\n".join(" " * indent + p for p in parts)
    if _PLAIN_RE.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    if "'" not in value and value.isprintable() and value == value.strip():
        return f"'{value}'"
    return json.dumps(value)


def alert_names(config: Config | Mapping) -> list[str]:
    """Each alert's name once, in file order."""
    return list(dict.fromkeys(a.name for a in alerts(config)))


def metrics_markdown(config: Config | Mapping | None = None) -> str:
    """docs/metrics.md: the catalogue as a table a person reads, and the alerts that watch each metric."""
    watched: dict[str, list[str]] = {}
    for alert in alerts(config or {"environments": ["production"]}):
        for name in alert.metrics:
            if alert.name not in watched.setdefault(name, []):
                watched[name].append(alert.name)
    lines = [
        "# Metrics",
        "",
        "<!-- Generated from plugins/module_utils/_metric_catalogue.py by _alert_rules.metrics_markdown() (make",
        "     monitoring-files); a unit test keeps this file equal to it. Do not edit by hand. -->",
        "",
        "Every metric the collection writes, for node_exporter's textfile collector (one file per writer and environment,",
        "`maestro_<writer>_<environment>.prom`) or a Pushgateway (group `job=maestro_<writer>`, `environment`). Names follow",
        "Prometheus conventions: the `maestro_` prefix, base units (seconds), `_total` only on counters, `_info` for metadata.",
        "The tag and the commit appear only on `maestro_release_info`. The alerts are described in [alerts.md](alerts.md).",
        "",
        "| metric | type | labels | help | alerts |",
        "|---|---|---|---|---|",
    ]
    for spec in sorted(SPECS.values(), key=lambda s: s.name):
        bounded = dict(spec.values)
        labels = ", ".join(f"`{label}`" + (f" ({' '.join(bounded[label])})" if label in bounded else "") for label in spec.labels)
        alerted = ", ".join(f"[{a}](alerts.md#{anchor(a)})" for a in watched.get(spec.name, []))
        lines.append(f"| `{spec.name}` | {spec.type} | {labels} | {spec.help} | {alerted} |")
    lines.append("")
    return "\n".join(lines)
