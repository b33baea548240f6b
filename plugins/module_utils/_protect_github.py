# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag protection on GitHub: one repository ruleset, found by name, targeting tags."""

from __future__ import annotations

import re

from ansible_collections.maestro.conductor.plugins.module_utils import _api
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._protect_policy import HostedBackend, Policy

# bypass actors as the REST API takes them: actor_type, with the actor's numeric id where it has one
_ACTOR_RE = re.compile(r"(Team|RepositoryRole|Integration|User):[1-9][0-9]{0,15}|OrganizationAdmin|DeployKey")
_WITHOUT_ID = ("OrganizationAdmin", "DeployKey", "EnterpriseOwner")  # GitHub answers 1, 0 or null as their id: not compared
RULES = ["deletion", "non_fast_forward", "update"]
ACTORS_HELP = "Team:ID, RepositoryRole:ID, Integration:ID, User:ID, OrganizationAdmin or DeployKey"


class GitHubRulesets(HostedBackend):
    """One repository ruleset, found by name: target tag, rules deletion, update and non_fast_forward
    (creating stays open), bypass actors from allowed_actors."""

    def __init__(self, client: _api.Client, project: str, ruleset_name: str):
        if not isinstance(ruleset_name, str) or not ruleset_name.strip() or len(ruleset_name) > 100:
            raise ConductorError(f"ruleset_name {ruleset_name!r} is invalid: expected a name of 1 to 100 characters")
        self.client, self.name = client, ruleset_name
        self.path = f"/repos/{_api.owner_repo(project, 'GitHub')}/rulesets"

    def desired(self, policy: Policy) -> dict:
        for actor in policy.allowed_actors:
            if not _ACTOR_RE.fullmatch(actor):
                raise ConductorError(f"allowed actor {actor!r} is invalid for GitHub: expected a bypass actor, {ACTORS_HELP} "
                                     "(ids are numeric: a user is User:ID with the account's id, not its login)")
        return {self.name: {"target": "tag", "enforcement": "active", "include": [f"refs/tags/{p}" for p in policy.patterns],
                            "exclude": [], "rules": RULES, "bypass": policy.allowed_actors}}

    @staticmethod
    def normalize(ruleset: dict) -> dict:
        ref_name = ((ruleset.get("conditions") or {}).get("ref_name")) or {}
        bypass = []
        for actor in ruleset.get("bypass_actors") or []:
            kind = str(actor.get("actor_type"))
            text = kind if kind in _WITHOUT_ID else f"{kind}:{actor.get('actor_id')}"
            mode = actor.get("bypass_mode") or "always"
            bypass.append(text if mode == "always" else f"{text} ({mode})")
        return {"target": ruleset.get("target"), "enforcement": ruleset.get("enforcement"),
                "include": sorted(ref_name.get("include") or []), "exclude": sorted(ref_name.get("exclude") or []),
                "rules": sorted({str(rule.get("type")) for rule in ruleset.get("rules") or []}), "bypass": sorted(bypass)}

    def _body(self, settings: dict) -> dict:
        actors = []
        for actor in settings["bypass"]:
            kind, ident = actor.partition(":")[::2]
            actor_id = int(ident) if ident else (1 if kind == "OrganizationAdmin" else None)
            actors.append({"actor_type": kind, "actor_id": actor_id, "bypass_mode": "always"})
        return {"name": self.name, "target": settings["target"], "enforcement": settings["enforcement"],
                "conditions": {"ref_name": {"include": settings["include"], "exclude": settings["exclude"]}},
                "rules": [{"type": rule} for rule in settings["rules"]], "bypass_actors": actors}

    def read(self, policy: Policy) -> dict:
        summaries = self.client.list_all(self.path)
        ours = [s for s in summaries if isinstance(s, dict) and s.get("name") == self.name
                and s.get("source_type", "Repository") == "Repository"]
        if len(ours) > 1:
            raise ConductorError(f"GitHub has {len(ours)} rulesets named {self.name!r} on this repository: remove all but one")
        if not ours:
            return {}
        full = self.client.request("GET", f"{self.path}/{int(ours[0]['id'])}", missing_ok=True)
        return {self.name: (int(ours[0]["id"]), self.normalize(full))} if full else {}

    def create(self, name: str, settings: dict) -> None:
        self.client.request("POST", self.path, body=self._body(settings))

    def update(self, name: str, ident, old: dict, new: dict) -> None:
        self.client.request("PUT", f"{self.path}/{int(ident)}", body=self._body(new))

    def delete(self, name: str, ident) -> None:
        self.client.request("DELETE", f"{self.path}/{int(ident)}", missing_ok=True)
