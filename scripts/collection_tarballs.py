"""Collection tarballs rebuilt from the copies the `ansible` package bundles, for offline installs.

Ansible Galaxy cannot be reached from these machines, so `ansible-galaxy collection install NAME` fails. The `ansible`
package on PyPI ships the collections this one depends on, but not quite as their tarballs hold them: its FILES.json lists
files the package leaves out. This writes, for each collection named (and every collection it depends on), a tarball
whose FILES.json lists only the files present (each checked against the digest FILES.json gives it) and whose MANIFEST.json
carries that FILES.json's new digest, which `ansible-galaxy collection install --offline` accepts.

    python scripts/collection_tarballs.py [--unversioned] DEST community.docker community.general ...

--unversioned names them NAMESPACE-NAME.tar.gz (the execution environment's requirements name them so); the version is
in each tarball's MANIFEST.json either way.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import tarfile
from pathlib import Path, PurePosixPath

import ansible_collections


def bundled(namespace: str, collection: str) -> Path:
    """Where the `ansible` package installed collection namespace.collection (the first copy on the path with a manifest)."""
    for root in ansible_collections.__path__:
        if (Path(root) / namespace / collection / "MANIFEST.json").is_file():
            return Path(root) / namespace / collection
    raise SystemExit(f"{namespace}.{collection} is not installed with a MANIFEST.json: install the pinned `ansible` package (make setup)")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")
_VERSION = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?")


def _inside(name: str) -> str:
    """A FILES.json entry, refused unless it is a plain relative path inside the collection."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
        raise SystemExit(f"FILES.json lists {name!r}: expected a relative path inside the collection")
    return name


def rebuild(name: str, dest: Path, versioned: bool = True) -> tuple[Path, dict]:
    """The tarball of collection ``name`` (namespace.name) from the bundle, in ``dest``; and its dependencies."""
    parts = name.split(".")
    if len(parts) != 2 or not all(_NAME.fullmatch(part) for part in parts):
        raise SystemExit(f"collection {name!r}: expected namespace.name (lower-case letters, digits, '_')")
    namespace, collection = parts
    root = bundled(namespace, collection)
    manifest = json.loads((root / "MANIFEST.json").read_text())
    raw_files = (root / "FILES.json").read_bytes()
    # FILES.json is what every file is checked against: first itself, against the digest MANIFEST.json gives it (both come
    # from the same package, so this finds a bundle edited by hand or damaged, not one forged whole)
    if _digest(raw_files) != manifest["file_manifest_file"]["chksum_sha256"]:
        raise SystemExit(f"{name}: FILES.json differs from the digest MANIFEST.json gives it: the bundle was edited or damaged")
    files = json.loads(raw_files)
    if not _VERSION.fullmatch(str(manifest["collection_info"]["version"])):
        raise SystemExit(f"{name}: version {manifest['collection_info']['version']!r} is not a collection version")
    kept = []
    for entry in files["files"]:
        path = root / _inside(entry["name"])
        # a link could pull a file from outside the collection into the tarball under a name FILES.json vouches for
        if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
            raise SystemExit(f"{name}: {entry['name']} is a link or leads outside the collection: refused")
        if entry["ftype"] == "dir":
            if path.is_dir():
                kept.append(entry)
        elif path.is_file():
            if _digest(path.read_bytes()) != entry["chksum_sha256"]:
                raise SystemExit(f"{name}: {entry['name']} differs from the digest its FILES.json gives: the bundle was edited or damaged")
            kept.append(entry)
    files_json = json.dumps({**files, "files": kept}, indent=2).encode()
    manifest["file_manifest_file"]["chksum_sha256"] = _digest(files_json)
    info = manifest["collection_info"]
    tarball = dest / (f"{namespace}-{collection}-{info['version']}.tar.gz" if versioned else f"{namespace}-{collection}.tar.gz")
    with tarfile.open(tarball, "w:gz") as tar:
        _add(tar, "MANIFEST.json", json.dumps(manifest, indent=2).encode())
        _add(tar, "FILES.json", files_json)
        for entry in kept:
            if entry["ftype"] == "dir":
                directory = tarfile.TarInfo(entry["name"])
                directory.type, directory.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(directory)
            else:
                path = root / entry["name"]
                _add(tar, entry["name"], path.read_bytes(), 0o755 if path.stat().st_mode & 0o111 else 0o644)
    return tarball, info.get("dependencies") or {}


def rebuild_with_dependencies(names: list[str], dest: Path, versioned: bool = True) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    done: dict[str, Path] = {}
    pending = list(names)
    while pending:
        name = pending.pop(0)
        if name in done:
            continue
        done[name], dependencies = rebuild(name, dest, versioned)
        pending += [dependency for dependency in dependencies if dependency not in done]
    return list(done.values())


if __name__ == "__main__":
    arguments = sys.argv[1:]
    unversioned = "--unversioned" in arguments
    arguments = [a for a in arguments if a != "--unversioned"]
    if len(arguments) < 2:
        raise SystemExit(__doc__)
    for built in rebuild_with_dependencies(arguments[1:], Path(arguments[0]), versioned=not unversioned):
        print(built)
