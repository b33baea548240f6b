# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release-health Grafana dashboard, made in Python from the alert rules' config, and its provisioning file.

A fixed uid, so that links and provisioning find it again; a datasource variable every panel uses (no ``__inputs``
or ``${DS_...}``: the file is provisioned as it is, never imported through the UI); an environment variable read
from the watch's own metric. Grafana cannot be installed here, so ``panel_queries`` gives every query with the
variables filled in, for a test to evaluate against a real Prometheus.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ansible_collections.maestro.conductor.plugins.module_utils._alert_rules import Config, config_from, num
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

UID = "maestro-release-health"
TITLE = "Maestro release health"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# the metric every watch run writes for every environment: the environment list comes from it
ENVIRONMENT_QUERY = "label_values(maestro_watch_last_run_timestamp_seconds, environment)"
# what the environment variable stands for when every environment is selected
ALL_ENVIRONMENTS = ".+"
ENV = 'environment=~"$environment"'
_WIDTH = 24
_GREEN, _RED, _ORANGE, _BLUE = "green", "red", "orange", "blue"


def dashboard(config: Config | Mapping | None = None) -> dict:
    """The dashboard model (Grafana's JSON), for the config's thresholds; the environments come from the data."""
    c = config_from(config, require_environments=False)
    layout = _Layout()
    panels = [
        layout.row("Release"),
        layout.panel(_live_release(), 12, 7),
        layout.panel(_state("Post-GA watch window", "Inside the window the watch runs at its close interval; after it, daily.",
                            f"maestro_watch_window_open{{{ENV}}}", "{{environment}}", {0: ("daily", _GREEN), 1: ("post-GA window", _BLUE)}),
                     12, 7),
        layout.row("Watch"),
        layout.panel(_stat("Watch result", "Whether the watch's last run found everything green (unknown is red).",
                           f"maestro_watch_ok{{{ENV}}}", "{{environment}}", unit="none",
                           mappings={0: ("red", _RED), 1: ("green", _GREEN)}), 6, 5),
        layout.panel(_stat("Since the watch's last run", "How long ago the watch last ran to the end.",
                           f"time() - maestro_watch_last_run_timestamp_seconds{{{ENV}}}", "{{environment}}", unit="s"), 6, 5),
        layout.panel(_stat("Watch runs every", "Its close interval inside the post-GA window, daily after it.",
                           f"maestro_watch_interval_seconds{{{ENV}}}", "{{environment}}", unit="s"), 6, 5),
        layout.panel(_stat("Watch window closes", "When the live release's post-GA watch window closes, or closed.",
                           f"maestro_watch_window_end_timestamp_seconds{{{ENV}}} * 1000", "{{environment}}", unit="dateTimeFromNow"), 6, 5),
        layout.row("Verification"),
        layout.panel(_stat("Verification pass rate (1 d)",
                           "Verifications that passed over the last day, every procedure counted. The target is 100%.",
                           f'sum by (environment) (increase(maestro_verify_runs_total{{{ENV}, result="pass"}}[1d]))\n/\n'
                           f"sum by (environment) (increase(maestro_verify_runs_total{{{ENV}}}[1d]))",
                           "{{environment}}", unit="percentunit", decimals=2, steps=[(None, _RED), (1, _GREEN)]), 6, 8),
        layout.panel(_latency(c), 12, 8),
        layout.panel(_state("Last verification by the watch", "1 when the watch's last strict verification passed.",
                            f'maestro_verify_ok{{{ENV}, source="watch"}}', "{{environment}}", {0: ("failed", _RED), 1: ("passed", _GREEN)}),
                     6, 8),
        layout.row("Switches"),
        layout.panel(_timeseries("Time to green", "Each switch's time to green: from its start until the proxy served the new release.",
                                 [("A", f"maestro_time_to_green_seconds{{{ENV}}}", "{{environment}}")], unit="s", points=True), 24, 8),
        layout.row("CI"),
        layout.panel(_timeseries("CI queue depth", "Workflow runs queued (stuck ones apart) and jobs queued, on the hosted CI.",
                                 [("A", f"maestro_ci_queued_workflow_runs{{{ENV}}}", "{{environment}} queued runs"),
                                  ("B", f"maestro_ci_stuck_workflow_runs{{{ENV}}}", "{{environment}} stuck runs"),
                                  ("C", f"maestro_ci_queued_jobs{{{ENV}}}", "{{environment}} queued jobs")],
                                 unit="short", threshold=c.ci_queued_runs_high), 24, 8),
        layout.row("Artifacts and drift"),
        layout.panel(_state("Artifact availability",
                            "Each artifact set of the live release and the rollback target: complete and reachable.",
                            f"maestro_artifact_available{{{ENV}}}", "{{environment}} {{artifact}}",
                            {0: ("unavailable", _RED), 1: ("available", _GREEN)}), 12, 8),
        layout.panel(_timeseries("Drift by kind",
                                 "Drift findings by kind; unknown counts the checks that could not be made, and is red too.",
                                 [("A", f"max by (environment, kind) (maestro_release_drift{{{ENV}}})", "{{environment}} {{kind}}")],
                                 unit="short", threshold=1, bars=True), 12, 8),
        layout.row("Restore drills"),
        layout.panel(_stat("Since the last successful restore drill", f"A drill is due every {num(c.restore_drill_overdue_days)} days.",
                           f"time() - maestro_restore_drill_last_success_timestamp_seconds{{{ENV}}}", "{{environment}}", unit="s",
                           steps=[(None, _GREEN), (c.restore_drill_overdue_days * 86400, _RED)]), 8, 7),
        layout.panel(_timeseries("Restore drill time to green", "Each restore drill's time to green.",
                                 [("A", f"maestro_restore_drill_time_to_green_seconds{{{ENV}}}", "{{environment}}")],
                                 unit="s", points=True), 16, 7),
    ]
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return {
        "uid": UID,
        "title": TITLE,
        "description": "Release health of the post-GA watch (maestro.conductor): verification, switches, CI, artifacts, drift, "
                       "restore drills.",
        "tags": ["maestro", "release"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "1m",
        "links": [{"title": "Alert runbooks", "type": "link", "url": c.runbook_base_url, "targetBlank": True, "icon": "doc"}],
        "annotations": {"list": [{
            "name": "Post-GA watch window",
            "datasource": DATASOURCE,
            "enable": True,
            "iconColor": _BLUE,
            "expr": f"maestro_watch_window_open{{{ENV}}} == 1",
            "step": "5m",
            "titleFormat": "post-GA watch window",
            "textFormat": "{{environment}}",
            "tagKeys": "environment",
            "useValueForTime": False,
        }]},
        "templating": {"list": [
            {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus", "current": {},
             "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1, "regex": ""},
            {"type": "query", "name": "environment", "label": "Environment", "datasource": DATASOURCE,
             "query": ENVIRONMENT_QUERY, "definition": ENVIRONMENT_QUERY, "current": {}, "hide": 0, "includeAll": True,
             "allValue": ALL_ENVIRONMENTS, "multi": True, "options": [], "refresh": 2, "regex": "", "sort": 1},
        ]},
        "panels": panels,
    }


class _Layout:
    """Places panels left to right on Grafana's 24-column grid, starting a new line when one is full."""

    def __init__(self) -> None:
        self.x = self.y = self.line_height = 0

    def row(self, title: str) -> dict:
        self._new_line()
        panel = {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"h": 1, "w": _WIDTH, "x": 0, "y": self.y}}
        self.y += 1
        return panel

    def panel(self, panel: dict, width: int, height: int) -> dict:
        if self.x + width > _WIDTH:
            self._new_line()
        panel["gridPos"] = {"h": height, "w": width, "x": self.x, "y": self.y}
        self.x += width
        self.line_height = max(self.line_height, height)
        return panel

    def _new_line(self) -> None:
        self.y += self.line_height
        self.x = self.line_height = 0


def _target(ref: str, expr: str, legend: str, instant: bool = False, table: bool = False) -> dict:
    target = {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "range": not instant, "instant": instant}
    if table:
        target["format"] = "table"
    return target


def _thresholds(steps: list[tuple[float | None, str]]) -> dict:
    return {"mode": "absolute", "steps": [{"color": colour, "value": value} for value, colour in steps]}


def _base(kind: str, title: str, description: str, targets: list[dict], defaults: dict, options: dict) -> dict:
    return {"type": kind, "title": title, "description": description, "datasource": DATASOURCE, "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []}, "options": options}


def _stat(title: str, description: str, expr: str, legend: str, unit: str, decimals: int | None = None,
          steps: list[tuple[float | None, str]] | None = None, mappings: dict[int, tuple[str, str]] | None = None) -> dict:
    defaults: dict = {"unit": unit, "thresholds": _thresholds(steps or [(None, _BLUE)]), "color": {"mode": "thresholds"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    if mappings:
        defaults["mappings"] = _mappings(mappings)
    return _base("stat", title, description, [_target("A", expr, legend, instant=True)], defaults,
                 {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "background",
                  "graphMode": "none", "textMode": "value_and_name", "orientation": "auto", "justifyMode": "auto"})


def _mappings(states: dict[int, tuple[str, str]]) -> list[dict]:
    return [{"type": "value", "options": {str(value): {"text": text, "color": colour, "index": index}
                                          for index, (value, (text, colour)) in enumerate(sorted(states.items()))}}]


def _state(title: str, description: str, expr: str, legend: str, states: dict[int, tuple[str, str]]) -> dict:
    return _base("state-timeline", title, description, [_target("A", expr, legend)],
                 {"mappings": _mappings(states), "color": {"mode": "thresholds"}, "thresholds": _thresholds([(None, _BLUE)])},
                 {"showValue": "never", "mergeValues": True, "rowHeight": 0.9, "alignValue": "left",
                  "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
                  "tooltip": {"mode": "single", "sort": "none"}})


def _timeseries(title: str, description: str, queries: list[tuple[str, str, str]], unit: str, threshold: float | None = None,
                points: bool = False, bars: bool = False) -> dict:
    custom: dict = {"drawStyle": "bars" if bars else "line", "lineWidth": 1, "fillOpacity": 20 if bars else 0,
                    "showPoints": "always" if points else "auto", "pointSize": 6, "spanNulls": False}
    steps: list[tuple[float | None, str]] = [(None, _GREEN)]
    if threshold is not None:
        custom["thresholdsStyle"] = {"mode": "dashed"}
        steps.append((threshold, _RED))
    return _base("timeseries", title, description, [_target(ref, expr, legend) for ref, expr, legend in queries],
                 {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"}, "thresholds": _thresholds(steps), "min": 0},
                 {"legend": {"showLegend": True, "displayMode": "list", "placement": "bottom", "calcs": []},
                  "tooltip": {"mode": "multi", "sort": "none"}})


def _latency(c: Config) -> dict:
    panel = _timeseries("Verification latency",
                        f"How long each procedure's last verification took, against the {num(c.verify_latency_seconds)} s target.",
                        [("A", f"maestro_verify_duration_seconds{{{ENV}}}", "{{environment}} {{source}}")],
                        unit="s", threshold=c.verify_latency_seconds, points=True)
    panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = {"mode": "line+area"}
    return panel


def _live_release() -> dict:
    """A table: one line per environment with its live tag and commit (labels of the info metric) and since when."""
    targets = [_target("A", f"maestro_release_info{{{ENV}}}", "", instant=True, table=True),
               _target("B", f"maestro_release_live_since_timestamp_seconds{{{ENV}}} * 1000", "", instant=True, table=True)]
    hidden = {"Time": True, "Value #A": True, "__name__": True, "job": True, "instance": True}
    panel = _base("table", "Live release per environment", "The release the watch proved serving, and since when it is live.",
                  targets, {"custom": {"align": "auto"}, "thresholds": _thresholds([(None, _GREEN)])},
                  {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}})
    panel["transformations"] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": hidden, "indexByName": {"environment": 0, "tag": 1, "commit": 2, "Value #B": 3},
                                       "renameByName": {"Value #B": "live since"}}},
    ]
    panel["fieldConfig"]["overrides"] = [{"matcher": {"id": "byName", "options": "live since"},
                                          "properties": [{"id": "unit", "value": "dateTimeAsIso"}]}]
    return panel


def provisioning(path: str, folder: str = "Maestro") -> dict:
    """Grafana's dashboard provider file (apiVersion 1): load the dashboards in ``path``, in ``folder``."""
    if not isinstance(path, str) or not path.startswith("/") or "\n" in path:
        raise ConductorError(f"dashboard directory {path!r} is invalid: expected an absolute path")
    if not isinstance(folder, str) or not folder.strip() or not folder.isprintable():
        raise ConductorError(f"dashboard folder {folder!r} is invalid: expected a printable name")
    return {"apiVersion": 1, "providers": [{
        "name": "maestro", "orgId": 1, "folder": folder, "type": "file", "disableDeletion": True, "allowUiUpdates": False,
        "updateIntervalSeconds": 60, "options": {"path": path, "foldersFromFilesStructure": False},
    }]}


def dashboard_json(model: dict) -> str:
    """The dashboard as the committed file holds it: stable key order, two-space indent, a final newline."""
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


_VARIABLE_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def panel_queries(model: dict, values: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(panel title, expression) for every query the dashboard runs - each panel's targets, then its annotations
    (titled ``annotation: <name>``) - with the template variables replaced, ready for Prometheus's query API.

    ``values`` gives a variable's value as a regex (``{"environment": "production"}``); a variable not given takes
    the value Grafana uses for "All". A variable the dashboard does not define is an error, not left in the query.
    """
    variables = {v["name"]: v.get("allValue", "") for v in model.get("templating", {}).get("list", []) if v.get("type") != "datasource"}
    unknown = sorted(set(values or {}) - set(variables))
    if unknown:
        raise ConductorError(f"dashboard {model.get('uid')}: no template variable {', '.join(unknown)}; "
                             f"it has {', '.join(sorted(variables))}")
    variables.update(values or {})

    def substitute(title: str, expr: str) -> str:
        def one(match: re.Match) -> str:
            name = next(group for group in match.groups() if group)
            if name not in variables:
                raise ConductorError(f"dashboard {model.get('uid')}, panel {title!r}: variable ${name} is not defined by the dashboard")
            return variables[name]
        return _VARIABLE_RE.sub(one, expr)

    queries = []
    for panel in model.get("panels", []):
        for target in panel.get("targets", []):
            queries.append((panel["title"], substitute(panel["title"], target["expr"])))
    for annotation in model.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            title = f"annotation: {annotation['name']}"
            queries.append((title, substitute(title, annotation["expr"])))
    return queries
