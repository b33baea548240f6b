"""Benchmark: time-to-green of the restore drill into a clean host (the molecule scenario's container).

In one run:
1. `molecule create` starts a clean Debian 12 container; `molecule converge` runs the drill of the
   demo release v1.1.0 into it: the engine is installed, the artifacts copied and checked, the image
   loaded, the stack brought up and proved. The drill's report gives time-to-green and its steps.
2. The peer, on the same host right after: the same stack taken down and its image removed, then
   a bare `docker load` of the release's image tarball and `docker compose up --wait` of its compose
   file, timed from outside through `docker exec`.
3. `molecule destroy`.

Target (issue 4): time-to-green at most 60 s on this machine, with the host preparation (installing
the engine) reported apart from the restore itself. Run: make bench-drill
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path(os.environ.get("DRILL_DEMO_DIR", ROOT / ".cache" / "drill-demo"))
TAG = "v1.1.0"
INSTANCE = "maestro-drill-host"
MOLECULE = [str(ROOT / ".venv" / "bin" / "molecule")]


def molecule(action: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}", "DRILL_DEMO_DIR": str(DEMO), "DRILL_TAG": TAG,
           "DRILL_APT_CACHE": str(ROOT / ".cache" / "drill-apt")}
    return subprocess.run(MOLECULE + [action, "-s", "restore_drill"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def in_host(*argv: str) -> float:
    started = time.perf_counter()
    subprocess.run(["docker", "exec", "--env", f"TAG={TAG}", "--env", "PORT=18180", "--workdir",
                    f"/var/lib/maestro/drill/molecule/{TAG}", INSTANCE, *argv], capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    molecule("destroy")
    for action in ("create", "converge"):
        done = molecule(action)
        if done.returncode != 0:
            molecule("destroy")
            sys.exit(f"molecule {action} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    report = json.loads((DEMO / "drills" / f"drill-molecule-{TAG}-{INSTANCE}.json").read_text())
    compose = ["docker", "compose", "--project-name", "drill-molecule", "--file", "compose.yaml", "--file", "compose.drill.yaml"]
    try:
        in_host(*compose, "down", "--timeout", "0")
        in_host("docker", "image", "rm", f"maestro-demo/web:{TAG}")
        peer = in_host("docker", "load", "--quiet", "--input", "image.tar") + in_host(*compose, "up", "--detach", "--wait")
    finally:
        molecule("destroy")
    ttg, prep, restore = report["time_to_green"], report["host_preparation"], report["restore_time_to_green"]
    print(f"restore drill of {TAG} into a clean Debian 12 container ({report['engine']} installed by the drill): {report['result'].upper()}")
    print("  steps: " + ", ".join(f"{step} {seconds:.2f}s" for step, seconds in report["steps"].items()))
    print(f"  time-to-green {ttg:.2f}s (target <= 60s: {'MET' if ttg <= 60 else 'MISSED'}): "
          f"host preparation {prep:.2f}s, restore {restore:.2f}s")
    print(f"  peer on the same host: bare `docker load` + `docker compose up --wait` {peer:.2f}s; "
          f"restore without preparation {restore / peer:.1f}x that")


if __name__ == "__main__":
    main()
