# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release verification: one read-only pass over a release directory and its tag.

Every check lands in the report, passed or failed, so an operator sees the
whole picture at once; the release is good only when every check is.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from ansible_collections.maestro.conductor.plugins.module_utils import _git, _hashing, _image_archive, _names, _signing
from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    tag: str
    release_dir: str
    strict: bool
    checks: list[Check] = field(default_factory=list)
    commit: str = ""
    tag_object: str = ""
    artifacts: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def add(self, name: str, problems: list[str], passed: str) -> bool:
        self.checks.append(Check(name, not problems, "; ".join(problems) if problems else passed))
        return not problems

    def as_dict(self) -> dict:
        result = asdict(self)
        result.update(ok=self.ok, failed_checks=[check.name for check in self.failed], seconds=round(self.seconds, 3))
        return result

    def summary(self) -> list[str]:
        """One line a check, for a terminal at 3 a.m."""
        mode = "strict" if self.strict else "standard"
        lines = [f"release {self.tag} ({mode}): {'VERIFIED' if self.ok else 'FAILED'} in {self.seconds:.2f}s"]
        lines += [f"  {'PASS' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]
        return lines


@dataclass
class _Read:
    """What one read of an artifact gave: its sha256 ('' when unreadable), the images it holds, what went wrong."""

    sha256: str
    images: list[_image_archive.ImageRecord]
    error: str = ""


def _read_artifact(path: str) -> _Read:
    try:
        return _Read(*_image_archive.hash_and_index(path))
    except _image_archive.ImageArchiveError as exc:
        return _Read(exc.sha256, [], str(exc))
    except Exception as exc:  # an unreadable file or a reader bug fails the check that needs it, never the whole report
        return _Read("", [], f"{path} could not be read: {exc}")


class _Verifier:
    def __init__(self, release_dir: str, tag: str, repo: str, strict: bool, expected_commit: str | None,
                 allowed_signers: str | None, allow_extra: list[str], workers: int):
        self.dir = release_dir
        self.tag = tag
        self.repo = repo
        self.expected_commit = expected_commit
        self.allowed_signers = allowed_signers
        self.allow_extra = allow_extra
        self.workers = workers
        self.report = Report(tag=tag, release_dir=release_dir, strict=strict)
        self.names = dict(zip(("manifest", "evidence", "attestation", "signature"), fmt.release_file_names(tag)))
        self.docs: dict[str, tuple[dict, bytes]] = {}
        self.reads: dict[str, _Read] = {}

    def run(self) -> Report:
        self._files_present()
        manifest = self._load("manifest", fmt.load_manifest, self._manifest_consistent)
        self._load("evidence", functools.partial(fmt.load_document, schema=fmt.EVIDENCE_SCHEMA), self._evidence_consistent)
        self._load("attestation", functools.partial(fmt.load_document, schema=fmt.ATTESTATION_SCHEMA),
                   self._attestation_consistent)
        if manifest is not None:
            self._artifacts(manifest)
            self._images(manifest)
            self._unexpected_files(manifest)
            self._subjects(manifest)
        else:
            for name in ("artifacts", "images", "unexpected_files", "attestation_subjects"):
                self.report.add(name, ["not checked: the manifest could not be read"], "")
        self._signature()
        self._tag(manifest)
        return self.report

    def _files_present(self) -> None:
        required = ["manifest", "evidence", "attestation"] + (["signature"] if self.allowed_signers else [])
        problems = [reason for key in required if (reason := fmt.file_problem(self.dir, self.names[key]))]
        self.report.add("files_present", problems, ", ".join(self.names[key] for key in required) + " present")

    def _load(self, key: str, load: Callable[..., tuple[dict, bytes]], consistent) -> dict | None:
        path = os.path.join(self.dir, self.names[key])
        problem = fmt.file_problem(self.dir, self.names[key])
        if problem:
            self.report.add(key, [f"not checked: {problem}"], "")
            return None
        try:
            document, raw = load(path, what=key)
        except ConductorError as exc:
            self.report.add(key, [str(exc).replace(path, self.names[key])], "")
            return None
        self.docs[key] = (document, raw)
        problems = consistent(document)
        version = document.get("format_version", fmt.FORMAT_VERSION)  # the attestation's is in its predicate
        self.report.add(key, problems, f"{self.names[key]} is valid (format {version})")
        return document if not problems else None

    def _manifest_consistent(self, manifest: dict) -> list[str]:
        self.report.commit = manifest["commit"]
        self.report.tag_object = manifest["tag_object"]
        problems = []
        if manifest["tag"] != self.tag:
            problems.append(f"manifest is for tag {manifest['tag']}, not {self.tag}")
        if manifest["tag_type"] == "lightweight" and manifest["tag_object"] != manifest["commit"]:
            problems.append("manifest records a lightweight tag whose object is not its commit")
        return problems

    def _against_manifest(self, what: str, pairs: list[tuple[str, str, str]]) -> list[str]:
        manifest = self.docs.get("manifest", ({}, b""))[0]
        return [f"{what} {label} is {mine}, manifest says {manifest[key]}"
                for label, key, mine in pairs if manifest and manifest.get(key) != mine]

    def _evidence_consistent(self, evidence: dict) -> list[str]:
        problems = [] if evidence["tag"] == self.tag else [f"evidence is for tag {evidence['tag']}, not {self.tag}"]
        return problems + self._against_manifest("evidence", [("commit", "commit", evidence["commit"])])

    def _attestation_consistent(self, attestation: dict) -> list[str]:
        predicate = attestation["predicate"]
        problems = [] if predicate["tag"] == self.tag else [f"attestation is for tag {predicate['tag']}, not {self.tag}"]
        return problems + self._against_manifest("attestation", [
            ("commit", "commit", predicate["commit"]),
            ("tag object", "tag_object", predicate["tag_object"]),
        ])

    def _artifacts(self, manifest: dict) -> None:
        problems, to_hash, seen = [], {}, set()
        for entry in manifest["artifacts"]:
            relpath = entry["path"]
            if relpath in seen or relpath in self.names.values():
                problems.append(f"{relpath} is listed twice or collides with a release file")
                continue
            seen.add(relpath)
            reason = fmt.file_problem(self.dir, relpath)
            if reason:
                problems.append(reason)
                continue
            full = os.path.join(self.dir, relpath)
            size = os.stat(full).st_size
            if size != entry["size"]:
                problems.append(f"artifact {relpath}: size is {size} bytes, manifest says {entry['size']}")
            to_hash[full] = entry
        reads = _hashing.map_files(list(to_hash), _read_artifact, self.workers)
        for full, entry in to_hash.items():
            self.reads[entry["path"]] = read = reads[full]
            actual = read.sha256
            ok = actual == entry["sha256"]
            if not actual:
                problems.append(f"artifact {entry['path']}: {read.error.replace(full, entry['path'])}")
            elif not ok:
                problems.append(f"artifact {entry['path']}: sha256 is {actual}, manifest says {entry['sha256']}")
            self.report.artifacts.append({"path": entry["path"], "size": entry["size"], "sha256": actual, "ok": ok})
        total = sum(entry["size"] for entry in manifest["artifacts"])
        self.report.add("artifacts", problems, f"{len(manifest['artifacts'])} artifacts, {total} bytes, sizes and sha256 match")

    def _images(self, manifest: dict) -> None:
        """The images each tarball holds, read in the hashing pass, against what the manifest records of it."""
        problems, archives = [], 0
        recording = manifest["format_version"] >= 2
        for entry in manifest["artifacts"]:
            relpath, recorded = entry["path"], entry.get("images") or []
            read = self.reads.get(relpath)
            if read is None or read.error:
                if read is not None:
                    problems.append(read.error.replace(os.path.join(self.dir, relpath), relpath))
                elif recorded:
                    problems.append(f"{relpath}: not checked: the artifact could not be read")
                continue
            found = [image.as_dict() for image in read.images]
            archives += bool(found or recorded)
            mismatch = _image_mismatch(relpath, recorded, found) if recording else ""
            if mismatch:
                problems.append(mismatch)
            matched = recording and not mismatch
            listed = recorded if matched else found
            self.report.images += [{"artifact": relpath, **image, "recorded": matched} for image in listed]
        images = _count(len(self.report.images), "image")
        if not archives:
            passed = "no image archive in this release"
        elif recording:
            passed = f"{images} in {_count(archives, 'image archive')} match the manifest: {_listing(self.report.images)}"
        else:
            passed = f"format 1 records no image ids: {images} read from the verified tarballs: {_listing(self.report.images)}"
        self.report.add("images", problems, passed)

    def _unexpected_files(self, manifest: dict) -> None:
        known = {entry["path"] for entry in manifest["artifacts"]} | set(self.names.values())
        extra = []
        for root, dirs, files in os.walk(self.dir):
            dirs.sort()
            for name in sorted(files) + sorted(d for d in dirs if os.path.islink(os.path.join(root, d))):
                relpath = os.path.relpath(os.path.join(root, name), self.dir).replace(os.sep, "/")
                if relpath not in known and not any(fnmatch.fnmatchcase(relpath, pattern) for pattern in self.allow_extra):
                    extra.append(relpath)
        problems = [f"{relpath} is not listed in the manifest" for relpath in extra[:20]]
        if len(extra) > 20:
            problems.append(f"and {len(extra) - 20} more unlisted files")
        self.report.add("unexpected_files", problems, "no file outside the manifest")

    def _subjects(self, manifest: dict) -> None:
        if "attestation" not in self.docs:
            self.report.add("attestation_subjects", ["not checked: the attestation could not be read"], "")
            return
        expected = {entry["path"]: entry["sha256"] for entry in manifest["artifacts"]}
        for key in ("manifest", "evidence"):
            if key in self.docs:
                expected[self.names[key]] = _hashing.sha256_bytes(self.docs[key][1])
        subjects = self.docs["attestation"][0]["subject"]
        attested: dict[str, str] = {}
        problems = []
        for subject in subjects:
            if subject["name"] in attested:
                problems.append(f"subject {subject['name']} appears twice")
            attested[subject["name"]] = subject["digest"]["sha256"]
        for name in sorted(expected.keys() - attested.keys()):
            problems.append(f"{name} is not a subject of the attestation")
        for name in sorted(attested.keys() - expected.keys()):
            problems.append(f"attestation subject {name} is not in the release")
        for name in sorted(expected.keys() & attested.keys()):
            if expected[name] != attested[name]:
                problems.append(f"{name}: attested sha256 {attested[name]}, release has {expected[name]}")
        self.report.add("attestation_subjects", problems, f"{len(subjects)} subjects match the manifest, manifest and evidence")

    def _signature(self) -> None:
        if not self.allowed_signers:
            present = os.path.isfile(os.path.join(self.dir, self.names["signature"]))
            self.report.add("signature", [], "skipped: no allowed_signers configured" + (" (a signature is present)" if present else ""))
            return
        if "attestation" not in self.docs or fmt.file_problem(self.dir, self.names["signature"]):
            self.report.add("signature", ["not checked: the attestation or its signature is missing"], "")
            return
        with open(os.path.join(self.dir, self.names["signature"]), "rb") as handle:
            signature = handle.read(64 * 1024)
        try:
            principal = _signing.verify(self.docs["attestation"][1], signature, self.allowed_signers, fmt.SIGNATURE_NAMESPACE)
        except ConductorError as exc:
            self.report.add("signature", [str(exc)], "")
            return
        self.report.add("signature", [], f"signed by {principal}")

    def _tag(self, manifest: dict | None) -> None:
        try:
            info = _git.resolve_tag(self.repo, self.tag)
        except ConductorError as exc:
            self.report.add("tag_commit", [str(exc)], "")
            if self.report.strict:
                self.report.add("tag_object", ["not checked: the tag could not be resolved"], "")
                if self.expected_commit:
                    self.report.add("expected_commit", ["not checked: the tag could not be resolved"], "")
            return
        recorded = manifest["commit"] if manifest else None
        self.report.add("tag_commit",
                        [] if recorded == info.commit else [f"tag {self.tag} points at commit {info.commit}, manifest says {recorded}"],
                        f"tag {self.tag} points at commit {info.commit}")
        if not self.report.strict:
            return
        problems = []
        if manifest is None:
            problems.append("not checked: the manifest could not be read")
        elif info.kind != manifest["tag_type"]:
            problems.append(f"tag {self.tag} is {info.kind} (object {info.object_id}); "
                            f"the manifest recorded an {manifest['tag_type']} tag with object {manifest['tag_object']}")
        elif info.object_id != manifest["tag_object"]:
            problems.append(f"tag {self.tag} object is {info.object_id}, manifest recorded {manifest['tag_object']}: the tag was moved or re-created")
        self.report.add("tag_object", problems, f"tag object {info.object_id} is the one recorded at release")
        if self.expected_commit:
            self.report.add("expected_commit",
                            [] if info.commit == self.expected_commit else [f"expected commit {self.expected_commit}, tag {self.tag} points at {info.commit}"],
                            f"tag {self.tag} points at the expected commit {info.commit}")


def _ids(images: list[dict]) -> str:
    return ", ".join(f"{image['id']} ({', '.join(image['repo_tags']) or 'no repo tag'})" for image in images) or "no image"


def _image_mismatch(relpath: str, recorded: list[dict], found: list[dict]) -> str:
    """Why the images read from ``relpath`` are not the ones the manifest records of it, or ''."""
    if recorded and not found:
        return f"{relpath}: the manifest records {_ids(recorded)}, but it is not a readable image archive"
    if not recorded and found:
        return f"{relpath}: the tarball holds {_ids(found)}, which the manifest does not record"
    if sorted(image["id"] for image in recorded) != sorted(image["id"] for image in found):
        return f"{relpath}: the tarball holds {_ids(found)}, the manifest records {_ids(recorded)}"
    tags = {image["id"]: sorted(image["repo_tags"]) for image in recorded}
    changed = [image for image in found if sorted(image["repo_tags"]) != tags[image["id"]]]
    if changed:
        return f"{relpath}: repo tags differ: the tarball holds {_ids(changed)}, the manifest records " + \
            _ids([image for image in recorded if image["id"] in {c["id"] for c in changed}])
    return ""


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _listing(images: list[dict], limit: int = 5) -> str:
    shown = "; ".join(f"{image['artifact']} {_ids([image])}" for image in images[:limit])
    return shown + (f"; and {len(images) - limit} more" if len(images) > limit else "")


def verify_release(release_dir: str, tag: str, repo: str, strict: bool = False, expected_commit: str | None = None,
                   allowed_signers: str | None = None, allow_extra: list[str] | None = None, workers: int = 0) -> Report:
    """Verify the release of ``tag`` in ``release_dir`` against ``repo``; never modifies anything.

    Raises ConductorError for unusable input (a bad tag name, no release directory, which names the
    tag instead when the repository has no such tag) before anything is read; every other problem is
    a failed check in the report.
    """
    started = time.monotonic()
    _names.validate_tag_name(tag)
    if expected_commit:
        expected_commit = _names.validate_object_id(expected_commit, "expected commit")
    if not os.path.isdir(release_dir):
        _git.resolve_tag(repo, tag)  # an unknown tag is the likelier mistake: name it, with the nearest ones
        raise ConductorError(f"release directory {release_dir} does not exist or is not a directory")
    verifier = _Verifier(os.path.realpath(release_dir), tag, repo, strict, expected_commit,
                         allowed_signers, list(allow_extra or []), workers)
    report = verifier.run()
    report.seconds = time.monotonic() - started
    return report
