"""Benchmark: the weekly deep validation of 100 releases totalling 10 GiB, against hashing the same bytes alone.

A release store of the bench's own (.cache/bench-weekly, environment bench-weekly; kept between runs, a speed-up only): a
git repository with 100 annotated tags, each with a signed release of three artifacts (64 MiB, 38.4 MiB and a compose
file), 10 GiB in all. Every file is read once before timing (all contenders then read from the page cache). Then, timed
from outside (wall clock from the command's start to its end), median of BENCH_REPEAT runs, contenders interleaved:
- the peer: the same parallel hashing alone - every artifact's sha256 with the collection's own hasher
  (``_hashing.sha256_files``, a thread per CPU, largest first), in a Python of its own;
- ours, the core: ``_weekly.validate`` of the 100 releases (strict verification with signatures, provenance, pipeline,
  regeneration), in a Python of its own;
- ours, as the user runs it: ``make weekly-validation``, beside the playbook's own clock (its report's ``seconds``) and the
  module's (its ``totals.seconds``).

Target (issue 14): the weekly validation <= 1.2x the hashing alone, every release named in the report.
Run: make bench-weekly
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.maestro.conductor.plugins.module_utils import _bundle  # noqa: E402

STORE = ROOT / ".cache" / "bench-weekly"
RELEASES, MIB = 100, 1024 ** 2
SIZES = {"app.bin": 64 * MIB, "data.bin": 38 * MIB + 400 * 1024}  # 102.4 MiB a release, 10 GiB in all
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
ENV = {**{k: v for k, v in os.environ.items() if k not in ("TAG", "MAKEFLAGS", "MAKELEVEL")},
       "DEMO_DIR": str(STORE), "DEMO_ENVIRONMENT": "bench-weekly", "PYTHONPATH": str(ROOT / ".collections")}
GIT_ENV = {**ENV, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@bench.invalid", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@bench.invalid"}
PYTHON = str(ROOT / ".venv" / "bin" / "python")
TAGS = [f"v{index // 10}.{index % 10}.0" for index in range(RELEASES)]


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(STORE / "repo"), *args], env=GIT_ENV, capture_output=True, text=True,
                          check=True).stdout.strip()


def set_up() -> None:
    """The repository, the key and the 100 signed releases, made once."""
    (STORE / "keys").mkdir(parents=True, exist_ok=True)
    key = STORE / "keys" / "release_signing_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)], check=True)
    public = (STORE / "keys" / "release_signing_key.pub").read_text().strip()
    (STORE / "keys" / "allowed_signers").write_text(f'bench@bench.invalid namespaces="maestro-release" {public}\n')
    if not (STORE / "repo" / ".git").exists():
        (STORE / "repo").mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--initial-branch=main")
    existing = set(git("tag", "--list").split())
    block = os.urandom(8 * MIB)
    for tag in TAGS:
        if tag not in existing:
            git("commit", "-q", "--allow-empty", "-m", tag)
            git("tag", "-a", "-m", tag, tag)
        release = STORE / "releases" / tag
        if (release / f"release-manifest-{tag}.yaml").exists():
            continue
        release.mkdir(parents=True, exist_ok=True)
        for name, size in SIZES.items():
            with open(release / name, "wb") as handle:
                written = 0
                while written < size:
                    chunk = tag.encode() + block[len(tag): min(len(block), size - written)]
                    handle.write(chunk)
                    written += len(chunk)
        (release / "compose.yaml").write_text(f"services: {{app: {{image: 'bench/app:{tag}'}}}}\n")
        plan = _bundle.plan_bundle(_bundle.BundleRequest(release_dir=str(release), tag=tag, repo=str(STORE / "repo"),
                                                         signing_key=str(key), checks=[{"name": "bench", "result": "pass"}],
                                                         ci_run="make bench-weekly"))
        _bundle.write_bundle(plan, str(release))


PEER = """
import os, sys
from ansible_collections.maestro.conductor.plugins.module_utils import _hashing
root = sys.argv[1]
paths = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f in ("app.bin", "data.bin", "compose.yaml")]
print(len(_hashing.sha256_files(paths)))
"""

CORE = """
import json, sys
from ansible_collections.maestro.conductor.plugins.module_utils import _weekly
root, repo, signers, tags = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
results = _weekly.validate(root, tags, repo, {}, allowed_signers=signers)
print(json.dumps({"ok": all(r.ok for r in results), "tags": [r.tag for r in results], "problems": [p for r in results for p in r.problems][:5]}))
"""


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done


def main() -> int:
    set_up()
    total = sum(size for size in SIZES.values()) * RELEASES
    print(f"release store: {RELEASES} releases, {total / 1024 ** 3:.2f} GiB of large artifacts; warming the page cache", flush=True)
    timed([PYTHON, "-c", PEER, str(STORE / "releases")])
    peer, core, made = [], [], []
    playbook_clock, module_clock = [], []
    for _round in range(REPEAT):
        seconds, done = timed([PYTHON, "-c", PEER, str(STORE / "releases")])
        assert done.returncode == 0, done.stderr[-2000:]
        peer.append(seconds)
        seconds, done = timed([PYTHON, "-c", CORE, str(STORE / "releases"), str(STORE / "repo"),
                               str(STORE / "keys" / "allowed_signers"), ",".join(TAGS)])
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout)
        assert result["ok"] and sorted(result["tags"]) == sorted(TAGS), result
        core.append(seconds)
        seconds, done = timed(["make", "--no-print-directory", "-C", str(ROOT), "weekly-validation"])
        assert done.returncode == 0, done.stdout[-3000:]
        made.append(seconds)
        report = json.loads(max((STORE / "reports" / "bench-weekly").glob("weekly-validation-*.json")).read_text())
        assert sorted(r["tag"] for r in report["releases"]) == sorted(TAGS) and report["ok"]
        playbook_clock.append(report["seconds"])
        module_clock.append(report["totals"]["seconds"])
    p, c, m = statistics.median(peer), statistics.median(core), statistics.median(made)
    print(f"peer (parallel hashing alone):      median {p:6.2f} s  ({total / p / 1024 ** 3:.2f} GiB/s)  runs {[round(x, 2) for x in peer]}")
    print(f"ours, _weekly.validate:             median {c:6.2f} s  ratio {c / p:.2f}x  runs {[round(x, 2) for x in core]}")
    print(f"ours, make weekly-validation:       median {m:6.2f} s  ratio {m / p:.2f}x  runs {[round(x, 2) for x in made]}")
    print(f"  the playbook's own clock {statistics.median(playbook_clock):.2f} s, the module's {statistics.median(module_clock):.2f} s; "
          f"every one of the {RELEASES} releases named in the report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
