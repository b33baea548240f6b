"""Image archives read in the pass that hashes them, on real archives made here.

The legacy layout is ``docker save`` of this machine's engine (dockerd 20.10); the OCI layout is the same
image converted by skopeo. The docker 25+ layout (the OCI layout plus a ``manifest.json`` whose paths are
``blobs/sha256/<hex>``, with full references in the index annotations) is assembled from those real blobs:
no engine here writes it, since dockerd is 20.10.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _image_archive
from ansible_collections.maestro.conductor.plugins.module_utils._image_archive import (
    ImageArchiveError, ImageRecord, hash_and_index)


def _docker_works() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


NO_DOCKER = "'docker info' failed: these tests save real images from a running engine"
NO_SKOPEO = "skopeo is not installed (scripts/services.sh installs it)"
needs_docker = pytest.mark.skipif(not _docker_works(), reason=NO_DOCKER)
needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason=NO_SKOPEO)


def run(*args: str) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True).stdout.strip()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Images:
    """Two images in the engine and their archives: ``a`` with two repo tags, ``b`` with one."""

    dir: Path
    a_id: str
    a_tags: list[str]
    b_id: str
    b_tags: list[str]

    @property
    def legacy(self) -> Path:
        return self.dir / "a.tar"

    @property
    def both(self) -> Path:
        return self.dir / "a-and-b.tar"

    @property
    def b(self) -> Path:
        return self.dir / "b.tar"


def _tiny_rootfs(path: Path, content: bytes) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Images:
    if not _docker_works():
        pytest.skip(NO_DOCKER)
    work = tmp_path_factory.mktemp("images")
    tag = uuid.uuid4().hex[:12]
    a_tags = sorted([f"maestro-test/archive-a:{tag}", f"localhost:5000/archive-a:{tag}"])
    b_tags = [f"maestro-test/archive-b:{tag}"]
    a_id = run("docker", "import", "--change", "LABEL maestro.test=a", str(_tiny_rootfs(work / "a.rootfs", b"a\n")), a_tags[0])
    run("docker", "tag", a_id, a_tags[1])
    b_id = run("docker", "import", "--change", "LABEL maestro.test=b", str(_tiny_rootfs(work / "b.rootfs", b"b\n")), b_tags[0])
    try:
        result = Images(work, a_id, a_tags, b_id, b_tags)
        run("docker", "save", "-o", str(result.legacy), *a_tags)
        run("docker", "save", "-o", str(result.b), *b_tags)
        run("docker", "save", "-o", str(result.both), a_tags[0], b_tags[0])
        yield result
    finally:
        subprocess.run(["docker", "rmi", "-f", *a_tags, *b_tags], capture_output=True, check=False)


@pytest.fixture(scope="session")
def oci(images: Images) -> Path:
    """The OCI layout of image a, as skopeo writes it (org.opencontainers.image.ref.name is the reference given)."""
    if shutil.which("skopeo") is None:
        pytest.skip(NO_SKOPEO)
    path = images.dir / "a-oci.tar"
    run("skopeo", "copy", "-q", f"docker-archive:{images.legacy}", f"oci-archive:{path}:{images.a_tags[1]}")
    return path


def oci_config_id(path: Path) -> str:
    """The image id skopeo reports for an OCI archive: its manifest's config digest."""
    return json.loads(run("skopeo", "inspect", "--raw", f"oci-archive:{path}"))["config"]["digest"]


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def rewrite(src: Path, dst: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    files = members(src)
    change(files)
    return write_tar(dst, files)


def blob(files: dict[str, bytes], document: dict) -> str:
    """Add ``document`` as a blob; return its digest."""
    data = json.dumps(document).encode()
    digest = hashlib.sha256(data).hexdigest()
    files[f"blobs/sha256/{digest}"] = data
    return f"sha256:{digest}"


def docker25_layout(oci: Path, dst: Path, references: list[str], tags: list[str], config: str | None = None) -> Path:
    """What docker 25+ saves: the OCI layout, full ``references`` in the annotations, and a manifest.json over blobs/."""
    def change(files: dict[str, bytes]) -> None:
        index = json.loads(files["index.json"])
        entry = index["manifests"][0]
        entry["annotations"] = {"io.containerd.image.name": references[0], "org.opencontainers.image.ref.name": references[1]}
        files["index.json"] = json.dumps(index).encode()
        manifest = json.loads(files[f"blobs/sha256/{entry['digest'][7:]}"])
        files["manifest.json"] = json.dumps([{
            "Config": f"blobs/sha256/{(config or manifest['config']['digest'])[7:]}",
            "RepoTags": tags,
            "Layers": [f"blobs/sha256/{layer['digest'][7:]}" for layer in manifest["layers"]],
        }]).encode()
    return rewrite(oci, dst, change)


# --- real archives ---------------------------------------------------------------------------------------------------


@needs_docker
def test_legacy_layout_gives_the_engines_image_id_and_both_repo_tags(images):
    digest, found = hash_and_index(str(images.legacy))
    assert digest == sha256(images.legacy)
    assert found == [ImageRecord(images.a_id, images.a_tags)]
    assert images.a_id == run("docker", "image", "inspect", "--format", "{{.Id}}", images.a_tags[0])
    assert found[0].as_dict() == {"id": images.a_id, "repo_tags": images.a_tags}


@needs_docker
def test_an_archive_of_two_images_lists_both_sorted_by_id(images):
    digest, found = hash_and_index(str(images.both))
    assert digest == sha256(images.both)
    expected = sorted([ImageRecord(images.a_id, [images.a_tags[0]]), ImageRecord(images.b_id, images.b_tags)], key=lambda i: i.id)
    assert found == expected


@needs_docker
def test_gzip_compressed_archive(images, tmp_path):
    path = tmp_path / "a.tar.gz"
    path.write_bytes(gzip.compress(images.legacy.read_bytes()))
    assert hash_and_index(str(path)) == (sha256(path), [ImageRecord(images.a_id, images.a_tags)])


@needs_docker
@needs_skopeo
def test_oci_layout_from_skopeo(images, oci):
    digest, found = hash_and_index(str(oci))
    assert digest == sha256(oci)
    # skopeo rewrites the docker config as an OCI config, so the OCI image has its own id
    assert found == [ImageRecord(oci_config_id(oci), [images.a_tags[1]])]


@needs_docker
@needs_skopeo
def test_oci_ref_name_that_is_only_a_tag_names_no_repository(images, tmp_path):
    path = tmp_path / "tag-only.tar"
    run("skopeo", "copy", "-q", f"docker-archive:{images.legacy}", f"oci-archive:{path}:v1")
    assert json.loads(members(path)["index.json"])["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "v1"}
    assert hash_and_index(str(path))[1] == [ImageRecord(oci_config_id(path), [])]


@needs_docker
@needs_skopeo
def test_docker25_layout_reads_both_indexes_and_normalizes_the_references(images, oci, tmp_path):
    hub = f"archive-a:{images.a_id[7:15]}"
    maestro = next(tag for tag in images.a_tags if tag.startswith("maestro-test/"))
    local = next(tag for tag in images.a_tags if tag.startswith("localhost:5000/"))
    path = docker25_layout(oci, tmp_path / "docker25.tar", [f"docker.io/library/{hub}", f"docker.io/{maestro}"], [local])
    digest, found = hash_and_index(str(path))
    assert digest == sha256(path)
    assert found == [ImageRecord(oci_config_id(oci), sorted([hub, maestro, local]))]


@needs_docker
@needs_skopeo
def test_docker25_layout_whose_two_indexes_disagree(images, oci, tmp_path):
    files = members(oci)
    other = blob(files, {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
    source = write_tar(tmp_path / "with-other-config.tar", files)
    path = docker25_layout(source, tmp_path / "disagree.tar", ["docker.io/maestro-test/x:v1"] * 2, images.a_tags, config=other)
    message = f"manifest.json lists {other} but index.json lists {oci_config_id(oci)}"
    with pytest.raises(ImageArchiveError, match=message) as caught:
        hash_and_index(str(path))
    assert caught.value.sha256 == sha256(path)


@needs_docker
@needs_skopeo
def test_multi_platform_index_is_followed_one_level(images, oci, tmp_path):
    def change(files: dict[str, bytes]) -> None:
        index = json.loads(files["index.json"])
        platform = dict(index["manifests"][0], platform={"architecture": "amd64", "os": "linux"})
        platform.pop("annotations")
        absent = {"mediaType": platform["mediaType"], "digest": "sha256:" + "e" * 64, "size": 1,
                  "platform": {"architecture": "arm64", "os": "linux"}}
        attestation = {"mediaType": platform["mediaType"], "digest": "sha256:" + "f" * 64, "size": 1,
                       "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}
        nested = blob(files, {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                              "manifests": [platform, absent, attestation]})
        index["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nested, "size": 1,
                               "annotations": {"io.containerd.image.name": f"docker.io/maestro-test/multi:{images.a_id[7:15]}"}}]
        files["index.json"] = json.dumps(index).encode()
    path = rewrite(oci, tmp_path / "multi.tar", change)
    assert hash_and_index(str(path))[1] == [ImageRecord(oci_config_id(oci), [f"maestro-test/multi:{images.a_id[7:15]}"])]


# --- not image archives --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, make", [
    ("random.bin", lambda p: p.write_bytes(hashlib.sha256(b"seed").digest() * 40000)),
    ("empty", lambda p: p.write_bytes(b"")),
    ("compose.yaml", lambda p: p.write_text("services: {}\n")),
    ("plain.tar", lambda p: write_tar(p, {"README": b"not an image\n"})),
    ("plain.tar.gz", lambda p: p.write_bytes(gzip.compress(write_tar(p, {"a": b"b"}).read_bytes()))),
    ("text.gz", lambda p: p.write_bytes(gzip.compress(b"just text\n" * 100))),
    ("web-app.tar", lambda p: write_tar(p, {"manifest.json": b'{"name": "a web app"}', "index.json": b'{"not": "oci"}'})),
])
def test_anything_else_is_no_image_archive(tmp_path, name, make):
    path = tmp_path / name
    make(path)
    assert hash_and_index(str(path)) == (sha256(path), [])


# --- broken image archives: errors that name the archive and what is wrong ----------------------------------------


@needs_docker
def test_truncated_archive(images, tmp_path):
    path = tmp_path / "truncated.tar"
    data = images.legacy.read_bytes()
    path.write_bytes(data[:len(data) // 2 + 100])
    message = f"image archive {path}: not a readable tar archive: unexpected end of data"
    with pytest.raises(ImageArchiveError, match=message) as caught:
        hash_and_index(str(path))
    assert caught.value.sha256 == sha256(path)


@needs_docker
def test_tampered_config(images, tmp_path):
    name = f"{images.a_id[7:]}.json"

    def change(files: dict[str, bytes]) -> None:
        files[name] = files[name].replace(b'"maestro.test":"a"', b'"maestro.test":"x"')
    path = rewrite(images.legacy, tmp_path / "tampered.tar", change)
    with pytest.raises(ImageArchiveError, match=f"image archive {path}: config {name} does not hash to its name: its sha256 is "):
        hash_and_index(str(path))


@needs_docker
def test_missing_config(images, tmp_path):
    name = f"{images.a_id[7:]}.json"
    path = rewrite(images.legacy, tmp_path / "no-config.tar", lambda files: files.pop(name))
    with pytest.raises(ImageArchiveError, match=f"config {name} is missing"):
        hash_and_index(str(path))


@needs_docker
@pytest.mark.parametrize("manifest, message", [
    (b"[{", "image manifest manifest.json is not valid JSON"),
    (b'[{"Config": "../etc/passwd", "RepoTags": []}]', "manifest.json entry 1: Config is '../etc/passwd', expected <64 hex>.json"),
    (b'[{"Config": "%s.json", "RepoTags": ["Not A Tag"]}]', "entry 1: repo tag 'Not A Tag' is not a docker reference"),
])
def test_inconsistent_legacy_manifest(images, tmp_path, manifest, message):
    content = manifest.replace(b"%s", images.a_id[7:].encode())
    path = rewrite(images.legacy, tmp_path / "bad.tar", lambda files: files.update({"manifest.json": content}))
    with pytest.raises(ImageArchiveError, match=message):
        hash_and_index(str(path))


@needs_docker
@needs_skopeo
@pytest.mark.parametrize("damage, message", [
    (lambda index, files: index["manifests"][0].update(digest="sha256:1234"),
     "index.json manifest 1: digest 'sha256:1234' is not sha256:<64 hex>"),
    (lambda index, files: files.pop(f"blobs/sha256/{index['manifests'][0]['digest'][7:]}"),
     "manifest blobs/sha256/[0-9a-f]{64} is missing"),
    (lambda index, files: files.update({f"blobs/sha256/{index['manifests'][0]['digest'][7:]}": b"{}"}),
     "manifest blobs/sha256/[0-9a-f]{64} does not hash to its name"),
])
def test_inconsistent_oci_layout(oci, tmp_path, damage, message):
    def change(files: dict[str, bytes]) -> None:
        index = json.loads(files["index.json"])
        damage(index, files)
        files["index.json"] = json.dumps(index).encode()
    path = rewrite(oci, tmp_path / "bad-oci.tar", change)
    with pytest.raises(ImageArchiveError, match=message):
        hash_and_index(str(path))


def test_a_member_named_twice_is_refused(tmp_path):
    path = tmp_path / "twice.tar"
    with tarfile.open(path, "w") as tar:
        for content in (b"[]", b"[]"):
            info = tarfile.TarInfo("manifest.json")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    with pytest.raises(ImageArchiveError, match=f"image archive {path}: manifest.json appears twice"):
        hash_and_index(str(path))


def test_a_member_that_docker_reads_as_the_index_counts_as_the_index(images, tmp_path):
    """docker cleans member paths: ``x/../manifest.json`` replaces the index it reads. The second index is seen (and the
    archive refused), never ignored while docker loads what it lists."""
    path = tmp_path / "sneaky.tar"
    shutil.copy(images.legacy, path)
    with tarfile.open(path, "a") as tar:
        data = b'[{"Config": "x.json", "RepoTags": ["adv-poison/web:v1"], "Layers": []}]'
        info = tarfile.TarInfo("x/../manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ImageArchiveError, match="manifest.json appears twice"):
        hash_and_index(str(path))


@pytest.mark.parametrize("name", ["../manifest.json", "/manifest.json", "a/../../b"])
def test_members_outside_the_archive_are_refused(tmp_path, name):
    path = tmp_path / "outside.tar"
    with tarfile.open(path, "w") as tar:
        for member in ("oci-layout", name):
            info = tarfile.TarInfo(member)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(ImageArchiveError, match="is absolute or outside the archive"):
        hash_and_index(str(path))


def test_an_index_too_large_to_read_is_refused_not_ignored(tmp_path):
    path = tmp_path / "huge.tar"
    data = b"[" + b" " * (5 * 1024 * 1024) + b"]"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ImageArchiveError, match="manifest.json is .* bytes: an image index is at most"):
        hash_and_index(str(path))


# --- repo tags --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reference, familiar", [
    ("docker.io/library/busybox:1", "busybox:1"),
    ("index.docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox:latest", "busybox:latest"),
    ("docker.io/maestro-demo/web:v1", "maestro-demo/web:v1"),
    ("maestro-demo/web:v1.1.0", "maestro-demo/web:v1.1.0"),
    ("localhost:5000/library/web:v1", "localhost:5000/library/web:v1"),
    ("registry.example.com/team/app_x/web-1:2026.01_rc-1", "registry.example.com/team/app_x/web-1:2026.01_rc-1"),
    ("v1", None),
    ("busybox", None),
    ("localhost:5000/busybox", None),
    ("busybox@sha256:" + "a" * 64, None),
    ("Busybox:1", None),
    ("busybox:-1", None),
    ("busybox:1\n", None),
    ("docker.io/localhost:5000/web:v1", None),
    ("localhost/web:v1", "localhost/web:v1"),
    ("a" * 250 + ":tag12", None),
    (None, None),
])
def test_normalize_repo_tag(reference, familiar):
    assert _image_archive.normalize_repo_tag(reference) == familiar


def test_a_named_pipe_in_place_of_an_archive_is_refused_without_blocking(tmp_path):
    # swapped in between a check and the read, a fifo with no writer would block a plain open() for ever
    pipe = tmp_path / "image.tar"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file"):
        _image_archive.hash_and_index(str(pipe))
