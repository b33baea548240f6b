# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag protection's shared model: the policy, and how every hosted backend is brought to it.

Release tags may be created, but only named actors may delete or move them. One policy (patterns,
allowed actors, present or absent), normalized so that a second run compares equal and changes nothing.
The backends live one a file (``_protect_git``, ``_protect_github``, ``_protect_gitlab``, ``_protect_gitea``);
``_tag_protection`` chooses one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

_PATTERN_RE = re.compile(r"[A-Za-z0-9._+*?-]{1,128}")
_ACTOR_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}")


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
            if not isinstance(pattern, str) or not _PATTERN_RE.fullmatch(pattern) or pattern.startswith(("-", ".")) or ".." in pattern:
                raise ConductorError(f"tag pattern {pattern!r} is invalid: expected a glob of letters, digits, '.', '_', '+', '-', "
                                     "'*' and '?', such as 'v*'")
        for actor in allowed_actors:
            if not isinstance(actor, str) or not _ACTOR_RE.fullmatch(actor):
                raise ConductorError(f"allowed actor {actor!r} is invalid: expected a user name (letters, digits, '.', '_', '@', '+', '-', ':')")
        return cls(sorted(set(patterns)), sorted(set(allowed_actors)), state == "present")


class HostedBackend:
    """What every hosted backend provides; ensure_hosted drives them all the same way.

    Each reads what it manages as {name: (server id, normalized settings)}, so the comparison that
    decides "changed" is the same one that checks the server applied a write (read back after writing)."""

    creation = "open"

    def desired(self, policy: Policy) -> dict:
        """{name: normalized settings} the policy asks for; ConductorError for what the service cannot hold."""
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
