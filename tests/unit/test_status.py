"""make status's core and the metrics each procedure writes when it ends."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _metrics, _run_metrics, _status
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

NOW = 1_800_000_000.0
COMMIT = "c" * 40
RECORDS = [
    {"event": "deployed", "tag": "v1", "time": "2027-01-14T00:00:00Z", "durations": {"time_to_green": 4.5}},
    {"event": "deployed", "tag": "v2", "time": "2027-01-15T00:00:00Z", "durations": {"time_to_green": 3.25}},
    {"event": "rollback", "tag": "v1", "from_tag": "v2", "time": "2027-01-15T01:00:00Z", "durations": {"time_to_green": 1.75}},
    {"event": "quarantine", "tag": "v2", "time": "2027-01-15T01:00:00Z"},
]


def write(directory, writer, gauges, increments=()):
    request = _metrics.Request(writer=writer, environment="prod", gauges=list(gauges), increments=list(increments),
                               textfile_dir=str(directory), gateway=None)
    _metrics.write(request)


def test_the_screen_from_the_ledger_and_the_textfiles(tmp_path):
    write(tmp_path, "watch", [{"name": "maestro_verify_ok", "labels": {"source": "watch"}, "value": 1},
                              {"name": "maestro_verify_duration_seconds", "labels": {"source": "watch"}, "value": 2.5},
                              {"name": "maestro_watch_ok", "labels": {}, "value": 1},
                              {"name": "maestro_watch_last_run_timestamp_seconds", "labels": {}, "value": NOW - 120},
                              {"name": "maestro_watch_window_open", "labels": {}, "value": 1},
                              {"name": "maestro_watch_window_end_timestamp_seconds", "labels": {}, "value": NOW + 86400},
                              {"name": "maestro_release_drift", "labels": {"kind": "tag_moved"}, "value": 1}],
          [{"name": "maestro_verify_runs_total", "labels": {"source": "watch", "result": "pass"}, "by": 3}])
    write(tmp_path, "verify", [], [{"name": "maestro_verify_runs_total", "labels": {"source": "verify", "result": "fail"}, "by": 1}])
    status = _status.gather("prod", RECORDS, "v1", COMMIT, str(tmp_path), "", NOW)
    lines = _status.lines(status, NOW)
    assert lines[0] == "== prod =="
    assert lines[1].startswith(f"live:               v1 ({COMMIT[:12]}) since 2027-01-15T01:00:00Z") and "rollback from v2" in lines[1]
    assert lines[2] == "last verification:  PASS in 2.50 s (watch)"
    assert lines[3] == "pass rate:          75.0% over all time (textfiles) (3 passed, 1 failed)"
    assert lines[4] == "last time-to-green: 1.75 s (2027-01-15T01:00:00Z)"
    assert lines[5] == "drift:              tag_moved 1"
    assert lines[6].startswith("watch:              GREEN, last run 2 min ago; post-GA window open until")
    assert lines[7] == "open alerts:        unknown (no Prometheus configured: maestro_prometheus_url)"


def test_nothing_known_is_said_unknown_not_fine(tmp_path):
    lines = _status.lines(_status.gather("prod", [], "", "", str(tmp_path), "", NOW), NOW)
    assert "live:               none recorded in the ledger" in lines
    assert "last verification:  unknown (no metrics: run make watch)" in lines
    assert "drift:              unknown (no watch metrics)" in lines


@pytest.fixture
def prometheus():
    """A stand-in for Prometheus's query and alerts API (the real one is in tests/integration/test_watch.py)."""
    answers = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps(answers.get(self.path.split("?")[0], {"status": "error"})).encode()
            self.send_response(200 if self.path.split("?")[0] in answers else 500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answers
    server.shutdown()


def test_prometheus_gives_the_days_pass_rate_and_the_open_alerts(tmp_path, prometheus):
    url, answers = prometheus
    answers["/api/v1/query"] = {"status": "success", "data": {"result": [
        {"metric": {"result": "pass"}, "value": [NOW, "9"]}, {"metric": {"result": "fail"}, "value": [NOW, "1"]}]}}
    answers["/api/v1/rules"] = {"status": "success", "data": {"groups": [{"name": "maestro-release", "rules": [
        {"name": "MaestroReleaseDrift", "type": "alerting"}]}]}}
    answers["/api/v1/alerts"] = {"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "MaestroReleaseDrift", "environment": "prod", "severity": "critical"}, "state": "firing",
         "activeAt": "2027-01-15T02:00:00.123Z"},
        {"labels": {"alertname": "MaestroReleaseDrift", "environment": "staging"}, "state": "firing", "activeAt": ""},
        {"labels": {"alertname": "SomethingElse", "environment": "prod"}, "state": "firing", "activeAt": ""}]}}
    lines = _status.lines(_status.gather("prod", RECORDS, "v1", COMMIT, str(tmp_path), url, NOW), NOW)
    assert "pass rate:          90.0% over the last day (Prometheus) (9 passed, 1 failed)" in lines
    assert "open alerts:        MaestroReleaseDrift (critical, firing since 2027-01-15T02:00:00)" in lines


def test_a_prometheus_without_the_rules_does_not_say_none_are_open(tmp_path, prometheus):
    url, answers = prometheus
    answers["/api/v1/query"] = {"status": "success", "data": {"result": []}}
    answers["/api/v1/rules"] = {"status": "success", "data": {"groups": []}}
    answers["/api/v1/alerts"] = {"status": "success", "data": {"alerts": []}}
    lines = _status.lines(_status.gather("prod", RECORDS, "v1", COMMIT, str(tmp_path), url, NOW), NOW)
    assert "open alerts:        unknown (Prometheus: see below)" in lines
    assert any("it has no Maestro alert rules loaded" in line for line in lines)
    assert not any(line.startswith("open alerts:        none") for line in lines)


def test_without_the_watch_each_procedures_last_verdict_is_shown_a_failure_first(tmp_path):
    write(tmp_path, "switch", [{"name": "maestro_verify_ok", "labels": {"source": "deploy"}, "value": 1}])
    write(tmp_path, "verify", [{"name": "maestro_verify_ok", "labels": {"source": "verify"}, "value": 0}])
    lines = _status.lines(_status.gather("prod", RECORDS, "v1", COMMIT, str(tmp_path), "", NOW), NOW)
    assert "last verification:  FAIL (FAIL by verify, PASS by deploy)" in lines
    assert "watch:              unknown (no watch metrics: run make watch)" in lines


def test_a_watch_that_stopped_is_stale_not_green(tmp_path):
    write(tmp_path, "watch", [{"name": "maestro_watch_ok", "labels": {}, "value": 1},
                              {"name": "maestro_watch_last_run_timestamp_seconds", "labels": {}, "value": NOW - 3600},
                              {"name": "maestro_watch_interval_seconds", "labels": {}, "value": 300}])
    lines = _status.lines(_status.gather("prod", RECORDS, "v1", COMMIT, str(tmp_path), "", NOW), NOW)
    assert "watch:              STALE (it stopped: what it said is old), last run 1 h ago; after the post-GA window" in lines


@pytest.mark.parametrize("value, ok", [(0, False), (1, True), (0.5, False), (None, None)])
def test_the_watchs_verdict_is_read_from_the_watchs_own_file_only(tmp_path, value, ok):
    """A scheduled watch decides from it whether it is due: another writer's file saying green must not make it so."""
    own = [{"name": "maestro_watch_last_run_timestamp_seconds", "labels": {}, "value": NOW - 60}]
    write(tmp_path, "watch", own + ([] if value is None else [{"name": "maestro_watch_ok", "labels": {}, "value": value}]))
    write(tmp_path, "daily", [{"name": "maestro_watch_ok", "labels": {}, "value": 1},
                              {"name": "maestro_watch_last_run_timestamp_seconds", "labels": {}, "value": NOW}])
    watch = _status.gather("prod", RECORDS, "v1", COMMIT, str(tmp_path), "", NOW).watch
    assert watch["ok"] is ok and watch["last_run"] == NOW - 60


def test_a_prometheus_that_does_not_answer_is_unknown(tmp_path, prometheus):
    url, _answers = prometheus
    lines = _status.lines(_status.gather("prod", RECORDS, "v1", COMMIT, str(tmp_path), url, NOW), NOW)
    assert any(line.startswith("unknown:            Prometheus: ") and "answered HTTP 500" in line for line in lines)
    assert "open alerts:        unknown (Prometheus: see below)" in lines
    with pytest.raises(ConductorError, match="prometheus_url 'http://127.0.0.1:9090/' is invalid"):
        _status.validate_prometheus_url("http://user:secret@127.0.0.1:9090/")


# --- what each procedure writes --------------------------------------------------------------------------------------------


def test_a_failed_switch_counts_its_verification_and_keeps_the_last_time_to_green():
    failed = _run_metrics.switch_metrics("rollback", False, True, None, NOW)
    assert failed["increments"] == [{"name": "maestro_verify_runs_total", "labels": {"source": "rollback", "result": "pass"}, "by": 1},
                                    {"name": "maestro_rollbacks_total", "labels": {"result": "fail"}, "by": 1}]
    assert "maestro_time_to_green_seconds" in failed["keep"]
    assert not [g for g in failed["gauges"] if g["name"] == "maestro_time_to_green_seconds"]
    green = _run_metrics.switch_metrics("deploy", True, True, "3.21", NOW)
    assert {"name": "maestro_time_to_green_seconds", "labels": {}, "value": 3.21} in green["gauges"]
    never = _run_metrics.switch_metrics("deploy", False, None, None, NOW)
    assert never["increments"] == [{"name": "maestro_deploys_total", "labels": {"result": "fail"}, "by": 1}]


def test_a_verification_and_a_drill():
    verify = _run_metrics.verify_metrics(False, 1.5, NOW)
    assert {"name": "maestro_verify_ok", "labels": {"source": "verify"}, "value": 0} in verify["gauges"]
    assert not [g for g in verify["gauges"] if g["name"] == "maestro_verify_last_success_timestamp_seconds"]
    drill = _run_metrics.drill_metrics(True, 12.25, NOW)
    assert {"name": "maestro_restore_drill_last_success_timestamp_seconds", "labels": {}, "value": NOW} in drill["gauges"]
    with pytest.raises(ConductorError, match="time to green -1 is invalid"):
        _run_metrics.drill_metrics(True, -1, NOW)
    with pytest.raises(ConductorError, match="switch mode 'restart' is invalid"):
        _run_metrics.switch_metrics("restart", True, True, 1, NOW)
