"""The Grafana dashboard: its model, the committed file, the provisioning file, and the queries a test evaluates.

Grafana cannot be installed here, so the dashboard is never rendered: these tests hold it to what Grafana needs
(a fixed uid, a datasource variable every panel and query uses, no import-time inputs, panels on the grid), and
tests/integration/test_monitoring_stack.py evaluates every query against a real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.maestro.conductor.plugins.filter import monitoring
from ansible_collections.maestro.conductor.plugins.module_utils import _dashboard
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import SPECS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "roles" / "monitoring" / "files" / "maestro-release-health.json"


def panels(model: dict) -> list[dict]:
    return [p for p in model["panels"] if p["type"] != "row"]


def test_the_committed_dashboard_is_the_generators_default():
    assert COMMITTED.read_text() == _dashboard.dashboard_json(_dashboard.dashboard()), \
        "roles/monitoring/files/maestro-release-health.json is stale: make monitoring-files"


def test_fixed_uid_and_a_datasource_variable_no_inputs():
    model = _dashboard.dashboard()
    text = _dashboard.dashboard_json(model)
    assert model["uid"] == "maestro-release-health"
    assert "__inputs" not in model and "${DS_" not in text and "__requires" not in model
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    env = variables["environment"]
    assert env["type"] == "query" and env["query"] == "label_values(maestro_watch_last_run_timestamp_seconds, environment)"
    assert env["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert env["multi"] and env["includeAll"] and env["allValue"] == ".+"


def test_every_panel_and_query_uses_the_datasource_variable_and_the_environment():
    model = _dashboard.dashboard()
    for panel in panels(model):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert 'environment=~"$environment"' in target["expr"], panel["title"]
    for annotation in model["annotations"]["list"]:
        assert annotation["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_the_panels_the_runbook_asks_for():
    model = _dashboard.dashboard()
    by_title = {p["title"]: p for p in panels(model)}
    exprs = " ".join(t["expr"] for p in panels(model) for t in p["targets"])
    for title in ("Verification pass rate (1 d)", "Verification latency", "Live release per environment", "Time to green",
                  "CI queue depth", "Artifact availability", "Drift by kind", "Since the last successful restore drill",
                  "Restore drill time to green", "Post-GA watch window"):
        assert title in by_title, title
    # the latency against its 30 s target, drawn as a threshold
    latency = by_title["Verification latency"]["fieldConfig"]["defaults"]
    assert latency["unit"] == "s" and {"color": "red", "value": 30} in latency["thresholds"]["steps"]
    assert latency["custom"]["thresholdsStyle"]["mode"] != "off"
    assert "[1d]" in by_title["Verification pass rate (1 d)"]["targets"][0]["expr"]
    assert [t["expr"].split("{")[0] for t in by_title["CI queue depth"]["targets"]] == [
        "maestro_ci_queued_workflow_runs", "maestro_ci_stuck_workflow_runs", "maestro_ci_queued_jobs"]
    assert by_title["Live release per environment"]["targets"][0]["expr"].startswith("maestro_release_info{")
    # the post-GA window is marked on every time panel too
    assert model["annotations"]["list"][0]["expr"] == 'maestro_watch_window_open{environment=~"$environment"} == 1'
    # every metric name a query reads is in the catalogue
    for word in exprs.replace("(", " ").replace("{", " ").split():
        if word.startswith("maestro_"):
            assert word in SPECS, word


def test_thresholds_follow_the_config():
    model = _dashboard.dashboard({"verify_latency_seconds": 12, "restore_drill_overdue_days": 10, "ci_queued_runs_high": 5})
    by_title = {p["title"]: p for p in panels(model)}
    assert {"color": "red", "value": 12} in by_title["Verification latency"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    drill = by_title["Since the last successful restore drill"]["fieldConfig"]["defaults"]
    assert {"color": "red", "value": 864000} in drill["thresholds"]["steps"]
    assert {"color": "red", "value": 5} in by_title["CI queue depth"]["fieldConfig"]["defaults"]["thresholds"]["steps"]


def test_panels_sit_on_the_grid_without_overlapping():
    model = _dashboard.dashboard()
    ids = [p["id"] for p in model["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    cells: set[tuple[int, int]] = set()
    for panel in model["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, panel["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & mine, f"panel {panel['title']!r} overlaps another"
        cells |= mine


def test_panel_queries_fill_in_the_variables():
    model = _dashboard.dashboard()
    queries = _dashboard.panel_queries(model)
    assert len(queries) == sum(len(p["targets"]) for p in panels(model)) + 1
    assert ("Verification latency", 'maestro_verify_duration_seconds{environment=~".+"}') in queries
    assert queries[-1] == ("annotation: Post-GA watch window", 'maestro_watch_window_open{environment=~".+"} == 1')
    for _title, expr in queries:
        assert "$" not in expr
    one = dict(_dashboard.panel_queries(model, {"environment": "production"}))
    assert one["Watch result"] == 'maestro_watch_ok{environment=~"production"}'


def test_panel_queries_refuse_a_variable_the_dashboard_does_not_define():
    model = _dashboard.dashboard()
    with pytest.raises(ConductorError, match="no template variable colour; it has environment"):
        _dashboard.panel_queries(model, {"colour": "blue"})
    model["panels"][1]["targets"][0]["expr"] = "up{job=~\"$job\"}"
    with pytest.raises(ConductorError, match=r"panel 'Live release per environment': variable \$job is not defined"):
        _dashboard.panel_queries(model)
    model["panels"][1]["targets"][0]["expr"] = "rate(x[$__rate_interval])"
    with pytest.raises(ConductorError, match=r"variable \$__rate_interval is not defined"):
        _dashboard.panel_queries(model)


def test_provisioning_file():
    assert _dashboard.provisioning("/var/lib/grafana/dashboards/maestro") == {"apiVersion": 1, "providers": [{
        "name": "maestro", "orgId": 1, "folder": "Maestro", "type": "file", "disableDeletion": True, "allowUiUpdates": False,
        "updateIntervalSeconds": 60, "options": {"path": "/var/lib/grafana/dashboards/maestro", "foldersFromFilesStructure": False}}]}
    with pytest.raises(ConductorError, match="dashboard directory 'dashboards' is invalid: expected an absolute path"):
        _dashboard.provisioning("dashboards")
    with pytest.raises(ConductorError, match="dashboard folder '' is invalid"):
        _dashboard.provisioning("/x", "")


def test_the_filters():
    from ansible.errors import AnsibleFilterError

    assert monitoring.grafana_dashboard() == _dashboard.dashboard()
    assert monitoring.grafana_dashboard({}, output="json") == COMMITTED.read_text()
    assert json.loads(monitoring.grafana_dashboard({"verify_latency_seconds": 5}, output="json"))["uid"] == "maestro-release-health"
    assert monitoring.grafana_dashboard_provisioning("/d", "Ops")["providers"][0]["folder"] == "Ops"
    with pytest.raises(AnsibleFilterError, match="verify_latency_seconds -1 is invalid"):
        monitoring.grafana_dashboard({"verify_latency_seconds": -1})
    with pytest.raises(AnsibleFilterError, match="output 'yaml' is invalid: expected dict or json"):
        monitoring.grafana_dashboard({}, output="yaml")
    with pytest.raises(AnsibleFilterError, match="expected an absolute path"):
        monitoring.grafana_dashboard_provisioning("relative")
