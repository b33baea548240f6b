"""The restore drill on this machine's real docker engine: green, and each way it turns red.

The drill into a clean Debian host is the molecule scenario (extensions/molecule/default);
here the drill host is this machine, so the faults can be set up around it.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.integration.demo_env import Env, out
from tests.servers import free_port

ENVIRONMENT = "itest-drill"


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    """The demo releases, made in a directory of their own."""
    env = Env(tmp_path_factory.mktemp("itest-drill"), ENVIRONMENT)
    made = env.playbook("demo/make_releases.yml")
    assert made.returncode == 0, out(made)[-3000:]
    env.drill_root = env.root / "drill-host"
    env.port = free_port()
    yield env
    subprocess.run(["docker", "compose", "-p", f"drill-{ENVIRONMENT}", "down", "--timeout", "0"], capture_output=True, check=False)


def run_drill(env: Env, tag: str, *extra_args: str, **extra_vars) -> subprocess.CompletedProcess:
    variables = {"tag": tag, "restore_drill_root": str(env.drill_root), "restore_drill_port": env.port, **extra_vars}
    return env.playbook("playbooks/restore_drill.yml", "-e", json.dumps(variables), *extra_args)


def drill_containers() -> str:
    return subprocess.run(["docker", "ps", "--all", "--quiet", "--filter", f"label=com.docker.compose.project=drill-{ENVIRONMENT}"],
                          capture_output=True, text=True, check=True).stdout.strip()


def report(env: Env, tag: str, host: str = "localhost") -> dict:
    return json.loads((env.root / "drills" / f"drill-{ENVIRONMENT}-{tag}-{host}.json").read_text())


def test_drill_is_green_timed_reported_and_recorded(drill):
    done = run_drill(drill, "v1.1.0", restore_drill_teardown=True)
    assert done.returncode == 0, out(done)[-3000:]
    found = report(drill, "v1.1.0")
    assert found["result"] == "green" and found["commit"] == drill.commit("v1.1.0")
    assert list(found["steps"]) == ["verify", "prepare", "copy", "load", "up", "health"]
    assert found["time_to_green"] == pytest.approx(sum(found["steps"].values()), abs=0.01)
    assert found["restore_time_to_green"] == pytest.approx(found["time_to_green"] - found["host_preparation"], abs=0.01)
    page = (drill.root / "drills" / f"drill-{ENVIRONMENT}-v1.1.0-localhost.md").read_text()
    assert "| result | **GREEN** |" in page and f"| time-to-green | {found['time_to_green']} s |" in page
    last = drill.ledger()[-1]
    assert (last["event"], last["tag"], last["verdict"], last["durations"]["time_to_green"]) == ("drill", "v1.1.0", "green", found["time_to_green"])
    # torn down as asked: no container, no files
    assert not drill_containers() and not (drill.drill_root / ENVIRONMENT / "v1.1.0").exists()


def test_drill_runs_again_without_changing_anything(drill):
    first = run_drill(drill, "v1.0.0")
    assert first.returncode == 0, out(first)[-3000:]
    again = run_drill(drill, "v1.0.0", restore_drill_teardown=False)
    assert again.returncode == 0 and "changed=0" in again.stdout.split("PLAY RECAP")[-1], out(again)[-3000:]
    assert report(drill, "v1.0.0")["result"] == "green"
    # left as the tests after this one expect it: nothing drilled (the drill's own teardown is the first test's)
    subprocess.run(["docker", "compose", "-p", f"drill-{ENVIRONMENT}", "down", "--timeout", "0"], capture_output=True, check=True)
    shutil.rmtree(drill.drill_root / ENVIRONMENT / "v1.0.0")


def test_corrupted_artifact_is_red_before_anything_is_installed(drill):
    image = drill.root / "releases" / "v1.0.0" / "image.tar"
    original = image.read_bytes()
    image.write_bytes(original + b"tampered")
    try:
        done = run_drill(drill, "v1.0.0")
    finally:
        image.write_bytes(original)
    assert done.returncode != 0
    found = report(drill, "v1.0.0")
    assert (found["result"], found["failed_step"]) == ("red", "verify")
    assert "artifact image.tar: size is" in found["error"] or "artifact image.tar: sha256 is" in found["error"]
    assert "RED at step verify" in out(done)
    assert not (drill.drill_root / ENVIRONMENT / "v1.0.0").exists()
    assert drill.ledger()[-1]["verdict"] == "red"


def test_release_without_an_image_tarball_is_red(drill):
    drill.add_release("v1.0.0-no-image", """services:
  web:
    image: "maestro-demo/web:v1.0.0"
    pull_policy: never
    ports: ["127.0.0.1:${PORT}:8080"]
""")
    done = run_drill(drill, "v1.0.0-no-image")
    assert done.returncode != 0
    found = report(drill, "v1.0.0-no-image")
    assert found["failed_step"] == "verify"
    assert found["error"] == ("release v1.0.0-no-image carries no image tarball: its manifest lists no image.tar "
                              "(it lists compose.yaml), and a drill uses no registry")
    assert not (drill.drill_root / ENVIRONMENT / "v1.0.0-no-image").exists()


def test_host_that_cannot_be_reached_gets_a_red_report(drill, tmp_path):
    inventory = tmp_path / "unreachable.yml"
    inventory.write_text(f"""all:
  children:
    drill:
      hosts:
        unreachable-drill-host:
          ansible_host: 127.0.0.1
          ansible_port: {free_port()}
          ansible_connection: ssh
          ansible_user: nobody
""")
    done = run_drill(drill, "v1.1.0", "-i", str(inventory), "--limit", "unreachable-drill-host", restore_drill_connect_timeout=3)
    assert done.returncode != 0
    found = report(drill, "v1.1.0", "unreachable-drill-host")
    assert (found["result"], found["failed_step"]) == ("red", "prepare")
    assert "Connection refused" in found["error"] or "timed out" in found["error"]
    assert "restore drill of v1.1.0 on unreachable-drill-host: RED at step prepare" in out(done)


def test_service_that_never_turns_healthy_is_red_with_its_last_health_answer(drill):
    # the image of v1.0.0, serving a directory without /healthz: its healthcheck never passes
    drill.add_release("v1.0.0-never-healthy", """services:
  web:
    image: "maestro-demo/web:v1.0.0"
    pull_policy: never
    stop_signal: SIGKILL
    entrypoint: ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/bin"]
    ports: ["127.0.0.1:${PORT}:8080"]
    healthcheck:
      test: ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      retries: 2
""", image_from="v1.0.0")
    done = run_drill(drill, "v1.0.0-never-healthy", restore_drill_timeout=6, restore_drill_teardown=True)
    assert done.returncode != 0
    found = report(drill, "v1.0.0-never-healthy")
    assert (found["result"], found["failed_step"]) == ("red", "up")
    assert found["last_health"]["status"] == 404
    assert found["time_to_green"] is None
    assert not drill_containers()
