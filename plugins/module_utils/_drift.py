# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift: what was recorded at release time against what a git remote says now.

Recorded: each release's tag object id and peeled commit, from its manifest (or, from the ledger,
the commit a tag was deployed at). Now: one ``git ls-remote`` of the remote, peeled entries included.
Each difference is a finding that says what was expected and what was found.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from dataclasses import asdict, dataclass
from typing import NamedTuple

from ansible_collections.maestro.conductor.plugins.module_utils import _git, _ledger, _names
from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

_BRANCH_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
# a URL, scp-like address or path; never an option, never a control character
_REMOTE_RE = re.compile(r"^[^\s-][^\s]{0,1023}$")


@dataclass
class Finding:
    kind: str  # moved, recreated, deleted, branch_not_at_release, branch_missing, running_commit
    ref: str
    expected: str
    found: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


class Recorded(NamedTuple):
    tag: str
    object_id: str  # empty when only the commit was recorded (the ledger)
    commit: str
    source: str


def validate_remote(remote: object) -> str:
    if not isinstance(remote, str) or not _REMOTE_RE.match(remote):
        raise ConductorError(f"remote {remote!r} is invalid: expected a git URL, an scp-like address or a path, not starting with '-'")
    return remote


def validate_branch(name: object) -> str:
    if not isinstance(name, str) or not _BRANCH_RE.match(name) or ".." in name or name.endswith((".lock", "/")):
        raise ConductorError(f"branch name {name!r} is invalid: expected letters, digits, '.', '_', '-' and '/', such as 'main'")
    return name


def recorded_from_releases(releases_root: str, pattern: str) -> list[Recorded]:
    """What each release's manifest recorded, for release directories whose name matches ``pattern``."""
    _git.validate_tag_pattern(pattern)
    if not os.path.isdir(releases_root):
        raise ConductorError(f"releases directory {releases_root} does not exist or is not a directory")
    found = []
    for name in sorted(os.listdir(releases_root)):
        path = os.path.join(releases_root, name, fmt.manifest_name(name)) if _is_tag(name) else ""
        if not path or not fnmatch.fnmatchcase(name, pattern) or not os.path.isfile(path):
            continue
        manifest, _raw = fmt.load_manifest(path, "release manifest")
        found.append(Recorded(name, manifest["tag_object"], manifest["commit"], path))
    return found


def recorded_from_ledger(ledger_path: str, environment: str, pattern: str) -> list[Recorded]:
    """The commit each tag was last deployed or rolled back to at, per the environment's ledger."""
    records, _state = _ledger.read_environment(ledger_path, environment)
    latest = {}
    for record in records:
        if record["event"] in ("deployed", "rollback") and record.get("commit") and fnmatch.fnmatchcase(record["tag"], pattern):
            latest[record["tag"]] = Recorded(record["tag"], "", record["commit"], f"{ledger_path} ({environment})")
    return [latest[tag] for tag in sorted(latest)]


def _is_tag(name: str) -> bool:
    try:
        _names.validate_tag_name(name)
    except ConductorError:
        return False
    return True


def ls_remote(remote: str, timeout: float = 60.0) -> dict[str, str]:
    """Every tag and branch of ``remote``, peeled tag entries (``refs/tags/T^{}``) included, in one git call."""
    validate_remote(remote)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", "ls-remote", "--tags", "--heads", "--", remote], capture_output=True, text=True,
                              timeout=timeout, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConductorError(f"git ls-remote of {remote} failed: {exc}") from exc
    if done.returncode != 0:
        raise ConductorError(f"git ls-remote of {remote} failed: {done.stderr.strip() or f'exit status {done.returncode}'}")
    refs = {}
    for line in done.stdout.splitlines():
        object_id, _tab, ref = line.partition("\t")
        if ref:
            refs[ref] = object_id
    return refs


def tag_findings(recorded: list[Recorded], refs: dict[str, str], remote: str) -> list[Finding]:
    """Recorded tags that the remote has moved, deleted, or deleted and re-created."""
    findings = []
    for rec in recorded:
        ref = f"refs/tags/{rec.tag}"
        now = refs.get(ref)
        was = f"object {rec.object_id}, commit {rec.commit}" if rec.object_id else f"commit {rec.commit}"
        if now is None:
            findings.append(Finding("deleted", ref, was, "absent", f"tag {rec.tag} ({was}, recorded in {rec.source}) is gone from {remote}"))
            continue
        peeled = refs.get(ref + "^{}", now)
        is_now = f"object {now}, commit {peeled}" if rec.object_id else f"commit {peeled}"
        if peeled != rec.commit:
            findings.append(Finding("moved", ref, was, is_now, f"tag {rec.tag} moved on {remote}: recorded {was}, now {is_now}"))
        elif rec.object_id and now != rec.object_id:
            findings.append(Finding("recreated", ref, was, is_now,
                                    f"tag {rec.tag} was deleted and re-created on {remote}: same commit {peeled}, "
                                    f"tag object {now} instead of the recorded {rec.object_id}"))
    return findings


def branch_findings(branches: list[str], refs: dict[str, str], latest: _git.TagInfo | None, remote: str) -> list[Finding]:
    """Protected branches whose HEAD is not the latest release tag's commit."""
    findings = []
    for branch in branches:
        ref = f"refs/heads/{validate_branch(branch)}"
        head = refs.get(ref)
        if head is None:
            findings.append(Finding("branch_missing", ref, "a branch", "absent", f"protected branch {branch} does not exist on {remote}"))
        elif latest is not None:
            tag_commit = refs.get(f"refs/tags/{latest.name}^{{}}", refs.get(f"refs/tags/{latest.name}", latest.commit))
            if head != tag_commit:
                findings.append(Finding("branch_not_at_release", ref, f"commit {tag_commit} ({latest.name})", f"commit {head}",
                                        f"protected branch {branch} is at {head} on {remote}, the latest release tag "
                                        f"{latest.name} at {tag_commit}"))
    return findings


def running_findings(environment: str, running_commit: str, live: _ledger.LedgerState) -> list[Finding]:
    """The environment runs a commit other than the one of the tag the ledger says is live."""
    if not running_commit or running_commit == live.live_commit:
        return []
    expected = f"commit {live.live_commit} ({live.live})" if live.live else "a tag recorded live in the ledger"
    return [Finding("running_commit", environment, expected, f"commit {running_commit}",
                    f"environment {environment} runs commit {running_commit}, the ledger says "
                    f"{(live.live + ' (' + live.live_commit + ')') if live.live else 'nothing'} is live")]
