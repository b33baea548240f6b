"""_metrics and release_metrics: catalogue checks, the exposition, counters carried across runs, the textfile's lock."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import shutil
import socket
import stat
import subprocess

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _metrics
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import SOURCES, SPECS, WRITERS
from ansible_collections.maestro.conductor.plugins.modules import release_metrics
from tests.unit.test_modules import run

ENV = "production"
DOWN_PORT = 19219  # held bound but not listening by the fixture below: connections to it are refused


def write(directory, gauges=(), increments=(), writer="watch", environment=ENV, check_mode=False, **extra) -> _metrics.Result:
    request = _metrics.Request(writer, environment, list(gauges), list(increments), str(directory), **extra)
    return _metrics.write(request, check_mode)


def inc(name="maestro_watch_runs_total", by=1, **labels):
    # the default counter's result label when none is given; any other counter's labels as given (none, for some)
    return {"name": name, "labels": labels or ({"result": "pass"} if name == "maestro_watch_runs_total" else {}), "by": by}


def gauge(name="maestro_watch_ok", value=1, **labels):
    return {"name": name, "labels": labels, "value": value}


def series(text: str) -> dict[str, str]:
    """Sample lines of an exposition: series -> value."""
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))


# --- rendering -----------------------------------------------------------------------------------------------------------

def test_render_has_help_and_type_per_family_in_a_stable_order_without_timestamps():
    samples = _metrics.gauge_samples("watch", ENV, [
        gauge("maestro_verify_duration_seconds", 12.25, source="watch"),
        gauge("maestro_artifact_available", 0, artifact="rollback_app_hosts"),
        gauge("maestro_artifact_available", True, artifact="live_release_store"),
        gauge("maestro_verify_last_success_timestamp_seconds", 1795870031.5410624, source="watch"),
    ])
    text = _metrics.render(samples)
    assert text == (
        "# HELP maestro_artifact_available 1 when the artifact set is complete and reachable, else 0.\n"
        "# TYPE maestro_artifact_available gauge\n"
        'maestro_artifact_available{environment="production",artifact="live_release_store"} 1\n'
        'maestro_artifact_available{environment="production",artifact="rollback_app_hosts"} 0\n'
        "# HELP maestro_verify_duration_seconds How long the last verification took.\n"
        "# TYPE maestro_verify_duration_seconds gauge\n"
        'maestro_verify_duration_seconds{environment="production",source="watch"} 12.25\n'
        "# HELP maestro_verify_last_success_timestamp_seconds When a verification last passed.\n"
        "# TYPE maestro_verify_last_success_timestamp_seconds gauge\n"
        'maestro_verify_last_success_timestamp_seconds{environment="production",source="watch"} 1795870031.5410624\n'
    )
    assert _metrics.render(list(reversed(samples))) == text


@pytest.mark.parametrize("value, text", [(3.0, "3"), (0, "0"), (-0.0, "0"), (-2, "-2"), (0.1, "0.1"), (1e-05, "1e-05"),
                                         (2.0 ** 53, "9007199254740992.0"), (1.5e20, "1.5e+20")])
def test_values_are_printed_exactly_and_integers_without_a_fraction(value, text):
    assert _metrics.format_value(float(value)) == text
    assert float(text) == value


def test_label_values_are_escaped_and_read_back_as_given():
    tag = 'v1.0 "rc" C:\\dir'
    text = _metrics.render(_metrics.gauge_samples("watch", ENV, [gauge("maestro_release_info", 1, tag=tag, commit="a" * 40)]))
    assert 'tag="v1.0 \\"rc\\" C:\\\\dir"' in text
    assert _metrics.parse(text) == [("maestro_release_info", "gauge", {"environment": ENV, "tag": tag, "commit": "a" * 40}, 1.0)]
    newline = _metrics.Sample("maestro_release_info", (("environment", ENV), ("tag", "a\nb"), ("commit", "c")), 1.0)
    assert 'tag="a\\nb"' in _metrics.render([newline])
    assert _metrics.parse(_metrics.render([newline]))[0][2]["tag"] == "a\nb"


def test_every_catalogue_metric_renders_clean_under_promtool(tmp_path):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool is not installed: `make services` installs it (scripts/services.sh)")
    gauges, increments = [], []
    for spec in SPECS.values():
        labels = {label: "watch" if label == "source" else dict(spec.values).get(label, ("v1.2.3",))[0]
                  for label in spec.labels if label != "environment"}
        (gauges.append(gauge(spec.name, 1.5, **labels)) if spec.type == "gauge" else increments.append(inc(spec.name, **labels)))
    result = write(tmp_path, gauges, increments)
    checked = subprocess.run([promtool, "check", "metrics"], input=result.text, capture_output=True, text=True, check=False)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    assert {sample[0] for sample in _metrics.parse(result.text)} == set(SPECS)
    # promtool does flag what the catalogue must never hold: the check above can fail
    bad = subprocess.run([promtool, "check", "metrics"], input="# TYPE maestro_runs counter\nmaestro_runs 1\n", capture_output=True,
                         text=True, check=False)
    assert bad.returncode != 0 and "counter metrics should have \"_total\" suffix" in bad.stdout + bad.stderr


# --- validation ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry, message", [
    (gauge("maestro_nope"), "metric 'maestro_nope' is not in the catalogue"),
    (gauge("maestro_watch_runs_total", result="pass"), "metric maestro_watch_runs_total is a counter: give it in increments"),
    (gauge("maestro_verify_ok"), "metric maestro_verify_ok: label source is missing (expected: source)"),
    (gauge("maestro_watch_ok", colour="blue"), "metric maestro_watch_ok: label 'colour' is not one of its labels (expected: none)"),
    (gauge("maestro_watch_ok", environment="staging"), "metric maestro_watch_ok: label environment is filled in by the writer"),
    (gauge("maestro_release_drift", kind="moved"), "metric maestro_release_drift: label kind is 'moved', expected one of tag_moved"),
    (gauge("maestro_verify_ok", source="deploy"), "metric maestro_verify_ok: label source is 'deploy', expected watch: it names"),
    (gauge("maestro_release_info", tag=123, commit="c"), "metric maestro_release_info: label tag is int 123, expected text"),
    (gauge("maestro_release_info", tag="", commit="c"), "metric maestro_release_info: label tag is invalid: expected one line of 1-256"),
    (gauge("maestro_release_info", tag="x" * 257, commit="c"), "label tag is invalid: expected one line of 1-256 printable characters "
                                                               "(257 characters given)"),
    (gauge("maestro_release_info", tag="v1\nv2", commit="c"), "metric maestro_release_info: label tag is invalid"),
    (gauge("maestro_release_info", tag="v1\x1b[31m", commit="c"), "metric maestro_release_info: label tag is invalid"),
    (gauge(value=float("nan")), "metric maestro_watch_ok: value is nan, expected a finite number"),
    (gauge(value=float("inf")), "metric maestro_watch_ok: value is inf, expected a finite number"),
    (gauge(value="1"), "metric maestro_watch_ok: value is str '1', expected a number"),
    (gauge(value=None), "metric maestro_watch_ok: value is NoneType None, expected a number"),
    ({"name": "maestro_watch_ok", "value": 1, "help": "x"}, "gauges: entry for 'maestro_watch_ok' has unknown keys ['help']"),
])
def test_gauges_are_refused_naming_the_metric_and_the_label(tmp_path, entry, message):
    with pytest.raises(ConductorError) as caught:
        write(tmp_path, [entry])
    assert message in str(caught.value)
    assert os.listdir(tmp_path) == []  # refused before anything was touched


@pytest.mark.parametrize("entry, message", [
    (inc(by=-1), "metric maestro_watch_runs_total: by is -1, expected a number >= 0"),
    (inc(result="error"), "metric maestro_watch_runs_total: label result is 'error', expected one of pass, fail"),
    (inc("maestro_watch_ok", result="pass"), "metric maestro_watch_ok is a gauge: give it in gauges"),
    (inc("maestro_verify_runs_total", source="verify", result="pass"), "label source is 'verify', expected watch: it names"),
    (inc("maestro_verify_runs_total", source="cron", result="pass"), "label source is 'cron', expected one of watch"),
])
def test_increments_are_refused_naming_the_metric_and_the_label(tmp_path, entry, message):
    with pytest.raises(ConductorError) as caught:
        write(tmp_path, [], [entry])
    assert message in str(caught.value)


def test_a_series_given_twice_as_a_gauge_is_refused(tmp_path):
    with pytest.raises(ConductorError, match=r'metric maestro_watch_ok\{environment="production"\} is given twice in gauges'):
        write(tmp_path, [gauge(value=1), gauge(value=0)])


@pytest.mark.parametrize("kwargs, message", [
    ({"writer": "cron"}, "writer 'cron' is invalid: expected one of watch, verify, switch, drill"),
    ({"environment": "prod/../x"}, "environment 'prod/../x' is invalid"),
    ({"state": "gone"}, "state 'gone' is invalid"),
    ({"timeout": 0}, "timeout 0 is invalid"),
])
def test_request_fields_are_validated(tmp_path, kwargs, message):
    fields = {"writer": "watch", "environment": ENV, "gauges": [gauge()], "textfile_dir": str(tmp_path), **kwargs}
    with pytest.raises(ConductorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _metrics.write(_metrics.Request(**fields))


@pytest.mark.parametrize("url, password, message", [
    ("ftp://gw.example.com", "", "pushgateway_url 'ftp://gw.example.com' is invalid: expected the Pushgateway's http:// or https://"),
    ("https://user:s3cret@gw.example.com", "", "pushgateway_url must not carry credentials"),
    ("https://gw.example.com/?token=abcd", "", "pushgateway_url must not carry credentials"),
    ("http://gw.example.com:9091", "s3cret", "is refused with a password: it would cross the network in clear text"),
    ("http://gw example.com", "", "is invalid"),
    ("http://[::1:9091", "", "is invalid: expected the Pushgateway's http:// or https://"),
])
def test_pushgateway_urls_with_credentials_or_in_clear_text_with_a_password_are_refused(url, password, message):
    with pytest.raises(ConductorError) as caught:
        _metrics.validate_gateway_url(url, bool(password))
    assert message in str(caught.value) and "s3cret" not in str(caught.value)


def test_pushgateway_urls_that_are_fine():
    assert _metrics.validate_gateway_url("http://127.0.0.1:9091/", True) == "http://127.0.0.1:9091"
    assert _metrics.validate_gateway_url("https://gw.example.com/prefix", True) == "https://gw.example.com/prefix"
    assert _metrics.group_url(_metrics.Gateway("https://gw.example.com/prefix"), "drill", "eu-1") == (
        "https://gw.example.com/prefix/metrics/job/maestro_drill/environment/eu-1")


def test_no_target_and_absent_with_metrics_are_refused(tmp_path):
    with pytest.raises(ConductorError, match="no target: give textfile_dir"):
        _metrics.write(_metrics.Request("watch", ENV, [gauge()]))
    with pytest.raises(ConductorError, match="gauges and increments go with state=present"):
        write(tmp_path, [gauge()], state="absent")


# --- counters carried ----------------------------------------------------------------------------------------------------

def test_counters_are_carried_across_runs_and_initialised_for_every_bounded_value(tmp_path):
    first = write(tmp_path, [gauge(value=1)], [inc(result="pass")])
    assert series(first.text) == {'maestro_watch_ok{environment="production"}': "1",
                                  'maestro_watch_runs_total{environment="production",result="fail"}': "0",
                                  'maestro_watch_runs_total{environment="production",result="pass"}': "1"}
    second = write(tmp_path, [gauge(value=0)], [inc(result="fail", by=2), inc(result="pass"), inc(result="pass", by=0.5)])
    assert series(second.text)['maestro_watch_runs_total{environment="production",result="fail"}'] == "2"
    assert series(second.text)['maestro_watch_runs_total{environment="production",result="pass"}'] == "2.5"
    # no gauges and no increments: the counters stay, the gauge is no longer written
    third = write(tmp_path)
    assert series(third.text) == {'maestro_watch_runs_total{environment="production",result="fail"}': "2",
                                  'maestro_watch_runs_total{environment="production",result="pass"}': "2.5"}
    assert (tmp_path / "maestro_watch_production.prom").read_text() == third.text


def test_kept_gauges_stay_when_a_run_does_not_give_them_and_others_go(tmp_path):
    green = [gauge("maestro_time_to_green_seconds", 4.5), gauge("maestro_verify_ok", 1, source="deploy"),
             gauge("maestro_verify_last_success_timestamp_seconds", 1795870031.5, source="deploy")]
    keep = ["maestro_time_to_green_seconds", "maestro_verify_last_success_timestamp_seconds"]
    write(tmp_path, green, [inc("maestro_deploys_total", result="pass")], writer="switch", keep=keep)
    # a rollback that failed: no time to green, no success; the last ones stay, its own verify_ok is written
    red = write(tmp_path, [gauge("maestro_verify_ok", 0, source="rollback")], [inc("maestro_rollbacks_total", result="fail")],
                writer="switch", keep=keep)
    assert series(red.text) == {
        'maestro_deploys_total{environment="production",result="fail"}': "0",
        'maestro_deploys_total{environment="production",result="pass"}': "1",
        'maestro_rollbacks_total{environment="production",result="fail"}': "1",
        'maestro_rollbacks_total{environment="production",result="pass"}': "0",
        'maestro_time_to_green_seconds{environment="production"}': "4.5",
        'maestro_verify_last_success_timestamp_seconds{environment="production",source="deploy"}': "1795870031.5",
        'maestro_verify_ok{environment="production",source="rollback"}': "0"}
    # given again, a kept gauge takes the new value
    again = write(tmp_path, [gauge("maestro_time_to_green_seconds", 2)], writer="switch", keep=keep)
    assert series(again.text)['maestro_time_to_green_seconds{environment="production"}'] == "2"


@pytest.mark.parametrize("keep, message", [
    (["maestro_nope"], "keep: metric 'maestro_nope' is not in the catalogue"),
    (["maestro_rollbacks_total"], "keep: metric maestro_rollbacks_total is a counter: counters are always carried"),
    ("maestro_time_to_green_seconds", "keep is str, expected a list of gauge names"),
])
def test_keep_names_gauges_of_the_catalogue(tmp_path, keep, message):
    with pytest.raises(ConductorError, match=message):
        write(tmp_path, [gauge()], keep=keep)


def test_initialisation_covers_only_the_writers_own_sources(tmp_path):
    result = write(tmp_path, [], [inc("maestro_verify_runs_total", by=0, source="watch", result="fail")])
    assert series(result.text) == {'maestro_verify_runs_total{environment="production",source="watch",result="fail"}': "0",
                                   'maestro_verify_runs_total{environment="production",source="watch",result="pass"}': "0"}
    # the switch verifies for deploys and rollbacks: both its sources, never another writer's
    switch = write(tmp_path, [], [inc("maestro_verify_runs_total", source="rollback", result="fail")], writer="switch")
    assert series(switch.text) == {f'maestro_verify_runs_total{{environment="production",source="{source}",result="{result}"}}': value
                                   for source, result, value in [("deploy", "fail", "0"), ("deploy", "pass", "0"),
                                                                 ("rollback", "fail", "1"), ("rollback", "pass", "0")]}


@pytest.mark.parametrize("writer, sources", [("watch", ("watch",)), ("verify", ("verify",)), ("drill", ("drill",)),
                                             ("switch", ("deploy", "rollback")), ("daily", ("daily",)), ("weekly", ())])
def test_every_source_belongs_to_exactly_one_writer(writer, sources):
    assert _metrics.writer_sources(writer) == sources
    assert sorted(s for w in WRITERS for s in _metrics.writer_sources(w)) == sorted(SOURCES)


def test_counters_are_kept_apart_by_writer_and_environment(tmp_path):
    write(tmp_path, [], [inc(result="fail")])
    write(tmp_path, [], [inc(result="fail", by=5)], environment="staging")
    write(tmp_path, [], [inc("maestro_rollbacks_total", result="fail")], writer="switch")
    again = write(tmp_path, [], [inc(result="fail")])
    assert series(again.text)['maestro_watch_runs_total{environment="production",result="fail"}'] == "2"
    assert sorted(name for name in os.listdir(tmp_path) if name.endswith(".prom")) == [
        "maestro_switch_production.prom", "maestro_watch_production.prom", "maestro_watch_staging.prom"]


@pytest.mark.parametrize("previous, problem", [
    (b"garbage\n", "line 1 is not HELP, TYPE and samples"),
    (b"# HELP maestro_watch_runs_total Watch runs, by result.\n# TYPE maestro_watch_runs_total counter\n"
     b'maestro_watch_runs_total{environment="production",result="pass"} 7', "does not end with a newline"),
    (b"# HELP maestro_watch_runs_total x\n# TYPE maestro_watch_runs_total counter\n"
     b'maestro_watch_runs_total{environment="staging",result="pass"} 7\n', "is not labelled environment='production'"),
    (b"# HELP maestro_watch_runs_total x\n# TYPE maestro_watch_runs_total counter\n"
     b'maestro_watch_runs_total{environment="production",result="pass"} -7\n', "value is -7.0, expected a number >= 0"),
    (b"# HELP maestro_watch_runs_total x\n# TYPE maestro_watch_runs_total counter\n"
     b'maestro_watch_runs_total{environment="production",result="pass"} 7 1700000000000\n', "line 3 is not HELP"),
    (b'# HELP node_load1 x\n# TYPE node_load1 gauge\nnode_load1{environment="production"} 7\n',
     "metric 'node_load1' is not in the catalogue"),
    (b"\xff\xfe\n", "it is not UTF-8"),
])
def test_a_previous_file_that_is_not_ours_is_set_aside_and_counters_start_again(tmp_path, previous, problem):
    path = tmp_path / "maestro_watch_production.prom"
    path.write_bytes(previous)
    result = write(tmp_path, [], [inc(result="pass")])
    assert result.aside and result.aside.startswith(f"{path}.corrupt-") and not result.aside.endswith(".prom")
    with open(result.aside, "rb") as handle:
        assert handle.read() == previous  # set aside, bytes as they were
    assert len(result.warnings) == 1 and problem in result.warnings[0] and "counters start again from 0" in result.warnings[0]
    assert series(path.read_text())['maestro_watch_runs_total{environment="production",result="pass"}'] == "1"
    assert result.textfile.changed


def test_check_mode_names_the_file_it_would_set_aside_and_touches_nothing(tmp_path):
    path = tmp_path / "maestro_watch_production.prom"
    path.write_bytes(b"garbage\n")
    result = write(tmp_path, [gauge()], check_mode=True)
    assert result.aside and "would be set aside" in result.warnings[0]
    assert os.listdir(tmp_path) == [path.name] and path.read_bytes() == b"garbage\n"


def _increment_many(directory: str, count: int) -> None:
    for _attempt in range(count):
        write(directory, [], [inc(result="fail")])


def test_two_concurrent_writers_of_the_same_file_both_count(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_increment_many, args=(str(tmp_path), 40)) for _worker in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    text = (tmp_path / "maestro_watch_production.prom").read_text()
    assert series(text)['maestro_watch_runs_total{environment="production",result="fail"}'] == "120"
    assert sorted(os.listdir(tmp_path)) == ["maestro_watch_production.prom", "maestro_watch_production.prom.lock"]


# --- the textfile --------------------------------------------------------------------------------------------------------

def test_textfile_is_written_0644_and_an_unchanged_run_changes_nothing_but_its_mtime(tmp_path):
    first = write(tmp_path, [gauge()], [inc()])
    path = tmp_path / "maestro_watch_production.prom"
    assert first.changed and first.path == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    os.utime(path, (1_000_000_000, 1_000_000_000))
    inode = path.stat().st_ino
    second = write(tmp_path, [gauge()])
    assert not second.changed and second.text == first.text
    # not rewritten (same inode), but node_textfile_mtime_seconds shows the writer still runs
    assert path.stat().st_ino == inode and path.stat().st_mtime > 1_000_000_000
    assert write(tmp_path, [gauge()], [inc(by=0)]).changed is False
    assert write(tmp_path, [gauge()], [inc()]).changed is True


def test_absent_removes_the_textfile_and_keeps_the_lock(tmp_path):
    write(tmp_path, [gauge()])
    assert write(tmp_path, state="absent").changed
    assert os.listdir(tmp_path) == ["maestro_watch_production.prom.lock"]
    assert not write(tmp_path, state="absent").changed


@pytest.mark.parametrize("make, what", [
    (lambda tmp: tmp / "missing", "does not exist"),
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "sub", "does not exist"),
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file", "is not a directory"),
])
def test_a_missing_textfile_directory_is_named_with_what_to_do(tmp_path, make, what):
    directory = make(tmp_path)
    with pytest.raises(ConductorError) as caught:
        write(directory, [gauge()])
    assert str(caught.value).startswith(f"textfile directory {directory} {what}: create it, or give textfile_dir the directory "
                                        "node_exporter reads (its --collector.textfile.directory")


@pytest.fixture
def immutable_dir(tmp_path):
    """A directory that even root may not write into: the immutable attribute (root here, so modes would not stop it)."""
    directory = tmp_path / "immutable"
    directory.mkdir()
    subprocess.run(["chattr", "+i", str(directory)], check=True)
    yield directory
    subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_a_directory_that_cannot_be_written_is_named_with_what_to_do(immutable_dir):
    with pytest.raises(OSError):
        (immutable_dir / "probe").write_text("x")  # the premise: writing there really fails
    with pytest.raises(ConductorError) as caught:
        write(immutable_dir, [gauge()])
    assert str(caught.value).startswith(f"textfile directory {immutable_dir} is not writable: run the task as a user who may write")
    assert "--collector.textfile.directory" in str(caught.value)


def test_a_directory_where_the_textfile_should_be_is_named(tmp_path):
    (tmp_path / "maestro_watch_production.prom").mkdir()
    with pytest.raises(ConductorError, match=f"textfile {tmp_path}/maestro_watch_production.prom cannot be read: Is a directory"):
        write(tmp_path, [gauge()])


def test_a_lock_held_too_long_is_reported(tmp_path):
    write(tmp_path, [gauge()])
    with open(tmp_path / "maestro_watch_production.prom.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ConductorError, match=r"maestro_watch_production.prom.lock is locked by another run of this writer for "
                                                 r"more than 0.2 s"):
            write(tmp_path, [gauge(value=0)], timeout=0.2)
    assert write(tmp_path, [gauge(value=0)], timeout=0.2).changed


# --- the Pushgateway's answer read back ----------------------------------------------------------------------------------

GROUP = {
    "labels": {"environment": ENV, "job": "maestro_watch"},
    "last_push_successful": True,
    "maestro_watch_runs_total": {"type": "COUNTER", "help": "Watch runs, by result.", "metrics": [
        {"labels": {"environment": ENV, "instance": "", "job": "maestro_watch", "result": "fail"}, "value": "3"},
        {"labels": {"environment": ENV, "instance": "", "job": "maestro_watch", "result": "pass"}, "value": "0"}]},
    "maestro_watch_last_run_timestamp_seconds": {"type": "GAUGE", "metrics": [
        {"labels": {"environment": ENV, "instance": "", "job": "maestro_watch"}, "value": "1.7958700315410624e+09"}]},
    "push_time_seconds": {"type": "GAUGE", "metrics": [
        {"labels": {"environment": ENV, "instance": "", "job": "maestro_watch"}, "value": "1.7958700315410624e+09"}]},
}


def test_a_pushgateway_group_reads_back_as_the_writers_samples():
    samples = _metrics.ours("watch", ENV, _metrics.group_samples(GROUP))
    assert series(_metrics.render(samples)) == {
        'maestro_watch_last_run_timestamp_seconds{environment="production"}': "1795870031.5410624",
        'maestro_watch_runs_total{environment="production",result="fail"}': "3",
        'maestro_watch_runs_total{environment="production",result="pass"}': "0"}
    carried = _metrics.carry_counters("watch", samples, _metrics.increment_samples("watch", ENV, [inc(result="fail")]))
    assert {sample.labels[1][1]: sample.value for sample in carried} == {"fail": 4.0, "pass": 0.0}


def test_a_pushgateway_group_with_an_instance_or_a_histogram_is_not_ours():
    with_instance = {**GROUP, "maestro_watch_ok": {"type": "GAUGE", "metrics": [
        {"labels": {"environment": ENV, "instance": "host1", "job": "maestro_watch"}, "value": "1"}]}}
    with pytest.raises(_metrics.NotOurs, match="label 'instance' is not one of its labels"):
        _metrics.ours("watch", ENV, _metrics.group_samples(with_instance))
    histogram = {**GROUP, "maestro_watch_ok": {"type": "HISTOGRAM", "metrics": [{"labels": {}, "buckets": {}, "count": "1"}]}}
    with pytest.raises(_metrics.NotOurs, match="family maestro_watch_ok is not a counter or gauge of plain samples"):
        _metrics.group_samples(histogram)


# --- the module ----------------------------------------------------------------------------------------------------------

@pytest.fixture
def down_gateway():
    """A loopback port bound but not listening: a Pushgateway that is down answers every connection with a refusal."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", DOWN_PORT))
        yield f"http://127.0.0.1:{DOWN_PORT}"


def args(directory, **extra) -> dict:
    return {"writer": "watch", "environment": ENV, "textfile_dir": str(directory),
            "gauges": [{"name": "maestro_verify_ok", "labels": {"source": "watch"}, "value": True}],
            "increments": [{"name": "maestro_verify_runs_total", "labels": {"source": "watch", "result": "pass"}}], **extra}


def test_module_writes_then_reports_no_change_for_the_same_gauges(tmp_path, monkeypatch):
    out = run(release_metrics, args(tmp_path), monkeypatch)
    path = tmp_path / "maestro_watch_production.prom"
    assert not out.failed and out.result["changed"] and out.result["path"] == str(path)
    assert out.result["text"] == path.read_text()
    assert 'maestro_verify_ok{environment="production",source="watch"} 1\n' in out.result["text"]
    assert 'maestro_verify_runs_total{environment="production",source="watch",result="pass"} 1\n' in out.result["text"]
    again = run(release_metrics, args(tmp_path, increments=[]), monkeypatch)
    assert not again.failed and again.result["changed"] is False and again.result["text"] == out.result["text"]
    counted = run(release_metrics, args(tmp_path), monkeypatch)
    assert counted.result["changed"] is True and 'result="pass"} 2\n' in counted.result["text"]


def test_module_check_mode_and_diff_show_the_change_and_write_nothing(tmp_path, monkeypatch):
    run(release_metrics, args(tmp_path), monkeypatch)
    path = tmp_path / "maestro_watch_production.prom"
    before = path.read_text()
    mtime = path.stat().st_mtime_ns
    out = run(release_metrics, args(tmp_path, _ansible_check_mode=True, _ansible_diff=True), monkeypatch)
    assert not out.failed and out.result["changed"] is True
    assert out.result["diff"] == [{"before": before, "after": out.result["text"], "before_header": str(path), "after_header": str(path)}]
    assert 'result="pass"} 2\n' in out.result["diff"][0]["after"] and 'result="pass"} 1\n' in before
    assert path.read_text() == before and path.stat().st_mtime_ns == mtime


def test_module_check_mode_creates_nothing_in_an_empty_directory(tmp_path, monkeypatch):
    out = run(release_metrics, args(tmp_path, _ansible_check_mode=True), monkeypatch)
    assert not out.failed and out.result["changed"] and out.result["text"] and os.listdir(tmp_path) == []


def test_module_absent_removes_the_file_with_a_diff(tmp_path, monkeypatch):
    run(release_metrics, args(tmp_path), monkeypatch)
    text = (tmp_path / "maestro_watch_production.prom").read_text()
    out = run(release_metrics, {**args(tmp_path, gauges=[], increments=[]), "state": "absent", "_ansible_diff": True}, monkeypatch)
    assert out.result["changed"] and out.result["diff"][0]["before"] == text and out.result["diff"][0]["after"] == ""
    assert not (tmp_path / "maestro_watch_production.prom").exists()
    assert run(release_metrics, {**args(tmp_path, gauges=[], increments=[]), "state": "absent"}, monkeypatch).result["changed"] is False


def test_module_keeps_the_gauges_named_in_keep(tmp_path, monkeypatch):
    run(release_metrics, args(tmp_path), monkeypatch)
    out = run(release_metrics, args(tmp_path, gauges=[], increments=[], keep=["maestro_verify_ok"]), monkeypatch)
    assert out.result["changed"] is False and 'maestro_verify_ok{environment="production",source="watch"} 1\n' in out.result["text"]
    gone = run(release_metrics, args(tmp_path, gauges=[], increments=[]), monkeypatch)
    assert gone.result["changed"] is True and "maestro_verify_ok" not in gone.result["text"]


def test_module_fails_naming_the_metric_and_label(tmp_path, monkeypatch):
    out = run(release_metrics, args(tmp_path, gauges=[{"name": "maestro_verify_ok", "labels": {"source": "verify"}, "value": 1}]),
              monkeypatch)
    assert out.failed and out.result["msg"].startswith("metric maestro_verify_ok: label source is 'verify', expected watch")


def test_module_requires_a_target(monkeypatch):
    out = run(release_metrics, {"writer": "watch", "environment": ENV}, monkeypatch)
    assert out.failed and "one of the following is required: textfile_dir, pushgateway_url" in out.result["msg"]


def test_module_with_a_gateway_that_is_down_warns_and_still_writes_the_textfile(tmp_path, monkeypatch, down_gateway):
    warnings = []
    monkeypatch.setattr(release_metrics.AnsibleModule, "warn", lambda _self, text: warnings.append(text))
    password = "pushgateway-s3cret"
    out = run(release_metrics, args(tmp_path, pushgateway_url=down_gateway, pushgateway_username="maestro",
                                    pushgateway_password=password, timeout=2), monkeypatch)
    assert not out.failed and out.result["changed"] is True
    assert (tmp_path / "maestro_watch_production.prom").read_text() == out.result["text"]
    push = out.result["pushgateway"]
    assert push["ok"] is False and push["changed"] is False
    assert push["url"] == f"{down_gateway}/metrics/job/maestro_watch/environment/production"
    assert push["error"].startswith(f"pushgateway GET {down_gateway}/api/v1/metrics: could not be reached:")
    assert "Connection refused" in push["error"]
    assert len(warnings) == 1 and warnings[0].startswith(push["error"]) and "nothing was pushed" in warnings[0]
    assert password not in repr(out.result) + repr(warnings)


def test_module_refuses_a_password_without_a_user(tmp_path, monkeypatch):
    out = run(release_metrics, args(tmp_path, pushgateway_url="http://127.0.0.1:1", pushgateway_password="pushgateway-s3cret"),
              monkeypatch)
    assert out.failed and "pushgateway_password" in out.result["msg"] and "pushgateway-s3cret" not in repr(out.result)


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_link_or_a_pipe_where_the_textfile_should_be_is_never_read_nor_quoted(tmp_path, kind):
    """A shared textfile directory: a link to a secret is set aside unread, a pipe never blocks the writer."""
    secret = tmp_path / "secret"
    secret.write_text("db_password=hunter2\n")
    directory = tmp_path / "textfiles"
    directory.mkdir()
    path = directory / "maestro_watch_production.prom"
    if kind == "symlink":
        path.symlink_to(secret)
    else:
        os.mkfifo(path)
    request = _metrics.Request(writer="watch", environment="production", textfile_dir=str(directory), gateway=None,
                               gauges=[{"name": "maestro_watch_ok", "labels": {}, "value": 1}], increments=[])
    result = _metrics.write(request)
    shown = json.dumps([result.warnings, result.textfile.before, result.textfile.after])
    assert "hunter2" not in shown
    assert "is a symbolic link" in shown if kind == "symlink" else "is not a regular file" in shown
    assert path.is_file() and not path.is_symlink() and 'maestro_watch_ok{environment="production"} 1' in path.read_text()
    assert secret.read_text() == "db_password=hunter2\n"
