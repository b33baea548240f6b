"""A local stand-in for the hosted git services' APIs, on loopback: tag protection, GitHub Actions, GitHub Releases.

GitHub, GitLab and Gitea cannot be reached from the machines these tests run on, so their clients
are tested against this server. It implements the documented endpoints the tag_protection and
ci_watch modules use, with their status codes and the shape of their answers:

- GitHub: repository rulesets, ``/repos/{owner}/{repo}/rulesets[/{id}]`` (GET list of summaries,
  GET one in full, POST 201, PUT 200, DELETE 204), ``Authorization: Bearer``. Errors are GitHub's
  error objects: ``message``, ``documentation_url``, ``status`` (and ``errors`` for a 422). Bypass
  actors of the types GitHub takes (``User`` among them) with their ids; any other type is a 422.
- GitLab: protected tags, ``/api/v4/projects/{id or url-encoded path}/protected_tags[/{name}]``
  (GET list, GET one, POST 201, DELETE 204), ``PRIVATE-TOKEN``. Protecting a name protected already
  answers 422 ``{"message": ["Name has already been taken"]}``; an access level other than 0, 30
  and 40 answers 400 ``{"error": "... does not have a valid value"}``.
- GitLab CI, read only: a pipeline, ``/api/v4/projects/{id or path}/pipelines/{pipeline_id}`` (404 when unknown), and its
  jobs, ``.../jobs`` (paged by ``page`` and ``per_page``, default 20), each with ``artifacts_expire_at`` (null: kept until
  deleted) and its ``artifacts`` (``file_type`` ``archive`` for a job's artifacts archive, ``trace`` for its log); the
  project itself, ``/api/v4/projects/{id or path}``.
- Gitea: tag protections, ``/api/v1/repos/{owner}/{repo}/tag_protections[/{id}]`` (GET list,
  GET one, POST 201, PATCH 200, DELETE 204), ``Authorization: token``; organizations, ``/api/v1/orgs/{org}``
  (200, or 404 for a user). As Gitea does: a second protection for a pattern answers 403 "Tag
  protection already exist", both allow lists empty answers 400, and teams are applied only on
  a repository an organization owns (on a user's they are dropped without a word).

- GitHub Actions, read only: workflow runs, ``/repos/{owner}/{repo}/actions/runs`` (``status`` filter, newest first,
  ``{"total_count", "workflow_runs"}``; with a filter at most 1,000 runs are listed, as GitHub documents, while
  ``total_count`` counts them all), a run's jobs, ``.../actions/runs/{run_id}/jobs`` (``filter=latest``, the default:
  the jobs of the run's latest attempt; ``filter=all``), a run's artifacts, ``.../actions/runs/{run_id}/artifacts``
  (``name`` filter, ``expired`` and ``expires_at``), and a run itself, ``.../actions/runs/{run_id}``; an unknown run answers 404. The repository itself,
  ``/repos/{owner}/{repo}``.
- GitHub Releases, read only: a release by its tag, ``/repos/{owner}/{repo}/releases/tags/{tag}`` (404 when the tag has
  no published release), with its ``assets`` (each with ``state`` ``uploaded``, or ``open`` while an upload is unfinished),
  and a release's assets paged, ``/repos/{owner}/{repo}/releases/{release_id}/assets``. ``embedded_asset_limit`` makes the
  release object carry only its first N assets (GitHub's docs state no such limit; the client reads the list endpoint
  when the embedded list may be cut short, and this proves it does).
- GitHub Actions' artifact and log retention, of a repository, ``/repos/{owner}/{repo}/actions/permissions/artifact-and-log-retention``,
  and of an organization, ``/organizations/{org}/actions/permissions/artifact-and-log-retention``: GET answers ``{"days",
  "maximum_allowed_days"}`` (90 and 400 unless a test sets them), PUT ``{"days"}`` answers 204, a value past the maximum 422,
  and an organization that holds its repositories' setting (``retention_held``) 409 for a repository's PUT.
- GitHub's Dependabot alerts, read only: ``/repos/{owner}/{repo}/dependabot/alerts`` (``state`` filter, a comma-separated
  list; ``per_page`` at most 100; paged by cursor, as GitHub documents it: the ``Link`` header's ``rel="next"`` carries
  ``after``, and a deprecated ``page`` answers 400), each alert with ``number``, ``state``, ``dependency.package``
  (``ecosystem``, ``name``), ``security_advisory`` (``ghsa_id``, ``severity``, ``summary``), ``security_vulnerability``
  (``severity``), ``html_url`` and ``created_at``. ``dependabot_disabled`` makes it answer 403 "Dependabot alerts are
  disabled for this repository.", as GitHub does.
- GitHub's lists take ``per_page`` (at most 100, default 30) and ``page``. Every GitHub answer carries the primary rate
  limit's headers (``x-ratelimit-limit``, ``-remaining``, ``-used``, ``-reset``, ``-resource``); when ``rate_limit``
  requests have been made it answers 403 with ``x-ratelimit-remaining: 0``, as GitHub does; ``secondary_limit`` (a
  status and a ``retry-after`` in seconds) makes it answer a secondary rate limit.

With ``tls`` (a certificate and its key) it answers https.

Tokens: ``admin`` may do everything, ``reader`` may only read (writes answer 403), ``contents`` may read everything but
GitHub Actions (its endpoints answer 403, as for a fine-grained token without the Actions permission), anything else
answers 401. An unknown repository answers 404. ``drop_writes`` makes writes answer success without
applying them (to prove the module reads back what it wrote); every request is recorded, with the
authentication header it carried (to prove where a token went). ``route`` may answer extra headers
(a redirect's Location) as a third item.
"""

from __future__ import annotations

import itertools
import json
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADMIN, READER, CONTENTS = "admin-token-3f9a", "reader-token-77c1", "contents-token-5d2e"
STAMP = "2026-11-27T00:00:00Z"
GITHUB_FILTERED_LIST_LIMIT = 1000  # GitHub lists at most this many workflow runs for a status filter


def iso(epoch: float) -> str:
    """A time as GitHub writes it: UTC, seconds, Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class HostedApi:
    def __init__(self, repositories=("acme/app", "alice/tools"), organizations=("acme",), tls: tuple[str, str] | None = None):
        self.repositories, self.organizations = set(repositories), set(organizations)
        self.rulesets: dict[int, dict] = {}  # GitHub, by id
        self.protected_tags: dict[str, dict] = {}  # GitLab, by name
        self.protections: dict[int, dict] = {}  # Gitea, by id
        self.ids = itertools.count(1)
        self.drop_writes = False
        self.workflow_runs: dict[int, dict] = {}  # GitHub Actions, by run id
        self.jobs: dict[int, list[dict]] = {}  # by run id, every attempt's
        self.artifacts: dict[int, list[dict]] = {}  # by run id
        self.releases: dict[str, dict] = {}  # GitHub Releases, by tag
        self.retention: dict[str, dict] = {}  # "repository/owner/name" or "organization/login": {days, maximum_allowed_days}
        self.retention_held = False
        self.dependabot: list[dict] = []  # GitHub's Dependabot alerts of every repository, oldest first
        self.dependabot_disabled = False
        self.pipelines: dict[int, list[dict]] = {}  # GitLab pipelines' jobs, by pipeline id
        self.embedded_asset_limit: int | None = None
        self.rate_limit, self.rate_used, self.rate_reset = 5000, 0, int(time.time()) + 3600
        self.secondary_limit: tuple[int, int] = (0, 0)  # (403 or 429, retry-after seconds); (0, 0): none
        self.requests: list[tuple[str, str]] = []
        self.credentials: list[str] = []  # the authentication header of each request, "" when it had none
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body=None, headers=None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with api.lock:
                    api.requests.append((self.command, self.path))
                    api.credentials.append(self.headers.get("Authorization") or self.headers.get("PRIVATE-TOKEN") or "")
                    answer = api.route(self.command, self.path, self.headers, json.loads(raw) if raw else None)
                self._answer(*answer)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server's names

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:  # (certificate file, key file): https, as the real services answer
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"
        # a short poll: shutdown() waits up to one poll, and every test stops a server
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    # --- routing -----------------------------------------------------------------------------------------------------

    def route(self, method: str, raw_path: str, headers: dict, body):
        parts = urllib.parse.urlsplit(raw_path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        segments = parts.path.strip("/").split("/")
        if segments[:2] == ["api", "v4"]:
            return self._gitlab(method, segments[2:], headers, body, query)
        if segments[:2] == ["api", "v1"]:
            return self._gitea(method, segments[2:], headers, body, query)
        return self._github(method, segments, headers, body, query)

    def _auth(self, token: str, method: str, messages: dict):
        if token not in (ADMIN, READER):
            return 401, {"message": messages[401]}
        if token == READER and method != "GET":
            return 403, {"message": messages[403]}
        return None

    @staticmethod
    def _page(items: list, query: dict, size_param: str):
        size, page = int(query.get(size_param, 30)), int(query.get("page", 1))
        return items[(page - 1) * size:page * size]

    # --- GitHub repository rulesets -------------------------------------------------------------------------------------

    # the actor types GitHub takes in a ruleset's bypass_actors; the ones without an id answer it as null (or 1, 0)
    GITHUB_ACTOR_TYPES = ("Integration", "OrganizationAdmin", "RepositoryRole", "Team", "DeployKey", "User")
    GITHUB_DOCS = "https://docs.github.com/rest/repos/rules"

    @classmethod
    def _github_error(cls, status: int, message: str, errors=None, docs: str = ""):
        body = {"message": message, "documentation_url": docs or cls.GITHUB_DOCS, "status": str(status)}
        if errors is not None:
            body["errors"] = errors
        return status, body

    def _github(self, method, segments, headers, body, query):
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in (ADMIN, READER, CONTENTS):
            return self._github_error(401, "Bad credentials")
        limited = self._github_rate_limited()
        if limited:
            return limited
        answer = self._github_route(token, method, segments, body, query)
        self.rate_used += 1
        return (*answer[:2], {**(answer[2] if len(answer) > 2 else {}), **self._github_rate_headers()})

    def _github_rate_headers(self) -> dict:
        return {"x-ratelimit-limit": str(self.rate_limit), "x-ratelimit-remaining": str(max(0, self.rate_limit - self.rate_used)),
                "x-ratelimit-used": str(self.rate_used), "x-ratelimit-reset": str(self.rate_reset), "x-ratelimit-resource": "core"}

    GITHUB_RATE_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"

    def _github_rate_limited(self):
        status, retry_after = self.secondary_limit
        if status:
            message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            return (*self._github_error(status, message, docs=self.GITHUB_RATE_DOCS), {"retry-after": str(retry_after)})
        if self.rate_used >= self.rate_limit:
            return (*self._github_error(403, "API rate limit exceeded for user ID 1.", docs=self.GITHUB_RATE_DOCS),
                    self._github_rate_headers())
        return None

    def _github_route(self, token, method, segments, body, query):
        if token != ADMIN and method != "GET":
            return self._github_error(403, "Resource not accessible by personal access token")
        if segments[:1] == ["organizations"] and segments[2:] == self.RETENTION_PATH and segments[1] in self.organizations:
            return self._github_retention(f"organization/{segments[1]}", method, body)
        if len(segments) < 3 or segments[0] != "repos" or "/".join(segments[1:3]) not in self.repositories:
            return self._github_error(404, "Not Found")
        repository = "/".join(segments[1:3])
        if len(segments) == 3:
            return 200, {"id": 4242, "name": segments[2], "full_name": repository, "private": True,
                         "owner": {"login": segments[1]}, "default_branch": "main"}
        if segments[3] == "actions":
            if token == CONTENTS:
                return self._github_error(403, "Resource not accessible by personal access token")
            if segments[3:] == self.RETENTION_PATH:
                return self._github_retention(f"repository/{repository}", method, body)
            return self._github_actions(segments[4:], query)
        if segments[3] == "releases":
            return self._github_releases(segments[4:], query)
        if segments[3:] == ["dependabot", "alerts"]:
            return self._github_dependabot(repository, query)
        if segments[3] != "rulesets":
            return self._github_error(404, "Not Found")
        if len(segments) == 4:
            if method == "GET":
                summaries = [{k: v for k, v in r.items() if k in ("id", "name", "target", "source_type", "source", "enforcement",
                                                                  "node_id", "_links", "created_at", "updated_at")}
                             for r in sorted(self.rulesets.values(), key=lambda r: r["id"])]
                return 200, self._page(summaries, query, "per_page")
            if method == "POST":
                if any(r["name"] == body.get("name") for r in self.rulesets.values()):
                    return self._github_error(422, "Validation Failed", ["Name must be unique"])
                invalid = self._github_invalid(body)
                if invalid:
                    return invalid
                ruleset = self._github_ruleset(next(self.ids), "/".join(segments[1:3]), body)
                if not self.drop_writes:
                    self.rulesets[ruleset["id"]] = ruleset
                return 201, ruleset
            return self._github_error(404, "Not Found")
        ident = int(segments[4]) if segments[4].isdigit() else -1
        if ident not in self.rulesets:
            return self._github_error(404, "Not Found")
        if method == "GET":
            return 200, self.rulesets[ident]
        if method == "PUT":
            invalid = self._github_invalid(body)
            if invalid:
                return invalid
            ruleset = self._github_ruleset(ident, "/".join(segments[1:3]), {**self.rulesets[ident], **body})
            if not self.drop_writes:
                self.rulesets[ident] = ruleset
            return 200, ruleset
        if method == "DELETE":
            if not self.drop_writes:
                del self.rulesets[ident]
            return 204, None
        return self._github_error(404, "Not Found")

    def _github_dependabot(self, repository: str, query: dict):
        if self.dependabot_disabled:
            return self._github_error(403, "Dependabot alerts are disabled for this repository.")
        if "page" in query:
            return self._github_error(400, "Pagination using the `page` parameter is not supported; use the cursor in the Link header.")
        states = set(query.get("state", "auto_dismissed,dismissed,fixed,open").split(","))
        alerts = [alert for alert in reversed(self.dependabot) if alert["state"] in states]  # newest first
        size = min(int(query.get("per_page", 30)), 100)
        start = int(query.get("after", "0") or 0)
        page = alerts[start:start + size]
        headers = {}
        if start + size < len(alerts):
            headers["Link"] = (f'<{self.url}/repos/{repository}/dependabot/alerts?per_page={size}&state={query.get("state", "")}'
                               f'&after={start + size}>; rel="next"')
        return 200, page, headers

    def add_dependabot_alert(self, severity: str, package: str, state: str = "open") -> dict:
        number = len(self.dependabot) + 1
        alert = {"number": number, "state": state, "dependency": {"package": {"ecosystem": "pip", "name": package}},
                 "security_advisory": {"ghsa_id": f"GHSA-test-{number:04d}-xxxx", "severity": severity,
                                       "summary": f"a {severity} advisory for {package}"},
                 "security_vulnerability": {"severity": severity, "package": {"ecosystem": "pip", "name": package}},
                 "html_url": f"https://github.com/acme/app/security/dependabot/{number}", "created_at": "2026-11-20T10:00:00Z"}
        self.dependabot.append(alert)
        return alert

    RETENTION_PATH = ["actions", "permissions", "artifact-and-log-retention"]

    def _github_retention(self, key: str, method: str, body):
        setting = self.retention.setdefault(key, {"days": 90, "maximum_allowed_days": 400})
        if method == "GET":
            return 200, dict(setting)
        if method != "PUT":
            return self._github_error(404, "Not Found")
        if key.startswith("repository/") and self.retention_held:
            return self._github_error(409, "Conflict")
        days = (body or {}).get("days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= setting["maximum_allowed_days"]:
            return self._github_error(422, "Invalid request.\n\ndays is not a number between 1 and the maximum allowed.")
        if not self.drop_writes:
            setting["days"] = days
        return 204, None

    def _github_invalid(self, body: dict):
        for actor in body.get("bypass_actors") or []:
            kind = actor.get("actor_type")
            if kind not in self.GITHUB_ACTOR_TYPES:
                return self._github_error(422, f"Invalid request.\n\n{json.dumps(kind)} is not a member of "
                                               f"{list(self.GITHUB_ACTOR_TYPES)}.")
            if kind not in ("OrganizationAdmin", "DeployKey") and not isinstance(actor.get("actor_id"), int):
                return self._github_error(422, f"Invalid request.\n\nactor_id is required for actor_type {kind}.")
            if actor.get("bypass_mode", "always") not in ("always", "pull_request", "exempt"):
                return self._github_error(422, "Invalid request.\n\nbypass_mode is not valid.")
        return None

    @staticmethod
    def _github_ruleset(ident: int, repository: str, body: dict) -> dict:
        # as GitHub answers: the fields sent, plus server-side ones, and rules may carry parameters; an
        # organization admin's id comes back null
        rules = [dict(rule) for rule in body.get("rules", [])]
        for rule in rules:
            if rule.get("type") == "update":
                rule.setdefault("parameters", {"update_allows_fetch_and_merge": False})
        actors = [{**actor, "actor_id": None} if actor.get("actor_type") in ("OrganizationAdmin", "DeployKey") else dict(actor)
                  for actor in body.get("bypass_actors", [])]
        return {"id": ident, "name": body["name"], "target": body.get("target", "branch"), "source_type": "Repository",
                "source": repository, "enforcement": body.get("enforcement", "disabled"), "node_id": f"RRS_{ident}",
                "conditions": body.get("conditions", {}), "rules": rules, "bypass_actors": actors,
                "current_user_can_bypass": "always", "_links": {"self": {"href": f"/repos/{repository}/rulesets/{ident}"}},
                "created_at": STAMP, "updated_at": STAMP}

    # --- GitHub Actions and Releases --------------------------------------------------------------------------------------

    @staticmethod
    def _github_page(items: list, query: dict) -> list:
        size, page = min(int(query.get("per_page", 30)), 100), int(query.get("page", 1))
        return items[(page - 1) * size:page * size]

    def add_run(self, status: str, created: float, jobs=(), attempt: int = 1, started: float | None = None,
                head_sha: str = "a" * 40, path: str = ".github/workflows/ci.yml", conclusion: str | None = None) -> int:
        """A workflow run queued at ``created`` (epoch seconds), its latest attempt started at ``started``, with jobs given as
        (status, created) pairs of that attempt; its id."""
        ident = 7_000_000 + next(self.ids)
        self.workflow_runs[ident] = {
            "id": ident, "name": "CI", "node_id": f"WFR_{ident}", "head_branch": "main", "head_sha": head_sha,
            "path": path, "run_number": ident % 100_000, "event": "push", "display_title": "CI",
            "status": status, "conclusion": conclusion, "workflow_id": 161335, "run_attempt": attempt,
            "url": f"https://api.github.com/repos/acme/app/actions/runs/{ident}",
            "html_url": f"https://github.com/acme/app/actions/runs/{ident}",
            "created_at": iso(created), "updated_at": iso(started or created), "run_started_at": iso(started or created)}
        self.jobs[ident] = []
        for job_status, job_created in jobs:
            self.add_job(ident, job_status, job_created, attempt)
        return ident

    def add_job(self, run_id: int, status: str, created: float, attempt: int = 1) -> None:
        ident = 9_000_000 + next(self.ids)
        self.jobs[run_id].append({
            "id": ident, "run_id": run_id, "run_attempt": attempt, "node_id": f"CR_{ident}", "head_sha": "a" * 40,
            "status": status, "conclusion": None, "name": f"build ({ident})", "labels": ["ubuntu-latest"],
            "created_at": iso(created), "started_at": iso(created), "completed_at": None,
            "runner_id": None, "runner_name": None, "workflow_name": "CI"})

    def add_artifact(self, run_id: int, name: str, expires: float, expired: bool = False) -> None:
        ident = 3_000_000 + next(self.ids)
        self.artifacts.setdefault(run_id, []).append({
            "id": ident, "node_id": f"MDg6QXJ0aWZhY3Q{ident}", "name": name, "size_in_bytes": 1024, "expired": expired,
            "url": f"https://api.github.com/repos/acme/app/actions/artifacts/{ident}",
            "archive_download_url": f"https://api.github.com/repos/acme/app/actions/artifacts/{ident}/zip",
            "created_at": STAMP, "updated_at": STAMP, "expires_at": iso(expires), "digest": "sha256:" + "0" * 64,
            "workflow_run": {"id": run_id, "repository_id": 4242, "head_branch": "main", "head_sha": "a" * 40}})

    def add_release(self, tag: str, assets=(), draft: bool = False) -> dict:
        """A release of ``tag`` with assets given as names, or (name, state) pairs."""
        ident = next(self.ids)
        release = {"id": ident, "node_id": f"RE_{ident}", "tag_name": tag, "target_commitish": "main", "name": tag,
                   "draft": draft, "prerelease": False, "created_at": STAMP, "published_at": None if draft else STAMP,
                   "url": f"https://api.github.com/repos/acme/app/releases/{ident}",
                   "html_url": f"https://github.com/acme/app/releases/tag/{tag}", "body": "", "assets": []}
        for asset in assets:
            name, state = (asset, "uploaded") if isinstance(asset, str) else asset
            number = next(self.ids)
            release["assets"].append({
                "id": number, "node_id": f"RA_{number}", "name": name, "label": "", "state": state,
                "content_type": "application/octet-stream", "size": 2048, "download_count": 0,
                "url": f"https://api.github.com/repos/acme/app/releases/assets/{number}",
                "browser_download_url": f"https://github.com/acme/app/releases/download/{tag}/{name}",
                "created_at": STAMP, "updated_at": STAMP})
        self.releases[tag] = release
        return release

    def _github_actions(self, segments, query):
        if segments == ["runs"]:
            runs = sorted(self.workflow_runs.values(), key=lambda run: run["id"], reverse=True)  # newest first
            if "status" in query:
                runs = [run for run in runs if query["status"] in (run["status"], run["conclusion"])]
                listed = runs[:GITHUB_FILTERED_LIST_LIMIT]
            else:
                listed = runs
            return 200, {"total_count": len(runs), "workflow_runs": self._github_page(listed, query)}
        if len(segments) not in (2, 3) or segments[0] != "runs" or not segments[1].isdigit() or int(segments[1]) not in self.workflow_runs:
            return self._github_error(404, "Not Found")
        run = self.workflow_runs[int(segments[1])]
        if len(segments) == 2:
            return 200, run
        if segments[2] == "jobs":
            jobs = self.jobs.get(run["id"], [])
            if query.get("filter", "latest") == "latest":
                jobs = [job for job in jobs if job["run_attempt"] == run["run_attempt"]]
            elif query.get("filter") != "all":
                return self._github_error(422, "Validation Failed", [{"resource": "Job", "field": "filter", "code": "invalid"}])
            return 200, {"total_count": len(jobs), "jobs": self._github_page(jobs, query)}
        if segments[2] == "artifacts":
            artifacts = [a for a in self.artifacts.get(run["id"], []) if query.get("name", a["name"]) == a["name"]]
            return 200, {"total_count": len(artifacts), "artifacts": self._github_page(artifacts, query)}
        return self._github_error(404, "Not Found")

    def _github_releases(self, segments, query):
        published = {tag: release for tag, release in self.releases.items() if not release["draft"]}
        if len(segments) == 2 and segments[0] == "tags":
            release = published.get(urllib.parse.unquote(segments[1]))
            if release is None:
                return self._github_error(404, "Not Found")
            if self.embedded_asset_limit is not None:
                release = {**release, "assets": release["assets"][:self.embedded_asset_limit]}
            return 200, release
        if len(segments) == 2 and segments[1] == "assets" and segments[0].isdigit():
            for release in self.releases.values():
                if release["id"] == int(segments[0]):
                    return 200, self._github_page(release["assets"], query)
        return self._github_error(404, "Not Found")

    # --- GitLab protected tags --------------------------------------------------------------------------------------------

    GITLAB_LEVELS = {0: "No one", 30: "Developers + Maintainers", 40: "Maintainers"}

    def _gitlab(self, method, segments, headers, body, query):
        denied = self._auth(headers.get("PRIVATE-TOKEN", ""), method, {401: "401 Unauthorized", 403: "403 Forbidden"})
        if denied:
            return denied
        if len(segments) >= 2 and segments[0] == "projects" and urllib.parse.unquote(segments[1]) in self.repositories:
            if len(segments) == 2:
                return 200, {"id": 4242, "path_with_namespace": urllib.parse.unquote(segments[1])}
            if segments[2] == "pipelines":
                return self._gitlab_pipelines(segments[3:], query)
        if len(segments) < 3 or segments[0] != "projects" or segments[2] != "protected_tags" \
                or urllib.parse.unquote(segments[1]) not in self.repositories:
            return 404, {"message": "404 Project Not Found"}
        if len(segments) == 3:
            if method == "GET":
                return 200, self._page([self.protected_tags[n] for n in sorted(self.protected_tags)], query, "per_page")
            if method == "POST":
                return self._gitlab_protect(body)
            return 404, {"message": "404 Not Found"}
        name = urllib.parse.unquote(segments[3])
        if name not in self.protected_tags:
            return 404, {"message": "404 Not found"}
        if method == "GET":
            return 200, self.protected_tags[name]
        if method == "DELETE":
            if not self.drop_writes:
                del self.protected_tags[name]
            return 204, None
        return 405, {"message": "405 Method Not Allowed"}

    def _gitlab_pipelines(self, segments: list[str], query: dict):
        pipeline = int(segments[0]) if segments and segments[0].isdigit() else -1
        if pipeline not in self.pipelines:
            return 404, {"message": "404 Not found"}
        if len(segments) == 1:
            return 200, {"id": pipeline, "status": "success", "web_url": f"https://gitlab.example/acme/app/-/pipelines/{pipeline}"}
        if segments[1:] == ["jobs"]:
            size, page = min(int(query.get("per_page", 20)), 100), int(query.get("page", 1))
            return 200, self.pipelines[pipeline][(page - 1) * size:page * size]
        return 404, {"message": "404 Not found"}

    def add_pipeline(self, jobs: list[tuple[str, str | None, bool]]) -> int:
        """A GitLab pipeline whose jobs are (name, artifacts_expire_at or None, whether it kept an artifacts archive)."""
        pipeline = 700 + len(self.pipelines)
        self.pipelines[pipeline] = [
            {"id": pipeline * 100 + n, "name": name, "status": "success", "artifacts_expire_at": expires,
             "artifacts": ([{"file_type": "archive", "size": 1000, "filename": "artifacts.zip", "file_format": "zip"}] if archive else [])
             + [{"file_type": "trace", "size": 200, "filename": "job.log", "file_format": None}]}
            for n, (name, expires, archive) in enumerate(jobs)]
        return pipeline

    def _gitlab_protect(self, body: dict):
        name = body.get("name", "")
        # create_access_level, and allowed_to_create entries ({access_level}, {user_id}, {group_id} or
        # {deploy_key_id}) each answered as one create access level
        entries = [{"access_level": body.get("create_access_level", 40)}] + list(body.get("allowed_to_create") or [])
        for entry in entries:
            if "access_level" in entry and entry["access_level"] not in self.GITLAB_LEVELS:
                field = "create_access_level" if entry is entries[0] else "allowed_to_create[access_level]"
                return 400, {"error": f"{field} does not have a valid value"}
        if name in self.protected_tags:
            return 422, {"message": ["Name has already been taken"]}
        tag = {"name": name, "create_access_levels": [
            {"id": next(self.ids), "access_level": entry.get("access_level", 40),
             "access_level_description": self.GITLAB_LEVELS.get(entry.get("access_level", 40), "Custom"),
             "user_id": entry.get("user_id"), "group_id": entry.get("group_id"), "deploy_key_id": entry.get("deploy_key_id")}
            for entry in entries]}
        if not self.drop_writes:
            self.protected_tags[name] = tag
        return 201, tag

    # --- Gitea tag protections --------------------------------------------------------------------------------------------

    GITEA_SWAGGER = "https://gitea.example.com/api/swagger"

    def _gitea(self, method, segments, headers, body, query):
        token = headers.get("Authorization", "").removeprefix("token ")
        denied = self._auth(token, method, {401: "token is required", 403: "user should be an owner or a collaborator with admin write"})
        if denied:
            return denied
        if segments[:1] == ["orgs"] and len(segments) == 2 and method == "GET":
            org = urllib.parse.unquote(segments[1])
            if org in self.organizations:
                return 200, {"id": 3, "name": org, "username": org, "full_name": "", "visibility": "public"}
            return 404, {"message": "The target couldn't be found.", "url": self.GITEA_SWAGGER, "errors": []}
        if len(segments) < 4 or segments[0] != "repos" or segments[3] != "tag_protections" \
                or "/".join(segments[1:3]) not in self.repositories:
            return 404, {"message": "The target couldn't be found.", "url": self.GITEA_SWAGGER, "errors": []}
        owned_by_organization = segments[1] in self.organizations
        if len(segments) == 4:
            if method == "GET":
                return 200, self._page([self.protections[i] for i in sorted(self.protections)], query, "limit")
            if method == "POST":
                return self._gitea_protect(body, owned_by_organization)
            return 404, {"message": "The target couldn't be found.", "url": self.GITEA_SWAGGER}
        ident = int(segments[4]) if segments[4].isdigit() else -1
        if ident not in self.protections:
            return 404, {"message": "The target couldn't be found.", "url": self.GITEA_SWAGGER}
        if method == "GET":
            return 200, self.protections[ident]
        if method == "PATCH":
            changes = {k: v for k, v in body.items() if v is not None}
            if "whitelist_teams" in changes and not owned_by_organization:
                changes["whitelist_teams"] = []  # Gitea sets teams only where an organization owns the repository
            updated = {**self.protections[ident], **changes, "updated_at": STAMP}
            if not self.drop_writes:
                self.protections[ident] = updated
            return 200, updated
        if method == "DELETE":
            if not self.drop_writes:
                del self.protections[ident]
            return 204, None
        return 405, {"message": "Method Not Allowed", "url": self.GITEA_SWAGGER}

    def _gitea_protect(self, body: dict, owned_by_organization: bool):
        pattern = (body.get("name_pattern") or "").strip()
        if not pattern:
            return 400, {"message": "name_pattern are empty", "url": self.GITEA_SWAGGER}
        if not body.get("whitelist_usernames") and not body.get("whitelist_teams"):
            return 400, {"message": "both whitelist_usernames and whitelist_teams are empty", "url": self.GITEA_SWAGGER}
        if any(p["name_pattern"] == pattern for p in self.protections.values()):
            return 403, {"message": "Tag protection already exist", "url": self.GITEA_SWAGGER}
        ident = next(self.ids)
        protection = {"id": ident, "name_pattern": pattern, "whitelist_usernames": body.get("whitelist_usernames") or [],
                      "whitelist_teams": (body.get("whitelist_teams") or []) if owned_by_organization else [],
                      "created_at": STAMP, "updated_at": STAMP}
        if not self.drop_writes:
            self.protections[ident] = protection
        return 201, protection
