# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag protection: release tags may be created, but only named actors may delete or move them.

One policy (patterns, allowed actors, present or absent), normalized so that a second run compares
equal and changes nothing, and one backend per kind of git server. This file holds the policy and
the backends: ``git``, a bare repository on a host Ansible manages, protected by a ``pre-receive``
hook that knows the pusher from an environment variable its SSH ``authorized_keys`` entry sets; and
GitHub rulesets, GitLab protected tags and Gitea tag protections through their REST APIs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils import _api
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write, read_bytes_limited

_PATTERN_RE = re.compile(r"^[A-Za-z0-9._+*?-]{1,128}$")
_ACTOR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$")
_VARIABLE_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
MARKER = "# maestro.conductor tag_protection: managed by Ansible"
CHAINED = "pre-receive.maestro-chained"


@dataclass
class Policy:
    patterns: list[str]
    allowed_actors: list[str] = field(default_factory=list)
    present: bool = True

    @classmethod
    def build(cls, patterns: list[str], allowed_actors: list[str], state: str) -> Policy:
        """A validated policy, normalized: sorted, without duplicates."""
        if state not in ("present", "absent"):
            raise ConductorError(f"state {state!r} is invalid: expected present or absent")
        if not patterns:
            raise ConductorError("patterns is empty: expected at least one tag glob, such as 'v*'")
        for pattern in patterns:
            if not isinstance(pattern, str) or not _PATTERN_RE.match(pattern) or pattern.startswith(("-", ".")) or ".." in pattern:
                raise ConductorError(f"tag pattern {pattern!r} is invalid: expected a glob of letters, digits, '.', '_', '+', '-', "
                                     "'*' and '?', such as 'v*'")
        for actor in allowed_actors:
            if not isinstance(actor, str) or not _ACTOR_RE.match(actor):
                raise ConductorError(f"allowed actor {actor!r} is invalid: expected a user name (letters, digits, '.', '_', '@', '+', '-', ':')")
        return cls(sorted(set(patterns)), sorted(set(allowed_actors)), state == "present")


@dataclass
class Change:
    changed: bool
    before: str
    after: str
    path: str
    chained: bool = False


def _bare_repository(path: str) -> str:
    """``path`` if it is a bare git repository, else ConductorError saying what it is."""
    if not os.path.isdir(path):
        raise ConductorError(f"repository {path} does not exist or is not a directory")
    if os.path.isdir(os.path.join(path, ".git")):
        raise ConductorError(f"repository {path} is not a bare repository (it has a work tree): protect the bare repository pushes go to")
    if not all(os.path.exists(os.path.join(path, part)) for part in ("HEAD", "objects", "refs")):
        raise ConductorError(f"repository {path} is not a bare git repository (no HEAD, objects and refs)")
    return path


def render_hook(policy: Policy, variable: str) -> str:
    """The pre-receive hook for ``policy``: POSIX sh, from a policy validated by Policy.build."""
    if not _VARIABLE_RE.match(variable):
        raise ConductorError(f"actor variable {variable!r} is invalid: expected an environment variable name such as MAESTRO_ACTOR")
    # validated again, whoever built it: Policy.build admits no character with a meaning to sh but the glob's '*' and '?'
    policy = Policy.build(policy.patterns, policy.allowed_actors, "present")
    cases = "|".join(f"refs/tags/{p}" for p in policy.patterns)
    actors = " ".join(policy.allowed_actors)
    who = ", ".join(policy.allowed_actors) or "nobody"
    return f"""#!/bin/sh
{MARKER}.
# Release tags matching {' '.join(policy.patterns)} may be created by anyone who may push;
# deleting or moving one is rejected unless ${variable} (set by the pusher's authorized_keys entry)
# names one of: {who}. A hook that was here before runs after this one, as {CHAINED}.
input=$(cat)
actor="${{{variable}:-}}"
rejected=0
while read -r old new ref; do
  [ -n "$ref" ] || continue
  case "$ref" in
    {cases}) ;;
    *) continue ;;
  esac
  case "$old" in
    *[!0]*) ;;
    *) continue ;;  # a new tag: creating is allowed
  esac
  [ "$old" = "$new" ] && continue
  allowed=0
  for name in {actors}; do
    [ "$actor" = "$name" ] && allowed=1
  done
  [ "$allowed" = 1 ] && continue
  case "$new" in
    *[!0]*) what=moving ;;
    *) what=deleting ;;
  esac
  echo "tag protection: $what ${{ref#refs/tags/}} is not allowed for ${{actor:-an unidentified pusher}}:" \
    "protected tags may only be deleted or moved by {who}" >&2
  rejected=1
done <<MAESTRO_INPUT
$input
MAESTRO_INPUT
[ "$rejected" = 0 ] || exit 1
chained="$(dirname "$0")/{CHAINED}"
if [ -x "$chained" ]; then
  printf '%s\\n' "$input" | "$chained" "$@" || exit $?
fi
exit 0
"""


def ensure_git_hook(repo_path: str, policy: Policy, variable: str = "MAESTRO_ACTOR", check_mode: bool = False) -> Change:
    """Install, update or remove the protection hook of a bare repository; a foreign hook is kept and chained."""
    hooks = os.path.join(_bare_repository(repo_path), "hooks")
    hook, chained = os.path.join(hooks, "pre-receive"), os.path.join(hooks, CHAINED)
    before = read_bytes_limited(hook, 1024 * 1024, "pre-receive hook").decode("utf-8", "replace") if os.path.isfile(hook) else ""
    ours = MARKER in before
    if policy.present:
        after = render_hook(policy, variable)
        change = Change(before != after, before, after, hook, chained=bool(before and not ours) or os.path.isfile(chained))
        if change.changed and not check_mode:
            os.makedirs(hooks, exist_ok=True)
            if before and not ours:
                if os.path.exists(chained):
                    raise ConductorError(f"{hook} is not ours and {chained} exists already: move one of them away first")
                os.replace(hook, chained)  # the hook that was here keeps running, after ours
            atomic_write(hook, after.encode("utf-8"), mode=0o755)
        return change
    if not ours:
        return Change(False, before, before, hook, chained=False)
    restored = read_bytes_limited(chained, 1024 * 1024, "chained hook").decode("utf-8", "replace") if os.path.isfile(chained) else ""
    change = Change(True, before, restored, hook, chained=bool(restored))
    if not check_mode:
        if restored:
            os.replace(chained, hook)
        else:
            os.remove(hook)
    return change


# --- hosted backends: GitHub rulesets, GitLab protected tags, Gitea tag protections -------------------------------
#
# Each backend reads what it manages as {name: normalized settings}, so the comparison that decides
# "changed" is the same one that checks the server applied a write (read back after writing).

_OWNER_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_GITLAB_PROJECT_RE = re.compile(r"^([1-9][0-9]{0,15}|[A-Za-z0-9_.-]{1,255}(/[A-Za-z0-9_.-]{1,255}){1,20})$")
_GITHUB_ACTOR_RE = re.compile(r"^((Team|RepositoryRole|Integration):[1-9][0-9]{0,15}|OrganizationAdmin|DeployKey)$")
GITHUB_RULES = ["deletion", "non_fast_forward", "update"]
GITLAB_DEVELOPER = 30
_GITLAB_LEVELS = {0: "no_one", 30: "developer", 40: "maintainer", 60: "admin"}


def _owner_repo(project: str, service: str) -> str:
    if not isinstance(project, str) or not _OWNER_REPO_RE.match(project) or any(p in (".", "..") for p in project.split("/")):
        raise ConductorError(f"project {project!r} is invalid: {service} expects owner/name, such as acme/app")
    return project


class HostedBackend:
    """What every hosted backend provides; ensure_hosted drives them all the same way."""

    creation = "open"

    def desired(self, policy: Policy) -> dict:
        raise NotImplementedError

    def read(self, policy: Policy) -> dict:
        """{name: (server id, normalized settings)} for the objects this policy manages."""
        raise NotImplementedError

    def create(self, name: str, settings: dict) -> None:
        raise NotImplementedError

    def update(self, name: str, ident, old: dict, new: dict) -> None:
        raise NotImplementedError

    def delete(self, name: str, ident) -> None:
        raise NotImplementedError


class GitHubRulesets(HostedBackend):
    """One repository ruleset, found by name: target tag, rules deletion, update and non_fast_forward
    (creating stays open), bypass actors from allowed_actors."""

    def __init__(self, client, project: str, ruleset_name: str):
        if not isinstance(ruleset_name, str) or not ruleset_name.strip() or len(ruleset_name) > 100:
            raise ConductorError(f"ruleset_name {ruleset_name!r} is invalid: expected a name of 1 to 100 characters")
        self.client, self.name = client, ruleset_name
        self.path = f"/repos/{_owner_repo(project, 'GitHub')}/rulesets"

    def desired(self, policy: Policy) -> dict:
        for actor in policy.allowed_actors:
            if not _GITHUB_ACTOR_RE.match(actor):
                raise ConductorError(f"allowed actor {actor!r} is invalid for GitHub: expected a bypass actor such as Team:1234, "
                                     "RepositoryRole:5, Integration:42, OrganizationAdmin or DeployKey (GitHub rulesets "
                                     "cannot name single users)")
        return {self.name: {"target": "tag", "enforcement": "active", "include": [f"refs/tags/{p}" for p in policy.patterns],
                            "exclude": [], "rules": GITHUB_RULES, "bypass": policy.allowed_actors}}

    @staticmethod
    def normalize(ruleset: dict) -> dict:
        ref_name = ((ruleset.get("conditions") or {}).get("ref_name")) or {}
        bypass = []
        for actor in ruleset.get("bypass_actors") or []:
            kind = str(actor.get("actor_type"))
            text = kind if kind in ("OrganizationAdmin", "DeployKey") else f"{kind}:{actor.get('actor_id')}"
            mode = actor.get("bypass_mode", "always")
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


class GitLabProtectedTags(HostedBackend):
    """One protected tag per pattern. GitLab itself forbids moving a protected tag, and deleting one by
    push, to everyone (Maintainers may delete one in the UI or API): there is no per-actor exception to
    grant, so allowed_actors must be empty. Creating stays open to Developers (anyone who may push)."""

    def __init__(self, client, project: str):
        if not isinstance(project, str) or not _GITLAB_PROJECT_RE.match(project) or any(p in (".", "..") for p in project.split("/")):
            raise ConductorError(f"project {project!r} is invalid: GitLab expects the project's numeric id or its path, such as acme/app")
        self.client = client
        self.path = f"/projects/{_api.quote(project)}/protected_tags"

    def desired(self, policy: Policy) -> dict:
        if policy.allowed_actors:
            raise ConductorError("allowed_actors must be empty with GitLab: protected tags there cannot be moved or deleted by push "
                                 "by anyone (Maintainers may delete one in GitLab's UI or API), so there is no actor to allow")
        for pattern in policy.patterns:
            if "?" in pattern:
                raise ConductorError(f"tag pattern {pattern!r} is invalid for GitLab: its wildcards know '*' only")
        return {pattern: {"create": [_GITLAB_LEVELS[GITLAB_DEVELOPER]]} for pattern in policy.patterns}

    @staticmethod
    def normalize(protected: dict) -> dict:
        create = []
        for level in protected.get("create_access_levels") or []:
            if level.get("user_id"):
                create.append(f"user:{level['user_id']}")
            elif level.get("group_id"):
                create.append(f"group:{level['group_id']}")
            elif level.get("deploy_key_id"):
                create.append(f"deploy_key:{level['deploy_key_id']}")
            else:
                create.append(_GITLAB_LEVELS.get(level.get("access_level"), f"access_level:{level.get('access_level')}"))
        return {"create": sorted(create)}

    def read(self, policy: Policy) -> dict:
        wanted = set(policy.patterns)
        return {tag["name"]: (tag["name"], self.normalize(tag)) for tag in self.client.list_all(self.path)
                if isinstance(tag, dict) and tag.get("name") in wanted}

    @staticmethod
    def _body(name: str, settings: dict) -> dict:
        """The protect request for normalized ``settings``: the first role level as create_access_level, the
        rest (users, groups, deploy keys, other levels) as allowed_to_create, the form GitLab takes them in."""
        levels = {label: level for level, label in _GITLAB_LEVELS.items()}
        body: dict = {"name": name}
        others = []
        for entry in settings["create"]:
            kind, ident = entry.partition(":")[::2]
            level = levels.get(entry, int(ident) if kind == "access_level" else None)
            if level is not None and "create_access_level" not in body:
                body["create_access_level"] = level
            else:
                others.append({"access_level": level} if level is not None else {f"{kind}_id": int(ident)})
        if others:
            body["allowed_to_create"] = others
        return body

    def create(self, name: str, settings: dict) -> None:
        self.client.request("POST", self.path, body=self._body(name, settings))

    def update(self, name: str, ident, old: dict, new: dict) -> None:
        # GitLab has no update for a protected tag: unprotect and protect again, and put the old one
        # back if protecting fails, so the tag is never left unprotected by this module
        self.delete(name, ident)
        try:
            self.create(name, new)
        except ConductorError as exc:
            self.create(name, old)
            raise ConductorError(f"{exc}; the protection of {name} was put back as it was") from None

    def delete(self, name: str, ident) -> None:
        self.client.request("DELETE", f"{self.path}/{_api.quote(name)}", missing_ok=True)


class GiteaTagProtections(HostedBackend):
    """One tag protection per pattern. In Gitea the allowed users and teams are the only ones who may
    create, move or delete a matching tag: creating is restricted too, so allowed_actors must name
    someone (user names, and teams as team:NAME)."""

    creation = "restricted to allowed_actors"

    def __init__(self, client, project: str):
        self.client = client
        self.path = f"/repos/{_owner_repo(project, 'Gitea')}/tag_protections"

    def desired(self, policy: Policy) -> dict:
        if not policy.allowed_actors:
            raise ConductorError("allowed_actors is empty: with Gitea only the allowed users and teams may create a protected tag, "
                                 "so an empty list would let no one make a release; name the releasers (team:NAME for a team)")
        users = [a for a in policy.allowed_actors if not a.startswith("team:")]
        teams = sorted(a[len("team:"):] for a in policy.allowed_actors if a.startswith("team:"))
        if "" in teams or any(":" in name for name in users + teams):
            raise ConductorError("allowed_actors for Gitea are user names, or team:NAME for a team")
        return {pattern: {"users": users, "teams": teams} for pattern in policy.patterns}

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
        self.client.request("POST", self.path, body=self._body(name, settings))

    def update(self, name: str, ident, old: dict, new: dict) -> None:
        self.client.request("PATCH", f"{self.path}/{int(ident)}", body=self._body(name, new))

    def delete(self, name: str, ident) -> None:
        self.client.request("DELETE", f"{self.path}/{int(ident)}", missing_ok=True)


@dataclass
class HostedChange:
    changed: bool
    before: dict
    after: dict
    creation: str


def ensure_hosted(backend: HostedBackend, policy: Policy, check_mode: bool = False) -> HostedChange:
    """Bring the server to the policy, then read it back: a write the server did not apply is an error."""
    desired = backend.desired(policy) if policy.present else {}
    found = backend.read(policy)
    before = {name: settings for name, (_ident, settings) in found.items()}
    if before == desired:
        return HostedChange(False, before, before, backend.creation)
    if not check_mode:
        for name in sorted(set(found) | set(desired)):
            if name not in desired:
                backend.delete(name, found[name][0])
            elif name not in found:
                backend.create(name, desired[name])
            elif found[name][1] != desired[name]:
                backend.update(name, found[name][0], found[name][1], desired[name])
        applied = {name: settings for name, (_ident, settings) in backend.read(policy).items()}
        if applied != desired:
            raise ConductorError(f"the server did not apply the tag protection: read back {applied}, expected {desired}")
    return HostedChange(True, before, desired, backend.creation)


def hosted_backend(kind: str, api_url: str, token: str, project: str, ruleset_name: str = "maestro release tags",
                   validate_certs: bool = True, timeout: int = 30) -> HostedBackend:
    """The backend for ``kind``: github, gitlab or gitea."""
    if kind == "github":
        return GitHubRulesets(_api.Client(_api.GITHUB, api_url or "https://api.github.com", token, validate_certs, timeout), project,
                              ruleset_name)
    if kind == "gitlab":
        return GitLabProtectedTags(_api.Client(_api.GITLAB, api_url or "https://gitlab.com/api/v4", token, validate_certs, timeout), project)
    if kind == "gitea":
        if not api_url:
            raise ConductorError("api_url is required with Gitea: the API root of your server, such as https://gitea.example.com/api/v1")
        return GiteaTagProtections(_api.Client(_api.GITEA, api_url, token, validate_certs, timeout), project)
    raise ConductorError(f"backend {kind!r} is unknown: expected git, github, gitlab or gitea")
