# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An incident's evidence archive: files copied (never moved) and texts captured, with a SHA256SUMS and one digest.

The archive is written once. It is built in a directory beside its final place and renamed into it, so a run that dies
half-way leaves a ``.partial-`` directory, never an archive that looks whole. Each file is hashed as it is copied (one
read). The archive's digest is the sha256 of its SHA256SUMS, which lists every file's sha256: a changed, added or removed
file changes it. ``sha256sum -c SHA256SUMS`` inside the directory checks the files with standard tools.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write
from ansible_collections.maestro.conductor.plugins.module_utils._docker import Docker, validate_project
from ansible_collections.maestro.conductor.plugins.module_utils._names import check_relative_path

SUMS = "SHA256SUMS"
_CHUNK = 1 << 20
_MAX_CONTENT = 16 * 1024 * 1024


@dataclass
class Archive:
    path: str
    digest: str = ""
    files: list[dict] = field(default_factory=list)   # {"path", "sha256", "size"}, sorted by path
    created: bool = False
    skipped: list[str] = field(default_factory=list)  # what could not be archived, and why

    def as_dict(self) -> dict:
        return {"path": self.path, "digest": self.digest, "files": self.files, "created": self.created, "skipped": self.skipped}


def _dest(value: object) -> str:
    reason = check_relative_path(value) if isinstance(value, str) else "is not text"
    if not reason and any(ch in value for ch in "\n\r"):
        reason = "holds a line break, which SHA256SUMS cannot list"
    if reason or value == SUMS:
        raise ConductorError(f"archive entry name {value!r} is invalid ({reason or 'reserved'}): expected a relative path inside "
                             f"the archive, other than {SUMS}")
    return value


def _copy(src: str, dest: str) -> tuple[str, int]:
    """Copy a regular file (never through a link), hashing it on the way; the copy is made read-only."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ConductorError(f"{src} could not be archived: {'a symbolic link, not followed' if os.path.islink(src) else exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConductorError(f"{src} is not a regular file: not archived")
        digest, size = hashlib.sha256(), 0
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o440), "wb") as out:
            while chunk := os.read(fd, _CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        return digest.hexdigest(), size
    except OSError as exc:
        raise ConductorError(f"{src} could not be archived: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _write(dest: str, content: str) -> tuple[str, int]:
    data = content.encode("utf-8")
    if len(data) > _MAX_CONTENT:
        data = data[:_MAX_CONTENT]
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    atomic_write(dest, data, mode=0o440)
    return hashlib.sha256(data).hexdigest(), len(data)


def tree_entries(trees: list[dict]) -> list[dict]:
    """Every regular file below each tree's ``src`` as a file entry under its ``dest`` (links and special files are
    listed too, so that the copy names them as not archived)."""
    entries = []
    for tree in trees:
        root, prefix = str(tree.get("src") or ""), _dest(tree.get("dest"))
        if not os.path.isdir(root) or os.path.islink(root):
            raise ConductorError(f"{root} is not a directory: its files cannot be archived")
        for directory, dirs, names in os.walk(root):
            dirs.sort()
            # a linked directory is not followed: listed, so that the copy names it as not archived
            for name in sorted(names + [d for d in dirs if os.path.islink(os.path.join(directory, d))]):
                full = os.path.join(directory, name)
                entries.append({"src": full, "dest": os.path.join(prefix, os.path.relpath(full, root))})
    return entries


def capture_compose(host: str, projects: list[str], tail: int, docker: Docker | None = None) -> list[dict]:
    """Each compose project's containers (``ps --all``) and recent logs on this host, read in parallel, as archive texts.
    A read that fails is a text that says so: the evidence of a broken host is often exactly that."""
    docker = docker or Docker(timeout=30)
    safe_host = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in host)[:128] or "_"
    jobs = [(project, what, args) for project in map(validate_project, projects)
            for what, args in (("ps", ["ps", "--all", "--format", "json"]),
                               ("logs", ["logs", "--no-color", "--timestamps", "--tail", str(int(tail))]))]

    def read(job: tuple[str, str, list[str]]) -> dict:
        project, what, args = job
        try:
            done = docker.run(["compose", "--project-name", project, *args], check=False)
            text = (done.stdout + done.stderr).decode("utf-8", "replace")
            if done.returncode:
                text += f"\n[docker compose {what} exited {done.returncode}]"
        except ConductorError as exc:
            text = f"[not read: {exc}]"
        return {"dest": f"hosts/{safe_host}/{project}-{what}.txt", "content": text}

    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        return list(pool.map(read, jobs))


def _nameable(files: list[dict]) -> tuple[list[dict], list[str]]:
    """The files whose archive names are valid, and why each other one is not archived: a bad release must not be able to
    stop its own incident with a file name."""
    kept, skipped = [], []
    for entry in files:
        try:
            _dest(entry.get("dest"))
        except ConductorError as exc:
            skipped.append(f"{str(entry.get('src'))!r}: {exc}")
            continue
        kept.append(entry)
    return kept, skipped


def sums_text(files: list[dict]) -> str:
    return "".join(f"{entry['sha256']}  {entry['path']}\n" for entry in sorted(files, key=lambda e: e["path"]))


def digest_of(sums: str) -> str:
    return "sha256:" + hashlib.sha256(sums.encode("utf-8")).hexdigest()


def read(path: str) -> Archive:
    """An archive as it is on disk (its SHA256SUMS read, not re-hashed)."""
    with open(os.path.join(path, SUMS), encoding="utf-8") as handle:
        sums = handle.read()
    files = []
    for line in sums.splitlines():
        hexdigest, _sep, name = line.partition("  ")
        full = os.path.join(path, name)
        files.append({"path": name, "sha256": hexdigest, "size": os.path.getsize(full) if os.path.isfile(full) else -1})
    return Archive(path, digest_of(sums), files)


def build(path: str, files: list[dict], contents: list[dict], check_mode: bool = False, trees: list[dict] | None = None) -> Archive:
    """Archive ``files`` ({"src", "dest"}: copied) and ``contents`` ({"dest", "content"}: written) at ``path``, once.

    A source that is missing or no regular file is named in ``skipped``, not fatal: evidence is gathered during an
    incident, and what could not be had is itself evidence. An archive already at ``path`` is returned as it is.
    """
    path = os.path.abspath(path)
    if os.path.exists(os.path.join(path, SUMS)):
        return read(path)
    if os.path.exists(path):
        raise ConductorError(f"{path} exists but holds no {SUMS}: not an archive this procedure wrote; move it aside")
    result = Archive(path)
    files, result.skipped = _nameable([*files, *tree_entries(trees or [])])
    names = [entry["dest"] for entry in files] + [_dest(entry.get("dest")) for entry in contents]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConductorError(f"archive entries named twice: {', '.join(duplicates)}")
    if check_mode:
        result.files = [{"path": name, "sha256": "", "size": -1} for name in sorted(names)]
        return result
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.partial-", dir=parent)
    try:
        def copy(entry: dict) -> dict | str:
            src = str(entry.get("src") or "")
            try:
                hexdigest, size = _copy(src, os.path.join(work, entry["dest"]))
            except ConductorError as exc:
                return f"{entry['dest']}: {exc}"
            return {"path": entry["dest"], "sha256": hexdigest, "size": size}

        with ThreadPoolExecutor(max_workers=min(4, max(1, len(files)))) as pool:
            copied = list(pool.map(copy, files))
        for entry in contents:
            hexdigest, size = _write(os.path.join(work, entry["dest"]), str(entry.get("content") or ""))
            copied.append({"path": entry["dest"], "sha256": hexdigest, "size": size})
        result.files = sorted((c for c in copied if isinstance(c, dict)), key=lambda e: e["path"])
        result.skipped += [c for c in copied if isinstance(c, str)]
        sums = sums_text(result.files)
        atomic_write(os.path.join(work, SUMS), sums.encode("utf-8"), mode=0o440)
        os.chmod(work, 0o750)
        os.rename(work, path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    result.digest, result.created = digest_of(sums), True
    return result


def verify(path: str, digest: str = "") -> list[str]:
    """What is wrong with an archive on disk ([] when every file hashes as listed, none is extra, and the digest holds)."""
    problems = []
    archive = read(path)
    if digest and archive.digest != digest:
        problems.append(f"{path}: digest is {archive.digest}, the record says {digest}")
    listed = {entry["path"] for entry in archive.files}
    for entry in archive.files:
        full = os.path.join(path, entry["path"])
        try:
            with open(full, "rb") as handle:
                actual = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as exc:
            problems.append(f"{entry['path']}: {exc.strerror}")
            continue
        if actual != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 is {actual}, {SUMS} says {entry['sha256']}")
    for root, _dirs, names in os.walk(path):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), path)
            if rel != SUMS and rel not in listed:
                problems.append(f"{rel}: in the archive but not in {SUMS}")
    return problems
