"""Benchmark: tag lookup on a repository with 10,000 annotated tags.

maestro's listing (newest first by creator date, with object id, peeled commit,
date, annotated and signed, parsed into records) against
`git for-each-ref --sort=-creatordate refs/tags` on the same repository, in the
same run. Target: at most 1.5x. Run: make bench-tags
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.maestro.conductor.plugins.module_utils import _git  # noqa: E402

REPO = ROOT / ".cache" / "bench-tags" / "repo"
TAGS = 10_000
RUNS = 21


def fast_import_stream() -> bytes:
    """10,000 commits, each with an annotated tag a minute apart: one git fast-import call."""
    parts = []
    for i in range(1, TAGS + 1):
        when = 1_700_000_000 + i * 60
        message, tag_message = f"c{i}", f"release {i}"
        parts.append(f"commit refs/heads/main\nmark :{i}\ncommitter B <b@bench.invalid> {when} +0000\n"
                     f"data {len(message)}\n{message}\n" + (f"from :{i - 1}\n" if i > 1 else ""))
        parts.append(f"tag v{i // 100}.{i % 100}.0\nfrom :{i}\ntagger B <b@bench.invalid> {when + 1} +0000\n"
                     f"data {len(tag_message)}\n{tag_message}\n")
    return "".join(parts).encode()


def make_repo() -> None:
    if (REPO / ".git").exists():
        return
    REPO.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(REPO)], check=True)
    subprocess.run(["git", "-C", str(REPO), "fast-import", "--quiet"], input=fast_import_stream(), check=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    make_repo()
    peer_cmd = ["git", "-C", str(REPO), "for-each-ref", "--sort=-creatordate", "refs/tags"]
    tags = _git.list_tags(str(REPO))
    assert len(tags) == TAGS and tags[0].name == "v100.0.0", (len(tags), tags[:1])
    ours, peer = [], []
    for _run in range(RUNS):  # interleaved, so drift on the machine hits both alike
        peer.append(timed(lambda: subprocess.run(peer_cmd, stdout=subprocess.DEVNULL, check=True)))
        ours.append(timed(lambda: _git.list_tags(str(REPO))))
    ratio = statistics.median(ours) / statistics.median(peer)
    print(f"{TAGS} annotated tags (loose refs); median of {RUNS} interleaved runs")
    print(f"maestro list_tags (records with object, commit, date, kind, signed)  median {statistics.median(ours):.3f}s  "
          f"best {min(ours):.3f}s")
    print(f"git for-each-ref --sort=-creatordate refs/tags                       median {statistics.median(peer):.3f}s  "
          f"best {min(peer):.3f}s")
    print(f"ratio {ratio:.2f}x (target <= 1.5x): {'MET' if ratio <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
