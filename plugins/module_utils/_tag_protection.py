# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag protection: release tags may be created, but only named actors may delete or move them.

One policy (patterns, allowed actors, present or absent), normalized so that a second run compares
equal and changes nothing, and one backend per kind of git server. This file holds the policy and
the ``git`` backend: a bare repository on a host Ansible manages, protected by a ``pre-receive``
hook that knows the pusher from an environment variable its SSH ``authorized_keys`` entry sets.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write, read_bytes_limited

_PATTERN_RE = re.compile(r"^[A-Za-z0-9._+*?-]{1,128}$")
_ACTOR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
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
                raise ConductorError(f"allowed actor {actor!r} is invalid: expected a user name (letters, digits, '.', '_', '@', '+', '-')")
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
