"""The alert rules: generated, checked by the real promtool and proven by its unit tests (tests/prometheus/*.yml).

Each test file there names the rule file it loads; the rule files are generated here, into a temporary directory
beside copies of the test files. Every alert must be asserted firing (with its exact labels and annotations), not
firing, and not firing when its series are missing - the group that shows which absent or stale alert fires instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from ansible_collections.maestro.conductor.plugins.filter import monitoring
from ansible_collections.maestro.conductor.plugins.module_utils import _alert_rules
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import SPECS

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_TESTS = ROOT / "tests" / "prometheus"
# the rule files tests/prometheus/*.yml load: production alone, with the CI and the hosted files watched; and two
# environments with the defaults
RULES_CONFIG = {"environments": ["production"],
                "absent_metrics": [*_alert_rules.DEFAULT_ABSENT_METRICS, "maestro_ci_queued_workflow_runs",
                                   "maestro_ci_stuck_workflow_runs", "maestro_artifact_expiry_timestamp_seconds"]}
RULE_FILES = {"maestro.rules.yml": RULES_CONFIG,
              "maestro-two-environments.rules.yml": {"environments": ["production", "staging"]}}
# alerts whose series missing is their firing case
FIRE_WHEN_MISSING = {"MaestroRestoreDrillNeverSucceeded", "MaestroDailyVerificationNeverRan", "MaestroWeeklyValidationNeverRan",
                     "MaestroMetricsAbsent"}


def promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool is not installed: `make services` installs the Prometheus stack (scripts/services.sh)")
    return path


@pytest.fixture(scope="module")
def rule_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("prometheus")
    for name, config in RULE_FILES.items():
        (directory / name).write_text(_alert_rules.rules_yaml(config))
    for test_file in PROMETHEUS_TESTS.glob("*.yml"):
        shutil.copy(test_file, directory / test_file.name)
    return directory


def test_promtool_checks_the_generated_rules(rule_dir):
    for name in RULE_FILES:
        result = subprocess.run([promtool(), "check", "rules", str(rule_dir / name)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {len(_alert_rules.alerts(RULE_FILES[name]))} rules found" in result.stdout


def test_promtool_unit_tests_pass(rule_dir):
    files = sorted(p.name for p in PROMETHEUS_TESTS.glob("*.yml"))
    assert files, "no promtool test files in tests/prometheus"
    result = subprocess.run([promtool(), "test", "rules", *files], cwd=rule_dir, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


def test_promtool_unit_tests_fail_when_a_threshold_moves(rule_dir, tmp_path):
    """The promtool tests can fail: a rule file with another latency threshold breaks the slow-verification test."""
    for test_file in PROMETHEUS_TESTS.glob("*.yml"):
        shutil.copy(test_file, tmp_path / test_file.name)
    (tmp_path / "maestro.rules.yml").write_text(_alert_rules.rules_yaml({**RULES_CONFIG, "verify_latency_seconds": 60}))
    result = subprocess.run([promtool(), "test", "rules", "verification.yml"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "alertname: MaestroVerificationSlow" in result.stdout + result.stderr


def _assertions() -> dict[str, dict[str, list[str]]]:
    """alert name -> {"firing": [group names], "quiet": [group names]} over every promtool test file."""
    seen: dict[str, dict[str, list[str]]] = {}
    for test_file in sorted(PROMETHEUS_TESTS.glob("*.yml")):
        for group in yaml.safe_load(test_file.read_text())["tests"]:
            for check in group.get("alert_rule_test", []):
                kind = "firing" if check.get("exp_alerts") else "quiet"
                seen.setdefault(check["alertname"], {"firing": [], "quiet": []})[kind].append(f"{test_file.name}: {group['name']}")
                for expected in check.get("exp_alerts") or []:
                    assert set(expected.get("exp_annotations", {})) == {"summary", "description", "runbook_url"}, group["name"]
                    assert expected["exp_labels"]["severity"] in ("critical", "warning"), group["name"]
    return seen


def test_every_alert_is_tested_firing_quiet_and_with_its_series_missing():
    seen = _assertions()
    for name in _alert_rules.alert_names(RULES_CONFIG):
        assert seen.get(name, {}).get("firing"), f"{name} is never tested firing"
        quiet = seen[name]["quiet"]
        assert quiet, f"{name} is never tested not firing"
        if name not in FIRE_WHEN_MISSING:
            assert any("missing" in group or "nothing reaches" in group for group in quiet), \
                f"{name} is never tested with its series missing: {quiet}"
    assert set(seen) <= set(_alert_rules.alert_names(RULES_CONFIG)), "a test names an alert the rules do not have"


def test_rules_follow_the_mixin_conventions():
    rules = _alert_rules.rules({"environments": ["production"]})
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert len(alerts) == len(_alert_rules.alerts({"environments": ["production"]})) >= 17
    for rule in alerts:
        assert rule["alert"].startswith("Maestro")
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert rule["labels"] == {"severity": rule["labels"]["severity"]} and rule["labels"]["severity"] in ("critical", "warning")
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["annotations"]["runbook_url"] == f"{_alert_rules.RUNBOOK_BASE_URL}#{rule['alert'].lower()}"
        assert "{{ $labels.environment }}" in rule["annotations"]["description"] or rule["alert"] == "MaestroTextfileUnreadable"
    # a failed verification of what serves traffic pages at once
    failed = next(r for r in alerts if r["alert"] == "MaestroVerificationFailed")
    assert failed["labels"]["severity"] == "critical" and "for" not in failed


def test_every_metric_an_alert_reads_is_in_the_catalogue():
    rules = _alert_rules.rules({"environments": ["production"]})
    # metric names outside string literals (a job or a file name is not a metric)
    exprs = [re.sub(r'"(?:[^"\\]|\\.)*"', '""', rule["expr"]) for group in rules["groups"] for rule in group["rules"]]
    names = {name for expr in exprs for name in re.findall(r"\bmaestro_[a-z_]+", expr)}
    assert names and names <= set(SPECS), names - set(SPECS)


def test_absent_names_each_environment_and_metric_explicitly():
    config = {"environments": ["production", "eu-west.2"], "absent_metrics": ["maestro_verify_ok", "maestro_release_drift"]}
    absent = next(a for a in _alert_rules.alerts(config) if a.name == "MaestroMetricsAbsent")
    assert absent.expr.split("\nor\n") == [
        'label_replace(absent(maestro_verify_ok{environment="production", source="watch"}), "metric", "maestro_verify_ok", "", "")',
        'label_replace(absent(maestro_release_drift{environment="production"}), "metric", "maestro_release_drift", "", "")',
        'label_replace(absent(maestro_verify_ok{environment="eu-west.2", source="watch"}), "metric", "maestro_verify_ok", "", "")',
        'label_replace(absent(maestro_release_drift{environment="eu-west.2"}), "metric", "maestro_release_drift", "", "")',
    ]
    never = next(a for a in _alert_rules.alerts(config) if a.name == "MaestroRestoreDrillNeverSucceeded")
    assert never.expr == ('absent(maestro_restore_drill_last_success_timestamp_seconds{environment="production"})\nor\n'
                          'absent(maestro_restore_drill_last_success_timestamp_seconds{environment="eu-west.2"})')


def test_the_config_sets_thresholds_and_selectors():
    config = {"environments": ["production"], "verify_latency_seconds": 12.5, "ci_queued_runs_high": 50,
              "restore_drill_overdue_days": 10, "artifact_expiry_warning_days": 1, "stale_grace_seconds": 0,
              "textfile_selector": 'job="node-exporter", env!~"lab.*"', "pushgateway_selector": "",
              "runbook_base_url": "https://runbooks.example.com/maestro"}
    exprs = {a.name + a.severity: a.expr for a in _alert_rules.alerts(config)}
    assert exprs["MaestroVerificationSlowwarning"] == "maestro_verify_duration_seconds > 12.5"
    assert exprs["MaestroCIQueueHighwarning"] == "maestro_ci_queued_workflow_runs > 50"
    assert exprs["MaestroRestoreDrillOverduewarning"].endswith("> 864000")
    assert exprs["MaestroArtifactExpiringwarning"].endswith("< 86400")
    assert exprs["MaestroWatchStoppedwarning"].endswith("(2 * max by (environment) (maestro_watch_interval_seconds) + 0)")
    assert exprs["MaestroTextfileUnreadablewarning"] == 'node_textfile_scrape_error{job="node-exporter", env!~"lab.*"} > 0'
    assert exprs["MaestroPushStalewarning"].startswith("time() - push_time_seconds\n")
    assert 'node_textfile_mtime_seconds{job="node-exporter", env!~"lab.*", file=~' in exprs["MaestroTextfileStalewarning"]
    rule = _alert_rules.rules(config)["groups"][0]["rules"][0]
    assert rule["annotations"]["runbook_url"] == "https://runbooks.example.com/maestro#maestroverificationfailed"


def test_promtool_accepts_a_config_with_other_selectors(tmp_path):
    path = tmp_path / "rules.yml"
    config = {"environments": ["a", "b"], "textfile_selector": "", "pushgateway_selector": 'job=~"maestro_.*"'}
    path.write_text(_alert_rules.rules_yaml(config))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("config, message", [
    (None, "alert rules config must be a mapping, got NoneType"),
    ({}, "environments is required"),
    ({"environments": []}, "environments is empty"),
    ({"environments": "production"}, "environments must be a list, got 'production'"),
    ({"environments": ["prod uction"]}, "environments: environment 'prod uction' is invalid"),
    ({"environments": ["a", "a"]}, "environments lists a more than once"),
    ({"environments": ["a"], "thresholds": {}}, "unknown field(s) thresholds"),
    ({"environments": ["a"], "textfile_selector": 'job="node"} or vector(1)'}, "textfile_selector 'job=\"node\"} or vector(1)' is invalid"),
    ({"environments": ["a"], "textfile_selector": "job=node"}, "expected PromQL label matchers"),
    ({"environments": ["a"], "verify_latency_seconds": 0}, "verify_latency_seconds 0 is invalid: expected a positive number"),
    ({"environments": ["a"], "verify_latency_seconds": "30"}, "verify_latency_seconds '30' is invalid"),
    ({"environments": ["a"], "ci_queued_runs_high": True}, "ci_queued_runs_high True is invalid"),
    ({"environments": ["a"], "stale_grace_seconds": float("nan")}, "stale_grace_seconds nan is invalid"),
    ({"environments": ["a"], "absent_metrics": ["maestro_nonsense"]}, "metric 'maestro_nonsense' is not in the metric catalogue"),
    ({"environments": ["a"], "runbook_base_url": "https://x.example/alerts.md#top"}, "expected an http(s) URL without a fragment"),
    ({"environments": ["a"], "runbook_base_url": "javascript:alert(1)"}, "runbook_base_url 'javascript:alert(1)' is invalid"),
])
def test_a_bad_config_is_refused_naming_the_field(config, message):
    with pytest.raises(ConductorError) as caught:
        _alert_rules.rules(config)
    assert message in str(caught.value)


def test_the_yaml_text_reads_back_as_the_rules():
    for config in (*RULE_FILES.values(), {"environments": ["true", "null", "1e3"]}):
        text = _alert_rules.rules_yaml(config)
        assert yaml.safe_load(text) == _alert_rules.rules(config)
        assert text.startswith("# Generated by maestro.conductor")
    # multi-line expressions stay readable in place
    assert "        expr: |-\n          sum by (environment)" in _alert_rules.rules_yaml(RULES_CONFIG)


def test_the_filter_gives_the_rules_as_data_or_text_and_names_a_bad_config():
    from ansible.errors import AnsibleFilterError

    assert monitoring.alert_rules(RULES_CONFIG) == _alert_rules.rules(RULES_CONFIG)
    assert monitoring.alert_rules(RULES_CONFIG, output="yaml") == _alert_rules.rules_yaml(RULES_CONFIG)
    with pytest.raises(AnsibleFilterError, match="environments is required"):
        monitoring.alert_rules({})
    with pytest.raises(AnsibleFilterError, match="output 'json' is invalid: expected dict or yaml"):
        monitoring.alert_rules(RULES_CONFIG, output="json")


def test_the_runbook_base_is_galaxy_repository():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert _alert_rules.REPOSITORY == galaxy["repository"]
    assert _alert_rules.RUNBOOK_BASE_URL == galaxy["repository"] + "/blob/main/docs/alerts.md"


def test_docs_alerts_has_one_section_per_alert():
    text = (ROOT / "docs" / "alerts.md").read_text()
    sections = re.findall(r"^## (Maestro\w+)$", text, flags=re.MULTILINE)
    assert sections == _alert_rules.alert_names({"environments": ["production"]}), "docs/alerts.md: one section per alert, in rule order"
    for body in re.split(r"^## Maestro\w+$", text, flags=re.MULTILINE)[1:]:
        body = body.split("\n## ")[0]
        for part in ("**Means**", "**Check**", "**Do**"):
            assert part in body, f"a section of docs/alerts.md lacks {part}"


def test_docs_metrics_matches_the_catalogue():
    assert (ROOT / "docs" / "metrics.md").read_text() == _alert_rules.metrics_markdown(), \
        "docs/metrics.md is stale: make monitoring-files"
    text = _alert_rules.metrics_markdown()
    for spec in SPECS.values():
        assert f"| `{spec.name}` | {spec.type} |" in text
    assert "[MaestroVerificationFailed](alerts.md#maestroverificationfailed)" in text


def test_the_roles_defaults_are_the_rules_defaults_and_its_argument_specs_mirror_them():
    role = ROOT / "roles" / "monitoring"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(defaults) == set(specs)
    for name, value in defaults.items():
        if "{{" in str(value):
            assert "default" not in specs[name], f"{name}: a templated default is described, not repeated"
        else:
            assert specs[name].get("default") == value, name
    code = _alert_rules.Config(environments=())
    for field in fields(_alert_rules.Config):
        if field.name != "environments":
            value = getattr(code, field.name)
            assert defaults[f"monitoring_{field.name}"] == (list(value) if isinstance(value, tuple) else value), field.name
