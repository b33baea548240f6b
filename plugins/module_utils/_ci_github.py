# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the post-GA watch reads from GitHub: the CI queue of GitHub Actions, and a release's hosted files.

Read only, over ``_api.Client`` with the GitHub service: the token goes only to the configured https origin
(plain http only to loopback, for tests), redirects are refused, and no message carries the token.

- The queue is ``total_count`` of the workflow runs listed with ``status=queued``. A run queued for longer than the
  stuck floor (since its latest attempt was queued) is counted apart and taken out of that figure, so that one run no
  runner will ever pick up does not hold the queue figure up for good. Queued jobs are counted in the jobs of every
  queued and in-progress run, with the same floor on each job's own age.
- Every list is read to a bound: the run lists to ten pages of 100 (GitHub lists at most 1,000 runs for a status
  filter), each run's jobs to five pages, and the jobs of all runs only while the watch's request budget lasts and the
  token keeps a reserve. A bound that cut a list short makes the result incomplete and says which: unknown is not zero.
- A run's artifacts: how many, which expired, which expire within the warning, the earliest expiry. A release's assets
  by name, against the names expected.
- The artifact and log retention setting of a repository or an organization (``days`` and ``maximum_allowed_days``),
  read, and set when asked: the one write here.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from ansible_collections.maestro.conductor.plugins.module_utils import _api
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import DEPENDABOT_SEVERITIES
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_tag_name

DEFAULT_API_URL = "https://api.github.com"
TOKEN_ENV = "MAESTRO_CI_TOKEN"
DEFAULT_STUCK_AFTER = 1800
DEFAULT_EXPIRY_WARNING = 7 * 86400
DEFAULT_MAX_REQUESTS = 200

_RUN_PAGES = 10  # GitHub lists at most 1,000 workflow runs for a status filter: ten pages of 100
_JOB_PAGES = 5  # a workflow run has at most 256 jobs per matrix; five pages hold more than a sane run has
_ARTIFACT_PAGES = 10
_EMBEDDED_ASSETS = 100  # a release carrying this many assets may carry only the first of them: the asset list is read
_RATE_RESERVE = 50  # requests the watch leaves to the token's other users: the jobs are not read below this
# an asset or artifact name: GitHub's names hold no '/' and no control characters
_NAME_RE = re.compile(r"[^/\x00-\x1f\x7f]{1,255}")
_ORG_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")  # GitHub's login rule: letters, digits, inner hyphens

# what each refusal means for someone who reads CI figures, and what to do about it
_HINTS = {
    401: f"the token was rejected (missing, wrong or expired): give a valid token as token or in {TOKEN_ENV}",
    403: ("the token may not read this: it needs read access to {project}, as a fine-grained token with the repository "
          "permissions Actions (read) and Contents (read), or a classic token with the repo scope for a private repository"),
    404: ("not found: {project} does not exist or the token cannot see it: check project (owner/name) and that the token "
          "has access to the repository"),
}

# the retention setting is an administrator's: other permissions than the CI figures'
_RETENTION_HINTS = {
    **_HINTS,
    403: ("the token may not read or set the retention of {project}: a repository's needs the Administration permission "
          "(read to read, write to set), an organization's the admin:org scope or the Actions policies permission"),
    404: "not found: {project} does not exist or the token cannot see it",
    409: "conflict: an organization or enterprise policy sets the retention of {project}; change it there",
}


@dataclass
class Queue:
    """The CI queue now: runs queued (stuck ones apart), runs in progress, and the jobs queued in both."""

    queued_workflow_runs: int = 0
    stuck_workflow_runs: int = 0
    in_progress_workflow_runs: int = 0
    queued_jobs: int = 0
    stuck_jobs: int = 0
    incomplete: list[str] = field(default_factory=list)


@dataclass
class Artifacts:
    """A workflow run's artifacts, and whether they are all there for long enough."""

    run_id: int
    found: bool = False
    count: int = 0
    names: list[str] = field(default_factory=list)
    expired: int = 0
    expiring: int = 0
    earliest_expiry: str | None = None
    earliest_expiry_epoch: int | None = None
    missing: list[str] = field(default_factory=list)
    available: bool = False
    complete: bool = True
    reasons: list[str] = field(default_factory=list)


@dataclass
class ReleaseAssets:
    """A release's uploaded assets by name, and the expected ones that are not."""

    tag: str
    found: bool = False
    count: int = 0
    names: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    available: bool = False
    reasons: list[str] = field(default_factory=list)


def client(api_url: str | None, token: str, validate_certs: bool = True, timeout: int = 30) -> _api.Client:
    """A GitHub API client for the watch; ``api_url`` defaults to GitHub's own (GitHub Enterprise: https://HOST/api/v3)."""
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 600:
        raise ConductorError(f"timeout {timeout!r} is invalid: expected whole seconds from 1 to 600")
    return _api.Client(_api.GITHUB, api_url or DEFAULT_API_URL, token, validate_certs, timeout, token_env=TOKEN_ENV)


def watch(api: _api.Client, project: str, *, stuck_after: int = DEFAULT_STUCK_AFTER, run_id: int | None = None,
          tag: str | None = None, expected_assets=(), expected_artifacts=(), expiry_warning: int = DEFAULT_EXPIRY_WARNING,
          max_requests: int = DEFAULT_MAX_REQUESTS, now: float | None = None, dependabot: bool = False) -> dict:
    """Everything the watch reads from GitHub, as the module returns it. Every value is checked before the first request."""
    project = _api.owner_repo(project, "GitHub")
    _whole(stuck_after, "stuck_after", 1)
    _whole(expiry_warning, "expiry_warning", 0)
    _whole(max_requests, "max_requests", 1)
    if run_id is not None:
        _whole(run_id, "run_id", 1)
    if tag is not None:
        validate_tag_name(tag)
    expected_assets, expected_artifacts = _names(expected_assets, "expected_assets"), _names(expected_artifacts, "expected_artifacts")
    now = time.time() if now is None else now
    # the hosted files first: a few requests, and the queue's jobs take what the budget leaves
    artifacts = read_artifacts(api, project, run_id, expiry_warning, expected_artifacts, now) if run_id is not None else None
    assets = read_release_assets(api, project, tag, expected_assets) if tag is not None else None
    queue = read_queue(api, project, stuck_after, now, max_requests)
    incomplete = list(queue.incomplete)
    if artifacts is not None and not artifacts.complete:
        incomplete.append(f"artifacts of workflow run {run_id}: more than {_ARTIFACT_PAGES * 100} listed, the rest unknown")
    result = {key: value for key, value in asdict(queue).items() if key != "incomplete"}
    result.update(complete=not incomplete, incomplete=incomplete,
                  artifacts=asdict(artifacts) if artifacts is not None else None,
                  release_assets=asdict(assets) if assets is not None else None)
    if dependabot:
        # alerts that cannot be read are said, not fatal: the queue's figures stand, and the verdict reads unknown as red
        try:
            result["dependabot"] = asdict(read_dependabot(api, project))
        except ConductorError as exc:
            result["dependabot"] = {"error": str(exc)}
    result.update(requests=api.requests_made, rate_limit_remaining=api.rate_limit_remaining)
    return result


def read_queue(api: _api.Client, project: str, stuck_after: int = DEFAULT_STUCK_AFTER, now: float | None = None,
               max_requests: int = DEFAULT_MAX_REQUESTS) -> Queue:
    """The queue: runs queued and stuck from the queued list, runs in progress, and the queued jobs of both."""
    project, floor = _api.owner_repo(project, "GitHub"), _whole(stuck_after, "stuck_after", 1)
    _whole(max_requests, "max_requests", 1)
    now = time.time() if now is None else now
    path = f"/repos/{project}/actions/runs"
    queue = Queue()
    with _explained(api, project):
        queued = api.list_field(path, "workflow_runs", {"status": "queued"}, max_pages=_RUN_PAGES)
        running = api.list_field(path, "workflow_runs", {"status": "in_progress"}, max_pages=_RUN_PAGES)
        queued_runs, running_runs = _unique(queued.items, f"GET {path}?status=queued"), _unique(running.items, f"GET {path}")
        fresh, stuck = [], []
        for run in queued_runs:
            (stuck if now - _queued_since(run, path) > floor else fresh).append(run)
        total = queued.total_count if queued.total_count is not None else len(queued_runs)
        queue.stuck_workflow_runs = len(stuck)
        queue.queued_workflow_runs = max(0, total - len(stuck))
        queue.in_progress_workflow_runs = running.total_count if running.total_count is not None else len(running_runs)
        if not queued.complete:
            queue.incomplete.append(f"queued workflow runs: {len(queued_runs)} of {total} listed (GitHub lists at most "
                                    f"{_RUN_PAGES * 100}); stuck runs among the rest are unknown and counted as queued")
        if not running.complete:
            queue.incomplete.append(f"in-progress workflow runs: {len(running_runs)} of {queue.in_progress_workflow_runs} listed; "
                                    "the queued jobs of the rest are unknown")
        _count_jobs(api, path, fresh + running_runs + stuck, floor, now, max_requests, queue)
    return queue


def _count_jobs(api: _api.Client, path: str, runs: list, floor: int, now: float, max_requests: int, queue: Queue) -> None:
    """Adds the queued jobs of ``runs`` (the stuck runs last) to ``queue``, as far as the request budget goes."""
    for number, run in enumerate(runs):
        stop = ""
        if api.requests_made >= max_requests:
            stop = f"max_requests ({max_requests}) reached"
        elif api.rate_limit_remaining is not None and api.rate_limit_remaining <= _RATE_RESERVE:
            stop = f"the token has {api.rate_limit_remaining} requests left this hour, kept for its other users"
        if stop:
            queue.incomplete.append(f"queued jobs: read for {number} of {len(runs)} queued and in-progress workflow runs ({stop}); "
                                    "the rest are unknown")
            return
        jobs_path = f"{path}/{run['id']}/jobs"
        jobs = api.list_field(jobs_path, "jobs", max_pages=_JOB_PAGES, missing_ok=True)
        if jobs is None:  # the run was deleted after it was listed: it queues nothing now
            continue
        if not jobs.complete:
            queue.incomplete.append(f"jobs of workflow run {run['id']}: more than {_JOB_PAGES * 100}, the rest unknown")
        for job in _unique(jobs.items, f"GET {jobs_path}"):
            if job.get("status") == "queued":
                if now - _epoch(job.get("created_at"), f"GET {jobs_path}: job {job['id']} created_at") > floor:
                    queue.stuck_jobs += 1
                else:
                    queue.queued_jobs += 1


def read_artifacts(api: _api.Client, project: str, run_id: int, expiry_warning: int = DEFAULT_EXPIRY_WARNING,
                   expected=(), now: float | None = None) -> Artifacts:
    """A run's artifacts: available when there is at least one (and every expected name), none expired, none expiring
    within ``expiry_warning`` seconds, and the list was read to its end."""
    project, run_id = _api.owner_repo(project, "GitHub"), _whole(run_id, "run_id", 1)
    warning, expected = _whole(expiry_warning, "expiry_warning", 0), _names(expected, "expected_artifacts")
    now = time.time() if now is None else now
    path = f"/repos/{project}/actions/runs/{run_id}/artifacts"
    result = Artifacts(run_id)
    with _explained(api, project):
        listing = api.list_field(path, "artifacts", max_pages=_ARTIFACT_PAGES, missing_ok=True)
        if listing is None:
            _repository(api, project)  # a 404 for the repository itself is an error, for the run a finding
            result.missing = list(expected)
            result.reasons.append(f"workflow run {run_id} was not found on {project} (deleted, or removed by retention)")
            return result
        items = _unique(listing.items, f"GET {path}")
        expiries: list[tuple[float, str]] = []  # of the artifacts not expired
        expired, expiring, present = [], [], set()
        for artifact in items:
            name = str(artifact.get("name"))
            expires = artifact.get("expires_at")
            at = None if expires is None else _epoch(expires, f"GET {path}: artifact {artifact['id']} expires_at")
            if artifact.get("expired") is True or (at is not None and at <= now):
                expired.append(name)
                continue
            present.add(name)
            if at is not None:
                expiries.append((at, name))
                if at < now + warning:
                    expiring.append(name)
    result.found, result.complete = True, listing.complete
    result.count = max(len(items), listing.total_count or 0)
    result.names = sorted({str(artifact.get("name")) for artifact in items})
    result.expired, result.expiring = len(expired), len(expiring)
    if expiries:
        first = min(expiries)[0]
        result.earliest_expiry, result.earliest_expiry_epoch = _iso(first), int(first)
    result.missing = [name for name in expected if name not in present]
    if not items:
        result.reasons.append(f"workflow run {run_id} has no artifacts")
    if expired:
        result.reasons.append(f"expired: {', '.join(sorted(expired))}")
    if expiring:
        soonest = [f"{name} ({_iso(at)})" for at, name in sorted(expiries) if at < now + warning]
        result.reasons.append(f"expiring within {warning} s: {', '.join(soonest)}")
    if result.missing:
        result.reasons.append(f"missing: {', '.join(result.missing)}")
    if not listing.complete:
        result.reasons.append(f"more than {_ARTIFACT_PAGES * 100} artifacts: the rest were not read")
    result.available = not result.reasons
    return result


def read_release_assets(api: _api.Client, project: str, tag: str, expected=()) -> ReleaseAssets:
    """The uploaded assets of the published release of ``tag``: available when there is at least one and every expected name
    is among them. An asset whose upload has not finished (state other than uploaded) is not there."""
    project, tag, expected = _api.owner_repo(project, "GitHub"), validate_tag_name(tag), _names(expected, "expected_assets")
    path = f"/repos/{project}/releases/tags/{_api.quote(tag)}"
    result = ReleaseAssets(tag)
    with _explained(api, project):
        release = api.request("GET", path, missing_ok=True)
        if release is None:
            _repository(api, project)
            result.missing = list(expected)
            result.reasons.append(f"{project} has no published release for tag {tag} (a draft is not one)")
            return result
        assets = release.get("assets") if isinstance(release, dict) else None
        if not isinstance(assets, list) or not isinstance(release.get("id"), int):
            raise _api.ApiError(f"GitHub API GET {path}: expected a release with an id and a list of assets")
        if len(assets) >= _EMBEDDED_ASSETS:
            assets = api.list_all(f"/repos/{project}/releases/{release['id']}/assets")
    uploaded = sorted({str(a.get("name")) for a in assets if isinstance(a, dict) and a.get("state", "uploaded") == "uploaded"})
    unfinished = sorted({str(a.get("name")) for a in assets if isinstance(a, dict)} - set(uploaded))
    result.found, result.count, result.names = True, len(uploaded), uploaded
    result.missing = [name for name in expected if name not in uploaded]
    if not uploaded:
        result.reasons.append(f"the release of {tag} has no uploaded assets")
    if unfinished:
        result.reasons.append(f"upload not finished: {', '.join(unfinished)}")
    if result.missing:
        result.reasons.append(f"missing: {', '.join(result.missing)}")
    result.available = bool(uploaded) and not result.missing
    return result


def read_run(api: _api.Client, project: str, run_id: int) -> dict | None:
    """One workflow run as GitHub describes it (``head_sha``, ``path``, ``status``, ``conclusion``, ``html_url``), or None
    when the repository has no such run (deleted, or removed by retention)."""
    project, run_id = _api.owner_repo(project, "GitHub"), _whole(run_id, "run_id", 1)
    with _explained(api, project):
        run = api.request("GET", f"/repos/{project}/actions/runs/{run_id}", missing_ok=True)
        if run is None:
            _repository(api, project)  # a 404 for the repository itself is an error, for the run a finding
            return None
    if not isinstance(run, dict):
        raise ConductorError(f"GET /repos/{project}/actions/runs/{run_id}: expected a workflow run object")
    return {key: run.get(key) for key in ("id", "head_sha", "path", "status", "conclusion", "event", "html_url")}


@dataclass
class Retention:
    """How long GitHub Actions keeps artifacts and logs, where that is set, and the most it may be set to there."""

    scope: str  # "repository" or "organization"
    name: str  # owner/name, or the organization's login
    days: int
    maximum_allowed_days: int

    @property
    def path(self) -> str:
        base = f"/repos/{self.name}" if self.scope == "repository" else f"/organizations/{self.name}"
        return f"{base}/actions/permissions/artifact-and-log-retention"


def retention_at(project: str = "", organization: str = "") -> Retention:
    """Where the setting is read: a repository (owner/name) or an organization, exactly one of them."""
    if bool(project) == bool(organization):
        raise ConductorError("give either project (owner/name: the repository's own setting) or organization (its default "
                             f"and limit), not {'both' if project else 'neither'}")
    if project:
        return Retention("repository", _api.owner_repo(project, "GitHub"), 0, 0)
    if not isinstance(organization, str) or not _ORG_RE.fullmatch(organization) or organization.endswith("-"):
        raise ConductorError(f"organization {organization!r} is invalid: expected a GitHub login (letters, digits and inner hyphens)")
    return Retention("organization", organization, 0, 0)


def read_retention(api: _api.Client, where: Retention) -> Retention:
    """The setting as GitHub answers it now."""
    with _explained(api, where.name, _RETENTION_HINTS):
        answer = api.request("GET", where.path)
    if not isinstance(answer, dict):
        raise ConductorError(f"GitHub API GET {where.path}: expected an object with days and maximum_allowed_days")
    days = _whole(answer.get("days"), f"GitHub API GET {where.path}: days", 1)
    maximum = _whole(answer.get("maximum_allowed_days"), f"GitHub API GET {where.path}: maximum_allowed_days", 1)
    return Retention(where.scope, where.name, days, maximum)


def write_retention(api: _api.Client, where: Retention, days: int) -> Retention:
    """Sets ``days`` and reads the setting back: a server that answered success without applying it is an error."""
    with _explained(api, where.name, _RETENTION_HINTS):
        api.request("PUT", where.path, body={"days": days})
    after = read_retention(api, where)
    if after.days != days:
        raise ConductorError(f"GitHub answered PUT {where.path} with success but keeps {after.days} days, not {days}: "
                             "an organization or enterprise policy may hold the setting")
    return after


# Dependabot's alerts are a security reader's: other permissions, and a 404 that may mean the alerts are off
_DEPENDABOT_HINTS = {
    **_HINTS,
    403: ("the token may not read the Dependabot alerts of {project}: a fine-grained token needs the repository permission "
          "Dependabot alerts (read), a classic one the security_events scope (repo for a private repository); or the alerts "
          "are disabled for the repository"),
    404: "not found: {project} does not exist, the token cannot see it, or Dependabot alerts are disabled for it",
}
_DEPENDABOT_PAGES = 10


@dataclass
class Dependabot:
    """A repository's open Dependabot alerts: how many of each severity, and each one (number, package, severity, advisory)."""

    open: int = 0
    severities: dict = field(default_factory=lambda: {severity: 0 for severity in DEPENDABOT_SEVERITIES})
    alerts: list = field(default_factory=list)
    complete: bool = True


def read_dependabot(api: _api.Client, project: str) -> Dependabot:
    """The open Dependabot alerts of ``project`` (GitHub's list, paged by cursor). A severity GitHub does not name counts as
    critical: unknown is never less than the worst."""
    project = _api.owner_repo(project, "GitHub")
    path = f"/repos/{project}/dependabot/alerts"
    with _explained(api, project, _DEPENDABOT_HINTS):
        listing = api.list_cursor(path, {"state": "open"}, max_pages=_DEPENDABOT_PAGES)
    result = Dependabot(complete=listing.complete)
    numbers = set()
    for alert in listing.items:
        if not isinstance(alert, dict) or not isinstance(alert.get("number"), int):
            raise ConductorError(f"GitHub API GET {path}: expected alerts, each with a number")
        if alert.get("state", "open") != "open" or alert["number"] in numbers:
            continue  # a server that ignores the filter, or a list that moved while it was paged: each open alert once
        numbers.add(alert["number"])
        advisory = _mapping(alert.get("security_advisory"))
        vulnerability = _mapping(alert.get("security_vulnerability"))
        package = _mapping(_mapping(alert.get("dependency")).get("package"))
        severity = str(vulnerability.get("severity") or advisory.get("severity") or "").lower()
        if severity not in DEPENDABOT_SEVERITIES:
            severity = "critical"
        result.severities[severity] += 1
        result.alerts.append({"number": alert["number"], "severity": severity, "package": str(package.get("name") or "?")[:200],
                              "ecosystem": str(package.get("ecosystem") or "")[:50], "advisory": str(advisory.get("ghsa_id") or "")[:50],
                              "summary": str(advisory.get("summary") or "")[:300], "created_at": str(alert.get("created_at") or "")[:40]})
    result.open = len(result.alerts)
    result.alerts.sort(key=lambda a: (DEPENDABOT_SEVERITIES.index(a["severity"]), a["number"]))
    return result


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


@contextmanager
def _explained(api: _api.Client, project: str, hints: dict[int, str] | None = None):
    """API errors as messages for someone reading CI figures: which repository, which endpoint, and what to do."""
    try:
        yield
    except _api.ApiError as exc:
        if exc.rate_limit:
            message = (f"{exc}; the CI figures of {project} are unknown until then: run the watch less often, or give it "
                       "a token of its own")
        elif exc.status in (hints or _HINTS):
            said = f" (server said: {exc.said})" if exc.said else ""
            message = f"{exc.where}: {exc.status} {(hints or _HINTS)[exc.status].format(project=project)}{said}"
        else:
            message = str(exc)
        raise ConductorError(api.mask(message)) from None


def _repository(api: _api.Client, project: str) -> None:
    """Nothing, when the repository is there for this token; the 404 (or other refusal) otherwise."""
    api.request("GET", f"/repos/{project}")


def _whole(value: object, what: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConductorError(f"{what} {value!r} is invalid: expected a whole number of at least {minimum}")
    return value


def _names(values, what: str) -> list[str]:
    """Asset or artifact names, each once, in the order given."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise ConductorError(f"{what} {values!r} is invalid: expected a list of names")
    for name in values:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name in (".", ".."):
            raise ConductorError(f"{what}: name {name!r} is invalid: expected 1-255 characters without '/' or control characters")
    return list(dict.fromkeys(values))


def _unique(items: list, where: str, service: str = "GitHub") -> list[dict]:
    """Each object once by its id: a list that moves while it is paged shows an item on two pages."""
    seen: dict[int, dict] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int) or isinstance(item.get("id"), bool):
            raise ConductorError(f"{service} API {where}: expected objects with a numeric id, got {str(item)[:100]!r}")
        seen.setdefault(item["id"], item)
    return list(seen.values())


def _queued_since(run: dict, path: str) -> float:
    """When the run's latest attempt was queued: a re-run keeps its first created_at, its run_started_at moves on."""
    since = _epoch(run.get("created_at"), f"GET {path}: workflow run {run['id']} created_at")
    if run.get("run_started_at"):
        since = max(since, _epoch(run["run_started_at"], f"GET {path}: workflow run {run['id']} run_started_at"))
    return since


def _epoch(value: object, what: str) -> float:
    """Epoch seconds of an ISO 8601 time as GitHub writes them (2026-11-27T10:00:00Z); a time without a zone is UTC."""
    text = value.strip() if isinstance(value, str) else ""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ConductorError(f"{what} {value!r} is invalid: expected an ISO 8601 time such as 2026-11-27T10:00:00Z") from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
