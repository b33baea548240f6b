"""Benchmark: incident response from an alert, against the demo's `make rollback`, in the same run.

A demo of the bench's own (.cache/bench-incident, environment bench-incident, ports 19540-19549) with its monitoring (a real
Prometheus, Alertmanager and node_exporter; every rule's for: cut to 0 s, Alertmanager's group_wait 2 s as make demo-watch
sets it) and a real ansible-rulebook running the collection's rulebook (tests/integration/alert_path.py).

- ours: the broken v1.2.0 deployed and tampered on the release store, the watch red. Timed from the moment Alertmanager's
  notification of MaestroVerificationFailed reaches the relay in front of the rulebook (it has left Alertmanager) to the
  moment the proxy serves v1.1.0's commit, polled from outside every 50 ms. Beside it, the incident's own clock from the
  ledger: opened -> the rollback's record, and the whole procedure to its last notification.
- the peer: `make rollback` from v1.2.0 live, timed from the command's start to traffic confirmed on v1.1.0 (polled the
  same way) and to the command's end.

The rulebook lets one alert fingerprint through once in 5 minutes (its throttle), so the alert path runs once a bench
(BENCH_ROUNDS more runs would each wait 5 minutes); the peer runs BENCH_REPEAT times (default 3).
Target (issue 13): alert -> traffic confirmed <= 2x make rollback. Run: make bench-incident
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".collections")]

from ansible_collections.maestro.conductor.plugins.module_utils._ledger import parse_time  # noqa: E402
from tests.integration.alert_path import AlertPath  # noqa: E402
from tests.integration.demo_env import Env  # noqa: E402
from tests.servers import wait_for  # noqa: E402

DEMO = ROOT / ".cache" / "bench-incident"
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
# a tampered live release fires both; the first to leave Alertmanager starts the clock
INCIDENT_ALERTS = ("MaestroVerificationFailed", "MaestroServingUnproven")


class Poll:
    """When the proxy first served ``commit``, polled from outside every 50 ms."""

    def __init__(self, path: AlertPath, commit: str):
        self.seen_at: float | None = None
        self._stop = threading.Event()

        def run() -> None:
            while not self._stop.is_set():
                if path.served() == commit:
                    self.seen_at = time.time()
                    return
                time.sleep(0.05)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def wait(self, timeout: float) -> float:
        self.thread.join(timeout)
        self._stop.set()
        if self.seen_at is None:
            raise AssertionError("traffic never reached the target")
        return self.seen_at


def peer(path: AlertPath, good: str) -> tuple[float, float]:
    """make rollback from v1.2.0 live: (start -> traffic confirmed, start -> the command's end)."""
    path.finish_incidents()
    path.deploy("v1.2.0")
    poll = Poll(path, good)
    start = time.time()
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "rollback"], env=path.env.env(), capture_output=True,
                          text=True, check=False)
    end = time.time()
    assert done.returncode == 0, done.stdout[-2000:]
    return poll.wait(30) - start, end - start


def alert_round(path: AlertPath, good: str) -> dict:
    path.finish_incidents()
    path.deploy("v1.2.0")
    path.tamper("edit")
    before = len(path.relay.firing(*INCIDENT_ALERTS))
    poll = Poll(path, good)
    path.watch()
    arrived = wait_for("the alert leaving Alertmanager", lambda: path.relay.firing(*INCIDENT_ALERTS)[before:], 120, 0.02)[0]
    served = poll.wait(300)
    last = wait_for("the incident's last notification recorded", lambda: [
        r for r in path.env.ledger() if r["event"] == "incident_notified" and (r.get("data") or {}).get("phase") == "rolled_back"], 120)[-1]
    incident = path.incidents()[-1]
    rollback = [r for r in path.env.ledger() if r["event"] == "rollback" and r["actor"] == f"incident/{incident['incident']}"][-1]
    opened = parse_time(incident["time"]).timestamp()
    path.tamper("undo")
    return {"alert_to_traffic": served - arrived, "alert_to_opened": opened - arrived,
            "opened_to_rollback_record": parse_time(rollback["time"]).timestamp() - opened,
            "alert_to_last_notification": parse_time(last["time"]).timestamp() - arrived}


def main() -> int:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir(parents=True)
    path = AlertPath(Env(DEMO, "bench-incident"), 19540)
    try:
        path.start()
        good = path.env.commit("v1.1.0")
        ours = alert_round(path, good)
        peers = [peer(path, good) for _round in range(REPEAT)]
    finally:
        path.stop()
    traffic = statistics.median(p[0] for p in peers)
    wall = statistics.median(p[1] for p in peers)
    print(f"alert -> traffic confirmed on v1.1.0 (incident from Alertmanager, via ansible-rulebook): {ours['alert_to_traffic']:.2f}s")
    print(f"  alert -> incident opened (rulebook, ansible-runner, the playbook's start): {ours['alert_to_opened']:.2f}s")
    print(f"  incident opened -> its rollback recorded (the playbook's own clock): {ours['opened_to_rollback_record']:.2f}s")
    print(f"  alert -> the incident's last notification (rolled_back): {ours['alert_to_last_notification']:.2f}s")
    print(f"peer, make rollback (median of {REPEAT}): traffic confirmed {traffic:.2f}s, command ended {wall:.2f}s")
    ratio = ours["alert_to_traffic"] / wall
    print(f"ratio: alert -> traffic / make rollback = {ratio:.2f}x (target <= 2x: {'met' if ratio <= 2 else 'MISSED'})")
    print(json.dumps({"ours": ours, "peer": {"traffic": traffic, "wall": wall}}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
