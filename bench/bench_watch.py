"""Benchmark: the post-GA watch of one environment whose live release is 2 GiB, against the strict verification alone.

A demo environment of the bench's own (.cache/bench-watch, environment bench-watch, nginx on 18370, colours on 18371 and
18372) gets a release v1.3.0: the demo's compose file and image tarball, plus 20 files of 100 MiB, signed, deployed and
live (its colour runs the demo image of v1.1.0's commit, which the tag names; main is moved to it, as a release branch
would be). Then, timed from outside (wall clock from the command's start to its end), best and median of REPEAT runs:
- ours: `make watch` - strict verification of the live release (2 GiB hashed), the proxies, the live colour proven on
  the app host, the live release and the rollback target complete, drift, the metrics written;
- the peer: `make verify-release-strict TAG=v1.3.0` - the strict verification alone, run the same way;
- the metrics write: the writer's core writing the watch's own gauges and increments into a textfile directory
  (median of 50), and the playbook's "Write the metrics" task as Ansible's profile_tasks callback times it.
The watch's own clock (its summary's "watch took") is reported beside the wall clock.

Targets (issue 12): the watch <= 30 s and <= 1.2x the strict verification alone; the metrics write < 50 ms.
Run: make bench-watch
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.maestro.conductor.plugins.module_utils import _bundle, _metrics  # noqa: E402

DEMO = ROOT / ".cache" / "bench-watch"
TAG, FILES, SIZE = "v1.3.0", 20, 100 * 1024 ** 2
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
ENV = {**{k: v for k, v in os.environ.items() if k not in ("TAG", "MAKEFLAGS", "MAKELEVEL")},
       "DEMO_DIR": str(DEMO), "DEMO_ENVIRONMENT": "bench-watch", "DEMO_PROXY": "nginx", "DEMO_PROXY_PORT": "18370",
       "DEMO_BLUE_PORT": "18371", "DEMO_GREEN_PORT": "18372"}
GIT_ENV = {**ENV, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@bench.invalid", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@bench.invalid"}


def make(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], env=ENV, capture_output=True, text=True,
                          check=check)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(DEMO / "repo"), *args], env=GIT_ENV, capture_output=True, text=True,
                          check=True).stdout.strip()


def set_up() -> None:
    """The demo, then v1.3.0 (2 GiB) made, signed and deployed."""
    make("demo")
    rel = DEMO / "releases" / TAG
    if not (rel / f"release-manifest-{TAG}.yaml").exists():
        if TAG not in git("tag", "--list", TAG).split():
            git("tag", "-a", "-m", TAG, TAG, "v1.1.0^{commit}")
        rel.mkdir(parents=True, exist_ok=True)
        (rel / "image.tar").write_bytes((DEMO / "releases" / "v1.1.0" / "image.tar").read_bytes())
        # the image the tarball holds, by its own name (the demo's compose file names it by the release's tag)
        compose = (DEMO / "releases" / "v1.1.0" / "compose.yaml").read_text()
        (rel / "compose.yaml").write_text(re.sub(r'"maestro-demo/web:\$\{TAG[^}]*\}"', '"maestro-demo/web:v1.1.0"', compose))
        data = rel / "data"
        data.mkdir(exist_ok=True)
        for index in range(FILES):
            with open(data / f"part-{index:02d}.bin", "wb") as handle:
                for _chunk in range(SIZE // (8 << 20)):
                    handle.write(os.urandom(8 << 20))
        plan = _bundle.plan_bundle(_bundle.BundleRequest(release_dir=str(rel), tag=TAG, repo=str(DEMO / "repo"),
                                                         signing_key=str(DEMO / "keys" / "release_signing_key"),
                                                         checks=[{"name": "bench", "result": "pass"}], ci_run="make bench-watch"))
        _bundle.write_bundle(plan, str(rel))
    git("update-ref", "refs/heads/main", git("rev-parse", f"{TAG}^{{commit}}"))
    deployed = make("deploy", f"TAG={TAG}", check=False)
    if deployed.returncode != 0:
        sys.exit(deployed.stdout[-3000:] + deployed.stderr[-2000:])
    for path in sorted(rel.rglob("*")):  # into the page cache, as for every contender
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(16 << 20):
                    pass


def timed(args: list[str], extra_env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], env={**ENV, **(extra_env or {})},
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n" + done.stdout[-4000:] + done.stderr[-2000:])
    return seconds, done.stdout


def metrics_core() -> float:
    """The writer's core, writing what the watch writes (its last textfile, read back) into a directory of its own."""
    previous = (DEMO / "metrics" / "maestro_watch_bench-watch.prom").read_text()
    samples = _metrics.parse(previous)
    gauges = [{"name": n, "labels": {k: v for k, v in labels.items() if k != "environment"}, "value": value}
              for n, kind, labels, value in samples if kind == "gauge"]
    increments = [{"name": "maestro_watch_runs_total", "labels": {"result": "pass"}, "by": 1},
                  {"name": "maestro_verify_runs_total", "labels": {"source": "watch", "result": "pass"}, "by": 1}]
    times = []
    with tempfile.TemporaryDirectory() as directory:
        for _run in range(50):
            start = time.perf_counter()
            _metrics.write(_metrics.Request(writer="watch", environment="bench-watch", gauges=gauges, increments=increments,
                                            textfile_dir=directory, gateway=None))
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    set_up()
    watch, verify, own, task = [], [], [], []
    for _run in range(REPEAT):
        seconds, text = timed(["watch"],
                              {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"})
        assert "GREEN: verified strictly" in " ".join(text.split()), text[-3000:]
        watch.append(seconds)
        own.append(float(re.search(r"watch took ([0-9.]+) s", text).group(1)))
        task.append(float(re.search(r"Write the metrics -+ ([0-9.]+)s", text).group(1)))
        seconds, text = timed(["verify-release-strict", f"TAG={TAG}"])
        assert f"release {TAG} (strict): VERIFIED" in text, text[-3000:]
        verify.append(seconds)
    core = metrics_core()
    w, v = statistics.median(watch), statistics.median(verify)
    ratio = w / v
    print(f"machine: {os.cpu_count()} cores; live release {TAG}: {FILES} x 100 MiB + the demo image; best and median of {REPEAT} runs")
    print(f"make watch                       best {min(watch):6.2f}s  median {w:6.2f}s  (its own clock: median "
          f"{statistics.median(own):.2f}s)  target <= 30 s: {'MET' if w <= 30 else 'MISSED'}")
    print(f"make verify-release-strict TAG={TAG}  best {min(verify):6.2f}s  median {v:6.2f}s")
    print(f"ratio watch / strict verification alone: {ratio:.2f}x (target <= 1.2x): {'MET' if ratio <= 1.2 else 'MISSED'}"
          f"; the watch's extra: {w - v:+.2f}s")
    print(f"metrics write: core {core * 1000:.1f} ms median of 50 (target < 50 ms: {'MET' if core < 0.05 else 'MISSED'}); "
          f"the playbook's task (profile_tasks) median {statistics.median(task) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
