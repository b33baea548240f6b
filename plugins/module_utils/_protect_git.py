# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag protection for a bare repository on a host Ansible manages: a ``pre-receive`` hook that knows the
pusher from an environment variable its SSH ``authorized_keys`` entry sets.

The hook goes where git runs it: the repository's ``hooks`` directory, or the directory ``core.hooksPath``
names when that is inside the repository. A ``core.hooksPath`` outside it (a directory other repositories
may share) is refused, naming the setting: a hook in ``hooks`` would never run there, and a policy for one
repository does not belong in a shared directory.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write, read_bytes_limited
from ansible_collections.maestro.conductor.plugins.module_utils._protect_policy import Policy

_VARIABLE_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
MARKER = "# maestro.conductor tag_protection: managed by Ansible"
CHAINED = "pre-receive.maestro-chained"


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


def _hooks_path_setting(repo_path: str) -> tuple[str, str] | None:
    """(value, where it is set) of core.hooksPath as git sees it for this repository, or None when unset."""
    # --git-dir, not -C: git ignores a repository owned by another user (safe.directory) when it finds it by -C,
    # and would then say "unset" for a setting the pushing account's git does honour
    args = ["git", f"--git-dir={os.path.abspath(repo_path)}", "config", "--show-origin", "--get", "core.hooksPath"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConductorError(f"repository {repo_path}: reading core.hooksPath with git failed: {exc}") from None
    if done.returncode == 1:
        return None
    if done.returncode != 0:
        raise ConductorError(f"repository {repo_path}: reading core.hooksPath with git failed: {done.stderr.strip() or done.returncode}")
    origin, _tab, value = done.stdout.rstrip("\n").partition("\t")
    return value, origin


def hooks_directory(repo_path: str, installing: bool = True) -> str:
    """The directory git runs this bare repository's hooks from; ConductorError when that is outside the repository."""
    default = os.path.join(repo_path, "hooks")
    setting = _hooks_path_setting(repo_path)
    if setting is None:
        return default
    value, origin = setting
    # a relative core.hooksPath is relative to where hooks run: the repository itself, for a bare one
    resolved = os.path.realpath(os.path.join(repo_path, value))
    root = os.path.realpath(repo_path)
    if value and not value.startswith("~") and (resolved == root or resolved.startswith(root + os.sep)):
        return resolved
    if not installing:
        return default  # nothing of ours is ever outside the repository: only hooks/ may hold one from before
    raise ConductorError(f"repository {repo_path} has core.hooksPath = {value} (set in {origin}): git runs its hooks from there, not from "
                         f"{default}, so a hook installed there would never run, and a directory outside the repository is no place for "
                         f"one repository's policy; set it for this repository to its own hooks (git --git-dir={repo_path} config "
                         "core.hooksPath hooks), or unset it, then run again")


def render_hook(policy: Policy, variable: str) -> str:
    """The pre-receive hook for ``policy``: POSIX sh, from a policy validated by Policy.build."""
    if not isinstance(variable, str) or not _VARIABLE_RE.fullmatch(variable):
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
  echo "tag protection: $what ${{ref#refs/tags/}} is not allowed for ${{actor:-an unidentified pusher}}:" \\
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
    hooks = hooks_directory(_bare_repository(repo_path), installing=policy.present)
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
