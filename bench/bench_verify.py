"""Benchmark: release verification against named peers, measured in the same run.

1. A release of 20 files totalling 2 GiB, signed: the core verifier (strict, so with the
   signature checked against allowed signers, and every other check) against
   `sha256sum -c` and against `openssl dgst -sha256` run file by file.
   Targets: <= 0.25x sha256sum -c, <= 0.7x serial openssl.
2. `make verify-release-strict` on the demo release against `make bench-noop`
   (a one-task playbook run the same way). Target: at most 1.5 s more.

Files are read once before timing so every contender reads from the page cache.
Run: make bench
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.maestro.conductor.plugins.module_utils import _bundle  # noqa: E402
from ansible_collections.maestro.conductor.plugins.module_utils._verify import verify_release  # noqa: E402

WORK = ROOT / ".cache" / "bench"
FILES, TOTAL = 20, 2 * 1024 ** 3
REPEAT = 5
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@bench.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@bench.invalid"}


def best_and_median(fn) -> tuple[float, float]:
    times = []
    for _run in range(REPEAT):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def signing_key() -> tuple[Path, Path]:
    """The bench's release key and the allowed-signers file that trusts it."""
    key, signers = WORK / "keys" / "release_signing_key", WORK / "keys" / "allowed_signers"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text().strip()
    signers.write_text(f'bench@bench.invalid namespaces="maestro-release" {public}\n')
    return key, signers


def make_release() -> tuple[Path, Path, Path, list[Path]]:
    repo, rel = WORK / "repo", WORK / "release" / "v1.0.0"
    files = [rel / f"artifact-{i:02d}.bin" for i in range(FILES)]
    size = TOTAL // FILES
    rel.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261126)
    for path in files:
        if not path.exists() or path.stat().st_size != size:
            with open(path, "wb") as handle:
                for _chunk in range(size // (8 << 20)):
                    handle.write(rng.randbytes(8 << 20))
                handle.write(rng.randbytes(size % (8 << 20)))
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        subprocess.run(["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "bench"], env=GIT_ENV, check=True)
        subprocess.run(["git", "-C", str(repo), "tag", "-a", "-m", "bench", "v1.0.0"], env=GIT_ENV, check=True)
    key, signers = signing_key()
    plan = _bundle.plan_bundle(_bundle.BundleRequest(release_dir=str(rel), tag="v1.0.0", repo=str(repo), signing_key=str(key),
                                                     checks=[{"name": "bench", "result": "pass"}]))
    _bundle.write_bundle(plan, str(rel))
    return repo, rel, signers, files


def hashing_benchmark() -> list[tuple[str, float, float, str]]:
    repo, rel, signers, files = make_release()
    sums = WORK / "SHA256SUMS"
    manifest_lines = []
    for path in files:
        out = subprocess.run(["openssl", "dgst", "-sha256", "-r", str(path)], capture_output=True, text=True, check=True).stdout
        manifest_lines.append(f"{out.split()[0]}  {path}\n")
    sums.write_text("".join(manifest_lines))
    for path in files:  # into the page cache
        with open(path, "rb") as handle:
            while handle.read(16 << 20):
                pass

    def ours():
        report = verify_release(str(rel), "v1.0.0", str(repo), strict=True, allowed_signers=str(signers))
        assert report.ok and not report.warned, report.summary()
        assert next(check for check in report.checks if check.name == "signature").detail.startswith("signed by ")

    def sha256sum():
        subprocess.run(["sha256sum", "--quiet", "-c", str(sums)], check=True)

    def openssl_serial():
        for path in files:
            subprocess.run(["openssl", "dgst", "-sha256", str(path)], check=True, stdout=subprocess.DEVNULL)

    ours_best, ours_med = best_and_median(ours)
    rows = [("maestro verify (strict: signature and all checks)", ours_best, ours_med, "")]
    for name, fn, target in (("sha256sum -c", sha256sum, 0.25), ("openssl dgst -sha256, file by file", openssl_serial, 0.7)):
        best, med = best_and_median(fn)
        ratio = ours_med / med
        rows.append((name, best, med, f"ratio {ratio:.2f}x (target <= {target}x): {'MET' if ratio <= target else 'MISSED'}"))
    return rows


def make_benchmark() -> list[tuple[str, float, float, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("TAG", "MAKEFLAGS", "MAKELEVEL")}
    subprocess.run(["make", "-s", "-C", str(ROOT), "demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    tag = (ROOT / ".demo" / "latest_tag").read_text().strip()

    def verify():
        subprocess.run(["make", "-s", "-C", str(ROOT), "verify-release-strict", f"TAG={tag}"], env=env, check=True,
                       stdout=subprocess.DEVNULL)

    def noop():
        subprocess.run(["make", "-s", "-C", str(ROOT), "bench-noop"], env=env, check=True, stdout=subprocess.DEVNULL)

    v_best, v_med = best_and_median(verify)
    n_best, n_med = best_and_median(noop)
    extra = v_med - n_med
    return [(f"make verify-release-strict TAG={tag}", v_best, v_med, f"{extra:+.2f}s over no-op (target <= +1.5s): {'MET' if extra <= 1.5 else 'MISSED'}"),
            ("make bench-noop (one-task playbook)", n_best, n_med, "")]


def main() -> None:
    if not shutil.which("openssl") or not shutil.which("sha256sum"):
        sys.exit("bench needs openssl and sha256sum on PATH")
    print(f"machine: {os.cpu_count()} cores; {FILES} files, {TOTAL / 1024 ** 3:.1f} GiB; best and median of {REPEAT} runs")
    rows = hashing_benchmark() + make_benchmark()
    width = max(len(r[0]) for r in rows)
    for name, best, med, note in rows:
        print(f"{name:<{width}}  best {best:7.3f}s  median {med:7.3f}s  {note}")


if __name__ == "__main__":
    main()
