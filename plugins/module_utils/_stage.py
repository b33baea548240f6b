# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One colour of a release on one app host, provably the verified release.

What proves it, in order:
1. The release's files are copied into a per-host cache that only root can reach, then every
   file is hashed there, in one pass, against the verified manifest's sha256. A file that is a
   symlink, a hard link or of the wrong digest is refused and set aside.
2. The compose file is read once; those bytes are hashed and those same bytes are given to compose
   on stdin, so a file changed after the check cannot be the one compose reads.
3. The engine holds each image the release records, by image id (a content address): loaded from
   the checked tarball when absent, never pulled; each of the image's names is pointed at that id,
   so a same-named local image is not what compose starts.
4. After compose, every container of the colour runs exactly a recorded image id, is running and
   healthy, and the service answers health and reports the tag's commit (a second witness only).
A running colour is reused as it runs only when its containers already pass 4 and are the very containers this
module started from the same checked compose bytes and variables (their ids, recorded root-only beside the cache);
otherwise every container is created afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import time
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils import _http
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write, size_problem
from ansible_collections.maestro.conductor.plugins.module_utils._docker import Container, Docker, validate_env, validate_project
from ansible_collections.maestro.conductor.plugins.module_utils._image_archive import IMAGE_ID_RE
from ansible_collections.maestro.conductor.plugins.module_utils._names import check_relative_path, validate_object_id, validate_tag_name

COLOURS = ("blue", "green")
MAX_COMPOSE_BYTES = 4 * 1024 * 1024
_CHUNK = 4 * 1024 * 1024
_REJECTED = ".rejected"
CACHE_CHECKS = ("digests", "sizes")


@dataclass
class StageRequest:
    environment: str
    colour: str
    tag: str
    commit: str
    artifacts: list[dict]
    images: list[dict]
    cache_root: str
    port: int
    compose_file: str = "compose.yaml"
    compose_env: dict = field(default_factory=dict)
    incoming: dict = field(default_factory=dict)
    probe_address: str = "127.0.0.1"
    health_path: str = "/healthz"
    version_path: str = "/version"
    timeout: float = 60.0
    reuse: bool = True
    # "sizes": only with prove_only (the watch's frequent check of a serving colour): the compose file is hashed (its bytes
    # are compared with what runs), every other file is checked by size; what runs is proven by the containers' image ids
    cache_check: str = "digests"

    @property
    def project(self) -> str:
        return f"{self.environment}-{self.colour}".lower()

    @property
    def release_dir(self) -> str:
        # one cache an environment: another environment's run never changes the files this one checked
        return os.path.join(self.cache_root, self.environment, self.tag)

    @property
    def env(self) -> dict:
        return {**self.compose_env, "TAG": self.tag, "PORT": str(self.port), "COLOUR": self.colour}


@dataclass
class StageResult:
    project: str
    cache_root: str = ""
    missing: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    named: list[str] = field(default_factory=list)
    started: bool = False
    reused: bool = False
    stopped: bool = False
    containers: list[dict] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    health: str = ""
    version: str = ""
    steps: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.copied or self.removed or self.loaded or self.named or self.started or self.stopped)


class StageError(ConductorError):
    """A failed stage, with what was done before it failed (so a caller knows what it started and stopped)."""

    def __init__(self, message: str, result: StageResult):
        super().__init__(message)
        self.result = result


def validate_request(request: StageRequest) -> None:
    validate_tag_name(request.tag)
    validate_object_id(request.commit, "commit")
    validate_project(request.project)
    validate_env(request.env)
    if request.colour not in COLOURS:
        raise ConductorError(f"colour {request.colour!r} is invalid: expected blue or green")
    if not isinstance(request.port, int) or not 0 < request.port < 65536:
        raise ConductorError(f"port {request.port!r} is invalid: expected 1-65535")
    if not os.path.isabs(request.cache_root):
        raise ConductorError(f"cache root {request.cache_root!r} is invalid: expected an absolute path")
    listed = {entry.get("path") for entry in request.artifacts}
    for entry in request.artifacts:
        reason = check_relative_path(str(entry.get("path", "")))
        if reason or not isinstance(entry.get("size"), int) or not isinstance(entry.get("sha256"), str):
            raise ConductorError(f"artifact {entry!r} is invalid: expected a relative path, a size and a sha256 from the verified manifest"
                                 + (f" (the path {reason})" if reason else ""))
    if request.compose_file not in listed:
        raise ConductorError(f"the compose file {request.compose_file} is not an artifact of release {request.tag}: "
                             "only files of the verified release are run")
    for image in request.images:
        if not IMAGE_ID_RE.fullmatch(str(image.get("id", ""))) or image.get("artifact") not in listed:
            raise ConductorError(f"image record {image!r} is invalid: expected an id sha256:<64 hex> and the artifact that holds it")
    if not request.images:
        raise ConductorError(f"release {request.tag} records no image: every image a colour runs must come from the release's own "
                             "image tarball (a release made before image ids were recorded is read by release_verify from its tarball)")
    if not 0 < request.timeout <= 3600:
        raise ConductorError(f"timeout {request.timeout} is invalid: expected 1-3600 seconds")
    if request.cache_check not in CACHE_CHECKS:
        raise ConductorError(f"cache_check {request.cache_check!r} is invalid: expected one of {', '.join(CACHE_CHECKS)}")


# --- the release cache ---------------------------------------------------------------------------------


def _private_dir(path: str) -> None:
    """Create ``path`` (mode 0700) or check that it is a real directory only its owner can write."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise ConductorError(f"{path} is not a directory (a symlink or a file): the release cache must be a real directory")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise ConductorError(f"{path} is owned by uid {info.st_uid} with mode {stat.S_IMODE(info.st_mode):o}: the release cache must "
                             "belong to the deploying user and be writable by it alone")


def _link_problem(full: str, base: str) -> str:
    """Why ``full`` is not a regular, single-link file inside ``base`` reached without a symlink, or ''."""
    expected = os.path.join(os.path.realpath(base), os.path.relpath(full, base))
    if os.path.realpath(full) != expected:
        return "is reached through a symlink"
    try:
        info = os.lstat(full)
    except FileNotFoundError:
        return "is missing"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} hard links"
    return ""


def missing_files(request: StageRequest) -> list[str]:
    """The artifacts absent from the host's cache, to be copied. A file that is there but wrong is not missing: copies
    are written whole or not at all, so a wrong one was changed after it was copied, and check_copy refuses it."""
    return [entry["path"] for entry in request.artifacts
            if entry["path"] not in request.incoming and not os.path.lexists(os.path.join(request.release_dir, entry["path"]))]


def _real_dirs(base: str, relpath: str) -> None:
    """Create each directory of ``relpath`` under ``base``, refusing one that is a symlink or not a directory: nothing
    is written through a link out of the cache."""
    current = base
    for part in relpath.split("/") if relpath not in ("", ".") else []:
        current = os.path.join(current, part)
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            pass
        info = os.lstat(current)
        if not stat.S_ISDIR(info.st_mode):
            raise ConductorError(f"{current} is a symlink or not a directory: the release cache holds only real directories")


def _copy_in(source: str, target: str, release_dir: str) -> None:
    """Copy a file that arrived on this host into the cache, atomically, read-only."""
    _real_dirs(release_dir, os.path.dirname(os.path.relpath(target, release_dir)))
    temporary = os.path.join(os.path.dirname(target), f".tmp-{os.getpid()}-{os.path.basename(target)}")
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        with os.fdopen(fd, "rb") as reader, open(temporary, "wb") as writer:
            shutil.copyfileobj(reader, writer, _CHUNK)
            writer.flush()
            os.fsync(writer.fileno())
        os.chmod(temporary, 0o444)
        if os.path.lexists(target):
            os.unlink(target)  # a stale or linked copy: never write through it
        os.rename(temporary, target)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def _remove_unlisted(release_dir: str, listed: set[str]) -> list[str]:
    """Remove what the manifest does not list from the cache, so nothing unverified sits beside what runs."""
    removed, keep_dirs = [], {os.path.dirname(p) for p in listed}
    for parent in list(keep_dirs):
        while parent:
            parent = os.path.dirname(parent)
            keep_dirs.add(parent)
    for root, dirs, files in os.walk(release_dir, topdown=False):
        for name in files + dirs:
            full = os.path.join(root, name)
            relpath = os.path.relpath(full, release_dir)
            if relpath in listed or (name in dirs and relpath in keep_dirs and not os.path.islink(full)) or name.startswith(".tmp-"):
                continue
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
            removed.append(relpath)
    return sorted(removed)


def _digest(full: str, keep: bool) -> tuple[str, bytes]:
    """sha256 of a file opened without following a symlink; its bytes too when ``keep`` (the compose file)."""
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb", buffering=0) as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise ConductorError(f"{full} is not a regular single-link file")
        if keep:
            data = handle.read(MAX_COMPOSE_BYTES + 1)
            if len(data) > MAX_COMPOSE_BYTES:
                raise ConductorError(f"{full} is larger than {MAX_COMPOSE_BYTES} bytes: not a compose file")
            return hashlib.sha256(data).hexdigest(), data
        digest = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
        return digest.hexdigest(), b""


def _set_aside(request: StageRequest, relpath: str) -> str:
    """Move a refused cache file out of the way (kept for whoever investigates); the next run copies it afresh."""
    aside = os.path.join(request.cache_root, _REJECTED, f"{request.tag}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}")
    os.makedirs(os.path.join(aside, os.path.dirname(relpath)), mode=0o700, exist_ok=True)
    os.rename(os.path.join(request.release_dir, relpath), os.path.join(aside, relpath))
    return os.path.join(aside, relpath)


def check_copy(request: StageRequest, check_mode: bool = False) -> bytes:
    """Hash every cached file against the verified manifest in one pass; return the compose file's checked bytes."""
    compose = b""
    problems = []
    for entry in request.artifacts:
        relpath = entry["path"]
        full = os.path.join(request.release_dir, relpath)
        reason = _link_problem(full, request.release_dir)
        if not reason and request.cache_check == "sizes" and relpath != request.compose_file:
            reason = size_problem(full, entry["size"], "the verified manifest")
        elif not reason:
            try:
                actual, data = _digest(full, keep=relpath == request.compose_file)
            except (OSError, ConductorError) as exc:
                reason = f"could not be read ({exc})"
            else:
                if actual != entry["sha256"]:
                    reason = f"has sha256 {actual}, the verified manifest says {entry['sha256']}"
                elif relpath == request.compose_file:
                    compose = data
        if reason:
            where = _set_aside(request, relpath) if os.path.lexists(full) and not os.path.isdir(full) and not check_mode else ""
            problems.append(f"{relpath} {reason}" + (f" (set aside as {where})" if where else ""))
    if problems:
        raise ConductorError(f"the release cache {request.release_dir} does not hold the verified release {request.tag}: "
                             + "; ".join(problems) + ". It was changed after it was copied: nothing was started from it")
    return compose


def prepare_cache(request: StageRequest, result: StageResult, check_mode: bool) -> None:
    """Copy in what arrived, drop what is not listed; report what is still missing."""
    if check_mode:
        result.missing = sorted(set(missing_files(request)) | set(request.incoming))
        return
    _private_dir(request.cache_root)
    _real_dirs(request.cache_root, os.path.relpath(request.release_dir, request.cache_root))
    if os.path.islink(request.release_dir) or not os.path.isdir(request.release_dir):
        raise ConductorError(f"{request.release_dir} is not a real directory: the release cache holds no symlinks")
    for relpath, source in sorted(request.incoming.items()):
        if relpath not in {entry["path"] for entry in request.artifacts}:
            raise ConductorError(f"incoming file {relpath!r} is not an artifact of release {request.tag}")
        _copy_in(source, os.path.join(request.release_dir, relpath), request.release_dir)
        result.copied.append(relpath)
    result.removed = _remove_unlisted(request.release_dir, {entry["path"] for entry in request.artifacts})
    result.missing = missing_files(request)


# --- images --------------------------------------------------------------------------------------------


def bind_images(docker: Docker, request: StageRequest, result: StageResult, check_mode: bool) -> dict[str, str]:
    """Make the engine hold every recorded image id and every recorded name point at it; return name -> id."""
    ids, names = docker.images()
    absent = [image for image in request.images if image["id"] not in ids]
    for artifact in sorted({image["artifact"] for image in absent}):
        if not check_mode:
            docker.load(os.path.join(request.release_dir, artifact))
        result.loaded.append(artifact)
    if absent and not check_mode:
        ids, names = docker.images()
        still = [image["id"] for image in absent if image["id"] not in ids]
        if still:
            raise ConductorError(f"loading {', '.join(result.loaded)} did not give the engine image {', '.join(still)}: "
                                 "the tarball is not the one the release recorded")
    wanted = {}
    for image in request.images:
        for name in image.get("repo_tags") or []:
            wanted[name] = image["id"]
            if names.get(name) != image["id"]:
                if not check_mode:
                    docker.tag(image["id"], name)
                result.named.append(f"{name} -> {image['id']}" + (f" (was {names[name]})" if name in names else ""))
    return wanted


def image_problems(containers: list[Container], request: StageRequest, names: dict[str, str]) -> list[str]:
    """What is wrong with what the colour's containers run: every one must run a recorded image id."""
    recorded = {image["id"] for image in request.images}
    problems = []
    if not containers:
        problems.append(f"compose project {request.project} has no container")
    for container in containers:
        expected = names.get(container.image)
        if container.image_id not in recorded or (expected and container.image_id != expected):
            problems.append(f"container {container.name} runs image {container.image_id} ({container.image}), "
                            f"not the release's {expected or ' or '.join(sorted(recorded))}")
    return problems


# --- compose -------------------------------------------------------------------------------------------


def _record_path(request: StageRequest) -> str:
    return os.path.join(request.cache_root, request.environment, f".{request.colour}.json")


def _configuration(request: StageRequest, compose: bytes) -> str:
    """What compose is given: the checked compose file's bytes and the variables it interpolates."""
    return hashlib.sha256(compose + b"\0" + json.dumps(request.env, sort_keys=True).encode("utf-8")).hexdigest()


def write_record(request: StageRequest, compose: bytes, containers: list[Container]) -> None:
    """Which containers this tool started, from which release and configuration: what a later run may reuse."""
    record = {"tag": request.tag, "commit": request.commit, "configuration": _configuration(request, compose),
              "containers": sorted(c.id for c in containers), "image_ids": sorted({c.image_id for c in containers})}
    atomic_write(_record_path(request), json.dumps(record, sort_keys=True).encode("utf-8"), mode=0o600)


def recorded_tag(cache_root: str, environment: str, colour: str) -> str | None:
    """The tag the colour's record says this tool started it from; None without a record, ConductorError when one is there
    and cannot be read (what the colour runs is then unknown)."""
    path = os.path.join(cache_root, environment, f".{colour}.json")
    try:
        with open(path, "rb") as handle:
            record = json.loads(handle.read(65536))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConductorError(f"the {colour} colour's record {path} cannot be read ({exc}): which release it runs is unknown") from exc
    if not isinstance(record, dict):
        raise ConductorError(f"the {colour} colour's record {path} is not a JSON object: which release it runs is unknown")
    return str(record.get("tag") or "")


def drop_record(request: StageRequest) -> None:
    if os.path.lexists(_record_path(request)):
        os.unlink(_record_path(request))


def differences(request: StageRequest, compose: bytes, names: dict[str, str], running: list[Container]) -> list[str]:
    """How the colour differs from exactly this release; empty when it runs exactly the release. The engine's word on
    what runs (image ids, states) and this tool's record of the containers it started from the checked compose file and
    variables: labels a container carries are a claim anyone who can run a container can copy, its id is not."""
    if not running:
        return ["the colour runs nothing"]
    problems = image_problems(running, request, names)
    problems += [f"container {c.name} is {c.health or c.status}" for c in running if not c.ready]
    try:
        with open(_record_path(request), "rb") as handle:
            record = json.loads(handle.read(65536))
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict) or record.get("tag") != request.tag or record.get("configuration") != _configuration(request, compose):
        problems.append("this tool has no record of starting the colour from this release and compose configuration")
    elif record.get("containers") != sorted(c.id for c in running):
        problems.append("its containers are not the ones this tool started from the release")
    return problems


def _wait_ready(docker: Docker, request: StageRequest, ids: list[str], deadline: float) -> list[Container]:
    while True:
        containers = docker.inspect(ids)
        bad = [c for c in containers if c.status in ("exited", "dead") or c.health == "unhealthy"]
        if bad:
            raise ConductorError("; ".join(f"container {c.name} is {c.health or c.status}" + (f" ({c.health_log})" if c.health_log else "")
                                           for c in bad))
        if containers and all(c.ready for c in containers):
            return containers
        if time.monotonic() >= deadline:
            waiting = [f"{c.name} ({c.health or c.status})" for c in containers if not c.ready]
            raise ConductorError(f"not healthy within {request.timeout:.0f}s: {', '.join(waiting) or 'no container'}")
        time.sleep(0.1)


def _probe(request: StageRequest, deadline: float) -> tuple[str, str]:
    """The service's own answers: health 200, and the tag's commit on the version endpoint (a witness, not the proof)."""
    base = f"http://{request.probe_address}:{request.port}"
    health = _http.wait_for_commit(base + request.health_path, "", max(deadline - time.monotonic(), 1.0))
    if not health.ok:
        raise ConductorError(f"health: {health.describe(base + request.health_path)}")
    version = _http.wait_for_commit(base + request.version_path, request.commit, max(deadline - time.monotonic(), 1.0), settled=True)
    if not version.ok:
        raise ConductorError(f"version: {version.describe(base + request.version_path, request.commit)}")
    return health.describe(base + request.health_path), version.describe(base + request.version_path, request.commit)


def stage(docker: Docker, request: StageRequest, check_mode: bool = False, prove_only: bool = False) -> StageResult:
    """Put ``request.tag`` on colour ``request.colour`` of this host and prove it; raise StageError naming what failed.

    With files missing from the cache (and not in ``request.incoming``), returns at once with ``missing`` set
    and nothing else done, so the caller can copy them and ask again. ``prove_only``: change nothing on the engine,
    fail unless the colour already runs exactly the release (the check of a colour that serves traffic).
    """
    validate_request(request)
    if request.cache_check != "digests" and not prove_only:
        raise ConductorError("cache_check sizes only proves a colour that runs (state checked): a colour is started from digests")
    started_at = time.monotonic()
    result = StageResult(project=request.project, cache_root=request.cache_root)
    step = "cache"
    mark = started_at

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        result.steps[name] = round(now - mark, 3)
        mark = now

    try:
        # proving a colour that serves (the watch's check by sizes, the daily verification's by digests) changes nothing at
        # all: a stray file is left to the next switch, a wrong one is named and left where it is (what runs was started
        # from checked bytes, and proven by image id)
        looking = check_mode or prove_only
        prepare_cache(request, result, looking)
        if result.missing and request.incoming:
            raise ConductorError(f"{', '.join(result.missing)} vanished from the release cache while it was being filled: nothing was "
                                 "started from it")
        if result.missing:
            return result
        step = "check"
        compose = check_copy(request, looking)
        lap("check")
        step = "images"
        names = bind_images(docker, request, result, check_mode or prove_only)
        if prove_only:
            result.loaded, result.named = [], []  # what runs is judged by the containers' image ids alone
        lap("images")
        step = "compose"
        before = docker.containers(request.project)
        deadline = time.monotonic() + request.timeout
        different = differences(request, compose, names, before)
        result.reused = (request.reuse or prove_only) and not different
        if prove_only and different:
            raise ConductorError(f"the colour does not run exactly release {request.tag}: " + "; ".join(different))
        if check_mode:
            result.started = not result.reused  # what a real run would do
            return result
        containers = before
        if not result.reused:
            ids = _up(docker, request, compose, before, result)
            lap("up")
            step = "healthy"
            containers = _wait_ready(docker, request, ids, deadline)
            lap("healthy")
        step = "image ids"
        problems = image_problems(containers, request, names)
        if problems:
            raise ConductorError("; ".join(problems))
        result.containers = [c.as_dict() for c in containers]
        result.image_ids = sorted({c.image_id for c in containers})
        step = "probe"
        result.health, result.version = _probe(request, deadline)
        lap("probe")
        if not result.reused:
            write_record(request, compose, containers)
    except (ConductorError, OSError) as exc:
        if result.started and not check_mode:
            try:
                drop_record(request)
                docker.down(request.project)
                result.stopped = True
            except (ConductorError, OSError):
                pass
        after_note = " The colour was stopped." if result.stopped else ""
        raise StageError(f"{request.tag} on {request.project} failed at {step}: {str(exc).rstrip('.')}.{after_note}", result) from exc
    finally:
        result.seconds = round(time.monotonic() - started_at, 3)
    return result


def _up(docker: Docker, request: StageRequest, compose: bytes, before: list[Container], result: StageResult) -> list[str]:
    """compose up from the checked bytes (never pulling, never building); the ids of the colour's containers after it."""
    # not reused: every container is created afresh from the checked bytes, whatever labels the old ones carried
    up = ["up", "--detach", "--pull", "never", "--no-build", "--remove-orphans", "--force-recreate"]
    try:
        docker.compose(request.project, request.release_dir, up, compose, request.env, timeout=request.timeout + 30)
    finally:
        try:
            after = docker.containers(request.project)
            was = {c.id: c.started_at for c in before}
            result.started = any(was.get(c.id) != c.started_at for c in after)
        except ConductorError:
            after, result.started = [], True  # compose ran on a colour that was not reused: it is this run's to stop
    return [c.id for c in after]


def stop(docker: Docker, environment: str, colour: str, cache_root: str, check_mode: bool = False) -> bool:
    """Take a colour down (and forget that this tool started it); True when it had containers."""
    project = validate_project(f"{environment}-{colour}".lower())
    had = bool(docker.containers(project))
    if had and not check_mode:
        record = os.path.join(cache_root, environment, f".{colour}.json")
        if os.path.lexists(record):
            os.unlink(record)
        docker.down(project)
    return had
