# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift: what was recorded at release time against what a git remote says now.

Recorded: each release's tag object id and peeled commit, from its manifest (or, from the ledger,
the commit a tag was deployed at). Now: one ``git ls-remote`` of the remote, peeled entries included.
Each difference is a finding that says what was expected and what was found. A check that cannot be made
(no release repository, a running commit that cannot be read) is a finding too, of kind ``unknown``, unless
the caller accepts leaving that check undone: unknown is never counted as "no drift".

The remote may be a URL with credentials (a CI checkout's ``https://user:token@host/...``): nothing here
says it as given. Messages, findings and errors name it without its credentials (``_urls``).
"""

from __future__ import annotations

import fnmatch
import http.client
import os
import re
import subprocess
import urllib.parse
from dataclasses import asdict, dataclass
from typing import NamedTuple
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

from ansible_collections.maestro.conductor.plugins.module_utils import _git, _ledger, _names
from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._reported_commit import running_commit
from ansible_collections.maestro.conductor.plugins.module_utils._urls import has_credentials, redact, strip_credentials

_BRANCH_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")
# a URL, scp-like address or path; never an option, never a control character
_REMOTE_RE = re.compile(r"[^\s-][^\s]{0,1023}")
UNKNOWN_CHECKS = ("repository", "running_commit")


@dataclass
class Finding:
    kind: str  # moved, recreated, deleted, branch_not_at_release, branch_missing, running_commit, unknown
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


def credential_parts(url: str) -> list[str]:
    """The secrets a URL carries (a password or token in its userinfo, its query's values), for no_log to mask anywhere."""
    if not isinstance(url, str) or not has_credentials(url):
        return []
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return [url]  # unparseable yet holding a credential: mask all of it
    found = [parts.password] if parts.password else ([parts.username] if parts.username else [])
    found += [value for _name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=False)]
    found += [value for _name, value in urllib.parse.parse_qsl(parts.fragment, keep_blank_values=False)]
    found += [urllib.parse.unquote(value) for value in found]
    return sorted({value for value in found if value}, key=len, reverse=True)


def shown(remote: str) -> str:
    """``remote`` as it may be said: without credentials."""
    return strip_credentials(remote) if isinstance(remote, str) else repr(remote)


def redact_remote(text: str, remote: str) -> str:
    """``text`` with ``remote`` said without credentials, and any of its secrets that appear alone masked."""
    text = redact(text, remote)
    for secret in credential_parts(remote):
        text = text.replace(secret, "********")
    return text


def validate_remote(remote: object) -> str:
    if not isinstance(remote, str) or not _REMOTE_RE.fullmatch(remote):
        said = redact_remote(repr(remote), remote) if isinstance(remote, str) else repr(remote)
        raise ConductorError(f"remote {said} is invalid: expected a git URL, an scp-like address or a path, not starting with '-'")
    return remote


def validate_branch(name: object) -> str:
    if not isinstance(name, str) or not _BRANCH_RE.fullmatch(name) or ".." in name or name.endswith((".lock", "/")):
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
        if not path or not fnmatch.fnmatchcase(name, pattern) or not os.path.isdir(os.path.join(releases_root, name)):
            continue
        if not os.path.isfile(path):  # a release without its record: what its tag should be is unknown, which is red
            found.append(Recorded(name, "", "", path))
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
        # from None: the exception's text and arguments hold the remote as given
        raise ConductorError(redact_remote(f"git ls-remote of {shown(remote)} failed: {exc}", remote)) from None
    if done.returncode != 0:
        said = redact_remote(done.stderr.strip(), remote) or f"exit status {done.returncode}"
        raise ConductorError(f"git ls-remote of {shown(remote)} failed: {said}")
    refs = {}
    for line in done.stdout.splitlines():
        object_id, _tab, ref = line.partition("\t")
        if ref:
            refs[ref] = object_id
    return refs


def tag_findings(recorded: list[Recorded], refs: dict[str, str], remote: str) -> list[Finding]:
    """Recorded tags that the remote has moved, deleted, or deleted and re-created."""
    findings, remote = [], shown(remote)
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
    findings, remote = [], shown(remote)
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


def read_running_commit(url: str, timeout: float = 5.0) -> tuple[str, str]:
    """(commit, "") from what ``url`` (a /version endpoint) answers, or ("", why it names none): never an exception."""
    said = shown(url)
    try:
        # no redirect is followed: credentials in the URL would go along to wherever it points
        response = open_url(url, method="GET", timeout=timeout, follow_redirects="none", use_netrc=False,
                            headers={"Accept": "application/json", "Connection": "close"})
        status, content_type = response.status, response.headers.get("Content-Type", "")
        body = response.read(65536).decode("utf-8", "replace")
    except HTTPError as exc:
        if 300 <= exc.code < 400:
            location = shown(urllib.parse.urljoin(url, (exc.headers.get("Location") if exc.headers else "") or ""))
            return "", f"{said} answered {exc.code}, a redirect to {location} (not followed)"
        return "", f"{said} answered status {exc.code}"
    except (URLError, OSError, ValueError, http.client.HTTPException) as exc:
        return "", redact_remote(f"{said} did not answer: {getattr(exc, 'reason', exc)}", url)
    commit, why = running_commit(status, content_type, body)
    return commit, (f"{said} {why}" if why else "")


def unknown_finding(check: str, subject: str, why: str = "") -> Finding:
    """A check that could not be made, as a finding: unknown is not "no drift"."""
    if check == "repository":
        return Finding("unknown", subject, "a git repository", "absent",
                       f"release repository {subject} does not exist: release tags and protected branches were not compared")
    return Finding("unknown", subject, "the commit it runs", "unknown",
                   f"environment {subject}: the running commit is unknown ({why}), so it was not compared with the live tag")


@dataclass
class Report:
    findings: list[Finding]
    unknown: list[Finding]  # every check that could not be made, allowed or not
    tags: int = 0
    branches: int = 0
    running_compared: bool = False


def check(repo: str, remote: str | None = None, pattern: str = "v*", releases_root: str | None = None, ledger: str | None = None,
          environment: str | None = None, branches: list[str] | None = None, running: str = "", version_url: str | None = None,
          allow_unknown: list[str] | None = None) -> Report:
    """Every drift check release_drift makes: validated input first, then one ls-remote; a check that cannot be made is a
    finding of kind unknown unless ``allow_unknown`` names it (then it is only listed in the report's ``unknown``)."""
    remote = validate_remote(remote or repo)
    branches = [validate_branch(branch) for branch in branches or []]
    running = _names.validate_object_id(running, "running commit") if running else ""
    _git.validate_tag_pattern(pattern)
    if version_url and urllib.parse.urlsplit(version_url).scheme not in ("http", "https"):
        raise ConductorError(f"version_url {shown(version_url)!r} is invalid: expected an http:// or https:// URL, such as http://127.0.0.1:8080/version")
    for name in allow_unknown or []:
        if name not in UNKNOWN_CHECKS:
            raise ConductorError(f"allow_unknown {name!r} is invalid: expected any of {', '.join(UNKNOWN_CHECKS)}")
    live, unknown = _ledger.LedgerState(), []
    if ledger:
        live = _ledger.read_environment(ledger, environment or "")[1]
        if version_url:
            running, why = read_running_commit(version_url)
            if not running:
                unknown.append(("running_commit", unknown_finding("running_commit", environment or "", why)))
        elif not running:
            why = "neither running_commit nor version_url says what runs"
            unknown.append(("running_commit", unknown_finding("running_commit", environment or "", why)))
    report = Report([], [])
    if os.path.isdir(repo):
        recorded = recorded_from_releases(releases_root, pattern) if releases_root else []
        recorded += recorded_from_ledger(ledger, environment or "", pattern) if ledger else []
        tags = _git.list_tags(repo, pattern) if branches else []
        refs = ls_remote(remote)
        report.findings += [Finding("unknown", f"refs/tags/{entry.tag}", "a release manifest", "absent",
                                    f"release {entry.tag}: {entry.source} is missing, so what its tag should be is unknown")
                            for entry in recorded if not entry.commit]
        recorded = [entry for entry in recorded if entry.commit]
        report.findings += tag_findings(recorded, refs, remote) + branch_findings(branches, refs, tags[0] if tags else None, remote)
        report.tags, report.branches = len(recorded), len(branches)
    else:  # nothing to compare the record with (and, on a fresh host, no record either)
        unknown.append(("repository", unknown_finding("repository", repo)))
    report.findings += running_findings(environment or "", running, live)
    report.running_compared = bool(running and ledger)
    report.unknown = [finding for _check, finding in unknown]
    report.findings += [finding for name, finding in unknown if name not in (allow_unknown or [])]
    return report
