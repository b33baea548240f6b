"""Benchmark: time-to-green of a rollback, seen from outside, against the plain script an operator would write.

Time-to-green is what a user feels: from the command's start to the first answer through the proxy that carries the
new commit, as a load generator on loopback sees it (bounded: REQUESTS per client kind or DEADLINE seconds). The
playbook's own clock (its summary's time-to-green, which leaves out Ansible's start and the steps after the flip) is
reported beside it.

Part 1, this machine as the app host (a demo environment of the bench's own under .cache/bench, the demo's releases),
for nginx and for HAProxy, under load (3 clients opening a new connection per request, 1 keep-alive client):
- ours: `playbooks/rollback.yml -e tag=v1.0.0`, cold (no colour runs v1.0.0) with its image present by id, and with
  its image absent (loaded from the release's tarball); then back to v1.1.0, whose colour still runs (warm);
- the peer, timed the same way in the same run: bench/peer_rollback.sh (`sha256sum -c`, `docker load` when the image
  is absent, `docker compose up --wait`, rewrite the upstream and `nginx -s reload` or set HAProxy's server states
  through its runtime API, `curl` until the new commit answers).
Part 2, a fleet: 1, 2 and 4 app hosts (containers with their own docker engine, over SSH; tests/integration/fleet.py)
behind nginx: the cold rollback with the image present by id on every host.

Targets (issue 10): cold, one host, image present: <= 5 s and <= 4x the script; four hosts <= 1.5x one host; back
to a colour that still runs the verified image <= 3 s; during each, >= 5,000 requests at >= 100/s through the proxy
with 0 failed new-connection requests, nginx and HAProxy (keep-alive reported).
Run: make bench-rollback   (BENCH_PARTS=local or fleet for one part; BENCH_REPEAT=3 runs of each, medians reported)
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".collections"))

from tests.integration import fleet  # noqa: E402  pylint: disable=wrong-import-position
from tests.servers import NginxServer  # noqa: E402  pylint: disable=wrong-import-position

BENCH = ROOT / ".cache" / "bench"
DEMO = BENCH / "demo"
PLAYBOOK = str(ROOT / ".venv" / "bin" / "ansible-playbook")
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
REQUESTS = 5000            # per client kind, at least
DEADLINE = 600.0           # seconds of load, whatever happens
THREADS = {"new connection": 3, "keep-alive": 1}
PAUSE = 0.02             # per client between requests: about 120/s of new connections in all, leaving the cores to what is timed
ENVIRONMENTS = {
    "nginx": {"DEMO_ENVIRONMENT": "bench-nginx", "DEMO_PROXY": "nginx", "DEMO_PROXY_PORT": "18380", "DEMO_BLUE_PORT": "18381",
              "DEMO_GREEN_PORT": "18382"},
    "haproxy": {"DEMO_ENVIRONMENT": "bench-haproxy", "DEMO_PROXY": "haproxy", "DEMO_PROXY_PORT": "18390", "DEMO_BLUE_PORT": "18391",
                "DEMO_GREEN_PORT": "18392"},
}


class Load:
    """Clients on loopback against the proxy's /version; every answer is kept with its time, so the first answer
    carrying a commit after a command started is what the user saw."""

    def __init__(self, port: int):
        self.address = ("127.0.0.1", port)
        self.stop = threading.Event()
        self.counts = {kind: {"ok": 0, "failed": 0, "errors": {}} for kind in THREADS}
        self.seen: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.started = 0.0
        self.threads = [threading.Thread(target=self.client, args=(kind,), daemon=True) for kind, n in THREADS.items() for _client in range(n)]

    def client(self, kind: str) -> None:
        conn = None
        while not self.stop.is_set():
            commit, error = "", ""
            try:
                if conn is None or kind == "new connection":
                    conn = http.client.HTTPConnection(*self.address, timeout=5)
                conn.request("GET", "/version", headers={} if kind == "keep-alive" else {"Connection": "close"})
                response = conn.getresponse()
                body = response.read()
                if response.status == 200:
                    commit = json.loads(body).get("commit", "")
                else:
                    error = f"HTTP {response.status}"
                if kind == "new connection":
                    conn.close()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                error, conn = type(exc).__name__, None
            now = time.perf_counter()
            with self.lock:
                entry = self.counts[kind]
                entry["failed" if error else "ok"] += 1
                if error:
                    entry["errors"][error] = entry["errors"].get(error, 0) + 1
                elif kind == "new connection":
                    # a keep-alive connection held by a retiring nginx worker answers from the old configuration for a
                    # while: only what a new connection is answered says where traffic goes
                    self.seen.append((now, commit))
            if now - self.started > DEADLINE:
                break
            time.sleep(PAUSE)

    def __enter__(self) -> Load:
        self.started = time.perf_counter()
        for thread in self.threads:
            thread.start()
        time.sleep(1.0)  # steady before anything is timed
        return self

    def __exit__(self, *exc) -> None:
        while time.perf_counter() - self.started < DEADLINE and any(c["ok"] + c["failed"] < REQUESTS for c in self.counts.values()):
            time.sleep(0.2)
        self.stop.set()
        for thread in self.threads:
            thread.join(10)
        self.elapsed = time.perf_counter() - self.started

    def first(self, commit: str, since: float, timeout: float = 120.0) -> float:
        """Seconds from ``since`` to the answer from which on every new connection is answered with ``commit``
        (waits for one, up to ``timeout``; call it when the command has ended)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                window = [(t, c) for t, c in self.seen if t >= since]
            last_other = max((t for t, c in window if c != commit), default=since)
            found = next((t for t, c in window if t > last_other and c == commit), None)
            if found is not None:
                return found - since
            time.sleep(0.02)
        raise RuntimeError(f"{commit[:12]} never answered through the proxy")

    def report(self, name: str) -> bool:
        print(f"  load through {name} for {self.elapsed:.0f}s:")
        for kind, counts in self.counts.items():
            total = counts["ok"] + counts["failed"]
            print(f"    {kind:<15} x{THREADS[kind]}: {total} requests, {total / self.elapsed:.0f}/s, {counts['failed']} failed "
                  f"{counts['errors'] or ''}")
        new = self.counts["new connection"]
        met = new["failed"] == 0 and new["ok"] >= REQUESTS and new["ok"] / self.elapsed >= 100
        print(f"    new-connection target (0 failed, >= {REQUESTS} requests, >= 100/s): {'MET' if met else 'MISSED'}")
        return met


def run(argv: list[str], env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), **(env or {})}, capture_output=True,
                          text=True, check=False)
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(argv[:4])} failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
    return done


def playbook(path: str, env: dict, extra: dict | None = None, inventory: str = "") -> subprocess.CompletedProcess:
    return run([PLAYBOOK, "-i", inventory or str(ROOT / "inventories" / "local" / "hosts.yml"), str(ROOT / path),
                "-e", json.dumps(extra or {})], env)


def clock(done: subprocess.CompletedProcess) -> float:
    """The playbook's own time-to-green, from its summary."""
    return float(re.search(r"time-to-green: ([0-9.]+)s", done.stdout).group(1))


def commit_of(tag: str) -> str:
    return run(["git", "-C", str(DEMO / "repo"), "rev-parse", f"{tag}^{{commit}}"]).stdout.strip()


def image_of(tag: str) -> str:
    manifest = yaml.safe_load((DEMO / "releases" / tag / f"release-manifest-{tag}.yaml").read_text())
    return next(image["id"] for entry in manifest["artifacts"] for image in entry.get("images", []))


def timed(load: Load, commit: str, argv: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    """Time from the command's start to the first answer with ``commit`` through the proxy."""
    start = time.perf_counter()
    done = run(argv, env)
    return load.first(commit, start), done


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- part 1: this machine -------------------------------------------------------------------------------


def peer_release(tag: str) -> Path:
    """A copy of the release with the SHA256SUMS a plain script checks (written from the manifest, before any timing)."""
    copy = BENCH / "peer" / tag
    if not copy.exists():
        copy.mkdir(parents=True)
        manifest = yaml.safe_load((DEMO / "releases" / tag / f"release-manifest-{tag}.yaml").read_text())
        for entry in manifest["artifacts"]:
            (copy / entry["path"]).write_bytes((DEMO / "releases" / tag / entry["path"]).read_bytes())
        (copy / "SHA256SUMS").write_text("".join(f"{e['sha256']}  {e['path']}\n" for e in manifest["artifacts"]))
    return copy


def colour_serving(env: dict) -> str:
    """The colour whose port answers the commit the proxy serves (the one not to take down)."""
    served = http_commit(int(env["DEMO_PROXY_PORT"]))
    for colour, port in (("blue", env["DEMO_BLUE_PORT"]), ("green", env["DEMO_GREEN_PORT"])):
        if http_commit(int(port)) == served:
            return colour
    return ""


def http_commit(port: int) -> str:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        conn.request("GET", "/version")
        return json.loads(conn.getresponse().read()).get("commit", "")
    except (OSError, ValueError, http.client.HTTPException):
        return ""


def down(env: dict, colour: str) -> None:
    run(["docker", "compose", "--project-name", f"{env['DEMO_ENVIRONMENT']}-{colour}", "down", "--timeout", "0"], check=False)


def peer(load: Load, env: dict, proxy: str, tag: str) -> float:
    live = colour_serving(env)
    colour = "green" if live == "blue" else "blue"
    port = env[f"DEMO_{colour.upper()}_PORT"]
    url = f"http://127.0.0.1:{env['DEMO_PROXY_PORT']}"
    where = ([str(DEMO / "nginx" / "upstream.conf"), "maestro_demo", str(DEMO / "nginx" / "nginx.conf")] if proxy == "nginx" else
             [str(DEMO / "haproxy" / f"{env['DEMO_ENVIRONMENT']}.sock"), "maestro_demo", colour])
    argv = ["bash", str(ROOT / "bench" / "peer_rollback.sh"), str(peer_release(tag)), tag, commit_of(tag), image_of(tag),
            f"{env['DEMO_ENVIRONMENT']}-{colour}", port, url, proxy, *where]
    return timed(load, commit_of(tag), argv, env)[0]


def ours(load: Load, env: dict, tag: str) -> tuple[float, float]:
    outside, done = timed(load, commit_of(tag), [PLAYBOOK, "-i", str(ROOT / "inventories" / "local" / "hosts.yml"),
                                                 str(ROOT / "playbooks" / "rollback.yml"), "-e", json.dumps({"tag": tag})], env)
    return outside, clock(done)


def local(proxy: str) -> dict:
    env = {"DEMO_DIR": str(DEMO), **ENVIRONMENTS[proxy]}
    playbook("demo/make_releases.yml", env)
    playbook("demo/proxy.yml", env)
    playbook("playbooks/deploy.yml", env, {"tag": "v1.1.0"})
    figures: dict[str, list[float]] = {key: [] for key in ("cold", "cold clock", "absent", "absent clock", "warm", "warm clock",
                                                           "peer cold", "peer absent")}
    old, new = image_of("v1.0.0"), commit_of("v1.1.0")
    with Load(int(env["DEMO_PROXY_PORT"])) as load:
        for _rep in range(REPEAT):
            for absent in (False, True):
                for who in ("ours", "peer"):
                    live = colour_serving(env)
                    down(env, "green" if live == "blue" else "blue")
                    if absent:
                        run(["docker", "image", "rm", "--force", old], check=False)
                    if who == "ours":
                        outside, own = ours(load, env, "v1.0.0")
                        figures["absent" if absent else "cold"].append(outside)
                        figures["absent clock" if absent else "cold clock"].append(own)
                    else:
                        figures["peer absent" if absent else "peer cold"].append(peer(load, env, proxy, "v1.0.0"))
                    # back to v1.1.0, whose colour still runs: ours, warm
                    start = time.perf_counter()
                    done = run([PLAYBOOK, "-i", str(ROOT / "inventories" / "local" / "hosts.yml"), str(ROOT / "playbooks" / "rollback.yml"),
                                "-e", json.dumps({"tag": "v1.1.0"})], env)
                    figures["warm"].append(load.first(new, start))
                    figures["warm clock"].append(clock(done))
    met_load = load.report(proxy)
    result = {key: median(values) for key, values in figures.items()}
    print(f"  {proxy}, this machine as the app host, medians of {REPEAT} (time-to-green from outside; the playbook's own clock):")
    print(f"    ours, cold, image present: {result['cold']:.2f}s ({result['cold clock']:.2f}s)   "
          f"peer script: {result['peer cold']:.2f}s   ratio {result['cold'] / result['peer cold']:.2f}x")
    print(f"    ours, cold, image absent:  {result['absent']:.2f}s ({result['absent clock']:.2f}s)   "
          f"peer script: {result['peer absent']:.2f}s   ratio {result['absent'] / result['peer absent']:.2f}x")
    print(f"    ours, back to the colour that still runs the verified image: {result['warm']:.2f}s ({result['warm clock']:.2f}s)")
    cold_ok = result["cold"] <= 5.0 and result["cold"] <= 4 * result["peer cold"]
    print(f"    targets: cold <= 5 s and <= 4x the script: {'MET' if cold_ok else 'MISSED'}; "
          f"warm <= 3 s: {'MET' if result['warm'] <= 3.0 else 'MISSED'}")
    result["met"] = cold_ok and result["warm"] <= 3.0 and met_load
    return result


# --- part 2: a fleet ------------------------------------------------------------------------------------


def fleet_inventory(path: Path, hosts: list[fleet.AppHost], key: Path, nginx: NginxServer, environment: str) -> str:
    local = {"ansible_connection": "local", "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")}
    inventory = {"all": {
        "vars": {"maestro_environment": environment, "maestro_repo": str(DEMO / "repo"), "maestro_releases_root": str(DEMO / "releases"),
                 "maestro_allowed_signers": str(DEMO / "keys" / "allowed_signers"),
                 "maestro_ledger_path": str(BENCH / "fleet" / f"{environment}.jsonl"), "maestro_lock_path": str(BENCH / "fleet" / f"{environment}.lock")},
        "children": {
            "release_store": {"hosts": {"localhost": local}},
            "proxy": {"hosts": {"lb": {**local, "maestro_proxy": "nginx", "maestro_proxy_url": nginx.url, "maestro_nginx_config": str(nginx.config),
                                       "maestro_nginx_include": str(nginx.include), "maestro_nginx_upstream": nginx.upstream}}},
            "app": {"hosts": fleet.inventory_hosts(hosts, key)}}}}
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return str(path)


def fleet_part(sizes: tuple[int, ...] = (1, 2, 4)) -> dict:
    key = fleet.make_key(BENCH / "fleet")
    hosts = fleet.start_app_hosts("maestro-bench", max(sizes), key)
    results = {}
    try:
        for size in sizes:
            nginx = NginxServer(BENCH / "fleet" / f"nginx-{size}", "bench_fleet", hosts[0].endpoint("blue"))
            try:
                inventory = fleet_inventory(BENCH / "fleet" / f"inventory-{size}.yml", hosts[:size], key, nginx, f"bench-fleet-{size}")
                for tag in ("v1.0.0", "v1.1.0"):  # every host holds both releases' images and files
                    playbook("playbooks/deploy.yml", {}, {"tag": tag, "release_switch_force": True}, inventory)
                outside_runs, clock_runs = [], []
                with Load(nginx.port) as load:
                    for _rep in range(REPEAT):
                        live = re.search(r"colour=(\w+)", nginx.include.read_text()).group(1)
                        for host in hosts[:size]:
                            host.docker("compose", "-p", f"bench-fleet-{size}-{'green' if live == 'blue' else 'blue'}", "down", "-t", "0")
                        outside, done = timed(load, commit_of("v1.0.0"), [PLAYBOOK, "-i", inventory, str(ROOT / "playbooks" / "rollback.yml"),
                                                                          "-e", json.dumps({"tag": "v1.0.0"})], {})
                        outside_runs.append(outside)
                        clock_runs.append(clock(done))
                        playbook("playbooks/rollback.yml", {}, {"tag": "v1.1.0"}, inventory)
                load.report(f"nginx before {size} app hosts")
                results[size] = (median(outside_runs), median(clock_runs))
                print(f"  fleet of {size}: cold rollback, image present by id: {results[size][0]:.2f}s ({results[size][1]:.2f}s)", flush=True)
            finally:
                nginx.stop()
                for host in hosts[:size]:  # the next size's environment uses the same ports on these hosts
                    for colour in ("blue", "green"):
                        host.docker("compose", "-p", f"bench-fleet-{size}-{colour}", "down", "-t", "0")
    finally:
        fleet.stop_app_hosts(hosts)
    one, four = results.get(1, (float("nan"),))[0], results.get(4, (float("nan"),))[0]
    print(f"  four hosts / one host: {four / one:.2f}x (target <= 1.5x: {'MET' if four <= 1.5 * one else 'MISSED'})")
    return {"met": four <= 1.5 * one, **{f"fleet {size}": value for size, value in results.items()}}


def main() -> None:
    parts = os.environ.get("BENCH_PARTS", "local,fleet").split(",")
    BENCH.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; {REPEAT} runs of each; {time.strftime('%Y-%m-%d')}", flush=True)
    met = []
    if "local" in parts:
        for proxy in ("nginx", "haproxy"):
            print(f"{proxy}:", flush=True)
            met.append(local(proxy)["met"])
    if "fleet" in parts:
        print("fleet (app hosts in containers over SSH, nginx here):", flush=True)
        met.append(fleet_part()["met"])
    print("all targets met" if all(met) else "some targets missed: see above")


if __name__ == "__main__":
    main()
