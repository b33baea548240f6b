"""release_stage's core on this machine's real docker engine and compose v2: what runs is the verified release, by
image id and by the checked bytes of its files, or nothing starts."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _stage
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._docker import Docker
from tests.servers import free_port

COMMIT = "5" * 40
IMAGE = "maestro-test/stage"
COMPOSE = """services:
  web:
    image: "maestro-test/stage:${TAG}"
    pull_policy: never
    stop_signal: SIGKILL
    ports: ["127.0.0.1:${PORT}:8080"]
    healthcheck:
      test: ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      retries: %d
"""


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, **kwargs)


def build(tmp: Path, tag: str, page: str, commit: str = COMMIT) -> str:
    """A tiny image: busybox httpd serving /healthz and /version (with ``commit``); returns its id."""
    context = tmp / f"build-{tag}"
    (context / "www").mkdir(parents=True)
    shutil.copy("/bin/busybox", context / "busybox")
    (context / "www" / "healthz").write_text("ok\n")
    (context / "www" / "version").write_text(f'{{"tag": "{tag}", "commit": "{commit}"}}\n')
    (context / "www" / "index.html").write_text(page)
    (context / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\n'
                                        'ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]\n')
    docker("build", "--quiet", "--tag", f"{IMAGE}:{tag}", str(context), env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return docker("image", "inspect", "--format", "{{.Id}}", f"{IMAGE}:{tag}").stdout.strip()


def artifact(path: Path, root: Path) -> dict:
    data = path.read_bytes()
    return {"path": str(path.relative_to(root)), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A release directory (compose file, image tarball) and the request that stages it; the engine holds the image."""
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no docker engine: `make test` starts one (scripts/services.sh)")
    tmp = tmp_path_factory.mktemp("stage")
    image_id = build(tmp, "v1", "the verified page\n")
    rel = tmp / "release"
    rel.mkdir()
    docker("save", "--output", str(rel / "image.tar"), f"{IMAGE}:v1")
    (rel / "compose.yaml").write_text(COMPOSE % 30)
    request = _stage.StageRequest(environment="stagetest", colour="green", tag="v1", commit=COMMIT,
                                  artifacts=[artifact(rel / "compose.yaml", rel), artifact(rel / "image.tar", rel)],
                                  images=[{"artifact": "image.tar", "id": image_id, "repo_tags": [f"{IMAGE}:v1"]}],
                                  cache_root=str(tmp / "cache"), port=free_port(), timeout=30.0)
    yield {"tmp": tmp, "dir": rel, "request": request, "image_id": image_id}
    subprocess.run(["docker", "compose", "-p", "stagetest-green", "down", "--timeout", "0"], capture_output=True, check=False)


def incoming(release: dict, paths: list[str] | None = None) -> dict:
    """What the action plugin would copy over: ``paths`` (default all) from the release directory."""
    return {entry["path"]: str(release["dir"] / entry["path"]) for entry in release["request"].artifacts
            if paths is None or entry["path"] in paths}


def staged(release: dict, **changes) -> _stage.StageResult:
    """As the action plugin does it: ask, copy what is missing, ask again."""
    request = release["request"]
    first = _stage.stage(Docker(), replace(request, **changes))
    if first.missing:
        return _stage.stage(Docker(), replace(request, incoming=incoming(release, first.missing), **changes))
    return first


def running_image(project: str = "stagetest-green") -> str:
    ids = docker("ps", "--quiet", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
    return docker("inspect", "--format", "{{.Image}}", *ids).stdout.strip() if ids else ""


def page(request: _stage.StageRequest) -> str:
    return subprocess.run(["/bin/busybox", "wget", "-q", "-O", "-", f"http://127.0.0.1:{request.port}/index.html"], capture_output=True,
                          text=True, check=False).stdout


def test_a_missing_cache_is_reported_then_filled_checked_and_run(release):
    first = _stage.stage(Docker(), release["request"])
    assert first.missing == ["compose.yaml", "image.tar"] and not first.started and not first.changed
    result = _stage.stage(Docker(), replace(release["request"], incoming=incoming(release)))
    assert result.copied == ["compose.yaml", "image.tar"] and result.started and not result.reused
    assert result.image_ids == [release["image_id"]] and running_image() == release["image_id"]
    assert "answered commit " + COMMIT in result.version and page(release["request"]) == "the verified page\n"
    cached = Path(release["request"].release_dir) / "compose.yaml"
    assert oct(cached.stat().st_mode & 0o777) == "0o444" and oct(Path(release["request"].cache_root).stat().st_mode & 0o777) == "0o700"


def test_a_colour_that_runs_exactly_the_release_is_reused_and_nothing_changes(release):
    staged(release)
    before = docker("ps", "--quiet", "--no-trunc", "--filter", "label=com.docker.compose.project=stagetest-green").stdout
    again = staged(release)
    assert again.reused and not again.started and not again.changed and not again.copied
    assert docker("ps", "--quiet", "--no-trunc", "--filter", "label=com.docker.compose.project=stagetest-green").stdout == before


def test_a_same_named_local_image_never_runs(release):
    """Someone builds another image under the release's image name: the name is pointed back at the recorded id, and
    the colour running the impostor is recreated from the verified image."""
    staged(release)
    impostor = build(release["tmp"], "impostor", "a TAMPERED page\n")
    docker("tag", impostor, f"{IMAGE}:v1")
    subprocess.run(["docker", "compose", "-p", "stagetest-green", "-f", "-", "up", "-d", "--pull", "never"], input=COMPOSE % 30, text=True,
                   env={**os.environ, "TAG": "v1", "PORT": str(release["request"].port)}, capture_output=True, check=True)
    assert running_image() == impostor and page(release["request"]) == "a TAMPERED page\n"
    result = staged(release)
    assert not result.reused and result.started
    assert result.named == [f"{IMAGE}:v1 -> {release['image_id']} (was {impostor})"]
    assert running_image() == release["image_id"] and page(release["request"]) == "the verified page\n"


def test_an_absent_image_is_loaded_from_the_checked_tarball_never_pulled(release):
    staged(release)
    subprocess.run(["docker", "compose", "-p", "stagetest-green", "down", "--timeout", "0"], capture_output=True, check=True)
    docker("image", "rm", "--force", release["image_id"])
    result = staged(release)
    assert result.loaded == ["image.tar"] and result.started and running_image() == release["image_id"]


def test_a_cache_copy_changed_after_the_copy_is_refused_set_aside_and_nothing_starts(release):
    staged(release)
    subprocess.run(["docker", "compose", "-p", "stagetest-green", "down", "--timeout", "0"], capture_output=True, check=True)
    cached = Path(release["request"].release_dir) / "compose.yaml"
    cached.chmod(0o644)
    cached.write_text((COMPOSE % 30).replace("127.0.0.1:${PORT}", "0.0.0.0:${PORT}"))
    with pytest.raises(_stage.StageError) as caught:
        staged(release)
    message = str(caught.value)
    assert "failed at check: the release cache" in message and "compose.yaml has sha256" in message and "set aside as" in message
    assert not caught.value.result.started and running_image() == ""
    assert not cached.exists() and list((Path(release["request"].cache_root) / ".rejected").rglob("compose.yaml"))
    assert staged(release).copied == ["compose.yaml"]  # the next run copies it afresh


@pytest.mark.parametrize("kind", ["symlink", "hard link"])
def test_links_in_the_cache_are_refused(release, kind):
    staged(release)
    cached = Path(release["request"].release_dir) / "compose.yaml"
    elsewhere = release["tmp"] / f"elsewhere-{kind.replace(' ', '-')}.yaml"
    elsewhere.write_text(COMPOSE % 30)
    cached.unlink()
    if kind == "symlink":
        cached.symlink_to(elsewhere)
    else:
        os.link(elsewhere, cached)
    with pytest.raises(_stage.StageError, match="compose.yaml (is reached through a symlink|has 2 hard links)"):
        staged(release)
    assert not os.path.lexists(cached) and elsewhere.exists()  # set aside, the file it pointed at untouched


def test_a_colour_that_never_turns_healthy_is_stopped(release):
    unhealthy = release["dir"].parent / "unhealthy"
    unhealthy.mkdir(exist_ok=True)
    (unhealthy / "compose.yaml").write_text((COMPOSE % 2).replace("/healthz", "/no-such-page"))
    shutil.copy(release["dir"] / "image.tar", unhealthy / "image.tar")
    artifacts = [artifact(unhealthy / "compose.yaml", unhealthy), artifact(unhealthy / "image.tar", unhealthy)]
    request = replace(release["request"], tag="v1-unhealthy", artifacts=artifacts)
    request = replace(request, incoming={a["path"]: str(unhealthy / a["path"]) for a in request.artifacts})
    with pytest.raises(_stage.StageError) as caught:
        _stage.stage(Docker(), replace(request, images=[{**release["request"].images[0], "repo_tags": [f"{IMAGE}:v1-unhealthy"]}]))
    assert "failed at healthy: container stagetest-green-web-1 is unhealthy" in str(caught.value)
    assert "The colour was stopped." in str(caught.value) and caught.value.result.stopped and running_image() == ""


def test_a_service_reporting_another_commit_is_stopped(release):
    with pytest.raises(_stage.StageError) as caught:
        staged(release, commit="6" * 40)
    assert f"failed at probe: version: http://127.0.0.1:{release['request'].port}/version did not answer commit {'6' * 40}" \
        in str(caught.value)
    assert caught.value.result.stopped and running_image() == ""


def test_prove_only_changes_nothing_and_names_what_differs(release):
    subprocess.run(["docker", "compose", "-p", "stagetest-green", "down", "--timeout", "0"], capture_output=True, check=True)
    with pytest.raises(_stage.StageError, match="the colour does not run exactly release v1: the colour runs nothing"):
        _stage.stage(Docker(), release["request"], prove_only=True)
    assert running_image() == ""
    staged(release)
    proven = _stage.stage(Docker(), release["request"], prove_only=True)
    assert proven.reused and not proven.changed and proven.image_ids == [release["image_id"]]


def test_check_mode_reports_what_would_happen_and_changes_nothing(release):
    subprocess.run(["docker", "compose", "-p", "stagetest-green", "down", "--timeout", "0"], capture_output=True, check=True)
    result = _stage.stage(Docker(), release["request"], check_mode=True)
    assert result.started and not result.reused and running_image() == ""


@pytest.mark.parametrize("change, message", [
    ({"tag": "v1\n"}, "tag name"),
    ({"colour": "red"}, "colour 'red' is invalid"),
    ({"compose_env": {"A;B": "x"}}, "compose variable name"),
    ({"compose_env": {"A": "x\ny"}}, "one line"),
    ({"compose_file": "other.yaml"}, "is not an artifact of release"),
    ({"images": []}, "records no image"),
    ({"cache_root": "relative"}, "absolute path"),
])
def test_bad_requests_are_refused_before_anything_runs(release, change, message):
    with pytest.raises(ConductorError, match=message):
        _stage.stage(Docker(), replace(release["request"], **change))


def test_a_file_that_vanishes_between_the_two_asks_is_an_error_not_a_pass(release):
    """The action plugin asks, copies what was missing, asks again: a file gone meanwhile is not 'nothing to do'."""
    subprocess.run(["docker", "compose", "-p", "stagetest-green", "down", "--timeout", "0"], capture_output=True, check=True)
    staged(release)
    (Path(release["request"].release_dir) / "image.tar").unlink()
    with pytest.raises(ConductorError, match="image.tar vanished from the release cache while it was being filled"):
        _stage.stage(Docker(), replace(release["request"], incoming=incoming(release, ["compose.yaml"])))


def test_a_symlinked_directory_in_the_cache_is_never_written_through(release, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    nested = replace(release["request"], artifacts=[*release["request"].artifacts, {"path": "conf/app.conf", "size": 2, "sha256": "0" * 64}])
    Path(nested.release_dir).mkdir(parents=True, exist_ok=True)
    link = Path(nested.release_dir) / "conf"
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(outside)
    source = tmp_path / "app.conf"
    source.write_text("x\n")
    with pytest.raises(ConductorError, match="conf is a symlink or not a directory"):
        _stage.stage(Docker(), replace(nested, incoming={"conf/app.conf": str(source)}))
    assert list(outside.iterdir()) == []
    link.unlink()


def test_a_container_made_to_look_like_the_colour_is_never_reused(release):
    """Someone with docker access runs a container of the recorded image with every label the colour's had (the compose
    project, its config-hash) but another command: labels are a claim; it is replaced, never reused or proven."""
    staged(release)
    original = docker("ps", "--quiet", "--no-trunc", "--filter", "label=com.docker.compose.project=stagetest-green").stdout.split()[0]
    labels = json.loads(docker("inspect", "--format", "{{json .Config.Labels}}", original).stdout)
    docker("rm", "--force", original)
    forged = ["run", "--detach", "--name", "stagetest-green-web-1", "--publish", f"127.0.0.1:{release['request'].port}:8080",
              *[arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")], "--entrypoint", "/bin/busybox",
              release["image_id"], "sh", "-c", "echo FORGED > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"]
    docker(*forged)
    deadline = time.monotonic() + 10
    while page(release["request"]) != "FORGED\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert page(release["request"]) == "FORGED\n"
    with pytest.raises(_stage.StageError, match="its containers are not the ones this tool started from the release"):
        _stage.stage(Docker(), release["request"], prove_only=True)
    result = staged(release)
    assert not result.reused and result.started and page(release["request"]) == "the verified page\n"


@pytest.mark.parametrize("name", ["DOCKER_HOST", "COMPOSE_FILE", "COMPOSE_PROFILES", "PATH", "docker_context"])
def test_variables_that_steer_docker_or_compose_are_refused(release, name):
    with pytest.raises(ConductorError, match=f"compose variable {name} would change which engine or which files"):
        _stage.stage(Docker(), replace(release["request"], compose_env={name: "x"}))


def test_the_watch_proves_a_running_colour_by_sizes_and_image_ids_and_still_refuses_a_changed_copy(release):
    """cache_check sizes (the watch's frequent check): the compose file is hashed, the tarball checked by size; a tarball of
    another size is refused, a changed compose file too; and sizes never start a colour."""
    staged(release)
    light = replace(release["request"], cache_check="sizes")
    proven = _stage.stage(Docker(), light, prove_only=True)
    assert proven.reused and not proven.changed and proven.image_ids == [release["image_id"]]
    with pytest.raises(ConductorError, match="only proves a colour that runs"):
        _stage.stage(Docker(), light)
    tarball = Path(release["request"].release_dir) / "image.tar"
    tarball.chmod(0o644)
    with open(tarball, "ab") as handle:
        handle.write(b"x")
    with pytest.raises(_stage.StageError, match=r"image.tar has \d+ bytes, the verified manifest says \d+"):
        _stage.stage(Docker(), light, prove_only=True)
    # the watch's check changes nothing, not even the wrong file: it is named, and left for whoever investigates
    assert tarball.stat().st_size == release["request"].artifacts[1]["size"] + 1
    os.truncate(tarball, release["request"].artifacts[1]["size"])
    compose = Path(release["request"].release_dir) / "compose.yaml"
    staged(release)
    compose.chmod(0o644)
    original = compose.read_bytes()
    compose.write_text(compose.read_text() + "# changed\n")
    with pytest.raises(_stage.StageError, match="compose.yaml has sha256"):
        _stage.stage(Docker(), light, prove_only=True)
    compose.write_bytes(original)
    (Path(release["request"].release_dir) / "stray.txt").write_text("not of the release\n")
    assert not _stage.stage(Docker(), light, prove_only=True).removed
    assert (Path(release["request"].release_dir) / "stray.txt").exists()


def test_the_daily_verification_proves_by_digests_and_changes_nothing_either(release):
    """cache_check digests with prove_only (the daily verification): a same-size change the sizes never see is named,
    and the changed file stays where it is, as does a stray one."""
    staged(release)
    tarball = Path(release["request"].release_dir) / "image.tar"
    tarball.chmod(0o644)
    original = tarball.read_bytes()
    tarball.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    light = replace(release["request"], cache_check="sizes")
    assert _stage.stage(Docker(), light, prove_only=True).reused  # by size: unnoticed
    rejected = Path(release["request"].cache_root) / ".rejected"
    before = sorted(rejected.rglob("*"))
    with pytest.raises(_stage.StageError, match="image.tar has sha256"):
        _stage.stage(Docker(), release["request"], prove_only=True)
    assert tarball.read_bytes() != original and sorted(rejected.rglob("*")) == before
    tarball.write_bytes(original)
    (Path(release["request"].release_dir) / "stray.txt").write_text("not of the release\n")
    assert not _stage.stage(Docker(), release["request"], prove_only=True).removed
    assert (Path(release["request"].release_dir) / "stray.txt").exists()
    staged(release)
