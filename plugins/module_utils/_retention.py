# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention against the audit window: what must still be there, and for how long.

- Every release inside the window (as the weekly validation decides it: its tag's date or its manifest's ``created``)
  is complete on the release store: manifest, evidence, attestation, signature, envelope, every artifact by its size.
- Every release the ledger says went live inside the window is on the store: the ledger's word that it served is the
  reason to keep its proof.
- Where evidence also lives in a hosted service (GitHub Actions), it outlives the window: the retention setting is at
  least the window (a window past the service's ``maximum_allowed_days`` cannot be met there, and the finding says where
  evidence must live instead), and each release's CI run still has its artifacts, none expiring before the release
  leaves the window.

Read only: nothing here writes or deletes. A hosted service that cannot be reached makes the check red and says which.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from ansible_collections.maestro.conductor.plugins.module_utils import _availability, _ci_github, _urls, _weekly
from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import went_live
from ansible_collections.maestro.conductor.plugins.module_utils._watch import iso as _iso

_DAY = 86400


@dataclass
class ReleaseRetention:
    tag: str
    created: str = ""
    keep_until: str = ""  # when the release leaves the audit window: its evidence must be kept until then
    complete: bool = False
    problems: list[str] = field(default_factory=list)
    artifacts: dict | None = None  # the CI run's artifacts as GitHub lists them, when a hosted service is configured

    @property
    def ok(self) -> bool:
        return not self.problems


def window_problem(window_days: object) -> str:
    """Why ``window_days`` is no audit window, or ''."""
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days <= 0:
        return f"the audit window {window_days!r} is invalid: expected a whole number of days above 0"
    return ""


def setting_problems(window_days: int, setting: _ci_github.Retention) -> list[str]:
    """What the hosted retention setting cannot keep of an audit window of ``window_days``."""
    where = f"GitHub Actions ({setting.scope} {setting.name})"
    if window_days > setting.maximum_allowed_days:
        return [f"{where} keeps artifacts and logs at most {setting.maximum_allowed_days} days (maximum_allowed_days), and the "
                f"audit window is {window_days} days: the evidence cannot live there for the window. Keep it on the release "
                "store (checked complete here, never pruned inside the window) or in an archive that keeps it "
                f"{window_days} days, and treat GitHub's copy as a cache"]
    if setting.days < window_days:
        return [f"{where} keeps artifacts and logs {setting.days} days and the audit window is {window_days} days: set it to "
                f"{window_days} (maestro.conductor.ci_retention, make retention-set) or keep the evidence elsewhere"]
    return []


# what each hosted CI calls the thing that built a release, and its own name
CI_SERVICES = {"github": ("GitHub Actions run", "GitHub"), "gitlab": ("GitLab pipeline", "GitLab")}


def artifact_problems(tag: str, keep_until: float | None, artifacts: _ci_github.Artifacts, ci_service: str = "github",
                      named_elsewhere: str = "") -> list[str]:
    """What of the release's CI run artifacts will not be there while the release is inside the window. A run that is not
    found under the configured project, whose address names ``named_elsewhere``, is said to be named so."""
    run = f"{'pipeline' if ci_service == 'gitlab' else 'CI run'} {artifacts.run_id} of {tag}"
    if not artifacts.found:
        why = (f"the evidence names it under {named_elsewhere}: a run of another project, or of this one before a rename"
               if named_elsewhere else "deleted, or removed by retention")
        return [f"{run} is gone from {CI_SERVICES[ci_service][1]} ({why}): its logs and artifacts are lost there"]
    problems = []
    if artifacts.expired:
        problems.append(f"{run}: {artifacts.expired} artifact(s) expired")
    if artifacts.missing:
        problems.append(f"{run}: evidence artifact(s) missing: {', '.join(artifacts.missing)}")
    if not artifacts.count:
        problems.append(f"{run} has no artifacts")
    if keep_until is not None and artifacts.earliest_expiry_epoch is not None and artifacts.earliest_expiry_epoch < keep_until:
        problems.append(f"{run}: an artifact expires {artifacts.earliest_expiry}, before {tag} leaves the audit window "
                        f"({_iso(keep_until)})")
    if not artifacts.complete:
        problems.append(f"{run}: more artifacts than could be listed; the rest are unknown")
    return problems


def check_release(releases_root: str, tag: str, window_days: int, read_artifacts: Callable[[int], _ci_github.Artifacts] | None,
                  live_at: str = "", tag_date: str = "", ci_service: str = "github", ci_project: str = "") -> ReleaseRetention:
    """One release: complete on the store and, with ``read_artifacts``, its CI run's (GitHub) or pipeline's (GitLab)
    artifacts kept long enough (looked up under ``ci_project``)."""
    result = ReleaseRetention(tag)
    found = _availability.release_available(os.path.join(releases_root, tag), tag)
    # the release's own files; what the evidence lacks inside (no CI run named) is the weekly validation's to judge
    missing = [name for name in found.evidence_missing if name in fmt.release_file_names(tag)]
    result.complete = found.complete and not missing
    if live_at and not os.path.isdir(os.path.join(releases_root, tag)):
        result.problems.append(f"the ledger says {tag} went live ({live_at}) but the release store has no {tag}: "
                               "its proof is lost; restore it from the archive")
    else:
        result.problems += found.problems
        result.problems += [f"missing from the release: {name}" for name in missing]
    # the later of its manifest's created and its tag's date: the evidence is kept until the last of them leaves the window
    dates = [date for date in (_weekly.release_created(os.path.join(releases_root, tag), tag), _weekly.epoch(tag_date)) if date]
    created = max(dates) if dates else None
    keep_until = None if created is None else created + window_days * _DAY
    if created is not None and keep_until is not None:
        result.created, result.keep_until = _iso(created), _iso(keep_until)
    if read_artifacts is None:
        return result
    kind, service = CI_SERVICES[ci_service]
    run_id = found.ci_pipeline_id if ci_service == "gitlab" else found.ci_run_id
    if not run_id:
        result.problems.append(f"the evidence of {tag} names no {kind} ({_urls.scrub(found.ci_run) or 'no CI run'}): "
                               "its hosted retention cannot be checked")
        return result
    try:
        artifacts = read_artifacts(int(run_id))
    except ConductorError as exc:
        result.problems.append(f"{service} could not be asked about {'pipeline' if ci_service == 'gitlab' else 'CI run'} {run_id}: {exc}")
        return result
    result.artifacts = asdict(artifacts)
    # the run is looked up under the configured project whatever its address says (ids are global, and a renamed
    # project's runs move with it); one not found there whose address names another project is said to be named so
    elsewhere = found.ci_run_project if ci_project and not ci_project.isdigit() and found.ci_run_project.lower() != ci_project.lower() else ""
    result.problems += artifact_problems(tag, keep_until, artifacts, ci_service, elsewhere)
    if keep_until is None:
        result.problems.append(f"when {tag} was made is unknown (no readable created in its manifest, no tag date): whether its CI "
                               "artifacts outlive the audit window cannot be said")
    return result


def check(releases_root: str, tags: list[str], tag_dates: dict[str, str], window_days: int, *, keep: tuple[str, ...] = (),
          ledger_records: list[dict] | None = None, setting: Callable[[], _ci_github.Retention] | None = None,
          read_artifacts: Callable[[int], _ci_github.Artifacts] | None = None, now: float | None = None,
          ci_service: str = "github", ci_project: str = "") -> dict:
    """Every release inside the window (and those the ledger says went live inside it, and ``keep``), and the hosted
    setting. The result: ``ok``, ``releases``, ``red`` (tags), ``problems`` (the setting's), ``setting``, ``outside_window``."""
    problem = window_problem(window_days)
    if problem:
        raise ConductorError(problem)
    now = time.time() if now is None else now
    live = went_live(ledger_records or [], now - window_days * _DAY)
    inside, outside = _weekly.in_window(releases_root, tags, window_days, now, tuple(keep) + tuple(live), tag_dates)
    inside += [tag for tag in (*keep, *live) if tag not in inside]
    if ci_service not in CI_SERVICES:
        raise ConductorError(f"ci_service {ci_service!r} is invalid: expected github or gitlab")
    releases = [check_release(releases_root, tag, window_days, read_artifacts, live.get(tag, ""), tag_dates.get(tag, ""), ci_service,
                              ci_project) for tag in inside]
    problems, found = [], None
    if setting is not None:
        try:
            found = setting()
            problems = setting_problems(window_days, found)
        except ConductorError as exc:
            problems = [f"the GitHub Actions retention setting could not be read: {exc}"]
    result = {"ok": not problems and all(r.ok for r in releases), "window_days": window_days, "problems": problems,
              "setting": asdict(found) if found else None, "releases": [{**asdict(r), "ok": r.ok} for r in releases],
              "red": [r.tag for r in releases if not r.ok], "outside_window": outside}
    return {**result, **_metrics(result, now), "summary": summary_lines(result)}


def _metrics(result: dict, now: float) -> dict:
    passed = sum(1 for r in result["releases"] if r["ok"])
    gauges = [
        {"name": "maestro_retention_ok", "labels": {}, "value": int(result["ok"])},
        {"name": "maestro_retention_last_run_timestamp_seconds", "labels": {}, "value": round(now, 3)},
        {"name": "maestro_retention_window_seconds", "labels": {}, "value": result["window_days"] * _DAY},
        {"name": "maestro_retention_releases", "labels": {"result": "pass"}, "value": passed},
        {"name": "maestro_retention_releases", "labels": {"result": "fail"}, "value": len(result["releases"]) - passed},
    ]
    if result["setting"]:
        gauges.append({"name": "maestro_retention_hosted_seconds", "labels": {}, "value": result["setting"]["days"] * _DAY})
    return {"gauges": gauges, "increments": [{"name": "maestro_retention_runs_total", "labels": {"result": "pass" if result["ok"] else "fail"},
                                              "by": 1}]}


def summary_lines(result: dict) -> list[str]:
    """The check in a few lines: the verdict, the setting, then one line a problem."""
    releases = result["releases"]
    lines = [f"retention {'GREEN' if result['ok'] else 'RED'}: {len(releases)} release(s) inside the audit window of "
             f"{result['window_days']} days, {len(result['red'])} with a problem"]
    if result["setting"]:
        setting = result["setting"]
        lines.append(f"GitHub Actions ({setting['scope']} {setting['name']}) keeps artifacts and logs {setting['days']} days "
                     f"(at most {setting['maximum_allowed_days']})")
    lines += result["problems"]
    lines += [f"{r['tag']}: {problem}" for r in releases for problem in r["problems"]]
    return lines
