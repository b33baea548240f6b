# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The images an image archive holds (``docker save``, OCI layout), read in the same pass that hashes it.

One sequential read gives both the sha256 of the whole file and its image index, so the ids a
release records are those of the very bytes it attests. Layouts:

- docker's legacy layout (dockerd before 25): ``manifest.json`` is ``[{"Config": "<hex>.json", "RepoTags": [...]}]``;
  the config's sha256, its file name, is the image id. Docker 25+ names it ``blobs/sha256/<hex>``.
- the OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/<hex>``): each manifest's
  ``config.digest`` is the image id; an entry that is an image index is followed one level.

When both are present (docker 25+ writes both) they must list the same ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import tarfile
import zlib
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._hashing import open_regular, sha256_file

_CHUNK = 4 * 1024 * 1024
_MAX_JSON = 4 * 1024 * 1024  # a manifest, index or config; layers are far larger or not JSON
_MAX_KEPT = 64 * 1024 * 1024  # all JSON members together: bounds the memory a hostile archive can take
_SNIFF = 64 * 1024

IMAGE_ID_RE = re.compile(r"sha256:[0-9a-f]{64}")
_HEX = r"[0-9a-f]{64}"
_CONFIG_RE = re.compile(rf"(?:({_HEX})\.json|blobs/sha256/({_HEX}))")
_BLOB_RE = re.compile(rf"blobs/sha256/{_HEX}")
_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
_NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_DOCKER_HUB = ("docker.io", "index.docker.io")

# A tagged reference as docker prints it: optional registry host[:port], lowercase path components, a tag.
# Written for Python's re and ECMA-262 alike: the release schema uses it too.
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?/)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*:[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
REPO_TAG_PATTERN = f"^{_HOST}{_PATH}(?![\\s\\S])"  # "$" would also match before a final newline
REPO_TAG_MAX = 255
_HOST_RE = re.compile(_HOST)
_PATH_RE = re.compile(_PATH)


@dataclass
class ImageRecord:
    """One image of an archive: its id (the config digest) and its repo tags in docker's familiar form."""

    id: str
    repo_tags: list[str]

    def as_dict(self) -> dict:
        return {"id": self.id, "repo_tags": list(self.repo_tags)}


class ImageArchiveError(ConductorError):
    """An archive that looks like an image archive but is not a consistent one; ``sha256`` is the whole file's."""

    def __init__(self, message: str, sha256: str):
        super().__init__(message)
        self.sha256 = sha256


class _Invalid(Exception):
    """A problem inside the archive; hash_and_index names the archive and adds the file's digest."""


class _HashingReader:
    """Reads a file front to back and hashes every byte that passes; refuses to go back.

    tarfile in seekable mode ("r:") reads headers and skips member data with forward seeks: a skip here
    is a hashed read into one reused buffer, so a large layer costs what plain hashing costs.
    """

    def __init__(self, handle: io.FileIO):
        self._handle = handle
        self._digest = hashlib.sha256()
        self._position = 0
        self._buffer = bytearray(_CHUNK)

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._digest.update(data)
        self._position += len(data)
        return data

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0 or offset < self._position:
            raise OSError(f"the archive is read in one pass: cannot seek back from byte {self._position} to {offset}")
        self._consume(offset - self._position)
        return self._position

    def drain(self) -> None:
        """Hash the rest of the file (end-of-archive padding, a gzip trailer): the digest is of the whole file."""
        self._consume(None)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    def _consume(self, count: int | None) -> None:
        view = memoryview(self._buffer)
        while count is None or count > 0:
            read = self._handle.readinto(view if count is None else view[:min(count, _CHUNK)])
            if not read:
                return
            self._digest.update(view[:read])
            self._position += read
            if count is not None:
                count -= read


def archive_kind(path: str) -> str:
    """'tar', 'gzip' (a gzip-compressed tar) or '' for anything else, from the first bytes only."""
    with open_regular(path) as handle:
        head = handle.read(_SNIFF)
    if head[257:262] == b"ustar":
        return "tar"
    if head[:2] == b"\x1f\x8b":
        try:
            start = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 512)
        except zlib.error:
            return ""
        if start[257:262] == b"ustar":
            return "gzip"
    return ""


def hash_and_index(path: str) -> tuple[str, list[ImageRecord]]:
    """The hex sha256 of the whole file and the images it holds, in one read; no images when it is no image archive.

    Raises ImageArchiveError (carrying the digest) for a tar that is unreadable or whose image index is inconsistent.
    """
    kind = archive_kind(path)
    if not kind:
        return sha256_file(path), []
    with open_regular(path, buffering=0) as handle:
        reader = _HashingReader(handle)
        try:
            members = _read_members(reader, kind)
        except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error) as exc:
            problem = f"not a readable tar archive: {exc}"
        except _Invalid as exc:
            problem = str(exc)
        else:
            problem = ""
        reader.drain()
    if problem:
        raise ImageArchiveError(f"image archive {path}: {problem}", reader.hexdigest())
    try:
        return reader.hexdigest(), _resolve(members)
    except (_Invalid, ValueError, RecursionError) as exc:
        raise ImageArchiveError(f"image archive {path}: {exc}", reader.hexdigest()) from exc


def normalize_repo_tag(reference: object) -> str | None:
    """``docker.io/library/busybox:1`` -> ``busybox:1``; None for anything that is not a tagged name."""
    if not isinstance(reference, str) or len(reference) > REPO_TAG_MAX:
        return None
    first, _sep, rest = reference.partition("/")
    domain, path = (first, rest) if rest and ("." in first or ":" in first or first == "localhost") else ("", reference)
    if domain in _DOCKER_HUB:
        domain = ""
    if not domain and path.startswith("library/") and path.count("/") == 1:
        path = path[len("library/"):]
    # a digest, a bare name, or only a tag (as plain OCI tools write ref.name) does not match
    if not _PATH_RE.fullmatch(path) or (domain and not _HOST_RE.fullmatch(domain + "/")):
        return None
    return f"{domain}/{path}" if domain else path


def _member_name(name: str) -> str:
    """A member's name as docker reads it (it cleans the path: ``x/../manifest.json`` is ``manifest.json``), refused
    when it is absolute or climbs out: what we index must be what ``docker load`` would."""
    clean = posixpath.normpath(name) if name else name
    if name.startswith("/") or clean == ".." or clean.startswith("../"):
        raise _Invalid(f"member {name!r} is absolute or outside the archive")
    return "" if clean == "." else clean


def _wanted(name: str) -> bool:
    return name in ("manifest.json", "index.json", "oci-layout") or bool(_CONFIG_RE.fullmatch(name))


@dataclass
class _Members:
    """What one pass kept of an archive: small JSON members by name, and the name of every member that matters."""

    kept: dict[str, bytes] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)

    def json(self, name: str, what: str):
        try:
            return json.loads(self.kept[name].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Invalid(f"{what} {name} is not valid JSON: {exc}") from exc

    def checked(self, name: str, hexdigest: str, what: str):
        """A manifest or config member, present, small enough and hashing to its name, parsed."""
        if name not in self.present:
            raise _Invalid(f"{what} {name} is missing")
        if name not in self.kept:
            raise _Invalid(f"{what} {name} is not a JSON document of at most {_MAX_JSON} bytes")
        actual = hashlib.sha256(self.kept[name]).hexdigest()
        if actual != hexdigest:
            raise _Invalid(f"{what} {name} does not hash to its name: its sha256 is {actual}")
        return self.json(name, what)

    def blob(self, digest: str, what: str):
        return self.checked(_blob_name(digest), digest[len("sha256:"):], what)


def _read_members(reader: _HashingReader, kind: str) -> _Members:
    """The small JSON members that can make up an image index, and the names of every blob and config present."""
    members = _Members()
    budget = _MAX_KEPT
    with tarfile.open(fileobj=reader, mode="r:gz" if kind == "gzip" else "r:") as tar:
        for member in tar:
            name = _member_name(member.name)
            if not _wanted(name):
                continue
            if not member.isreg():
                raise _Invalid(f"{name} is not a regular file")
            if name in members.present:
                raise _Invalid(f"{name} appears twice")
            members.present.add(name)
            if member.size > _MAX_JSON and name in ("manifest.json", "index.json", "oci-layout"):
                raise _Invalid(f"{name} is {member.size} bytes: an image index is at most {_MAX_JSON} bytes")
            if member.size > _MAX_JSON:
                continue  # a layer blob; a config or index this large is reported when it is looked up
            data = tar.extractfile(member).read()
            if _BLOB_RE.fullmatch(name) and not data.lstrip()[:1] == b"{":
                continue  # a small layer, not a manifest or config
            budget -= len(data)
            if budget < 0:
                raise _Invalid(f"its JSON members exceed {_MAX_KEPT // (1024 * 1024)} MiB together")
            members.kept[name] = data
    return members


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{digest[len('sha256:'):]}"


def _resolve(members: _Members) -> list[ImageRecord]:
    legacy = _legacy_images(members)
    oci = _oci_images(members)
    if legacy is not None and oci is not None and set(legacy) != set(oci):
        raise _Invalid(f"manifest.json lists {_ids(legacy)} but index.json lists {_ids(oci)}")
    merged: dict[str, set[str]] = {}
    for found in (legacy or {}, oci or {}):
        for image_id, tags in found.items():
            merged.setdefault(image_id, set()).update(tags)
    return [ImageRecord(image_id, sorted(tags)) for image_id, tags in sorted(merged.items())]


def _ids(images: dict[str, set[str]]) -> str:
    return ", ".join(sorted(images)) or "no image"


def _legacy_images(members: _Members) -> dict[str, set[str]] | None:
    if "manifest.json" not in members.kept:
        return None
    entries = members.json("manifest.json", "image manifest")
    if not isinstance(entries, list):
        return None  # a web app's manifest.json (an object), not docker's: this tar is no image archive
    images: dict[str, set[str]] = {}
    for number, entry in enumerate(entries, 1):
        config = entry.get("Config") if isinstance(entry, dict) else None
        match = _CONFIG_RE.fullmatch(posixpath.normpath(config)) if isinstance(config, str) and config else None
        if not match:
            raise _Invalid(f"manifest.json entry {number}: Config is {config!r}, expected <64 hex>.json or blobs/sha256/<64 hex>")
        hexdigest = match.group(1) or match.group(2)
        members.checked(posixpath.normpath(config), hexdigest, "config")
        tags = entry.get("RepoTags") or []
        if not isinstance(tags, list):
            raise _Invalid(f"manifest.json entry {number}: RepoTags is {tags!r}, expected a list of name:tag")
        images.setdefault(f"sha256:{hexdigest}", set()).update(_repo_tag(tag, number) for tag in tags)
    return images


def _repo_tag(tag: object, number: int) -> str:
    normal = normalize_repo_tag(tag)
    if normal is None:
        raise _Invalid(f"manifest.json entry {number}: repo tag {tag!r} is not a docker reference name:tag")
    return normal


def _digest(value: object, where: str) -> str:
    if not isinstance(value, str) or not IMAGE_ID_RE.fullmatch(value):
        raise _Invalid(f"{where}: digest {value!r} is not sha256:<64 hex>")
    return value


def _oci_images(members: _Members) -> dict[str, set[str]] | None:
    # index.json without oci-layout is some other program's file (a web app's index), not an image layout
    if "index.json" not in members.kept or "oci-layout" not in members.present:
        return None
    index = members.json("index.json", "image index")
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        raise _Invalid("index.json has no manifests list")
    images: dict[str, set[str]] = {}
    for number, entry in enumerate(entries, 1):
        where = f"index.json manifest {number}"
        if not isinstance(entry, dict):
            raise _Invalid(f"{where} is not an object")
        digest = _digest(entry.get("digest"), where)
        tags = _annotated_tags(entry)
        for image_id in _manifest_ids(members, entry, members.blob(digest, "manifest"), digest):
            images.setdefault(image_id, set()).update(tags)
    return images


def _annotations(entry: dict) -> dict:
    return entry["annotations"] if isinstance(entry.get("annotations"), dict) else {}


def _annotated_tags(entry: dict) -> set[str]:
    # io.containerd.image.name is a full reference; org.opencontainers.image.ref.name is one in docker 25+
    # output but often only a tag ("v1") from plain OCI tools, which names no repository: only the
    # annotations that normalize to a full name:tag are kept.
    return {tag for key in _NAME_ANNOTATIONS if (tag := normalize_repo_tag(_annotations(entry).get(key)))}


def _manifest_ids(members: _Members, entry: dict, document, digest: str) -> list[str]:
    if not isinstance(document, dict):
        raise _Invalid(f"manifest {digest} is not a JSON object")
    if entry.get("mediaType") not in _INDEX_TYPES and "manifests" not in document:
        return [_config_id(members, document, digest)]
    subs = document.get("manifests")
    if not isinstance(subs, list):
        raise _Invalid(f"image index {digest} has no manifests list")
    ids = []
    for number, sub in enumerate(subs, 1):
        where = f"image index {digest} manifest {number}"
        if not isinstance(sub, dict):
            raise _Invalid(f"{where} is not an object")
        sub_digest = _digest(sub.get("digest"), where)
        # attestations (buildx provenance) are no image; a partial multi-platform export lacks other platforms' blobs
        if _annotations(sub).get("vnd.docker.reference.type") == "attestation-manifest" or \
                _blob_name(sub_digest) not in members.present:
            continue
        sub_document = members.blob(sub_digest, "manifest")
        if not isinstance(sub_document, dict) or "manifests" in sub_document:
            raise _Invalid(f"{where} is not an image manifest (indexes are followed one level)")
        ids.append(_config_id(members, sub_document, sub_digest))
    if not ids:
        raise _Invalid(f"image index {digest}: none of its image manifests is in the archive")
    return ids


def _config_id(members: _Members, manifest: dict, digest: str) -> str:
    config = manifest.get("config")
    config_digest = _digest(config.get("digest") if isinstance(config, dict) else None, f"manifest {digest} config")
    members.blob(config_digest, "config")
    return config_digest
