# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag protection on Gitea: one tag protection per pattern."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils import _api
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._protect_policy import HostedBackend, Policy


class GiteaTagProtections(HostedBackend):
    """One tag protection per pattern. In Gitea the allowed users and teams are the only ones who may
    create, move or delete a matching tag: creating is restricted too, so allowed_actors must name
    someone (user names, and teams as team:NAME). Gitea applies teams only on a repository an
    organization owns: on a user's, it drops them without a word, so they are refused here first."""

    creation = "restricted to allowed_actors"

    def __init__(self, client: _api.Client, project: str):
        self.client, self.project = client, _api.owner_repo(project, "Gitea")
        self.path = f"/repos/{self.project}/tag_protections"

    def desired(self, policy: Policy) -> dict:
        if not policy.allowed_actors:
            raise ConductorError("allowed_actors is empty: with Gitea only the allowed users and teams may create a protected tag, "
                                 "so an empty list would let no one make a release; name the releasers (team:NAME for a team)")
        users = [a for a in policy.allowed_actors if not a.startswith("team:")]
        teams = sorted(a[len("team:"):] for a in policy.allowed_actors if a.startswith("team:"))
        if "" in teams or any(":" in name for name in users + teams):
            raise ConductorError("allowed_actors for Gitea are user names, or team:NAME for a team")
        if teams:
            self._require_organization(teams)
        return {pattern: {"users": users, "teams": teams} for pattern in policy.patterns}

    def _require_organization(self, teams: list[str]) -> None:
        owner = self.project.split("/")[0]
        if self.client.request("GET", f"/orgs/{_api.quote(owner)}", missing_ok=True) is None:
            named = ", ".join(f"team:{team}" for team in teams)
            raise ConductorError(f"allowed_actors name teams ({named}), but {owner} is not an organization (or the token cannot see it): "
                                 f"Gitea applies teams only on repositories an organization owns, and would drop them on {self.project} "
                                 "without a word; name users instead, or move the repository to an organization")

    @staticmethod
    def normalize(protection: dict) -> dict:
        return {"users": sorted(protection.get("whitelist_usernames") or []), "teams": sorted(protection.get("whitelist_teams") or [])}

    def read(self, policy: Policy) -> dict:
        wanted, found = set(policy.patterns), {}
        for protection in self.client.list_all(self.path, page_size_param="limit"):
            if isinstance(protection, dict) and protection.get("name_pattern") in wanted:
                if protection["name_pattern"] in found:
                    raise ConductorError(f"Gitea has more than one tag protection for {protection['name_pattern']!r}: remove all but one")
                found[protection["name_pattern"]] = (int(protection["id"]), self.normalize(protection))
        return found

    @staticmethod
    def _body(name: str, settings: dict) -> dict:
        return {"name_pattern": name, "whitelist_usernames": settings["users"], "whitelist_teams": settings["teams"]}

    def create(self, name: str, settings: dict) -> None:
        try:
            self.client.request("POST", self.path, body=self._body(name, settings))
        except _api.ApiError as exc:
            # Gitea answers a duplicate pattern with 403, which otherwise reads as a token without rights
            if exc.status == 403 and "already exist" in exc.said.lower():
                raise ConductorError(f"Gitea already has a tag protection for {name!r} (it answered 403: {exc.said}), though it was not "
                                     "there when read a moment before: someone else changed it meanwhile; run again") from None
            raise

    def update(self, name: str, ident, old: dict, new: dict) -> None:
        self.client.request("PATCH", f"{self.path}/{int(ident)}", body=self._body(name, new))

    def delete(self, name: str, ident) -> None:
        self.client.request("DELETE", f"{self.path}/{int(ident)}", missing_ok=True)
