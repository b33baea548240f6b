"""The post-GA watch end to end, on real parts: the demo behind a real nginx and docker engine, the watch's metrics in
node_exporter's textfile directory and a real Pushgateway, a real Prometheus evaluating the collection's alert rules,
and a real Alertmanager delivering to a webhook receiver this test runs on loopback.

The rules are the generated ones with one change, said here: every ``for:`` is cut to 0 s, so that an alert fires on
the first evaluation after the scrape (the durations themselves are proven by ``promtool test rules``, tests/prometheus).
Ports 19400-19409.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from ansible_collections.maestro.conductor.plugins.module_utils import _alert_rules, _bundle, _dashboard
from tests.conftest import GIT_ENV
from tests.hosted_api import ADMIN, READER, HostedApi
from tests.integration.demo_env import ROOT, Env, keep_releases, out, seed, tear_down
from tests.servers import wait_for

PROMETHEUS, PUSHGATEWAY, ALERTMANAGER, NODE_EXPORTER, WEBHOOK = 19400, 19401, 19403, 19404, 19405
ENVIRONMENT = "iwatch"


class Webhook:
    """Alertmanager's webhook receiver: every notification it posts, as JSON."""

    def __init__(self, port: int):
        self.received: list[dict] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, name: str, status: str) -> list[dict]:
        return [alert for note in self.received for alert in note.get("alerts", [])
                if alert["labels"].get("alertname") == name and alert["status"] == status
                and alert["labels"].get("environment") == ENVIRONMENT]


def api(port: int, path: str, **query: str) -> dict:
    url = f"http://127.0.0.1:{port}{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)["data"]


def value(query: str) -> float | None:
    result = api(PROMETHEUS, "/api/v1/query", query=query)["result"]
    return float(result[0]["value"][1]) if result else None


def firing(name: str) -> list[dict]:
    return [a for a in api(PROMETHEUS, "/api/v1/alerts")["alerts"]
            if a["labels"].get("alertname") == name and a["labels"].get("environment") == ENVIRONMENT and a["state"] == "firing"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`make demo-watch` in its own directory and ports: the monitoring stack, the story watched, v1.1.0 live at the end.

    Then the rules Prometheus loaded are replaced by the same rules with every ``for:`` cut to 0 s, and reloaded."""
    env = Env(tmp_path_factory.mktemp("iwatch"), ENVIRONMENT)
    webhook = Webhook(WEBHOOK)
    env.vars.update({"PROMETHEUS_PORT": str(PROMETHEUS), "PUSHGATEWAY_PORT": str(PUSHGATEWAY), "ALERTMANAGER_PORT": str(ALERTMANAGER),
                     "NODE_EXPORTER_PORT": str(NODE_EXPORTER), "WEBHOOK_URL": f"http://127.0.0.1:{WEBHOOK}/alerts",
                     "ALERTMANAGER_GROUP_INTERVAL": "1s", "ALERTMANAGER_REPEAT_INTERVAL": "1h"})
    seed(env)
    env.demo_run = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "demo-watch"], env=env.env(), capture_output=True,
                                  text=True, timeout=900, check=False)
    if env.demo_run.returncode == 0:
        keep_releases(env)
    env.webhook = webhook
    (env.root / "demo-watch.log").write_text(env.demo_run.stdout + env.demo_run.stderr)  # for whoever reads a failure
    try:
        assert env.demo_run.returncode == 0, out(env.demo_run)[-3000:]
        rules = _alert_rules.rules({"environments": [ENVIRONMENT], "stale_grace_seconds": 1})
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule["for"] = "0s"
        (env.root / "monitoring" / "rules" / "maestro.rules").write_text(yaml.safe_dump(rules, sort_keys=False))
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{PROMETHEUS}/-/reload", method="POST"), timeout=10).close()
        yield env
    finally:
        subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "demo-down"], env=env.env(), capture_output=True, timeout=120,
                       check=False)
        webhook.server.shutdown()
        tear_down(env)


def test_the_demo_shows_the_verification_alert_firing_then_resolved_after_the_rollback(stack):
    text = out(stack.demo_run)
    firing_at = text.index("MaestroVerificationFailed FIRING in Prometheus and held by Alertmanager")
    rolled_back = text.index("rollback iwatch: v1.2.0 -> v1.1.0")
    resolved_at = text.index("MaestroVerificationFailed RESOLVED")
    assert firing_at < rolled_back < resolved_at
    assert "strict verification of the live v1.2.0 FAILED (failed checks: artifacts" in text
    assert text.count("GREEN: verified strictly") == 2  # before the broken release, and after the rollback
    # Alertmanager delivered it to the receiver the demo was given, and told it when it resolved
    assert stack.webhook.alerts("MaestroVerificationFailed", "firing") and stack.webhook.alerts("MaestroVerificationFailed", "resolved")
    # the edit was undone: the broken release verifies again (it stays quarantined)
    assert not (stack.root / "sbom-v1.2.0.signed").exists()


def watch(env: Env, *extra: str) -> subprocess.CompletedProcess:
    return env.playbook("playbooks/watch.yml", *extra)


def test_a_green_watch_is_scraped_and_nothing_fires(stack):
    done = watch(stack)
    assert done.returncode == 0, out(done)[-3000:]
    text = out(done)
    assert f"{ENVIRONMENT}: v1.1.0 ({stack.commit('v1.1.0')[:12]}) live since" in text and "GREEN: verified strictly" in text
    wait_for("the watch's verdict in Prometheus", lambda: value(f'maestro_watch_ok{{environment="{ENVIRONMENT}"}}') == 1)
    info = api(PROMETHEUS, "/api/v1/query", query=f'maestro_release_info{{environment="{ENVIRONMENT}"}}')["result"]
    assert [(i["metric"]["tag"], i["metric"]["commit"]) for i in info] == [("v1.1.0", stack.commit("v1.1.0"))]
    assert value('node_textfile_scrape_error{job="node"}') == 0
    time.sleep(3)  # a few evaluations
    assert not firing("MaestroVerificationFailed") and not firing("MaestroReleaseDrift")


def test_a_live_release_tampered_on_disk_fires_the_verification_alert_until_it_is_fixed(stack):
    sbom = stack.root / "releases" / "v1.1.0" / "sbom.spdx.json"
    original = sbom.read_bytes()
    sbom.write_bytes(original.replace(b"{", b"{ ", 1))
    try:
        done = watch(stack)
        assert done.returncode != 0
        text = out(done)
        assert "strict verification of the live v1.1.0 FAILED (failed checks: artifacts" in text, text[-3000:]
        assert "watch of iwatch: RED" in text
        alert = wait_for("MaestroVerificationFailed firing", lambda: firing("MaestroVerificationFailed"))[0]
        assert alert["labels"]["severity"] == "critical" and alert["annotations"]["runbook_url"].endswith("#maestroverificationfailed")
        delivered = wait_for("the webhook to receive it", lambda: stack.webhook.alerts("MaestroVerificationFailed", "firing"))
        assert "failed verification" in delivered[0]["annotations"]["summary"]
        # a release that failed is not named as serving
        assert api(PROMETHEUS, "/api/v1/query", query=f'maestro_release_info{{environment="{ENVIRONMENT}"}}')["result"] == []
    finally:
        sbom.write_bytes(original)
    fixed = watch(stack)
    assert fixed.returncode == 0, out(fixed)[-3000:]
    wait_for("the alert to resolve", lambda: not firing("MaestroVerificationFailed"))
    wait_for("the webhook to be told it resolved", lambda: stack.webhook.alerts("MaestroVerificationFailed", "resolved"))


def test_a_moved_release_tag_fires_the_drift_alert_until_it_is_put_back(stack):
    repo = stack.root / "repo"
    git = ["git", "-C", str(repo)]
    before = subprocess.run([*git, "rev-parse", "refs/tags/v1.0.0"], capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([*git, "tag", "-f", "-a", "-m", "moved", "v1.0.0", "v1.2.0^{commit}"], capture_output=True, check=True,
                   env={**os.environ, "GIT_COMMITTER_NAME": "x", "GIT_COMMITTER_EMAIL": "x@test.invalid"})
    try:
        done = watch(stack)
        assert done.returncode != 0 and "v1.0.0" in out(done)
        alert = wait_for("MaestroReleaseDrift firing", lambda: firing("MaestroReleaseDrift"))[0]
        assert alert["labels"]["kind"] in ("tag_moved", "tag_recreated")
        wait_for("the webhook to receive it", lambda: stack.webhook.alerts("MaestroReleaseDrift", "firing"))
    finally:
        subprocess.run([*git, "update-ref", "refs/tags/v1.0.0", before], check=True)
    fixed = watch(stack)
    assert fixed.returncode == 0, out(fixed)[-3000:]
    wait_for("the drift alert to resolve", lambda: not firing("MaestroReleaseDrift"))
    wait_for("the webhook to be told it resolved", lambda: stack.webhook.alerts("MaestroReleaseDrift", "resolved"))


def test_a_watch_that_stops_is_noticed(stack):
    """Due every 2 s (a close interval for the test): after two missed runs and the 1 s grace, the stopped alert fires;
    the next run resolves it."""
    done = watch(stack, "-e", "watch_close_interval=2")
    assert done.returncode == 0, out(done)[-3000:]
    wait_for("MaestroWatchStopped firing", lambda: firing("MaestroWatchStopped"), timeout=30)
    wait_for("MaestroTextfileStale firing", lambda: firing("MaestroTextfileStale"), timeout=30)
    wait_for("the webhook to receive it", lambda: stack.webhook.alerts("MaestroWatchStopped", "firing"))
    again = watch(stack)
    assert again.returncode == 0
    wait_for("the stopped alert to resolve", lambda: not firing("MaestroWatchStopped"))


def test_the_watch_pushes_to_a_pushgateway_and_says_so_when_it_is_down(stack):
    gateway = f"http://127.0.0.1:{PUSHGATEWAY}"
    done = watch(stack, "-e", f"maestro_pushgateway_url={gateway}")
    assert done.returncode == 0, out(done)[-3000:]
    pushed = wait_for("the pushed group in Prometheus", lambda: api(
        PROMETHEUS, "/api/v1/query", query=f'push_time_seconds{{job="maestro_watch",environment="{ENVIRONMENT}"}}')["result"])
    assert "instance" not in pushed[0]["metric"] or pushed[0]["metric"]["instance"] == ""
    down = watch(stack, "-e", "maestro_pushgateway_url=http://127.0.0.1:19409")
    assert down.returncode == 0, out(down)[-3000:]
    assert "metrics NOT pushed to the Pushgateway" in out(down)


def test_every_dashboard_panel_has_data(stack):
    """With a hosted CI (GitHub Actions, stood in for by tests/hosted_api.py: GitHub cannot be reached from here) and a
    restore drill on record, every panel's query answers with data from the metrics the procedures wrote."""
    github = HostedApi()
    try:
        now = time.time()
        for minutes in (1, 2, 3):
            github.add_run("queued", now - minutes * 60, jobs=[("queued", now - minutes * 60)])
        github.add_run("queued", now - 7200)  # stuck: queued for longer than the floor
        drill = stack.playbook("playbooks/restore_drill.yml", "-e", "tag=v1.1.0", "-e", "restore_drill_teardown=true")
        assert drill.returncode == 0, out(drill)[-3000:]
        done = stack.playbook("playbooks/watch.yml", "-e", "watch_ci_project=acme/app", "-e", f"watch_ci_api_url={github.url}",
                              env=stack.env(MAESTRO_CI_TOKEN=READER))
        assert done.returncode == 0, out(done)[-3000:]
        assert READER not in done.stdout + done.stderr
        wait_for("the CI queue in Prometheus", lambda: value(f'maestro_ci_queued_workflow_runs{{environment="{ENVIRONMENT}"}}') == 3)
        assert value(f'maestro_ci_stuck_workflow_runs{{environment="{ENVIRONMENT}"}}') == 1
        assert value(f'maestro_ci_queued_jobs{{environment="{ENVIRONMENT}"}}') == 3
        assert value(f'maestro_restore_drills_total{{environment="{ENVIRONMENT}",result="pass"}}') >= 1
        for title, expr in _dashboard.panel_queries(_dashboard.dashboard(), {"environment": ENVIRONMENT}):
            wait_for(f"data for panel {title!r}: {expr}", lambda e=expr: api_data(e), timeout=20)
    finally:
        github.stop()


def api_data(expr: str) -> list:
    return api(PROMETHEUS, "/api/v1/query", query=expr)["result"]


def test_make_status_shows_the_environment(stack):
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "status"], env=stack.env(), capture_output=True,
                          text=True, timeout=300, check=False)
    text = out(done)
    assert done.returncode == 0, text[-3000:]
    assert f"== {ENVIRONMENT} ==" in text and "live: v1.1.0" in text and "last verification: PASS" in text
    assert "pass rate:" in text and "last time-to-green:" in text


# ---------------------------------------------------------------------------------------------- the daily verification

def daily(env: Env, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """make daily-verify, as an operator (or the daily timer) runs it."""
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "daily-verify", *args], env=env.env(**(env_extra or {})),
                          capture_output=True, text=True, timeout=600, check=False)


def flip_first_byte(path: Path) -> bytes:
    """Change ``path`` without changing its size (what a check by size never sees); the original bytes, to put back."""
    original = path.read_bytes()
    path.write_bytes(bytes([original[0] ^ 0x20]) + original[1:])
    return original


def test_the_daily_verification_is_green_and_reports_records_and_measures_it_and_check_mode_writes_nothing(stack):
    reports = stack.root / "reports" / ENVIRONMENT
    validations = len([r for r in stack.ledger() if r["event"] == "validation"])
    dry = daily(stack, "PLAYBOOK_ARGS=--check")
    assert dry.returncode == 0, out(dry)[-3000:]
    assert not list(reports.glob("daily-verify-*")) and len([r for r in stack.ledger() if r["event"] == "validation"]) == validations
    done = daily(stack)
    text = out(done)
    assert done.returncode == 0, text[-3000:]
    assert f"daily verification of {ENVIRONMENT}: live v1.1.0, rollback target v1.0.0" in text and "GREEN" in text
    report = json.loads(next(reports.glob("daily-verify-*.json")).read_text())
    assert report["ok"] and report["live"]["tag"] == "v1.1.0" and report["rollback"]["tag"] == "v1.0.0"
    assert report["live"]["verification"]["ok"] and report["rollback"]["verification"]["ok"]
    assert report["rollback"]["verification"]["commit"] == stack.commit("v1.0.0")
    assert [h["live"]["ok"] and h["rollback"]["ok"] for h in report["hosts"]] == [True]
    assert "**GREEN**" in next(reports.glob("daily-verify-*.md")).read_text()
    record = stack.ledger()[-1]
    assert (record["event"], record["verdict"], record["actor"], record["tag"]) == ("validation", "green", "daily-verify", "v1.1.0")
    wait_for("the daily verification's verdict in Prometheus", lambda: value(f'maestro_daily_verify_ok{{environment="{ENVIRONMENT}"}}') == 1)
    wait_for("the never-ran alert resolved", lambda: not firing("MaestroDailyVerificationNeverRan"))
    assert not firing("MaestroDailyVerificationFailed")


def test_open_dependabot_alerts_of_the_hosted_repository_are_in_the_daily_report_and_in_prometheus(stack):
    """GitHub cannot be reached from here: tests/hosted_api.py stands in for its Dependabot alerts (paged by cursor)."""
    github = HostedApi()
    try:
        github.add_dependabot_alert("critical", "urllib3")
        github.add_dependabot_alert("low", "idna")
        hosted = f"-e maestro_ci_project=acme/app -e maestro_ci_api_url={github.url}"
        done = daily(stack, f"PLAYBOOK_ARGS={hosted}", env_extra={"MAESTRO_CI_TOKEN": READER})
        text = out(done)
        assert done.returncode != 0 and "open Dependabot alerts: 1 critical: #1 urllib3 (critical, GHSA-test-0001-xxxx)" in text, text[-3000:]
        assert READER not in text
        report = json.loads(sorted((stack.root / "reports" / ENVIRONMENT).glob("daily-verify-*.json"))[-1].read_text())
        assert report["dependabot"]["severities"] == {"critical": 1, "high": 0, "medium": 0, "low": 1}
        wait_for("the open alerts in Prometheus",
                 lambda: value(f'maestro_dependabot_alerts_open{{environment="{ENVIRONMENT}",severity="critical"}}') == 1)
        github.dependabot_disabled = True
        unknown = daily(stack, f"PLAYBOOK_ARGS={hosted}", env_extra={"MAESTRO_CI_TOKEN": READER})
        assert unknown.returncode != 0 and "Dependabot alerts are unknown" in out(unknown) and "are disabled for this repository" in out(unknown)
    finally:
        github.stop()
    # without a hosted repository (the demo's own inventory), the daily verification is green again
    assert daily(stack).returncode == 0


def test_copies_changed_to_the_same_size_and_a_tampered_rollback_target_turn_the_daily_verification_red_naming_each(stack):
    """What the watch's check by size cannot see: a same-size change in an app host's copy of the live release and of the
    rollback target, and the rollback target's files changed on the release store."""
    cache = stack.root / "deploy" / "releases" / ENVIRONMENT
    changed = [cache / "v1.1.0" / "sbom.spdx.json", cache / "v1.0.0" / "compose.yaml", stack.root / "releases" / "v1.0.0" / "sbom.spdx.json"]
    originals = [flip_first_byte(path) for path in changed]
    try:
        done = daily(stack)
        text = out(done)
        assert done.returncode != 0 and "RED" in text, text[-3000:]
        assert "strict verification of the rollback target v1.0.0 FAILED (failed checks: artifacts" in text
        assert "compose.yaml has sha256" in text  # the target's copy on the app host
        assert "the live v1.1.0 is not proven running on every app host" in text and "sbom.spdx.json" in text
        record = stack.ledger()[-1]
        assert (record["event"], record["verdict"]) == ("validation", "red")
        markdown = next((stack.root / "reports" / ENVIRONMENT).glob("daily-verify-*.md")).read_text()
        assert "**RED**" in markdown and "rollback\\_verify" in markdown
        wait_for("MaestroDailyVerificationFailed firing", lambda: firing("MaestroDailyVerificationFailed"))
        assert stack.served() == stack.commit("v1.1.0")  # it changed nothing: traffic stays where it was
    finally:
        for path, original in zip(changed, originals):
            path.write_bytes(original)
    again = daily(stack)
    assert again.returncode == 0, out(again)[-3000:]
    wait_for("the daily alert resolved", lambda: not firing("MaestroDailyVerificationFailed"))


# ---------------------------------------------------------------------------------------------- the weekly validation

def test_the_weekly_validation_checks_every_release_in_the_window_and_quarantines_a_rollback_target_that_fails(stack):
    """Green over the three demo releases, with a summary page each; then the rollback target tampered on the release
    store: red, the target quarantined and named, the store left as it was."""
    reports = stack.root / "reports" / ENVIRONMENT
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "weekly-validation"], env=stack.env(), capture_output=True,
                          text=True, timeout=600, check=False)
    text = out(done)
    assert done.returncode == 0, text[-3000:]
    assert f"weekly validation of {ENVIRONMENT}: 3 release(s) in the audit window, 3 valid, 0 invalid" in text and "GREEN" in text
    report = json.loads(next(reports.glob("weekly-validation-*.json")).read_text())
    assert report["ok"] and [r["tag"] for r in report["releases"]] == ["v1.2.0", "v1.1.0", "v1.0.0"]
    assert report["totals"]["bytes"] > 0 and report["totals"]["bytes_per_second"] > 0
    assert sorted(p.name for p in (reports / "releases").glob("*.md")) == ["v1.0.0.md", "v1.1.0.md", "v1.2.0.md"]
    assert stack.commit("v1.0.0") in (reports / "releases" / "v1.0.0.md").read_text()
    assert (stack.ledger()[-1]["event"], stack.ledger()[-1]["actor"]) == ("validation", "weekly-validation")
    wait_for("the weekly verdict in Prometheus", lambda: value(f'maestro_weekly_validation_ok{{environment="{ENVIRONMENT}"}}') == 1)

    sbom = stack.root / "releases" / "v1.0.0" / "sbom.spdx.json"
    original = flip_first_byte(sbom)
    try:
        red = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "weekly-validation"], env=stack.env(),
                             capture_output=True, text=True, timeout=600, check=False)
        text = out(red)
        assert red.returncode != 0 and "RED" in text, text[-3000:]
        assert "v1.0.0: verification: strict verification FAILED: artifacts: artifact sbom.spdx.json: sha256 is" in text
        assert "the rollback target v1.0.0 failed and is quarantined; the rollback target is now NONE" in text
        assert sbom.read_bytes() != original  # reported, never repaired or moved
        quarantine = [r for r in stack.ledger() if r["event"] == "quarantine" and r["tag"] == "v1.0.0"][-1]
        assert quarantine["actor"] == "weekly-validation" and "sbom.spdx.json" in quarantine["detail"]
        assert "INVALID" in (reports / "releases" / "v1.0.0.md").read_text()
        wait_for("the weekly verdict red in Prometheus", lambda: value(f'maestro_weekly_validation_ok{{environment="{ENVIRONMENT}"}}') == 0)
    finally:
        sbom.write_bytes(original)  # the quarantine stays, as it would for an operator: clearing it is a decision


# ---------------------------------------------------------------------------------------------- retention and pruning

def make(stack: Env, target: str, *variables: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), target, *variables], env=stack.env(**env), capture_output=True,
                          text=True, timeout=600, check=False)


def test_retention_is_green_names_a_release_the_ledger_saw_live_that_the_store_lost_and_sets_github_s_setting(stack):
    """GitHub cannot be reached from here: tests/hosted_api.py stands in for its retention and Actions endpoints."""
    done = make(stack, "retention")
    assert done.returncode == 0, out(done)[-3000:]
    assert "retention GREEN: 3 release(s) inside the audit window of 365 days, 0 with a problem" in out(done)
    assert (stack.ledger()[-1]["event"], stack.ledger()[-1]["actor"], stack.ledger()[-1]["verdict"]) == ("validation", "retention", "green")
    wait_for("the retention verdict in Prometheus", lambda: value(f'maestro_retention_ok{{environment="{ENVIRONMENT}"}}') == 1)
    store, aside = stack.root / "releases" / "v1.2.0", stack.root / "v1.2.0.aside"
    store.rename(aside)
    try:
        lost = make(stack, "retention")
        assert lost.returncode != 0 and "retention of iwatch: RED" in out(lost)
        assert "the ledger says v1.2.0 went live (" in out(lost) and "but the release store has no v1.2.0" in out(lost)
    finally:
        aside.rename(store)
    github = HostedApi()
    try:
        hosted = make(stack, "retention-set", PLAYBOOK_ARGS=f"-e maestro_ci_project=acme/app -e maestro_ci_api_url={github.url}",
                      MAESTRO_CI_TOKEN=ADMIN)
        assert github.retention["repository/acme/app"]["days"] == 365 and ADMIN not in out(hosted)
        assert "GitHub Actions (repository acme/app) keeps artifacts and logs 365 days (at most 400)" in out(hosted)
        # the demo's evidence names no GitHub Actions run: with a hosted CI configured, that is red, release by release
        assert hosted.returncode != 0 and "v1.1.0: the evidence of v1.1.0 names no GitHub Actions run" in out(hosted)
    finally:
        github.stop()


def old_release(stack: Env, tag: str) -> str:
    """A release made two years ago, outside the audit window, with an image of its own; its copy cached on the app host
    as the switch caches one. Returns its image id."""
    repo, base = stack.root / "repo", stack.root / "releases" / "v1.0.0"
    git_env = {**os.environ, **GIT_ENV, "GIT_COMMITTER_DATE": "2024-06-01T00:00:00Z"}
    subprocess.run(["git", "-C", str(repo), "tag", "-a", "-m", tag, tag, "v1.0.0^{commit}"], env=git_env, check=True)
    rel = stack.root / "releases" / tag
    rel.mkdir()
    for name in ("compose.yaml", "sbom.spdx.json"):
        (rel / name).write_bytes((base / name).read_bytes())
    image = f"maestro-prune-test/web:{tag}"
    base_id = subprocess.run(["docker", "load", "--quiet", "--input", str(base / "image.tar")], capture_output=True, text=True,
                             check=True).stdout.split()[-1]
    context = stack.root / "prune-image"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base_id}\nLABEL maestro.test=prune-{tag}\n")
    subprocess.run(["docker", "build", "--quiet", "--tag", image, str(context)], capture_output=True, check=True)
    subprocess.run(["docker", "save", "--output", str(rel / "image.tar"), image], check=True)
    _bundle.write_bundle(_bundle.plan_bundle(_bundle.BundleRequest(
        release_dir=str(rel), tag=tag, repo=str(repo), signing_key=str(stack.root / "keys" / "release_signing_key"))), str(rel))
    manifest = rel / f"release-manifest-{tag}.yaml"
    manifest.write_text(re.sub(r"created: .*", "created: '2024-06-01T00:00:00Z'", manifest.read_text()))
    shutil.copytree(rel, stack.root / "deploy" / "releases" / ENVIRONMENT / tag)
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", image], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_pruning_keeps_what_is_held_says_why_refuses_the_live_release_and_archives_what_goes(stack):
    image_id = old_release(stack, "v0.9.0")
    live_image = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", "maestro-demo/web:v1.1.0"], capture_output=True,
                                text=True, check=True).stdout.strip()
    dry = make(stack, "prune-releases", PLAYBOOK_ARGS="--check --diff")
    text = out(dry)
    assert dry.returncode == 0, text[-3000:]
    assert "keep v1.1.0: live: the ledger's last deploy or rollback" in text, text[-3000:]
    assert "keep v1.2.0: inside the audit window (365 days); went live inside the audit window (" in text, text[-3000:]
    assert "inside the audit window (365 days)" in text.split("keep v1.0.0: ")[1].split("'")[0]
    assert ("would remove v0.9.0: outside the audit window, not live in it, not the rollback target, held by no incident, run by no host"
            in text)
    assert (stack.root / "releases" / "v0.9.0").is_dir() and not (stack.root / "releases-archive").exists()
    refused = make(stack, "prune-releases", TAGS="v1.1.0")
    assert refused.returncode != 0 and "refusing to prune v1.1.0: it is kept (live" in out(refused)
    assert (stack.root / "releases" / "v1.1.0").is_dir()

    done = make(stack, "prune-releases")
    text = out(done)
    assert done.returncode == 0, text[-3000:]
    assert sorted(p.name for p in (stack.root / "releases").iterdir()) == ["v1.0.0", "v1.1.0", "v1.2.0"]
    archived = stack.root / "releases-archive" / "v0.9.0"
    checked = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=archived, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and checked.stdout.count(": OK") == 5, checked.stdout + checked.stderr
    cache = stack.root / "deploy" / "releases" / ENVIRONMENT
    assert not (cache / "v0.9.0").exists() and (cache / "v1.1.0").is_dir() and (cache / "v1.0.0").is_dir()
    assert subprocess.run(["docker", "image", "inspect", image_id], capture_output=True, check=False).returncode != 0
    assert subprocess.run(["docker", "image", "inspect", live_image], capture_output=True, check=False).returncode == 0
    record = stack.ledger()[-1]
    assert (record["event"], record["actor"]) == ("prune", "prune") and "removed v0.9.0" in record["detail"]
    assert stack.served() == stack.commit("v1.1.0")
    wait_for("the prune in Prometheus", lambda: value(f'maestro_prune_releases{{environment="{ENVIRONMENT}",state="removed"}}') == 1)
    again = make(stack, "prune-releases")
    assert again.returncode == 0 and "kept 3, removed 0" in out(again) and stack.ledger()[-1] == record
