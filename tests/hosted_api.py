"""A local stand-in for the hosted git services' tag protection APIs, on loopback.

GitHub, GitLab and Gitea cannot be reached from the machines these tests run on, so their clients
are tested against this server. It implements the documented endpoints the tag_protection module
uses, with their status codes and the shape of their answers:

- GitHub: repository rulesets, ``/repos/{owner}/{repo}/rulesets[/{id}]`` (GET list of summaries,
  GET one in full, POST 201, PUT 200, DELETE 204), ``Authorization: Bearer``. Errors are GitHub's
  error objects: ``message``, ``documentation_url``, ``status`` (and ``errors`` for a 422). Bypass
  actors of the types GitHub takes (``User`` among them) with their ids; any other type is a 422.
- GitLab: protected tags, ``/api/v4/projects/{id or url-encoded path}/protected_tags[/{name}]``
  (GET list, GET one, POST 201, DELETE 204), ``PRIVATE-TOKEN``. Protecting a name protected already
  answers 422 ``{"message": ["Name has already been taken"]}``; an access level other than 0, 30
  and 40 answers 400 ``{"error": "... does not have a valid value"}``.
- Gitea: tag protections, ``/api/v1/repos/{owner}/{repo}/tag_protections[/{id}]`` (GET list,
  GET one, POST 201, PATCH 200, DELETE 204), ``Authorization: token``; organizations, ``/api/v1/orgs/{org}``
  (200, or 404 for a user). As Gitea does: a second protection for a pattern answers 403 "Tag
  protection already exist", both allow lists empty answers 400, and teams are applied only on
  a repository an organization owns (on a user's they are dropped without a word).

Tokens: ``admin`` may do everything, ``reader`` may only read (writes answer 403), anything else
answers 401. An unknown repository answers 404. ``drop_writes`` makes writes answer success without
applying them (to prove the module reads back what it wrote); every request is recorded, with the
authentication header it carried (to prove where a token went). ``route`` may answer extra headers
(a redirect's Location) as a third item.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADMIN, READER = "admin-token-3f9a", "reader-token-77c1"
STAMP = "2026-11-27T00:00:00Z"


class HostedApi:
    def __init__(self, repositories=("acme/app", "alice/tools"), organizations=("acme",)):
        self.repositories, self.organizations = set(repositories), set(organizations)
        self.rulesets: dict[int, dict] = {}  # GitHub, by id
        self.protected_tags: dict[str, dict] = {}  # GitLab, by name
        self.protections: dict[int, dict] = {}  # Gitea, by id
        self.ids = itertools.count(1)
        self.drop_writes = False
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
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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
    def _github_error(cls, status: int, message: str, errors=None):
        body = {"message": message, "documentation_url": cls.GITHUB_DOCS, "status": str(status)}
        if errors is not None:
            body["errors"] = errors
        return status, body

    def _github(self, method, segments, headers, body, query):
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in (ADMIN, READER):
            return self._github_error(401, "Bad credentials")
        if token == READER and method != "GET":
            return self._github_error(403, "Resource not accessible by personal access token")
        if len(segments) < 4 or segments[0] != "repos" or segments[3] != "rulesets" or "/".join(segments[1:3]) not in self.repositories:
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

    def _github_invalid(self, body: dict):
        for actor in body.get("bypass_actors") or []:
            kind = actor.get("actor_type")
            if kind not in self.GITHUB_ACTOR_TYPES:
                return self._github_error(422, f"Invalid request.\n\n{json.dumps(kind)} is not a member of {list(self.GITHUB_ACTOR_TYPES)}.")
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

    # --- GitLab protected tags --------------------------------------------------------------------------------------------

    GITLAB_LEVELS = {0: "No one", 30: "Developers + Maintainers", 40: "Maintainers"}

    def _gitlab(self, method, segments, headers, body, query):
        denied = self._auth(headers.get("PRIVATE-TOKEN", ""), method, {401: "401 Unauthorized", 403: "403 Forbidden"})
        if denied:
            return denied
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
