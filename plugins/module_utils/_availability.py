# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a release still there: every file of it present, whole in size, and its evidence complete.

The watch asks this every few minutes of the live release and of the rollback target, on the release store
and in every app host's cache; it does not hash (verification does, and the watch verifies the live
release strictly beside this). The daily verification asks it of a host's copy with ``digests``: every
file re-hashed against the verified manifest. A release whose manifest cannot be read is not available:
unknown is red.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, size_problem
from ansible_collections.maestro.conductor.plugins.module_utils._hashing import sha256_files
from ansible_collections.maestro.conductor.plugins.module_utils._names import check_relative_path, validate_tag_name

# a GitHub Actions run or a GitLab pipeline named in the evidence's ci_run, by its address's path: the project, then the id
_GITHUB_RUN_RE = re.compile(r"/([^/]+/[^/]+)/actions/runs/([0-9]{1,20})(?:/.*)?")
_GITLAB_PIPELINE_RE = re.compile(r"/([^-][^?#]*?)/-/pipelines/([0-9]{1,20})(?:/.*)?")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")


@dataclass
class Availability:
    complete: bool = False
    problems: list[str] = field(default_factory=list)
    # the release's own files (manifest, evidence, attestation, signature, envelope) and evidence parts that are missing
    evidence_missing: list[str] = field(default_factory=list)
    artifacts: list[dict] = field(default_factory=list)
    ci_run: str = ""
    ci_run_id: str = ""  # a GitHub Actions run's id, when the evidence names one
    ci_pipeline_id: str = ""  # a GitLab pipeline's id, when the evidence names one
    ci_run_project: str = ""  # the project its address names (a lookup asks the configured project: run ids are global)

    def as_dict(self) -> dict:
        return asdict(self)


def _entry_problem(release_dir: str, relpath: str, size: int) -> str:
    """Why artifact ``relpath`` of ``release_dir`` is not there whole, by its size (nothing hashed), or ''."""
    reason = check_relative_path(relpath)
    if reason:
        return f"path {relpath!r} {reason}"
    reason = size_problem(os.path.join(release_dir, relpath), size)
    return f"{relpath} {reason}" if reason else ""


def _artifact_list(artifacts: list) -> list[dict]:
    checked = []
    for entry in artifacts:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not isinstance(entry.get("size"), int):
            raise ConductorError(f"artifact {entry!r} is invalid: expected a mapping with a relative path and a size in bytes")
        checked.append({"path": entry["path"], "size": entry["size"], "sha256": str(entry.get("sha256", ""))})
    return checked


def copy_available(release_dir: str, artifacts: list, digests: bool = False) -> Availability:
    """An app host's cached copy: every artifact of the release present and of its size; with ``digests``, each file
    that is whole in size also hashes to its sha256 (hashed in parallel)."""
    result = Availability(artifacts=_artifact_list(artifacts))
    if not result.artifacts:
        raise ConductorError("no artifacts given: the copy is checked against the release's manifest, as verification returned it")
    if digests and (bad := [entry["path"] for entry in result.artifacts if not _HEX64_RE.fullmatch(entry["sha256"])]):
        raise ConductorError(f"artifacts {', '.join(bad[:5])} carry no sha256 of 64 hex digits: the copy cannot be hashed against them")
    if not os.path.isdir(release_dir) or os.path.islink(os.path.normpath(release_dir)):
        result.problems.append(f"{release_dir} is not a directory: the release is not on this host")
        return result
    result.problems = [reason for entry in result.artifacts if (reason := _entry_problem(release_dir, entry["path"], entry["size"]))]
    if digests:
        result.problems += _digest_problems(release_dir, [entry for entry in result.artifacts
                                                          if not _entry_problem(release_dir, entry["path"], entry["size"])])
    result.complete = not result.problems
    return result


def _digest_problems(release_dir: str, entries: list[dict]) -> list[str]:
    full = {os.path.join(release_dir, entry["path"]): entry for entry in entries}
    try:
        found = sha256_files(list(full))
    except OSError as exc:
        return [f"a file could not be hashed: {exc}"]
    return [f"{entry['path']} has sha256 {found[path]}, the verified manifest says {entry['sha256']}"
            for path, entry in full.items() if found[path] != entry["sha256"]]


def release_available(release_dir: str, tag: str) -> Availability:
    """A release directory on the release store: its manifest, evidence and signature files, and every artifact by size."""
    validate_tag_name(tag)
    # the path as the files' own: file_problem compares each file's real path with it
    release_dir = os.path.realpath(release_dir)
    result = Availability()
    if not os.path.isdir(release_dir):
        result.problems.append(f"release directory {release_dir} is missing")
        result.evidence_missing = list(fmt.release_file_names(tag))
        return result
    names = dict(zip(("manifest", "evidence", "attestation", "signature", "envelope"), fmt.release_file_names(tag)))
    result.evidence_missing = [name for name in names.values() if fmt.file_problem(release_dir, name)]
    try:
        manifest = fmt.load_manifest(os.path.join(release_dir, names["manifest"]))[0]
    except (ConductorError, OSError) as exc:
        result.problems.append(f"the manifest cannot be read ({exc}): which files the release holds is unknown")
        return result
    if manifest.get("format_version", 1) < fmt.ENVELOPE_FORMAT:
        # as verification reads it: a release made before the envelope existed carries none
        result.evidence_missing = [name for name in result.evidence_missing if name != names["envelope"]]
    if manifest.get("tag") != tag:
        result.problems.append(f"the manifest is for tag {manifest.get('tag')}, not {tag}")
    result.artifacts = _artifact_list(manifest.get("artifacts", []))
    result.problems += [reason for entry in result.artifacts if (reason := _entry_problem(release_dir, entry["path"], entry["size"]))]
    if names["evidence"] not in result.evidence_missing:
        result.evidence_missing += _evidence_gaps(os.path.join(release_dir, names["evidence"]), result)
    result.complete = not result.problems
    return result


def _evidence_gaps(path: str, result: Availability) -> list[str]:
    """What the evidence bundle lacks that the runbook asks of it: pre-release checks that ran, and the CI run."""
    try:
        evidence = fmt.load_evidence(path)[0]
    except (ConductorError, OSError) as exc:
        return [f"evidence unreadable ({str(exc)[:200]})"]
    gaps = []
    if not [check for check in evidence["checks"] if check["result"] != "skip"]:
        gaps.append("evidence records no pre-release check that ran")
    result.ci_run = evidence.get("ci_run", "")
    if not result.ci_run:
        gaps.append("evidence names no CI run")
        return gaps
    try:
        path = urlsplit(str(result.ci_run)).path
    except ValueError:  # no address at all (an unclosed [ in its host): names no run to look up
        return gaps
    for pattern, kind in ((_GITHUB_RUN_RE, "ci_run_id"), (_GITLAB_PIPELINE_RE, "ci_pipeline_id")):
        if match := pattern.fullmatch(path):
            result.ci_run_project = match.group(1)
            setattr(result, kind, match.group(2))
            break
    return gaps
