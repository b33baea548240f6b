"""The alert path of incident response on real parts, for tests/integration/test_incident.py and
bench/bench_incident.py: a demo (its own, or one a test module already made), the demo's monitoring (a real Prometheus, Alertmanager and node_exporter, from
demo/monitoring.yml) with every rule's ``for:`` cut to 0 s, a real ansible-rulebook running the collection's rulebook
(scripts/eda.sh run), and between Alertmanager and the rulebook a relay that notes when each notification left
Alertmanager. The incident's webhook sink is the stand-in of tests/notify_api.py (a hosted service cannot be reached here).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from ansible_collections.maestro.conductor.plugins.module_utils import _alert_rules, _http
from tests.integration.demo_env import ROOT, Env, make_demo, out, tear_down
from tests.notify_api import NotifyApi
from tests.servers import wait_for


class Relay:
    """Alertmanager's webhook receiver: notes when each notification arrives (it has left Alertmanager), then hands the
    same body to the rulebook's event source and answers what the source answered."""

    def __init__(self, port: int, upstream: str):
        self.received: list[tuple[float, dict]] = []  # (time.time() on arrival, the notification)
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server name)
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    relay.received.append((arrived, json.loads(body)))
                except ValueError:
                    pass
                request = urllib.request.Request(upstream, data=body, headers={"Content-Type": "application/json"}, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status = answer.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                except OSError:
                    status = 502
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def firing(self, *alertnames: str) -> list[float]:
        """When each notification with one of ``alertnames`` firing arrived."""
        return [at for at, body in self.received
                if any(a.get("status") == "firing" and a.get("labels", {}).get("alertname") in alertnames for a in body.get("alerts", []))]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class AlertPath:
    """Ports ``base`` + 0 Prometheus, +1 Pushgateway, +2 Alertmanager, +3 node_exporter, +4 the relay, +5 the rulebook's
    source, +6..+9 the notification stand-ins."""

    def __init__(self, env: Env, base: int, repeat_interval: str = "2s", own_demo: bool = True):
        """``own_demo``: make the demo in start() and tear it down in stop(); otherwise ``env`` is a demo already made,
        which stop() leaves to its owner."""
        self.env, self.own_demo = env, own_demo
        self.ports = {"prometheus": base, "pushgateway": base + 1, "alertmanager": base + 2, "node_exporter": base + 3,
                      "relay": base + 4, "source": base + 5}
        self.api = NotifyApi(base + 6, webhook_key=False)  # the rulebook's runs get the webhook from DEMO_INCIDENT_WEBHOOK
        self.env.vars.update({
            "PROMETHEUS_PORT": str(base), "PUSHGATEWAY_PORT": str(base + 1), "ALERTMANAGER_PORT": str(base + 2),
            "NODE_EXPORTER_PORT": str(base + 3), "WEBHOOK_URL": f"http://127.0.0.1:{base + 4}/alerts",
            "ALERTMANAGER_GROUP_INTERVAL": "1s", "ALERTMANAGER_REPEAT_INTERVAL": repeat_interval,
            "DEMO_INCIDENT_WEBHOOK": self.api.webhook_url})
        self.relay = Relay(base + 4, f"http://127.0.0.1:{base + 5}/alerts")
        self.rulebook: subprocess.Popen | None = None
        self.rulebook_log = env.root / "rulebook.log"

    # ------------------------------------------------------------------------------------------------ set-up

    def start(self) -> None:
        if self.own_demo:
            demo = make_demo(self.env).demo_run
            assert demo.returncode == 0, out(demo)[-3000:]
        started = self.env.playbook("demo/monitoring.yml")
        assert started.returncode == 0, out(started)[-3000:]
        # the rules as the monitoring role wrote them, every for: cut to 0 s (promtool proves the real durations)
        rules = _alert_rules.rules({"environments": [self.env.environment], "stale_grace_seconds": 1})
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule["for"] = "0s"
        (self.env.root / "monitoring" / "rules" / "maestro.rules").write_text(yaml.safe_dump(rules, sort_keys=False))
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{self.ports['prometheus']}/-/reload", method="POST"),
                               timeout=10).close()
        variables = yaml.safe_load((ROOT / "extensions" / "eda" / "vars" / "incident.yml").read_text())
        variables["eda_port"] = self.ports["source"]
        eda_vars = self.env.root / "eda-vars.yml"
        eda_vars.write_text(yaml.safe_dump(variables))
        # stopped in stop()
        self.rulebook = subprocess.Popen(  # pylint: disable=consider-using-with
            ["bash", str(ROOT / "scripts" / "eda.sh"), "run"], cwd=ROOT, start_new_session=True,
            env=self.env.env(VENV=str(ROOT / ".venv"), EDA_VARS=str(eda_vars), EDA_INVENTORY=str(ROOT / "inventories" / "local")),
            stdout=self.rulebook_log.open("wb"), stderr=subprocess.STDOUT)
        wait_for("the rulebook's event source", lambda: accepts(self.ports["source"]) or self.rulebook.poll() is not None, 120)
        assert self.rulebook.poll() is None, self.rulebook_log.read_text()[-3000:]

    def stop(self) -> None:
        if self.rulebook is not None and self.rulebook.poll() is None:
            os.killpg(self.rulebook.pid, signal.SIGTERM)
            try:
                self.rulebook.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.rulebook.pid, signal.SIGKILL)
        self.relay.stop()
        self.api.stop()
        subprocess.run(["bash", str(ROOT / "scripts" / "monitoring.sh"), "stop"], env=self.env.env(MONITORING_DIR=str(self.env.root / "monitoring" / "run")),
                       capture_output=True, timeout=60, check=False)
        if self.own_demo:
            tear_down(self.env)

    # ------------------------------------------------------------------------------------------------ the story

    def deploy(self, tag: str) -> None:
        done = self.env.playbook("playbooks/deploy.yml", "-e", json.dumps({"tag": tag}))
        assert done.returncode == 0, out(done)[-3000:]

    def tamper(self, how: str = "edit") -> None:
        done = self.env.playbook("demo/tamper.yml", "-e", json.dumps({"demo_tamper": how}))
        assert done.returncode == 0, out(done)[-3000:]

    def watch(self) -> subprocess.CompletedProcess:
        return self.env.playbook("playbooks/watch.yml", "-e", json.dumps({"watch_fail_on_red": False}))

    def served(self) -> str:
        try:
            return _http.get(self.env.url + "/version", timeout=2).commit()
        except Exception:  # pylint: disable=broad-exception-caught
            return ""  # a proxy mid-reload answers nothing: not yet

    def alerts(self, name: str, state: str = "firing") -> list[dict]:
        url = f"http://127.0.0.1:{self.ports['prometheus']}/api/v1/alerts"
        with urllib.request.urlopen(url, timeout=5) as answer:
            found = json.load(answer)["data"]["alerts"]
        return [a for a in found if a["labels"].get("alertname") == name and a["labels"].get("environment") == self.env.environment
                and a["state"] == state]

    def rulebook_said(self) -> str:
        """The rulebook's log with its colours taken out and its white space folded (Ansible wraps long messages)."""
        return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", self.rulebook_log.read_text(errors="replace")).split())

    def incidents(self) -> list[dict]:
        return [r for r in self.env.ledger() if r["event"] == "incident_opened"]

    def finish_incidents(self) -> None:
        """Close every open incident and lift every freeze (an override, recorded), so that the next round starts clean."""
        ledger = self.env.ledger()
        closed = {r["incident"] for r in ledger if r["event"] == "incident_closed"}
        lifted = {r.get("incident") for r in ledger if r["event"] == "unfreeze"}
        for record in self.incidents():
            steps = [("incident_close", {})] if record["incident"] not in closed else []
            if record["incident"] not in lifted:
                steps.append(("unfreeze", {"incident_override": True, "incident_override_reason": "next round"}))
            for playbook, extra in steps:
                done = self.env.playbook(f"playbooks/{playbook}.yml", "-e", json.dumps({"incident_id": record["incident"], **extra}))
                assert done.returncode == 0, out(done)[-2000:]
