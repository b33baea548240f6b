# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""GitLab CI, read only: a pipeline's job artifacts and when each expires (``artifacts_expire_at``), for the retention
check of releases whose evidence names a GitLab pipeline. The same result as a GitHub Actions run's artifacts."""

from __future__ import annotations

import time

from ansible_collections.maestro.conductor.plugins.module_utils import _api
from ansible_collections.maestro.conductor.plugins.module_utils._ci_github import TOKEN_ENV, Artifacts, _epoch, _iso, _unique, _whole
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._protect_gitlab import validate_project

DEFAULT_API_URL = "https://gitlab.com/api/v4"
_HINTS = {
    401: f"the token was rejected (missing, wrong or expired): give a valid token as ci_token or in {TOKEN_ENV}",
    403: "the token may not read the pipelines of {project}: it needs the read_api scope and at least the Reporter role",
    404: "not found: {project} does not exist or the token cannot see it",
}


def client(api_url: str | None, token: str, validate_certs: bool = True, timeout: int = 30) -> _api.Client:
    """A GitLab API client; ``api_url`` is the API root (``https://HOST/api/v4``), default GitLab.com's."""
    return _api.Client(_api.GITLAB, api_url or DEFAULT_API_URL, token, validate_certs, timeout, token_env=TOKEN_ENV)


def read_pipeline_artifacts(api: _api.Client, project: str, pipeline_id: int, expected=(), now: float | None = None) -> Artifacts:
    """The job artifacts of a pipeline (a job's archive, named after the job): none expired, when each expires (a job
    without ``artifacts_expire_at`` keeps them until deleted), and whether the pipeline is still there."""
    project, pipeline_id = validate_project(project), _whole(pipeline_id, "pipeline id", 1)
    now = time.time() if now is None else now
    base = f"/projects/{_api.quote(project)}/pipelines/{pipeline_id}"
    result = Artifacts(pipeline_id)
    try:
        if api.request("GET", base, missing_ok=True) is None:
            api.request("GET", f"/projects/{_api.quote(project)}")  # a 404 for the project itself is an error, for the pipeline a finding
            result.missing = list(expected)
            result.reasons.append(f"pipeline {pipeline_id} was not found on {project} (deleted, or removed)")
            return result
        jobs = _unique(api.list_all(f"{base}/jobs"), f"GET {base}/jobs", "GitLab")
    except _api.ApiError as exc:
        hint = _HINTS.get(exc.status, "")
        said = f" (server said: {exc.said})" if exc.said else ""
        raise ConductorError(api.mask(f"{exc.where}: {exc.status} {hint.format(project=project)}{said}" if hint else str(exc))) from None
    expiries, expired, present = [], [], set()
    for job in jobs:
        if not any(isinstance(a, dict) and a.get("file_type") == "archive" for a in job.get("artifacts") or []):
            continue  # a job that kept no artifacts archive (only its log, or nothing)
        name = str(job.get("name"))
        expires = job.get("artifacts_expire_at")
        at = None if expires is None else _epoch(expires, f"GET {base}/jobs: job {job['id']} artifacts_expire_at")
        if at is not None and at <= now:
            expired.append(name)
            continue
        present.add(name)
        if at is not None:
            expiries.append((at, name))
    result.found, result.count = True, len(present) + len(expired)
    result.names = sorted(present | set(expired))
    result.expired = len(expired)
    if expiries:
        first = min(expiries)[0]
        result.earliest_expiry, result.earliest_expiry_epoch = _iso(first), int(first)
    result.missing = [name for name in expected if name not in present]
    result.available = bool(present) and not result.missing and not expired
    if not result.count:
        result.reasons.append(f"pipeline {pipeline_id} has no job artifacts")
    if expired:
        result.reasons.append(f"expired: {', '.join(sorted(expired))}")
    if result.missing:
        result.reasons.append(f"missing: {', '.join(result.missing)}")
    return result
