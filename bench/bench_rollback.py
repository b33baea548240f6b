"""Benchmark: rollbacks under load through nginx and through HAProxy, and their time-to-green against a
bare compose up.

For each proxy, in one run, on a demo environment (`make demo`; the HAProxy one is made here, as
`DEMO_PROXY=haproxy make demo` in environment demo-haproxy on ports 18090-18092):
1. `docker compose up --wait` of the same stack (the v1.0.0 release's compose file and image) in a
   project of its own: the peer for time-to-green. Also, for context, the same up through
   community.docker.docker_compose_v2 alone in a playbook (bench/compose_only.yml).
2. A load generator on loopback sends requests to the proxy's /version for the whole rollback
   (bounded: stops at REQUESTS per client kind or after DEADLINE seconds): clients that open a
   new connection per request, and keep-alive clients reusing one connection.
3. `playbooks/rollback.yml -e tag=v1.0.0` runs meanwhile (cold: no colour runs v1.0.0, so compose
   starts it); its summary gives the time-to-green.
Then the release that was live before is put back: the demo's own rollback (back to the release the
idle colour still runs, which is reused as it runs and flipped to), timed too.

Targets (issue 3): 0 failed requests for new-connection clients, >= 5,000 requests at >= 100/s;
time-to-green of the demo's rollback <= 15 s and <= 3x the bare compose up. The cold rollback's
time-to-green is held to <= 15 s under load as well, and its ratio printed for context.
Run: make bench-rollback
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
REQUESTS = 5000          # per client kind
DEADLINE = 120.0         # seconds, whatever happens
THREADS = {"new connection": 4, "keep-alive": 2}
# each client's pause between requests: about 150/s of new connections in all, so the load
# generator leaves the two cores to the rollback it measures
PAUSE = 0.025
PLAYBOOK = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(ROOT / "inventories" / "local" / "hosts.yml")]
PROXIES = {
    "nginx": {"port": 18080, "env": {}},
    "haproxy": {"port": 18090, "env": {"DEMO_PROXY": "haproxy", "DEMO_ENVIRONMENT": "demo-haproxy",
                                       "DEMO_BLUE_PORT": "18091", "DEMO_GREEN_PORT": "18092"}},
}


class Load:
    def __init__(self, port: int):
        self.address = ("127.0.0.1", port)
        self.stop = threading.Event()
        self.counts = {kind: {"ok": 0, "failed": 0, "errors": {}} for kind in THREADS}
        self.lock = threading.Lock()

    def _record(self, kind: str, ok: bool, error: str = "") -> int:
        with self.lock:
            entry = self.counts[kind]
            entry["ok" if ok else "failed"] += 1
            if error:
                entry["errors"][error] = entry["errors"].get(error, 0) + 1
            return entry["ok"] + entry["failed"]

    def client(self, kind: str) -> None:
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None or kind == "new connection":
                    conn = http.client.HTTPConnection(*self.address, timeout=5)
                conn.request("GET", "/version", headers={} if kind == "keep-alive" else {"Connection": "close"})
                response = conn.getresponse()
                response.read()
                done = self._record(kind, response.status == 200, "" if response.status == 200 else f"HTTP {response.status}")
                if kind == "new connection":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                done = self._record(kind, False, type(exc).__name__)
                conn = None
            if done >= REQUESTS and self.stop.wait(0):
                break
            time.sleep(PAUSE)


def bare_compose_up() -> float:
    """The median of three cold `docker compose up --wait` runs of the v1.0.0 stack."""
    runs = sorted(_bare_compose_up() for _run in range(3))
    return runs[1]


def _bare_compose_up() -> float:
    release = DEMO / "releases" / "v1.0.0"
    env = {**os.environ, "TAG": "v1.0.0", "PORT": "18099"}
    base = ["docker", "compose", "-p", "bench-bare", "-f", str(release / "compose.yaml")]
    subprocess.run(base + ["down", "--timeout", "0"], env=env, capture_output=True, check=False)
    start = time.perf_counter()
    subprocess.run(base + ["up", "--detach", "--wait"], env=env, capture_output=True, check=True)
    elapsed = time.perf_counter() - start
    subprocess.run(base + ["down", "--timeout", "0"], env=env, capture_output=True, check=True)
    return elapsed


def playbook(path: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(PLAYBOOK + [str(ROOT / path), *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), **env})


def rollback(tag: str, env: dict) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    done = playbook("playbooks/rollback.yml", env, "-e", json.dumps({"tag": tag}))
    return done, time.perf_counter() - start


def time_to_green(done: subprocess.CompletedProcess) -> float:
    found = re.search(r"time-to-green: ([0-9.]+)s", done.stdout)
    if done.returncode != 0 or not found:
        sys.exit("the rollback failed:\n" + done.stdout[-3000:])
    return float(found.group(1))


def live_tag(port: int) -> str:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/version")
        answer = conn.getresponse()
        return json.loads(answer.read())["tag"] if answer.status == 200 else ""
    except (OSError, ValueError, KeyError):
        return ""


def bench(proxy: str) -> bool:
    """One proxy's run; whether every target was met."""
    port, env = PROXIES[proxy]["port"], PROXIES[proxy]["env"]
    live = live_tag(port)
    if live in ("", "v1.0.0"):
        print(f"({proxy}: making its demo environment first)", flush=True)
        made = playbook("demo/main.yml", env)
        live = live_tag(port)
        if made.returncode != 0 or live in ("", "v1.0.0"):
            sys.exit(f"the {proxy} demo environment could not be made:\n" + made.stdout[-3000:])
    bare = bare_compose_up()
    floor = playbook("bench/compose_only.yml", {})
    found = re.search(r"compose-only: ([0-9.]+)s", floor.stdout)
    compose_only = float(found.group(1)) if found else float("nan")
    load = Load(port)
    threads = [threading.Thread(target=load.client, args=(kind,)) for kind, n in THREADS.items() for _client in range(n)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the load is steady before the rollback starts
    done, wall = rollback("v1.0.0", env)
    while time.perf_counter() - started < DEADLINE and any(c["ok"] + c["failed"] < REQUESTS for c in load.counts.values()):
        time.sleep(0.1)
    load.stop.set()
    for thread in threads:
        thread.join(10)
    elapsed = time.perf_counter() - started
    ttg = time_to_green(done)
    restore, _wall = rollback(live, env)
    warm = time_to_green(restore)
    print(f"{proxy}: rollback {live} -> v1.0.0 under load; load for {elapsed:.1f}s during a {wall:.1f}s playbook run")
    for kind, counts in load.counts.items():
        total = counts["ok"] + counts["failed"]
        print(f"  {kind:<15} clients x{THREADS[kind]}: {total} requests, {total / elapsed:.0f}/s, {counts['failed']} failed {counts['errors'] or ''}")
    new = load.counts["new connection"]
    ok_load = new["failed"] == 0 and new["ok"] >= REQUESTS and new["ok"] / elapsed >= 100
    print(f"  new-connection target (0 failed, >= {REQUESTS} requests, >= 100/s): {'MET' if ok_load else 'MISSED'}")
    reused = "reused as it runs" in restore.stdout
    print(f"  time-to-green, the demo's rollback (back to {live}, whose colour still ran{': reused' if reused else ''}): {warm:.2f}s "
          f"(target <= 15s: {'MET' if warm <= 15 else 'MISSED'}); bare `docker compose up --wait` {bare:.2f}s; ratio {warm / bare:.1f}x "
          f"(target <= 3x: {'MET' if warm <= 3 * bare else 'MISSED'})")
    print(f"  time-to-green, cold (no colour ran v1.0.0: compose starts it), under load: {ttg:.2f}s "
          f"(target <= 15s: {'MET' if ttg <= 15 else 'MISSED'}); ratio {ttg / bare:.1f}x (context)")
    print(f"  context: docker_compose_v2 alone in a playbook, same stack: {compose_only:.2f}s ({compose_only / bare:.1f}x the bare up)")
    return ok_load and ttg <= 15 and warm <= 15 and warm <= 3 * bare


def main() -> None:
    wanted = sys.argv[1:] or list(PROXIES)
    met = [bench(proxy) for proxy in wanted]
    print("all targets met" if all(met) else "some targets missed: see above")


if __name__ == "__main__":
    main()
