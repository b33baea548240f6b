# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag protection on GitLab: one protected tag per pattern."""

from __future__ import annotations

import re

from ansible_collections.maestro.conductor.plugins.module_utils import _api
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._protect_policy import HostedBackend, Policy

_PROJECT_RE = re.compile(r"[1-9][0-9]{0,15}|[A-Za-z0-9_.-]{1,255}(/[A-Za-z0-9_.-]{1,255}){1,20}")
DEVELOPER = 30
# the only access levels GitLab's protected tags API knows (docs: "Valid access levels")
LEVELS = {0: "no_one", 30: "developer", 40: "maintainer"}
_LEVELS_HELP = "0 (no one), 30 (developers) and 40 (maintainers)"


def validate_project(project: object) -> str:
    """A GitLab project as its API names it: the numeric id or the path (acme/app, group/sub/app)."""
    if not isinstance(project, str) or not _PROJECT_RE.fullmatch(project) or any(p in (".", "..") for p in project.split("/")):
        raise ConductorError(f"project {project!r} is invalid: GitLab expects the project's numeric id or its path, such as acme/app")
    return project


class GitLabProtectedTags(HostedBackend):
    """One protected tag per pattern. GitLab itself forbids moving a protected tag, and deleting one by
    push, to everyone (Maintainers may delete one in the UI or API): there is no per-actor exception to
    grant, so allowed_actors must be empty. Creating stays open to Developers (anyone who may push)."""

    def __init__(self, client: _api.Client, project: str):
        validate_project(project)
        self.client = client
        self.path = f"/projects/{_api.quote(project)}/protected_tags"

    def desired(self, policy: Policy) -> dict:
        if policy.allowed_actors:
            raise ConductorError("allowed_actors must be empty with GitLab: protected tags there cannot be moved or deleted by push "
                                 "by anyone (Maintainers may delete one in GitLab's UI or API), so there is no actor to allow")
        for pattern in policy.patterns:
            if "?" in pattern:
                raise ConductorError(f"tag pattern {pattern!r} is invalid for GitLab: its wildcards know '*' only")
        return {pattern: {"create": [LEVELS[DEVELOPER]]} for pattern in policy.patterns}

    @staticmethod
    def normalize(protected: dict) -> dict:
        """Who may create: role levels by name, users, groups and deploy keys by id, and a level GitLab's
        protected tags do not know as access_level:N (read as it is, never given a name it does not have)."""
        create = []
        for level in protected.get("create_access_levels") or []:
            if level.get("user_id"):
                create.append(f"user:{level['user_id']}")
            elif level.get("group_id"):
                create.append(f"group:{level['group_id']}")
            elif level.get("deploy_key_id"):
                create.append(f"deploy_key:{level['deploy_key_id']}")
            else:
                create.append(LEVELS.get(level.get("access_level"), f"access_level:{level.get('access_level')}"))
        return {"create": sorted(create)}

    @staticmethod
    def _body(name: str, settings: dict) -> dict:
        """The protect request for normalized ``settings``: the first role level as create_access_level, the
        rest (users, groups, deploy keys, other levels) as allowed_to_create, the form GitLab takes them in.
        ConductorError for a level GitLab's protected tags do not know: it would be refused, or mean something else."""
        by_label = {label: level for level, label in LEVELS.items()}
        body: dict = {"name": name}
        others = []
        for entry in settings["create"]:
            kind, ident = entry.partition(":")[::2]
            if entry not in by_label and kind not in ("user", "group", "deploy_key"):
                raise ConductorError(f"GitLab protected tag {name!r} allows creating to {entry}, which GitLab's protected tags API does "
                                     f"not take (it knows access levels {_LEVELS_HELP}): change it in GitLab first")
            level = by_label.get(entry)
            if level is not None and "create_access_level" not in body:
                body["create_access_level"] = level
            else:
                others.append({"access_level": level} if level is not None else {f"{kind}_id": int(ident)})
        if others:
            body["allowed_to_create"] = others
        return body

    def read(self, policy: Policy) -> dict:
        wanted = set(policy.patterns)
        return {tag["name"]: (tag["name"], self.normalize(tag)) for tag in self.client.list_all(self.path)
                if isinstance(tag, dict) and tag.get("name") in wanted}

    def create(self, name: str, settings: dict) -> None:
        try:
            self.client.request("POST", self.path, body=self._body(name, settings))
        except _api.ApiError as exc:
            if exc.status == 422 and "already been taken" in exc.said:
                raise ConductorError(f"GitLab already protects {name!r} (it answered 422: {exc.said}), though it was not there when "
                                     "read a moment before: someone else changed it meanwhile; run again") from None
            raise

    def update(self, name: str, ident, old: dict, new: dict) -> None:
        # GitLab has no update for a protected tag: unprotect, protect again, and put the old one back if
        # that fails. Both bodies are built first: one that cannot be sent is refused before anything changes.
        self._body(name, new)
        self._body(name, old)
        self.delete(name, ident)
        try:
            self.create(name, new)
        except ConductorError as exc:
            try:
                self.create(name, old)
            except ConductorError as again:
                raise ConductorError(f"tag pattern {name!r} is now UNPROTECTED on GitLab: it was unprotected to be protected again, "
                                     f"protecting it failed ({exc}), and putting the old protection back failed too ({again}); "
                                     f"protect {name!r} again in GitLab (Settings > Repository > Protected tags) or run this again") from None
            raise ConductorError(f"{exc}; the protection of {name} was put back as it was") from None

    def delete(self, name: str, ident) -> None:
        self.client.request("DELETE", f"{self.path}/{_api.quote(name)}", missing_ok=True)
