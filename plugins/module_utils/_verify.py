# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release verification: one read-only pass over a release directory and its tag.

Every check lands in the report, passed, failed or warned, so an operator sees the
whole picture at once; the release is good only when every check passed or warned.
A warning is what the caller chose not to check (no signature check without allowed
signers): it never shows as a pass.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import stat
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from ansible_collections.maestro.conductor.plugins.module_utils import _dsse, _git, _hashing, _image_archive, _names, _signing
from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # not checked, by the caller's choice: ok for the verdict, never shown as a pass


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
    # the release documents as read and schema-checked (manifest, evidence, attestation), for a caller that needs them
    # again (the weekly validation); not part of the result
    documents: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    @property
    def warned(self) -> list[Check]:
        return [check for check in self.checks if check.warning]

    def add(self, name: str, problems: list[str], passed: str) -> bool:
        self.checks.append(Check(name, not problems, "; ".join(problems) if problems else passed))
        return not problems

    def warn(self, name: str, detail: str) -> None:
        self.checks.append(Check(name, True, detail, warning=True))

    def fail(self, name: str, problem: str) -> None:
        """Fail check ``name`` with ``problem``: the check already reported, or a new one."""
        check = next((c for c in self.checks if c.name == name), None)
        if check is None:
            self.add(name, [problem], "")
        else:
            check.detail = f"{check.detail}; {problem}" if not check.ok else problem
            check.ok, check.warning = False, False

    def as_dict(self) -> dict:
        result = asdict(self)
        del result["documents"]
        result.update(ok=self.ok, failed_checks=[check.name for check in self.failed], warned_checks=[check.name for check in self.warned],
                      seconds=round(self.seconds, 3))
        return result

    def summary(self) -> list[str]:
        """One line a check, for a terminal at 3 a.m."""
        mode = "strict" if self.strict else "standard"
        verdict = "FAILED" if not self.ok else f"VERIFIED with {_count(len(self.warned), 'warning')}" if self.warned else "VERIFIED"
        lines = [f"release {self.tag} ({mode}): {verdict} in {self.seconds:.2f}s"]
        lines += [f"  {'FAIL' if not c.ok else 'WARN' if c.warning else 'PASS'} {c.name}: {c.detail}" for c in self.checks]
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
    except OSError as exc:  # removed, replaced by a directory or made unreadable since it was listed
        return _Read("", [], f"{path} could not be read: {exc.strerror or exc}")
    except Exception as exc:  # an unreadable file or a reader bug fails the check that needs it, never the whole report
        return _Read("", [], f"{path} could not be read: {exc}")


def _guarded(name: str):
    """Decorate a step so that an unexpected error (a file removed or replaced while being read, a permission, a bug)
    fails its check, naming the file, instead of ending the report with a traceback."""
    def decorate(step):
        @functools.wraps(step)
        def guarded(self, *args, **kwargs):
            try:
                return step(self, *args, **kwargs)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                self.report.fail(name, self.describe(exc))
                return None
        return guarded
    return decorate


class _Verifier:
    def __init__(self, release_dir: str, tag: str, repo: str, strict: bool, expected_commit: str | None,
                 allowed_signers: str | None, allow_extra: list[str], workers: int, allow_unsigned: bool = False):
        self.dir = release_dir
        self.tag = tag
        self.repo = repo
        self.expected_commit = expected_commit
        self.allowed_signers = allowed_signers
        self.allow_unsigned = allow_unsigned
        self.allow_extra = [pattern.split("/") for pattern in allow_extra]
        self.workers = workers
        self.report = Report(tag=tag, release_dir=release_dir, strict=strict)
        self.names = dict(zip(("manifest", "evidence", "attestation", "signature"), fmt.release_file_names(tag)))
        self.docs: dict[str, tuple[dict, bytes]] = {}
        self.reads: dict[str, _Read] = {}

    def run(self) -> Report:
        self._files_present()
        manifest = self._load("manifest", fmt.load_manifest, self._manifest_consistent)
        self._load("evidence", fmt.load_evidence, self._evidence_consistent)
        self._verdicts()
        self._load("attestation", functools.partial(fmt.load_document, schema=fmt.ATTESTATION_SCHEMA),
                   self._attestation_consistent)
        self._envelope()
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

    def relative(self, path: str) -> str:
        """``path`` as the report names it: relative to the release directory when inside it."""
        path = os.fsdecode(path)
        return os.path.relpath(path, self.dir).replace(os.sep, "/") if path.startswith(self.dir + os.sep) else path

    def describe(self, exc: BaseException) -> str:
        if isinstance(exc, OSError) and exc.filename:
            return f"{self.relative(exc.filename)} could not be read: {exc.strerror or exc}"
        return f"not checked: {type(exc).__name__}: {str(exc).replace(self.dir + os.sep, '')}"

    @_guarded("files_present")
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
        except Exception as exc:  # pylint: disable=broad-exception-caught  # e.g. unreadable, or replaced by a directory
            self.report.add(key, [self.describe(exc)], "")
            return None
        self.docs[key] = (document, raw)
        self.report.documents[key] = document
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
        provenance = evidence["provenance"]
        return problems + self._against_manifest("evidence", [
            ("commit", "commit", evidence["commit"]),
            ("provenance commit", "commit", provenance["commit"]),
            ("provenance repository", "repository", provenance["repository"]),
        ])

    @_guarded("evidence_verdicts")
    def _verdicts(self) -> None:
        """The pre-release checks the evidence records: a release whose own evidence says a check did not pass is not good."""
        if "evidence" not in self.docs:
            self.report.add("evidence_verdicts", ["not checked: the evidence could not be read"], "")
            return
        checks = self.docs["evidence"][0]["checks"]
        if not checks:
            self.report.warn("evidence_verdicts", "the evidence records no pre-release check")
            return
        problems = [f"check {check['name']!r} recorded {check['result']!r}, not 'pass'"
                    + (f": {check['detail'][:200]}" if check.get("detail") else "")
                    for check in checks if check["result"] != "pass"]
        self.report.add("evidence_verdicts", problems, f"{_count(len(checks), 'pre-release check')} recorded, every one passed: "
                        + ", ".join(check["name"] for check in checks[:10]) + (", ..." if len(checks) > 10 else ""))

    def _attestation_consistent(self, attestation: dict) -> list[str]:
        predicate = attestation["predicate"]
        problems = [] if predicate["tag"] == self.tag else [f"attestation is for tag {predicate['tag']}, not {self.tag}"]
        return problems + self._against_manifest("attestation", [
            ("commit", "commit", predicate["commit"]),
            ("tag object", "tag_object", predicate["tag_object"]),
            ("repository", "repository", predicate["repository"]),
        ])

    @_guarded("artifacts")
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
            try:
                size = os.stat(full).st_size
            except OSError as exc:  # removed or replaced since file_problem looked
                problems.append(f"artifact {self.describe(exc)}")
                continue
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

    @_guarded("images")
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

    @_guarded("unexpected_files")
    def _unexpected_files(self, manifest: dict) -> None:
        """Everything under the release directory is a regular file with one link that the manifest lists (or
        allow_extra allows). Links and special files are refused wherever they are, listed or not: another name
        could change what was hashed, and a link can point anywhere."""
        known = {entry["path"] for entry in manifest["artifacts"]} | set(self.names.values())
        problems: list[str] = []

        def unlistable(exc: OSError) -> None:
            problems.append(f"{self.relative(exc.filename)}/ could not be listed ({exc.strerror or exc}): its files were not checked")

        for root, dirs, files in os.walk(self.dir, onerror=unlistable):
            dirs.sort()
            here = self.relative(root) if root != self.dir else ""
            if here and not dirs and not files and not self._allowed(here):
                problems.append(f"{here}/ is an empty directory, which no manifest can list")
            for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                relpath = f"{here}/{name}" if here else name
                problem = self._entry_problem(os.path.join(root, name), relpath, known)
                if problem:
                    problems.append(problem)
        shown = problems[:20] + ([f"and {len(problems) - 20} more"] if len(problems) > 20 else [])
        self.report.add("unexpected_files", shown, "every file is a regular file with one link, listed in the manifest"
                        + (" or allowed by allow_extra" if self.allow_extra else ""))

    def _entry_problem(self, full: str, relpath: str, known: set[str]) -> str:
        try:
            info = os.lstat(full)
        except OSError as exc:
            return self.describe(exc)
        if stat.S_ISLNK(info.st_mode):
            return f"{relpath} is a symbolic link{_link_target(full)}: a release holds regular files only"
        if not stat.S_ISREG(info.st_mode):
            return f"{relpath} is a {_file_kind(info.st_mode)}, not a regular file"
        if info.st_nlink > 1:
            return f"{relpath} has {info.st_nlink} hard links: a release file must have one, so no other name can change it"
        if relpath not in known and not self._allowed(relpath):
            return f"{relpath} is not listed in the manifest"
        return ""

    def _allowed(self, relpath: str) -> bool:
        """Whether an allow_extra pattern matches ``relpath``, component by component: '*' never crosses '/'."""
        parts = relpath.split("/")
        return any(len(pattern) == len(parts) and all(map(fnmatch.fnmatchcase, parts, pattern)) for pattern in self.allow_extra)

    @_guarded("attestation_subjects")
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

    @_guarded("signature")
    def _signature(self) -> None:
        if not self.allowed_signers:
            present = " (a signature is present, unchecked)" if os.path.lexists(os.path.join(self.dir, self.names["signature"])) else ""
            if self.report.strict and not self.allow_unsigned:
                self.report.add("signature", [f"strict verification requires allowed_signers, and none was given{present}: "
                                              "give the keys the release must be signed by (or set allow_unsigned to accept it unchecked)"], "")
            else:
                self.report.warn("signature", f"not checked: {'allow_unsigned is set' if self.report.strict else 'no allowed_signers given'}{present}")
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

    @_guarded("envelope")
    def _envelope(self) -> None:
        """The DSSE envelope, the attestation as in-toto tools take it: signed by an allowed key, saying what the JSON-LD says."""
        name = self.names.setdefault("envelope", fmt.envelope_name(self.tag))  # a release file: registered before unexpected_files
        path = os.path.join(self.dir, name)
        if not os.path.lexists(path):
            version = self.docs.get("manifest", ({}, b""))[0].get("format_version")
            sig_present = os.path.lexists(os.path.join(self.dir, self.names["signature"]))
            if version is not None and version < fmt.ENVELOPE_FORMAT:
                self.report.add("envelope", [], f"none: format {version} releases carry none")
            elif self.allowed_signers or (self.report.strict and sig_present):
                release = f"a signed format {version} release" if version is not None else "a signed release"
                self.report.add("envelope", [f"{name} is missing: {release} carries its Statement as a DSSE envelope"], "")
            elif sig_present:
                self.report.warn("envelope", f"not checked: {name} is missing, which only strict verification or allowed_signers requires")
            else:
                self.report.add("envelope", [], "none: the release is unsigned")
            return
        problem = fmt.file_problem(self.dir, name)
        opened = _dsse.open_envelope(path, name, self.allowed_signers, fmt.SIGNATURE_NAMESPACE) if not problem else _dsse.Opened()
        problems = [problem] if problem else opened.problems
        if opened.statement is not None:
            if "attestation" in self.docs:
                expected = fmt.plain_statement(self.docs["attestation"][0])
                problems += _dsse.statement_differences(opened.statement, expected, name, self.names["attestation"])
            else:
                problems.append(f"not compared: {self.names['attestation']} could not be read")
        if problems or opened.principal:
            self.report.add("envelope", problems, f"{name} holds the attestation's Statement, signed by {opened.principal}")
        else:
            self.report.warn("envelope", f"{name} holds the attestation's Statement; its signature is not checked: no allowed_signers given")

    @_guarded("tag_commit")
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
        self.report.documents["tag"] = info
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


def _link_target(path: str) -> str:
    try:
        return f" (to {os.readlink(path)})"
    except OSError:
        return ""


def _file_kind(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"),
             (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")]
    return next((kind for test, kind in kinds if test(mode)), "special file")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _listing(images: list[dict], limit: int = 5) -> str:
    shown = "; ".join(f"{image['artifact']} {_ids([image])}" for image in images[:limit])
    return shown + (f"; and {len(images) - limit} more" if len(images) > limit else "")


def verify_release(release_dir: str, tag: str, repo: str, strict: bool = False, expected_commit: str | None = None,
                   allowed_signers: str | None = None, allow_extra: list[str] | None = None, workers: int = 0,
                   allow_unsigned: bool = False) -> Report:
    """Verify the release of ``tag`` in ``release_dir`` against ``repo``; never modifies anything.

    Strict verification checks the signature: without ``allowed_signers`` it fails, unless ``allow_unsigned``
    is set, and then the unchecked signature is a warning in the report. ``allow_extra`` holds glob patterns
    matched one path component at a time.

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
                         allowed_signers, list(allow_extra or []), workers, allow_unsigned)
    try:
        report = verifier.run()
    except Exception as exc:  # pylint: disable=broad-exception-caught  # a step without a guard of its own: still a verdict
        report = verifier.report
        report.fail("verification", verifier.describe(exc))
    report.seconds = time.monotonic() - started
    return report
