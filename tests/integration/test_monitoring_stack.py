"""The monitoring role and the stack script against the real Prometheus, Alertmanager, Pushgateway and node_exporter.

The role (maestro.conductor.monitoring) is run with ansible-playbook against localhost into a temporary tree; the stack
is started by scripts/monitoring.sh on this test's loopback ports (19300-19303) with the rule file the role
installed; the watch's metrics are written here as exposition text (the writer module is tested on its own). Then,
through Prometheus's HTTP API: the rules are loaded, a failed verification fires, Alertmanager delivers it to a
webhook receiver this test runs on 127.0.0.1:19310 and delivers its resolution, a changed threshold is reloaded by the
role's handler, and every query of the dashboard returns data. Grafana itself cannot be installed here: its
dashboard is checked by evaluating its queries.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from ansible_collections.maestro.conductor.plugins.module_utils import _dashboard

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"PROMETHEUS_PORT": 19300, "PUSHGATEWAY_PORT": 19301, "ALERTMANAGER_PORT": 19302, "NODE_EXPORTER_PORT": 19303}
WEBHOOK_PORT = 19310
PROMETHEUS = f"http://127.0.0.1:{PORTS['PROMETHEUS_PORT']}"
PUSHGATEWAY = f"http://127.0.0.1:{PORTS['PUSHGATEWAY_PORT']}"
ENVIRONMENTS = ["production", "staging"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


# --- the role ------------------------------------------------------------------------------------------------------

def run_role(tree: Path, *args: str, **variables) -> subprocess.CompletedProcess:
    """The monitoring role on localhost, every path inside ``tree``; returns the finished ansible-playbook."""
    playbook = tree / "monitoring.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Monitoring", "hosts": "localhost", "gather_facts": False,
                                         "roles": [{"role": "maestro.conductor.monitoring"}]}]))
    settings = {
        "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python"),
        "monitoring_environments": ENVIRONMENTS,
        "monitoring_prometheus_config_dir": str(tree / "etc" / "prometheus"),
        "monitoring_textfile_dir": str(tree / "textfile"),
        "monitoring_grafana_dashboards_dir": str(tree / "grafana" / "dashboards" / "maestro"),
        "monitoring_grafana_provisioning_dir": str(tree / "grafana" / "provisioning" / "dashboards"),
        **variables,
    }
    return subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(playbook), "-e", json.dumps(settings), *args],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})


def recap(result: subprocess.CompletedProcess) -> dict[str, int]:
    line = next(line for line in result.stdout.splitlines() if line.startswith("localhost") and "ok=" in line)
    return {key: int(value) for key, value in (part.split("=") for part in line.split(":", 1)[1].split())}


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != "monitoring.yml"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """An existing Prometheus's configuration directory, as Debian lays it out, listing the rules directory."""
    (tmp_path / "etc" / "prometheus").mkdir(parents=True)
    (tmp_path / "etc" / "prometheus" / "prometheus.yml").write_text("global: {}\nrule_files:\n  - rules/*.rules\n")
    return tmp_path


def test_check_mode_changes_nothing_then_the_role_installs_once(tree):
    before = files_under(tree)
    checked = run_role(tree, "--check", "--diff")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert recap(checked)["changed"] >= 5 and files_under(tree) == before
    assert "+    rules:" in checked.stdout  # diff mode shows the rule file to come

    done = run_role(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    rules = tree / "etc" / "prometheus" / "rules" / "maestro.rules"
    assert [g["name"] for g in yaml.safe_load(rules.read_text())["groups"]] == [
        "maestro-release", "maestro-artifacts", "maestro-ci", "maestro-drills", "maestro-maintenance", "maestro-meta"]
    assert f"Prometheus loads {rules} (rule_files: rules/*.rules)" in done.stdout
    assert (tree / "textfile").is_dir()
    installed = tree / "grafana" / "dashboards" / "maestro" / "maestro-release-health.json"
    # the defaults give the committed dashboard, byte for byte
    assert installed.read_bytes() == (ROOT / "roles" / "monitoring" / "files" / "maestro-release-health.json").read_bytes()
    provider = yaml.safe_load((tree / "grafana" / "provisioning" / "dashboards" / "maestro.yml").read_text())
    assert provider["apiVersion"] == 1 and provider["providers"][0]["type"] == "file"
    assert provider["providers"][0]["options"]["path"] == str(installed.parent)

    again = run_role(tree)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout


def test_a_rule_file_promtool_refuses_never_replaces_the_old_one(tree):
    assert run_role(tree).returncode == 0
    rules = tree / "etc" / "prometheus" / "rules" / "maestro.rules"
    old = rules.read_bytes()
    # a promtool that refuses every file, and says with what it was called
    fake = tree / "promtool"
    fake.write_text('#!/bin/sh\necho "checked: $*" >&2\nexit 1\n')
    fake.chmod(0o755)
    refused = run_role(tree, monitoring_promtool=str(fake), monitoring_verify_latency_seconds=45)
    assert refused.returncode != 0
    assert "checked: check rules " in refused.stdout
    assert rules.read_bytes() == old


def test_the_role_names_a_bad_config(tree):
    bad = run_role(tree, monitoring_environments=["production", "no spaces please"])
    assert bad.returncode != 0
    assert "environment 'no spaces please' is invalid" in bad.stdout
    with_password = run_role(tree, monitoring_prometheus_url="http://maestro:s3cret-pw@127.0.0.1:9090")
    assert with_password.returncode != 0
    assert "without credentials" in with_password.stdout and "s3cret-pw" not in with_password.stdout + with_password.stderr
    unlisted = tree / "etc" / "prometheus" / "prometheus.yml"
    unlisted.write_text("global: {}\n")
    done = run_role(tree)
    assert done.returncode == 0
    assert f"NOTE: {unlisted} does not load {tree}/etc/prometheus/rules/maestro.rules" in done.stdout


# --- the stack -----------------------------------------------------------------------------------------------------

class Webhook:
    """Alertmanager's webhook receiver: every notification it posts, as JSON."""

    def __init__(self, port: int):
        self.received: list[dict] = []
        self.arrived = threading.Condition()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with webhook.arrived:
                    webhook.received.append(json.loads(body))
                    webhook.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, status: str, alertname: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for note in self.received:
                    for alert in note.get("alerts", []):
                        if alert["status"] == status and alert["labels"].get("alertname") == alertname:
                            return alert
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {status} {alertname} reached the webhook in {timeout} s; it got {self.received}")
                self.arrived.wait(left)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def api(path: str, **params) -> dict:
    url = f"{PROMETHEUS}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = json.load(answer)
    assert body["status"] == "success", body
    return body["data"]


def query(expr: str) -> list[dict]:
    return api("/api/v1/query", query=expr)["result"]


def eventually(check, timeout: float = 60, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.5)


def exposition(families: list[tuple[str, str, str, list[tuple[str, float]]]]) -> str:
    lines = []
    for name, kind, text, samples in families:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{labels}}} {value:g}" if labels else f"{name} {value:g}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def write_textfile(directory: Path, writer: str, environment: str, families) -> None:
    """As the writer does: a temporary name node_exporter ignores, then an atomic rename to maestro_<writer>_<env>.prom."""
    text = exposition(families)
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tmp = directory / f".tmp-{writer}-{environment}"
    tmp.write_text(text)
    tmp.replace(directory / f"maestro_{writer}_{environment}.prom")


def watch_families(env: str, verify_ok: int, runs: int, now: float) -> list:
    e = f'environment="{env}"'
    return [
        ("maestro_release_info", "gauge", "info", [(f'{e},tag="v1.4.0",commit="{COMMIT}"', 1)] if verify_ok else []),
        ("maestro_release_live_since_timestamp_seconds", "gauge", "since", [(e, now - 3600)]),
        ("maestro_watch_window_open", "gauge", "window", [(e, 1)]),
        ("maestro_watch_window_end_timestamp_seconds", "gauge", "end", [(e, now + 6 * 86400)]),
        ("maestro_watch_interval_seconds", "gauge", "interval", [(e, 300)]),
        ("maestro_watch_last_run_timestamp_seconds", "gauge", "last run", [(e, now)]),
        ("maestro_watch_ok", "gauge", "ok", [(e, verify_ok)]),
        ("maestro_verify_ok", "gauge", "ok", [(f'{e},source="watch"', verify_ok)]),
        ("maestro_verify_duration_seconds", "gauge", "duration", [(f'{e},source="watch"', 12.5)]),
        ("maestro_verify_runs_total", "counter", "runs", [(f'{e},result="pass",source="watch"', 10 + runs),
                                                          (f'{e},result="fail",source="watch"', 0 if verify_ok else runs)]),
        ("maestro_evidence_missing_files", "gauge", "evidence", [(e, 0)]),
        ("maestro_release_drift", "gauge", "drift",
         [(f'{e},kind="{kind}"', 1 if kind == "branch" else 0) for kind in ("tag_moved", "branch", "unknown")]),
        ("maestro_artifact_available", "gauge", "available", [(f'{e},artifact="live_release_store"', 1),
                                                              (f'{e},artifact="rollback_app_hosts"', 1)]),
        ("maestro_ci_queued_workflow_runs", "gauge", "queued", [(e, 7)]),
        ("maestro_ci_stuck_workflow_runs", "gauge", "stuck", [(e, 1)]),
        ("maestro_ci_queued_jobs", "gauge", "jobs", [(e, 31)]),
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The role installed into a temporary tree, then the stack started on it by scripts/monitoring.sh; stopped after."""
    for binary in ("prometheus", "prometheus-alertmanager", "prometheus-pushgateway", "prometheus-node-exporter", "promtool", "curl"):
        if not shutil.which(binary):
            pytest.fail(f"{binary} is not installed: `make services` installs it (scripts/services.sh)")
    tree = tmp_path_factory.mktemp("monitoring")
    (tree / "etc" / "prometheus").mkdir(parents=True)
    (tree / "etc" / "prometheus" / "prometheus.yml").write_text("global: {}\nrule_files:\n  - rules/*.rules\n")
    installed = run_role(tree)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    webhook = Webhook(WEBHOOK_PORT)
    env = {**os.environ, **{k: str(v) for k, v in PORTS.items()}, "MONITORING_DIR": str(tree / "state"),
           "TEXTFILE_DIR": str(tree / "textfile"), "RULES_FILE": str(tree / "etc" / "prometheus" / "rules" / "maestro.rules"),
           "WEBHOOK_URL": f"http://127.0.0.1:{WEBHOOK_PORT}/alerts", "SCRAPE_INTERVAL": "1s", "EVALUATION_INTERVAL": "1s",
           "ALERTMANAGER_GROUP_WAIT": "1s", "ALERTMANAGER_GROUP_INTERVAL": "1s", "ALERTMANAGER_REPEAT_INTERVAL": "1h"}
    script = [str(ROOT / "scripts" / "monitoring.sh")]
    try:
        started = subprocess.run([*script, "start"], env=env, capture_output=True, text=True, check=False, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"tree": tree, "env": env, "script": script, "webhook": webhook, "started": started}
    finally:
        subprocess.run([*script, "stop"], env=env, capture_output=True, text=True, check=False, timeout=120)
        webhook.stop()


def test_the_script_starts_each_service_once_on_loopback(stack):
    assert stack["started"].stdout.count(" ready on 127.0.0.1:") == 4, stack["started"].stdout
    again = subprocess.run([*stack["script"], "start"], env=stack["env"], capture_output=True, text=True, check=True)
    assert again.stdout.count("already running") == 4, again.stdout
    status = subprocess.run([*stack["script"], "status"], env=stack["env"], capture_output=True, text=True, check=False)
    assert status.returncode == 0 and status.stdout.count(": running (pid") == 4, status.stdout
    # every service listens on loopback only
    for port in PORTS.values():
        listening = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
        assert listening.split() and all(line.split()[3].startswith("127.0.0.1:") for line in listening.splitlines()), listening


def test_rules_loaded_alert_fires_is_delivered_and_resolves(stack):
    textfile, webhook = stack["tree"] / "textfile", stack["webhook"]
    groups = api("/api/v1/rules")["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"MaestroVerificationFailed", "MaestroMetricsAbsent", "MaestroTextfileStale"} <= names
    assert {group["file"] for group in groups} == {stack["env"]["RULES_FILE"]}

    now = time.time()
    write_textfile(textfile, "watch", "production", watch_families("production", verify_ok=0, runs=1, now=now))
    firing = eventually(lambda: [a for a in api("/api/v1/alerts")["alerts"]
                                 if a["labels"]["alertname"] == "MaestroVerificationFailed" and a["state"] == "firing"],
                        what="MaestroVerificationFailed firing in Prometheus")
    assert firing[0]["labels"] == {"alertname": "MaestroVerificationFailed", "environment": "production", "source": "watch",
                                   "severity": "critical", "job": "node", "instance": f"127.0.0.1:{PORTS['NODE_EXPORTER_PORT']}"}
    delivered = webhook.wait_for("firing", "MaestroVerificationFailed")
    assert delivered["labels"]["environment"] == "production"
    assert delivered["annotations"]["runbook_url"].endswith("/docs/alerts.md#maestroverificationfailed")
    assert delivered["annotations"]["summary"] == "The live release of production failed verification."

    write_textfile(textfile, "watch", "production", watch_families("production", verify_ok=1, runs=2, now=time.time()))
    resolved = webhook.wait_for("resolved", "MaestroVerificationFailed")
    assert resolved["labels"]["source"] == "watch"


def test_a_changed_threshold_is_reloaded_by_the_roles_handler(stack):
    def latency_rule() -> str:
        return next(rule["query"] for group in api("/api/v1/rules")["groups"] for rule in group["rules"]
                    if rule["name"] == "MaestroVerificationSlow")

    assert latency_rule() == "maestro_verify_duration_seconds > 30"
    changed = run_role(stack["tree"], monitoring_verify_latency_seconds=10, monitoring_prometheus_url=PROMETHEUS)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "RUNNING HANDLER [maestro.conductor.monitoring : Reload Prometheus]" in changed.stdout
    assert latency_rule() == "maestro_verify_duration_seconds > 10"
    # the same again changes nothing and reloads nothing
    same = run_role(stack["tree"], monitoring_verify_latency_seconds=10, monitoring_prometheus_url=PROMETHEUS)
    assert recap(same)["changed"] == 0 and "RUNNING HANDLER" not in same.stdout


def test_every_dashboard_query_returns_data(stack):
    textfile = stack["tree"] / "textfile"
    now = time.time()
    # the watch runs (its counters move, so the day's pass rate is a number), then a switch and a drill write theirs
    for run in range(3, 6):
        write_textfile(textfile, "watch", "production", watch_families("production", verify_ok=1, runs=run, now=time.time()))
        time.sleep(1.2)
    write_textfile(textfile, "switch", "production", [
        ("maestro_time_to_green_seconds", "gauge", "ttg", [('environment="production"', 41.5)]),
        ("maestro_deploys_total", "counter", "deploys",
         [('environment="production",result="pass"', 3), ('environment="production",result="fail"', 0)])])
    write_textfile(textfile, "drill", "production", [
        ("maestro_restore_drill_time_to_green_seconds", "gauge", "ttg", [('environment="production"', 95)]),
        ("maestro_restore_drill_last_success_timestamp_seconds", "gauge", "last", [('environment="production"', now - 86400)])])
    # staging's watch runs in an AWX execution environment: it pushes to the Pushgateway (job and environment, no instance)
    body = exposition(watch_families("staging", verify_ok=1, runs=1, now=now)).encode()
    put = urllib.request.Request(f"{PUSHGATEWAY}/metrics/job/maestro_watch/environment/staging", data=body, method="PUT")
    with urllib.request.urlopen(put, timeout=10) as answer:
        assert answer.status == 200

    model = _dashboard.dashboard()
    env_var = next(v for v in model["templating"]["list"] if v["name"] == "environment")
    metric = env_var["query"].split("(", 1)[1].split(",")[0]
    eventually(lambda: set(api("/api/v1/label/environment/values", **{"match[]": metric})) >= set(ENVIRONMENTS),
               what=f"the environment variable's {env_var['query']} lists {ENVIRONMENTS}")
    pushed = eventually(lambda: query('push_time_seconds{job="maestro_watch"}'), what="the pushed group scraped")
    assert pushed[0]["metric"] == {"__name__": "push_time_seconds", "environment": "staging", "job": "maestro_watch"}

    def answered(expr: str) -> list[dict]:
        return [s for s in query(expr) if math.isfinite(float(s["value"][1]))]

    for title, expr in _dashboard.panel_queries(model):
        result = eventually(lambda e=expr: answered(e), timeout=30, what=f"panel {title!r}: {expr} returned no data")
        assert result, title
    # the values a person reads on the dashboard
    values: dict[str, list[dict]] = {}
    for title, expr in _dashboard.panel_queries(model, {"environment": "production"}):
        values.setdefault(title, query(expr))
    assert values["Live release per environment"][0]["metric"]["tag"] == "v1.4.0"
    assert 0 < float(values["Verification pass rate (1 d)"][0]["value"][1]) <= 1
    assert float(values["Time to green"][0]["value"][1]) == 41.5
    assert {s["metric"]["kind"]: float(s["value"][1]) for s in values["Drift by kind"]} == {"tag_moved": 0, "branch": 1, "unknown": 0}
