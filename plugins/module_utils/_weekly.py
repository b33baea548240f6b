# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The weekly deep validation: every release inside the audit window, not only the live one.

For each release: strict verification (every hash, the signature and the envelope, the evidence's verdicts, the image
ids inside each image archive, the tag object and commit); its provenance against a policy (which builders and which CI
workflows may produce a release); pipeline integrity (the CI workflow's digest recorded in the evidence at release time
against that file at the tag's commit); and the runbook's "full evidence bundle generation": the manifest and the
evidence made again from the tag and the artifacts, compared with the stored ones (a difference is reported; the stored
files are never written). Each release gets a summary page for people.

Releases are validated side by side in threads: hashing (hashlib releases the GIL) and the few processes each
verification starts (git, ssh-keygen) overlap, so the whole costs little more than hashing the bytes once.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from ansible_collections.maestro.conductor.plugins.module_utils import _bundle, _git, _hashing, _urls
from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import parse_time
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_tag_name
from ansible_collections.maestro.conductor.plugins.module_utils._postmortem import inert_markdown as _cell
from ansible_collections.maestro.conductor.plugins.module_utils._verify import verify_release
from ansible_collections.maestro.conductor.plugins.module_utils._watch import iso as _iso

REPORT_KIND = "maestro.conductor/weekly-validation"
REPORT_FORMAT = 1
CHECKS = ("verification", "provenance", "pipeline", "ci_run", "regeneration")
_DAY = 86400
# a GitHub Actions run as the evidence names it: https://HOST/OWNER/REPO/actions/runs/ID
_RUN_URL_RE = re.compile(r"^https://([^/?#@]+)/([^/?#]+/[^/?#]+)/actions/runs/([0-9]{1,20})(?:[/?#]|$)")
# the manifest's creation time as release_bundle writes it (a line of its own, before the artifacts)
_CREATED_RE = re.compile(rb"^created: '?([0-9T:.+Z-]{10,40})'?[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Policy:
    """Who may produce a release. Empty lists allow any builder or workflow the evidence names; ``require_workflow``
    asks every release in the window to record its CI workflow (evidence format 2), without which pipeline integrity
    cannot be checked."""

    builders: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    require_workflow: bool = False


def policy_from(value: object) -> Policy:
    if value is None:
        return Policy()
    if isinstance(value, Policy):
        return value
    if not isinstance(value, dict):
        raise ConductorError(f"policy must be a mapping of builders, workflows and require_workflow, got {type(value).__name__}")
    unknown = sorted(set(value) - {"builders", "workflows", "require_workflow"})
    if unknown:
        raise ConductorError(f"policy: unknown field(s) {', '.join(map(str, unknown))}; expected builders, workflows, require_workflow")
    lists = {}
    for name in ("builders", "workflows"):
        items = value.get(name) or []
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and i.strip() and len(i) <= 1024 for i in items):
            raise ConductorError(f"policy {name} must be a list of non-empty names, got {items!r}")
        lists[name] = tuple(items)
    require = value.get("require_workflow", False)
    if not isinstance(require, bool):
        raise ConductorError(f"policy require_workflow must be true or false, got {require!r}")
    return Policy(builders=lists["builders"], workflows=lists["workflows"], require_workflow=require)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    # failed for want of what to check with (the hosted CI down, no workflow recorded): red, but no proof that the
    # release is bad, so it never quarantines one
    unknown: bool = False

    def as_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "unknown": self.unknown}


@dataclass
class ReleaseResult:
    tag: str
    commit: str = ""
    created: str = ""
    bytes: int = 0
    seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)
    verification: dict = field(default_factory=dict)
    # the documents as validation read them (for the summary page; not part of the result)
    manifest: dict | None = field(default=None, repr=False)
    evidence: dict | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def invalid(self) -> bool:
        """Proven bad: a check failed on what it found, not for want of what to check with."""
        return any(not check.ok and not check.unknown for check in self.checks)

    @property
    def problems(self) -> list[str]:
        return [f"{check.name}: {check.detail}" for check in self.checks if not check.ok]

    def as_dict(self) -> dict:
        return {"tag": self.tag, "ok": self.ok, "invalid": self.invalid, "commit": self.commit, "created": self.created, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "checks": [c.as_dict() for c in self.checks], "problems": self.problems,
                "verification": self.verification}


def release_created(release_dir: str, tag: str) -> float | None:
    """When the release was made (its manifest's ``created``), in epoch seconds; None when the manifest cannot say.

    Read from the line release_bundle writes, without parsing the whole manifest: this only picks what to validate
    (validation parses and checks the manifest), and a manifest it cannot read this way is validated (unknown is inside)."""
    try:
        with _hashing.open_regular(os.path.join(release_dir, fmt.manifest_name(tag))) as handle:
            match = _CREATED_RE.search(handle.read(16384))
    except OSError:
        return None
    return epoch(match.group(1).decode()) if match else None


def epoch(text: str) -> float | None:
    """An ISO 8601 time as epoch seconds (UTC when it names no zone), or None when it is no time."""
    try:
        return parse_time(text).timestamp()
    except ConductorError:
        return None


def release_candidates(root: str, repo: str, pattern: str) -> tuple[list[str], dict[str, str]]:
    """The releases of the store, and each tag's date in git: every tag of the pattern that has a release directory, and
    every release directory of the pattern whose tag is gone (red wherever it is checked: a release without its tag)."""
    pattern = _git.validate_tag_pattern(pattern)
    tags = {info.name: info.date for info in _git.list_tags(repo, pattern)}
    try:
        directories = sorted(name for name in os.listdir(root) if fnmatch.fnmatchcase(name, pattern) and not name.startswith(".")
                             and os.path.isdir(os.path.join(root, name)))
    except OSError as exc:
        raise ConductorError(f"release store {root} cannot be read: {exc.strerror or exc}") from exc
    names = [name for name in tags if name in directories] + [name for name in directories if name not in tags]
    return [validate_tag_name(name) for name in names], tags


def in_window(releases_root: str, tags: list[str], window_days: int, now: float, keep: tuple[str, ...] = (),
              tag_dates: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """The tags whose release is inside the audit window (and every tag in ``keep``: the live release and the rollback
    target), and those outside it. A release is inside when its tag's date in git or its manifest's ``created`` is
    inside the window, or when either cannot be read: to leave one out, both must say it is older (a manifest backdated
    after a tamper does not hide the release while its tag says otherwise), and unknown is checked."""
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days <= 0:
        raise ConductorError(f"window_days {window_days!r} is invalid: expected a whole number of days above 0")
    inside, outside = [], []
    for tag in tags:
        dates = [release_created(os.path.join(releases_root, tag), tag), epoch((tag_dates or {}).get(tag, ""))]
        old = all(date is not None and now - date > window_days * _DAY for date in dates)
        (outside if old and tag not in keep else inside).append(tag)
    return inside, outside


def _provenance(evidence: dict | None, policy: Policy) -> Check:
    if evidence is None:
        return Check("provenance", False, "not checked: the evidence could not be read")
    provenance = evidence.get("provenance") or {}
    builder, workflow = str(provenance.get("builder") or ""), (provenance.get("workflow") or {}).get("path", "")
    problems = []
    if policy.builders and builder not in policy.builders:
        problems.append(f"builder {builder!r} is not one the policy allows ({', '.join(policy.builders)})")
    if policy.workflows and workflow not in policy.workflows:
        problems.append(f"workflow {workflow or '(none recorded)'!r} is not one the policy allows ({', '.join(policy.workflows)})")
    if problems:
        return Check("provenance", False, "; ".join(problems))
    return Check("provenance", True, f"built by {builder}" + (f" with {workflow}" if workflow else ""))


def _pipeline(evidence: dict | None, repo: str, commit: str, policy: Policy) -> Check:
    """The CI workflow the evidence says built the release is the one the tag's commit holds."""
    if evidence is None:
        return Check("pipeline", False, "not checked: the evidence could not be read")
    workflow = (evidence.get("provenance") or {}).get("workflow")
    if not workflow:
        if policy.require_workflow:
            return Check("pipeline", False, "the evidence records no CI workflow (evidence format 1): pipeline integrity cannot be checked",
                         unknown=True)
        return Check("pipeline", True, "no CI workflow recorded (evidence format 1); the policy does not require one")
    if not commit:
        return Check("pipeline", False, "not checked: the tag's commit is unknown")
    try:
        found = _git.blob_sha256(repo, commit, workflow["path"])
    except ConductorError as exc:
        return Check("pipeline", False, f"not checked: {exc}")
    if not found:
        return Check("pipeline", False, f"the tag's commit {commit[:12]} holds no {workflow['path']}, which the evidence says built it")
    if found != workflow["sha256"]:
        return Check("pipeline", False, f"{workflow['path']} at the tag's commit has sha256 {found}; the evidence recorded "
                                        f"{workflow['sha256']} at release time: the release was not built by the workflow its commit holds")
    return Check("pipeline", True, f"{workflow['path']} at the tag's commit is the workflow recorded at release time")


class CiRuns:
    """The hosted CI's record of each run (GitHub Actions), read once a run and shared by the validation's threads."""

    def __init__(self, project: str, read: Callable[[int], dict | None], web_host: str = "github.com"):
        self.project, self._read, self.web_host = project, read, web_host
        self._runs: dict[int, dict | None] = {}
        self._lock = threading.Lock()

    def run(self, run_id: int) -> dict | None:
        with self._lock:
            if run_id not in self._runs:
                self._runs[run_id] = self._read(run_id)
            return self._runs[run_id]


def _ci_run(evidence: dict | None, commit: str, runs: CiRuns | None) -> Check:
    """The CI run the evidence names is the one that built this release: of this repository, at the tag's commit, by the
    workflow the evidence records, and it succeeded - as the hosted CI itself says."""
    if runs is None:
        return Check("ci_run", True, "not checked: no hosted CI is configured (maestro_ci_project)")
    if evidence is None:
        return Check("ci_run", False, "not checked: the evidence could not be read", unknown=True)
    recorded = str(evidence.get("ci_run") or "")
    match = _RUN_URL_RE.match(recorded)
    if not recorded:
        return Check("ci_run", False, "the evidence names no CI run")
    if not match:
        return Check("ci_run", False, f"the evidence's CI run {_urls.scrub(recorded)[:200]!r} is no GitHub Actions run address")
    if match.group(1).lower() != runs.web_host.lower() or match.group(2).lower() != runs.project.lower():
        return Check("ci_run", False, f"the evidence's CI run is of {match.group(1)}/{match.group(2)}, not of {runs.web_host}/{runs.project}")
    run_id = int(match.group(3))
    try:
        run = runs.run(run_id)
    except ConductorError as exc:
        return Check("ci_run", False, f"run {run_id} could not be read from the hosted CI: {exc}", unknown=True)
    if run is None:
        return Check("ci_run", False, f"run {run_id} is not on {runs.project} (deleted, or removed by its retention)", unknown=True)
    problems = []
    if run.get("head_sha") != commit:
        problems.append(f"it built commit {run.get('head_sha')}, the tag's commit is {commit}")
    workflow = ((evidence.get("provenance") or {}).get("workflow") or {}).get("path")
    ran = str(run.get("path") or "").split("@", 1)[0]
    if workflow and ran != workflow:
        problems.append(f"it ran workflow {ran or '(unknown)'}, the evidence records {workflow}")
    if run.get("status") != "completed" or run.get("conclusion") != "success":
        problems.append(f"it is {run.get('status')}, concluded {run.get('conclusion')} (expected completed, success)")
    if problems:
        return Check("ci_run", False, f"run {run_id} is not the run that built this release: " + "; ".join(problems))
    return Check("ci_run", True, f"run {run_id} of {runs.project} built commit {commit[:12]} with {ran} and succeeded")


def _passed(report, name: str) -> bool:
    return any(check.name == name and check.ok for check in report.checks)


def _proved(report) -> list[dict]:
    """The artifacts as verification read them: path, size, sha256 and the images inside each image archive."""
    images: dict[str, list[dict]] = {}
    for image in report.images:
        images.setdefault(image["artifact"], []).append({"id": image["id"], "repo_tags": list(image.get("repo_tags") or [])})
    return [{"path": entry["path"], "size": entry["size"], "sha256": entry["sha256"], "images": images.get(entry["path"], [])}
            for entry in report.artifacts]


def _regenerated(release_dir: str, tag: str, repo: str, manifest: dict | None, evidence: dict | None, report) -> Check:
    """Make the manifest and the evidence again from the tag and the artifacts (with the digests verification just
    proved, so nothing is hashed twice) and compare them with the stored ones; never write."""
    if evidence is None or manifest is None:
        return Check("regeneration", False, "not checked: the stored manifest or evidence could not be read")
    provenance = evidence.get("provenance") or {}
    request = _bundle.BundleRequest(
        release_dir=release_dir, tag=tag, repo=repo, repository=provenance.get("repository", ""),
        generated_by=evidence.get("generated_by", ""), builder=provenance.get("builder", ""), ci_run=evidence.get("ci_run", ""),
        workflow=(provenance.get("workflow") or {}).get("path", ""), checks=evidence.get("checks") or [],
        known_artifacts=_proved(report) if _passed(report, "artifacts") and _passed(report, "images") else [],
        manifest_format=manifest.get("format_version", fmt.MANIFEST_FORMAT_VERSION), compare_only=True,
        tag_info=report.documents.get("tag"))
    try:
        plan = _bundle.plan_bundle(request)
    except ConductorError as exc:
        return Check("regeneration", False, f"the release files could not be made again: {exc}")
    names = fmt.release_file_names(tag)
    differ = [name for name in names[:2] if plan.files.get(name) != plan.current.get(name)]
    if not differ:
        return Check("regeneration", True, "the manifest and the evidence made again from the tag and the artifacts are the stored ones")
    fields = []
    for name in differ:
        try:
            stored = (fmt.load_manifest if name == names[0] else fmt.load_evidence)(os.path.join(release_dir, name))[0]
            made = fmt._parse(plan.files[name], name, name)  # pylint: disable=protected-access
            keys = sorted(k for k in set(stored) | set(made) if stored.get(k) != made.get(k))
            # a document made again keeps its recorded time only when nothing else changed: the time is no finding of its own
            keys = [k for k in keys if k not in ("created", "generated_at")] or keys
            fields.append(f"{name} ({', '.join(keys) or 'bytes'})")
        except (ConductorError, OSError):
            fields.append(f"{name} (unreadable)")
    return Check("regeneration", False, "made again from the tag and the artifacts, these differ from the stored files (which "
                                        "were left as they are): " + "; ".join(fields))


def validate_release(releases_root: str, tag: str, repo: str, policy: Policy, allowed_signers: str | None = None,
                     allow_unsigned: bool = False, runs: CiRuns | None = None, expected_commit: str | None = None) -> ReleaseResult:
    """Every weekly check of one release; never writes anything."""
    validate_tag_name(tag)
    started = time.monotonic()
    release_dir = os.path.join(releases_root, tag)
    result = ReleaseResult(tag=tag)
    try:
        report = verify_release(release_dir, tag, repo, strict=True, expected_commit=expected_commit, allowed_signers=allowed_signers,
                                workers=1, allow_unsigned=allow_unsigned)
    except ConductorError as exc:  # no such tag, no such directory: nothing else can be checked either
        result.checks = [Check("verification", False, f"strict verification could not run: {exc}")]
        result.checks += [Check(name, False, "not checked: the release could not be verified") for name in CHECKS[1:]]
        result.seconds = time.monotonic() - started
        return result
    result.commit = report.commit or ""
    result.bytes = sum(int(entry.get("size") or 0) for entry in report.artifacts)
    result.verification = {"ok": report.ok, "failed_checks": [check.name for check in report.failed], "seconds": round(report.seconds, 3),
                           "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail[:500]} for c in report.checks]}
    result.checks.append(Check("verification", report.ok, "every hash, the signature, the evidence's verdicts, the image ids and the tag "
                                                          "object verify" if report.ok else "strict verification FAILED: " +
                               "; ".join(f"{check.name}: {check.detail[:300]}" for check in report.failed)))
    # as verification read and schema-checked them: not read or parsed twice
    result.manifest, result.evidence = report.documents.get("manifest"), report.documents.get("evidence")
    result.created = str((result.manifest or {}).get("created") or "")
    result.checks.append(_provenance(result.evidence, policy))
    result.checks.append(_pipeline(result.evidence, repo, result.commit, policy))
    result.checks.append(_ci_run(result.evidence, result.commit, runs))
    result.checks.append(_regenerated(release_dir, tag, repo, result.manifest, result.evidence, report))
    result.seconds = time.monotonic() - started
    return result


def validate(releases_root: str, tags: list[str], repo: str, policy: Policy | dict | None = None, allowed_signers: str | None = None,
             allow_unsigned: bool = False, workers: int = 0, runs: CiRuns | None = None,
             expected_commits: dict[str, str] | None = None) -> list[ReleaseResult]:
    """Every release in ``tags``, side by side; in the order given."""
    policy = policy_from(policy)
    for tag in tags:
        validate_tag_name(tag)
    if not tags:
        return []
    workers = workers or 2 * (os.cpu_count() or 1) + 2
    with ThreadPoolExecutor(max_workers=min(workers, len(tags))) as pool:
        return list(pool.map(lambda tag: validate_release(releases_root, tag, repo, policy, allowed_signers, allow_unsigned, runs,
                                                          (expected_commits or {}).get(tag) or None), tags))


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


def release_summary(result: ReleaseResult) -> str:
    """The release summary and final validation summary of one release (Markdown), from its manifest, its evidence and
    this validation. What cannot be read is said, never guessed."""
    lines = [f"# Release {_cell(result.tag)}", "", f"**{'VALID' if result.ok else 'INVALID'}**: weekly validation, "
             f"{_size(result.bytes)} of artifacts checked", ""]
    manifest = result.manifest or {}
    if not manifest:
        lines += ["The manifest cannot be read (see the validation below).", ""]
    else:
        lines += ["| | |", "|---|---|", f"| commit | {_cell(manifest.get('commit'))} |",
                  f"| tag object | {_cell(manifest.get('tag_object'))} ({_cell(manifest.get('tag_type'))}) |",
                  f"| repository | {_cell(_urls.scrub(str(manifest.get('repository'))))} |", f"| created | {_cell(manifest.get('created'))} |",
                  f"| manifest format | {_cell(manifest.get('format_version'))} |", "",
                  "## Artifacts", "", "| path | size | sha256 | images |", "|---|---|---|---|"]
        for entry in manifest.get("artifacts") or []:
            images = ", ".join(f"{i.get('id', '')[:19]} {' '.join(i.get('repo_tags') or [])}" for i in entry.get("images") or [])
            lines.append(f"| {_cell(entry.get('path'))} | {entry.get('size')} | {_cell(str(entry.get('sha256'))[:16])}… | {_cell(images or '-')} |")
        lines.append("")
    evidence = result.evidence or {}
    if not evidence:
        lines += ["The evidence cannot be read (see the validation below).", ""]
    else:
        provenance = evidence.get("provenance") or {}
        workflow = provenance.get("workflow") or {}
        lines += ["## Evidence", "", f"Generated by {_cell(_urls.scrub(str(evidence.get('generated_by'))))} at "
                  f"{_cell(evidence.get('generated_at'))}; builder {_cell(provenance.get('builder'))}; "
                  f"CI run {_cell(_urls.scrub(str(evidence.get('ci_run') or 'not recorded')))}; "
                  f"workflow {_cell(workflow.get('path') or 'not recorded')}.", "", "| pre-release check | result |", "|---|---|"]
        lines += [f"| {_cell(check.get('name'))} | {_cell(check.get('result'))} |" for check in evidence.get("checks") or []]
        lines.append("")
    lines += ["## Validation", "", "| check | result |", "|---|---|"]
    lines += [f"| {check.name} | {'pass' if check.ok else 'FAIL'}: {_cell(check.detail)} |" for check in result.checks]
    lines += ["", "## Strict verification", "", "| check | result |", "|---|---|"]
    lines += [f"| {_cell(c['name'])} | {'pass' if c['ok'] else 'FAIL'}: {_cell(c['detail'])} |" for c in result.verification.get("checks", [])]
    return "\n".join(lines) + "\n"


def totals(results: list[ReleaseResult], seconds: float) -> dict:
    """Counts, bytes and throughput of a run (``seconds``: its wall clock)."""
    checked = sum(r.bytes for r in results)
    return {"releases": len(results), "passed": sum(1 for r in results if r.ok), "failed": sum(1 for r in results if not r.ok),
            "bytes": checked, "seconds": round(seconds, 3),
            "bytes_per_second": round(checked / seconds) if seconds > 0 else 0}


def report(environment: str, validated: dict, target: str, quarantined: str, next_target: str, started: float, now: float,
           live: str = "", target_error: str = "") -> dict:
    """The weekly validation's report, its verdict, its metrics and its summary, from M(release_validate)'s result.

    ``target`` is the rollback target before the run; when it failed, ``quarantined`` is it (recorded by the playbook) and
    ``next_target`` the prior healthy choice after it ('' when none is left: that is a finding too)."""
    releases = list(validated.get("releases") or [])
    counts = dict(validated.get("totals") or {})
    findings = [f"{r['tag']}: {problem}" for r in releases for problem in r.get("problems") or []]
    if not releases:
        findings.append("no release was validated: none inside the audit window, and nothing live")
    if live and not target:
        findings.append(f"no rollback target for the live {live}: " + (target_error or "none was found"))
    if quarantined:
        findings.append(f"the rollback target {quarantined} failed and is quarantined; the rollback target is now "
                        + (next_target or "NONE: no healthy release is left to roll back to"))
        checked = {r.get("tag"): r for r in releases}
        if next_target and next_target not in checked:
            findings.append(f"the new rollback target {next_target} was not validated in this run (outside the audit window): "
                            "run the validation with it kept, or choose the rollback target by hand")
        elif next_target and not checked[next_target].get("ok"):
            findings.append(f"the new rollback target {next_target} is not valid either")
    ok = not findings
    seconds = round(now - started, 3)
    result = {
        "kind": REPORT_KIND, "format_version": REPORT_FORMAT, "environment": environment, "ok": ok,
        "started": _iso(started), "finished": _iso(now), "seconds": seconds, "totals": counts,
        "rollback_target": {"before": target, "quarantined": quarantined, "after": next_target if quarantined else target},
        "outside_window": list(validated.get("outside_window") or []), "findings": findings,
        "releases": [{k: r.get(k) for k in ("tag", "ok", "commit", "created", "bytes", "seconds", "checks", "problems")} for r in releases],
    }
    gauges = [
        {"name": "maestro_weekly_validation_ok", "labels": {}, "value": int(ok)},
        {"name": "maestro_weekly_validation_last_run_timestamp_seconds", "labels": {}, "value": round(now, 3)},
        {"name": "maestro_weekly_validation_duration_seconds", "labels": {}, "value": seconds},
        {"name": "maestro_weekly_validation_bytes", "labels": {}, "value": int(counts.get("bytes") or 0)},
        {"name": "maestro_weekly_validation_releases", "labels": {"result": "pass"}, "value": int(counts.get("passed") or 0)},
        {"name": "maestro_weekly_validation_releases", "labels": {"result": "fail"}, "value": int(counts.get("failed") or 0)},
    ]
    increments = [{"name": "maestro_weekly_validation_runs_total", "labels": {"result": "pass" if ok else "fail"}, "by": 1}]
    return {"ok": ok, "report": result, "gauges": gauges, "increments": increments, "summary": summary_lines(result),
            "findings": findings}


def summary_lines(result: dict) -> list[str]:
    counts = result.get("totals") or {}
    rate = counts.get("bytes_per_second") or 0
    head = (f"weekly validation of {result.get('environment')}: {counts.get('releases', 0)} release(s) in the audit window, "
            f"{counts.get('passed', 0)} valid, {counts.get('failed', 0)} invalid; {_size(int(counts.get('bytes') or 0))} in "
            f"{counts.get('seconds', 0)} s ({_size(int(rate))}/s)")
    if result.get("ok"):
        return [head, "GREEN: every release verifies strictly, its provenance and pipeline hold, and it is made again as stored"]
    return [head, f"RED: {len(result.get('findings') or [])} finding(s)"] + [f"  {f}" for f in result.get("findings") or []]


def render_markdown(result: dict) -> str:
    lines = [f"# Weekly validation: {_cell(result.get('environment'))}", "",
             f"**{'GREEN' if result.get('ok') else 'RED'}** at {_cell(result.get('finished'))}", ""]
    lines += [_cell(line) for line in summary_lines(result)[:1]] + [""]
    target = result.get("rollback_target") or {}
    if target.get("quarantined"):
        lines += [f"The rollback target {_cell(target['quarantined'])} failed and was quarantined; the rollback target is now "
                  f"{_cell(target.get('after') or 'none')}.", ""]
    lines += ["| release | created | valid | problems |", "|---|---|---|---|"]
    for release in result.get("releases") or []:
        lines.append(f"| [{_cell(release['tag'])}](releases/{release['tag']}.md) | {_cell(release.get('created') or '?')} | "
                     f"{'yes' if release.get('ok') else 'NO'} | {_cell('; '.join(release.get('problems') or []) or '-')} |")
    if result.get("outside_window"):
        lines += ["", f"Outside the audit window (not validated): {_cell(', '.join(result['outside_window']))}."]
    return "\n".join(lines) + "\n"
