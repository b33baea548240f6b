# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing a release: manifest, evidence and attestation (and signature and DSSE envelope) for one tag.

Output is deterministic: the timestamps of an existing, otherwise identical file
are kept, so a re-run with the same inputs writes nothing. The manifest records the
image ids of every image archive, read in the same pass that hashes it. No URL that
carries credentials is recorded: they are stripped, and a document that would still
hold one is refused.
"""

from __future__ import annotations

import datetime
import os
import stat
from dataclasses import dataclass, field
from typing import Callable

from ansible_collections.maestro.conductor.plugins.module_utils import _dsse, _git, _hashing, _image_archive, _names, _signing, _urls
from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write


@dataclass
class BundleRequest:
    release_dir: str
    tag: str
    repo: str
    artifacts: list[str] = field(default_factory=list)
    repository: str = ""
    generated_by: str = "maestro.conductor"
    builder: str = "maestro.conductor.release_bundle"
    ci_run: str = ""
    # the CI workflow that builds the release: its path in the repository, and the file as the CI ran it (default: the
    # file at the tag's commit); recorded with its sha256 in evidence format 2
    workflow: str = ""
    workflow_file: str = ""
    checks: list[dict] = field(default_factory=list)
    # artifacts whose digest (and images) a verification has just proved, as {path, size, sha256, images}: a file of the
    # same size is not hashed again (the weekly validation's regeneration, which only compares and never writes)
    known_artifacts: list[dict] = field(default_factory=list)
    # only the manifest and the evidence are wanted, to compare: no signature is made or checked for staleness
    compare_only: bool = False
    # the tag as a verification resolved it a moment ago (a _git.TagInfo), so that git is not asked twice; None: resolved here
    tag_info: object = None
    signing_key: str = ""
    workers: int = 0
    manifest_format: int = fmt.MANIFEST_FORMAT_VERSION  # 1 writes what collections before image ids read, 2 before envelopes


@dataclass
class BundlePlan:
    """What the release files should hold, which of them differ from disk, and which must go."""

    files: dict[str, bytes]
    current: dict[str, bytes | None]
    manifest: dict
    signed: list[str] = field(default_factory=list)  # signature files: no readable diff
    removed: list[str] = field(default_factory=list)  # present on disk, no part of the release in the format written

    @property
    def changed_files(self) -> list[str]:
        return [name for name, data in self.files.items() if self.current[name] != data] + self.removed

    def diff(self) -> list[dict]:
        # before: a file written by an older collection may still hold a URL with credentials
        return [{"before_header": name, "after_header": name,
                 "before": _urls.scrub((self.current[name] or b"").decode("utf-8", "replace")),
                 "after": self.files[name].decode("utf-8", "replace") if name in self.files else ""}
                for name in self.changed_files if name not in self.signed]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(max(fmt.MAX_DOCUMENT_BYTES, fmt.MAX_ENVELOPE_BYTES) + 1)  # only compared, never parsed
    except FileNotFoundError:
        return None


def _keep_time(document: dict, current: bytes | None, path: str, load: Callable[..., tuple[dict, bytes]], key: str) -> dict:
    """Reuse the recorded time of the file on disk when nothing else about it changed."""
    if current is None:
        return document
    try:
        existing, _raw = load(path, what="existing file")
    except ConductorError:
        return document
    if {**existing, key: None} == {**document, key: None}:
        return {**document, key: existing[key]}
    return document


def _workflow(request: BundleRequest, commit: str) -> dict | None:
    """The CI workflow the evidence records (its path and sha256), or None when none is given."""
    if not request.workflow:
        if request.workflow_file:
            raise ConductorError("workflow_file needs workflow: the workflow's path in the repository")
        return None
    path = request.workflow
    if path.startswith("/") or "\\" in path or any(part in ("", ".", "..") for part in path.split("/")) or \
            any(ord(char) < 0x20 for char in path):
        raise ConductorError(f"workflow {path!r} is invalid: expected its path relative to the repository's root, such as "
                             ".github/workflows/release.yml")
    if request.workflow_file:
        try:
            with _hashing.open_regular(request.workflow_file) as handle:
                data = handle.read(fmt.MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise ConductorError(f"workflow_file {request.workflow_file} could not be read: {exc.strerror or exc}") from exc
        if len(data) > fmt.MAX_DOCUMENT_BYTES:
            raise ConductorError(f"workflow_file {request.workflow_file} is larger than {fmt.MAX_DOCUMENT_BYTES} bytes")
        return {"path": path, "sha256": _hashing.sha256_bytes(data)}
    digest = _git.blob_sha256(request.repo, commit, path)
    if not digest:
        raise ConductorError(f"workflow {path} is not in the tag's commit {commit}: give the workflow's path as the repository holds it")
    return {"path": path, "sha256": digest}


def _refuse_credentials(document: dict, name: str) -> None:
    """The last guard: no string in ``document`` holds a URL with credentials, whatever put it there."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending += value.values()
        elif isinstance(value, list):
            pending += value
        elif isinstance(value, str) and _urls.urls_with_credentials(value):
            url = _urls.strip_credentials(_urls.urls_with_credentials(value)[0])
            raise ConductorError(f"{name} would record a URL that carries credentials ({url}, credentials left out here): "
                                 "give it without user, password, token or secret query parameters")


def _signed_files(request: BundleRequest, names: dict[str, str], current: dict[str, bytes | None], attestation: dict,
                  attestation_bytes: bytes) -> tuple[dict[str, bytes], list[str]]:
    """The detached signature and, from format 3 on, the DSSE envelope; and the signature files to remove."""
    files: dict[str, bytes] = {}
    removed: list[str] = []
    if request.signing_key:
        existing = current[names["signature"]]
        keep = (existing is not None and current[names["attestation"]] == attestation_bytes
                and _signing.signed_by(attestation_bytes, existing, request.signing_key, fmt.SIGNATURE_NAMESPACE))
        files[names["signature"]] = existing if keep else _signing.sign(attestation_bytes, request.signing_key, fmt.SIGNATURE_NAMESPACE)
        if request.manifest_format >= fmt.ENVELOPE_FORMAT:
            files[names["envelope"]] = _dsse.make(fmt.plain_statement(attestation), request.signing_key)
        elif current[names["envelope"]] is not None:
            removed.append(names["envelope"])  # an older format has none, and this one would no longer match
    stale = [names[key] for key in ("signature", "envelope")
             if names[key] not in files and names[key] not in removed and current[names[key]] is not None]
    if stale and current[names["attestation"]] != attestation_bytes:
        raise ConductorError(f"{' and '.join(stale)} {'signs' if len(stale) == 1 else 'sign'} the attestation being replaced: "
                             "give a signing key to sign the new one, or remove the old signature first")
    return files, removed


def _link_problem(full: str, relpath: str) -> str:
    """Why strict verification would refuse ``relpath`` as a link, or '': better said before signing than at rollback."""
    info = os.lstat(full)
    if stat.S_ISLNK(info.st_mode):
        return f"{relpath} is a symbolic link"
    if info.st_nlink > 1:
        return f"{relpath} has {info.st_nlink} hard links (another name could change it)"
    return ""


def _artifact_paths(request: BundleRequest, release_dir: str) -> list[str]:
    reserved = set(fmt.release_file_names(request.tag))
    if request.artifacts:
        paths = list(dict.fromkeys(request.artifacts))
    else:
        paths = []
        for root, dirs, files in os.walk(release_dir):
            dirs.sort()
            relroot = os.path.relpath(root, release_dir).replace(os.sep, "/")
            if root != release_dir and not dirs and not files:  # the verifier refuses what it would not sign
                raise ConductorError(f"release directory {release_dir} holds the empty directory {relroot}/: remove it, a release "
                                     "holds files only")
            for name in sorted(files):
                relpath = os.path.relpath(os.path.join(root, name), release_dir).replace(os.sep, "/")
                if relpath not in reserved and not name.startswith(".tmp-"):
                    paths.append(relpath)
    if not paths:
        raise ConductorError(f"release directory {release_dir} holds no artifacts: a release needs at least one")
    for relpath in paths:
        if relpath in reserved:
            raise ConductorError(f"artifact path {relpath!r} is the name of a release file")
        reason = fmt.file_problem(release_dir, relpath) or _link_problem(os.path.join(release_dir, relpath), relpath)
        if reason:
            raise ConductorError(f"artifact {reason}: expected a regular file inside the release directory {release_dir}")
    return sorted(paths)


def _artifact_entries(paths: list[str], full: list[str], request: BundleRequest) -> list[dict]:
    """Path, size and sha256 of each artifact, and for format 2 the images of each image archive, from one read of it."""
    if request.manifest_format not in fmt.MANIFEST_SCHEMAS:
        raise ConductorError(f"manifest format {request.manifest_format} is not supported: expected one of "
                             f"{', '.join(map(str, fmt.MANIFEST_SCHEMAS))}")
    known = {entry["path"]: entry for entry in request.known_artifacts}
    sizes = {path: os.stat(path).st_size for path in full}
    todo = [path for relpath, path in zip(paths, full) if relpath not in known or known[relpath]["size"] != sizes[path]]
    if request.manifest_format == 1:
        digests = _hashing.map_files(todo, lambda path: (_hashing.sha256_file(path), []), request.workers)
    else:
        digests = _hashing.map_files(todo, _image_archive.hash_and_index, request.workers)
    entries = []
    for relpath, path in zip(paths, full):
        if path in digests:
            digest, found = digests[path]
            images = [image.as_dict() for image in found]
        else:
            digest, images = known[relpath]["sha256"], list(known[relpath].get("images") or [])
        entry = {"path": relpath, "size": sizes[path], "sha256": digest}
        if images and request.manifest_format > 1:
            entry["images"] = images
        entries.append(entry)
    return entries


def plan_bundle(request: BundleRequest) -> BundlePlan:
    """Work out the release files for ``request`` without writing anything."""
    tag = _names.validate_tag_name(request.tag)
    if not os.path.isdir(request.release_dir):
        raise ConductorError(f"release directory {request.release_dir} does not exist or is not a directory")
    release_dir = os.path.realpath(request.release_dir)
    info = request.tag_info if isinstance(request.tag_info, _git.TagInfo) and request.tag_info.name == tag else _git.resolve_tag(request.repo, tag)
    repository = _urls.strip_credentials(request.repository or _git.describe_repository(request.repo))
    paths = _artifact_paths(request, release_dir)
    full = [os.path.join(release_dir, p) for p in paths]
    artifacts = _artifact_entries(paths, full, request)
    names = dict(zip(("manifest", "evidence", "attestation", "signature", "envelope"), fmt.release_file_names(tag)))
    current = {name: _read(os.path.join(release_dir, name)) for name in names.values()}

    manifest = {
        "format_version": request.manifest_format,
        "kind": "maestro.conductor/release-manifest",
        "tag": tag,
        "tag_object": info.object_id,
        "tag_type": info.kind,
        "commit": info.commit,
        "repository": repository,
        "created": _now(),
        "artifacts": artifacts,
    }
    manifest = _keep_time(manifest, current[names["manifest"]], os.path.join(release_dir, names["manifest"]),
                          fmt.load_manifest, "created")
    fmt.validate_document(manifest, fmt.MANIFEST_SCHEMAS[request.manifest_format], names["manifest"], "manifest")
    workflow = _workflow(request, info.commit)
    evidence = {
        "format_version": fmt.EVIDENCE_WORKFLOW_FORMAT if workflow else fmt.FORMAT_VERSION,
        "kind": "maestro.conductor/evidence",
        "tag": tag,
        "commit": info.commit,
        "generated_at": _now(),
        "generated_by": _urls.scrub(request.generated_by),
        **({"ci_run": _urls.scrub(request.ci_run)} if request.ci_run else {}),
        "checks": [{k: _urls.scrub(v) if isinstance(v, str) else v for k, v in check.items() if v is not None} for check in request.checks],
        "provenance": {"repository": repository, "commit": info.commit, "builder": request.builder,
                       **({"workflow": workflow} if workflow else {})},
    }
    evidence = _keep_time(evidence, current[names["evidence"]], os.path.join(release_dir, names["evidence"]), fmt.load_evidence,
                          "generated_at")
    fmt.validate_document(evidence, fmt.evidence_schema(evidence, names["evidence"]), names["evidence"], "evidence")
    manifest_bytes, evidence_bytes = fmt.dump_manifest(manifest), fmt.dump_json(evidence)

    subjects = [{"name": entry["path"], "digest": {"sha256": entry["sha256"]}} for entry in manifest["artifacts"]]
    subjects += [{"name": names["manifest"], "digest": {"sha256": _hashing.sha256_bytes(manifest_bytes)}},
                 {"name": names["evidence"], "digest": {"sha256": _hashing.sha256_bytes(evidence_bytes)}}]
    attestation = {
        "@context": fmt.JSONLD_CONTEXT,
        "_type": fmt.STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": fmt.PREDICATE_TYPE,
        "predicate": {"format_version": fmt.FORMAT_VERSION, "tag": tag, "tag_object": info.object_id,
                      "commit": info.commit, "repository": repository},
    }
    for name, document in ((names["manifest"], manifest), (names["evidence"], evidence), (names["attestation"], attestation)):
        _refuse_credentials(document, name)
    attestation_bytes = fmt.dump_json(attestation)
    files = {names["manifest"]: manifest_bytes, names["evidence"]: evidence_bytes, names["attestation"]: attestation_bytes}
    signed, removed = ({}, []) if request.compare_only else _signed_files(request, names, current, attestation, attestation_bytes)
    files.update(signed)
    return BundlePlan(files=files, current={name: current[name] for name in [*files, *removed]}, manifest=manifest,
                      signed=[names["signature"], names["envelope"]], removed=removed)


def write_bundle(plan: BundlePlan, release_dir: str) -> list[str]:
    """Write the files that changed and remove those that go, each atomically; on failure put every one back as it was."""
    written: list[str] = []
    try:
        for name in plan.changed_files:
            if name in plan.removed:
                os.unlink(os.path.join(release_dir, name))
            else:
                atomic_write(os.path.join(release_dir, name), plan.files[name])
            written.append(name)
    except OSError as exc:
        for name in written:
            path = os.path.join(release_dir, name)
            if plan.current[name] is None:
                os.unlink(path)
            else:
                atomic_write(path, plan.current[name])
        raise ConductorError(f"writing the release files in {release_dir} failed, nothing was changed: {exc}") from exc
    return written
