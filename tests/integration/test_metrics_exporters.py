"""release_metrics against the real exporters from Debian's packages: promtool, node_exporter's textfile collector, a
Pushgateway (with and without basic auth), and one run through ansible-playbook. Loopback ports 19200-19218 only."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import warnings
from base64 import b64encode
from pathlib import Path

import pytest

from ansible_collections.maestro.conductor.plugins.modules import release_metrics
from tests.servers import require, wait_port
from tests.unit.test_modules import run

ROOT = Path(__file__).resolve().parents[2]
ENV = "production"
NODE_PORT, GATEWAY_PORT, AUTH_GATEWAY_PORT, DOWN_PORT = 19201, 19202, 19203, 19204
USER, PASSWORD = "maestro", "pushgateway-s3cret"


class Server:
    """A server process with its own directory, stopped (and its log shown on failure) by the fixture that made it."""

    def __init__(self, args: list[str], port: int, log: Path):
        self.log = log
        with open(log, "wb") as handle:
            self.process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT)
        try:
            wait_port(port)
        except TimeoutError:
            self.stop()
            pytest.fail(f"{args[0]} did not listen on 127.0.0.1:{port}: {log.read_text()[-2000:]}")
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def get(url: str, auth: tuple[str, str] | None = None) -> str:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback test server
        return answer.read().decode()


def exposition(text: str) -> dict[str, dict[str, float]]:
    """name -> {labels as written (empty ones dropped, as Prometheus drops them): value} of an exposition."""
    families: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        head, value = line.rsplit(" ", 1)
        name, labels = head.split("{", 1) if "{" in head else (head, "")
        pairs = [pair for pair in labels.rstrip("}").split(",") if pair and not pair.endswith('=""')]
        families.setdefault(name, {})[",".join(sorted(pairs))] = float(value)
    return families


def gateway_group(gateway: Server, writer: str, auth=None) -> dict | None:
    for group in json.loads(get(gateway.url + "/api/v1/metrics", auth))["data"]:
        if group["labels"] == {"job": f"maestro_{writer}", "environment": ENV}:
            return group
    return None


@pytest.fixture
def textfile_dir(tmp_path) -> Path:
    directory = tmp_path / "textfile"
    directory.mkdir()
    return directory


@pytest.fixture
def node_exporter(tmp_path, textfile_dir):
    server = Server([require("prometheus-node-exporter"), "--collector.disable-defaults", "--collector.textfile",
                     f"--collector.textfile.directory={textfile_dir}", f"--web.listen-address=127.0.0.1:{NODE_PORT}"],
                    NODE_PORT, tmp_path / "node_exporter.log")
    yield server
    server.stop()


@pytest.fixture
def gateway(tmp_path):
    # Debian's build persists to /var/lib/prometheus/pushgateway.data unless told otherwise: a file of the test's own
    server = Server([require("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{GATEWAY_PORT}",
                     f"--persistence.file={tmp_path / 'pushgateway.data'}"], GATEWAY_PORT, tmp_path / "pushgateway.log")
    yield server
    server.stop()


@pytest.fixture
def auth_gateway(tmp_path):
    """A Pushgateway that takes only USER with PASSWORD (its web config holds the bcrypt hash)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # pylint: disable=import-outside-toplevel,deprecated-module
    hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))
    if not hashed or not hashed.startswith("$2"):
        pytest.fail("this Python's crypt cannot make a bcrypt hash for the Pushgateway's web config")
    config = tmp_path / "web.yml"
    config.write_text(f'basic_auth_users:\n  {USER}: "{hashed}"\n')
    server = Server([require("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{AUTH_GATEWAY_PORT}",
                     f"--web.config.file={config}", f"--persistence.file={tmp_path / 'pushgateway-auth.data'}"],
                    AUTH_GATEWAY_PORT, tmp_path / "pushgateway-auth.log")
    yield server
    server.stop()


@pytest.fixture
def warnings_seen(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(release_metrics.AnsibleModule, "warn", lambda _self, text: seen.append(text))
    return seen


def watch_args(**extra) -> dict:
    return {"writer": "watch", "environment": ENV,
            "gauges": [{"name": "maestro_watch_ok", "value": 0},
                       {"name": "maestro_verify_ok", "labels": {"source": "watch"}, "value": 0},
                       {"name": "maestro_release_info", "labels": {"tag": "v1.2.3", "commit": "a" * 40}, "value": 1}],
            "increments": [{"name": "maestro_verify_runs_total", "labels": {"source": "watch", "result": "fail"}, "by": 1}], **extra}


def switch_args(**extra) -> dict:
    return {"writer": "switch", "environment": ENV,
            "gauges": [{"name": "maestro_time_to_green_seconds", "value": 4.25}],
            "increments": [{"name": "maestro_rollbacks_total", "labels": {"result": "pass"}, "by": 1}], **extra}


def test_written_files_are_clean_under_promtool(textfile_dir, monkeypatch):
    promtool = require("promtool")
    for args in (watch_args, switch_args):
        run(release_metrics, args(textfile_dir=str(textfile_dir)), monkeypatch)
    files = sorted(textfile_dir.glob("*.prom"))
    assert [path.name for path in files] == ["maestro_switch_production.prom", "maestro_watch_production.prom"]
    for path in files:
        checked = subprocess.run([promtool, "check", "metrics"], stdin=open(path, "rb"), capture_output=True, text=True, check=False)
        assert (path.name, checked.returncode, checked.stdout + checked.stderr) == (path.name, 0, "")


def test_node_exporter_serves_two_writers_files_together(textfile_dir, node_exporter, monkeypatch):
    for args in (watch_args, switch_args):
        assert not run(release_metrics, args(textfile_dir=str(textfile_dir)), monkeypatch).failed
    # a second watch run: the counter carried in the file reaches node_exporter at 2
    assert not run(release_metrics, watch_args(textfile_dir=str(textfile_dir)), monkeypatch).failed
    scraped = exposition(get(node_exporter.url + "/metrics"))
    assert scraped["node_textfile_scrape_error"] == {"": 0.0}
    assert set(scraped["node_textfile_mtime_seconds"]) == {f'file="{textfile_dir}/maestro_watch_production.prom"',
                                                           f'file="{textfile_dir}/maestro_switch_production.prom"'}
    assert scraped["maestro_verify_runs_total"] == {'environment="production",result="fail",source="watch"': 2.0,
                                                    'environment="production",result="pass",source="watch"': 0.0}
    assert scraped["maestro_rollbacks_total"] == {'environment="production",result="fail"': 0.0,
                                                  'environment="production",result="pass"': 1.0}
    assert scraped["maestro_time_to_green_seconds"] == {'environment="production"': 4.25}
    assert scraped["maestro_release_info"] == {f'commit="{"a" * 40}",environment="production",tag="v1.2.3"': 1.0}


def test_node_exporter_sees_the_heartbeat_of_an_unchanged_run(textfile_dir, node_exporter, monkeypatch):
    run(release_metrics, switch_args(textfile_dir=str(textfile_dir), increments=[]), monkeypatch)
    path = textfile_dir / "maestro_switch_production.prom"
    os.utime(path, (1_000_000_000, 1_000_000_000))
    out = run(release_metrics, switch_args(textfile_dir=str(textfile_dir), increments=[]), monkeypatch)
    assert out.result["changed"] is False
    mtime = exposition(get(node_exporter.url + "/metrics"))["node_textfile_mtime_seconds"][f'file="{path}"']
    assert mtime > time.time() - 60


def test_pushgateway_group_is_job_and_environment_and_carries_counters(gateway, monkeypatch, warnings_seen):
    first = run(release_metrics, watch_args(pushgateway_url=gateway.url), monkeypatch)
    assert not first.failed and first.result["changed"] is True
    assert first.result["pushgateway"] == {"ok": True, "error": "", "changed": True,
                                           "url": f"{gateway.url}/metrics/job/maestro_watch/environment/production"}
    served = exposition(get(gateway.url + "/metrics"))
    assert served["push_time_seconds"].keys() == {'environment="production",job="maestro_watch"'}  # no instance
    assert served["maestro_verify_runs_total"] == {'environment="production",job="maestro_watch",result="fail",source="watch"': 1.0,
                                                   'environment="production",job="maestro_watch",result="pass",source="watch"': 0.0}
    pushed_at = served["push_time_seconds"]['environment="production",job="maestro_watch"']
    second = run(release_metrics, watch_args(pushgateway_url=gateway.url), monkeypatch)
    assert second.result["changed"] is True and 'result="fail"} 2\n' in second.result["text"]
    served = exposition(get(gateway.url + "/metrics"))
    assert served["maestro_verify_runs_total"]['environment="production",job="maestro_watch",result="fail",source="watch"'] == 2.0
    # the same gauges and no increment: no change, but pushed again, so push_time_seconds says the writer runs
    same = run(release_metrics, watch_args(pushgateway_url=gateway.url, increments=[]), monkeypatch)
    assert same.result["changed"] is False and same.result["pushgateway"]["ok"] is True
    assert exposition(get(gateway.url + "/metrics"))["push_time_seconds"]['environment="production",job="maestro_watch"'] > pushed_at
    assert warnings_seen == []


def test_pushgateway_keeps_a_gauge_named_in_keep_from_the_group_read_back(gateway, monkeypatch):
    run(release_metrics, switch_args(pushgateway_url=gateway.url), monkeypatch)
    failed = switch_args(pushgateway_url=gateway.url, gauges=[], keep=["maestro_time_to_green_seconds"],
                         increments=[{"name": "maestro_rollbacks_total", "labels": {"result": "fail"}, "by": 1}])
    assert run(release_metrics, failed, monkeypatch).result["pushgateway"]["ok"] is True
    served = exposition(get(gateway.url + "/metrics"))
    assert served["maestro_time_to_green_seconds"] == {'environment="production",job="maestro_switch"': 4.25}
    assert served["maestro_rollbacks_total"] == {'environment="production",job="maestro_switch",result="fail"': 1.0,
                                                 'environment="production",job="maestro_switch",result="pass"': 1.0}


def test_pushgateway_check_mode_reads_and_pushes_nothing(gateway, monkeypatch):
    run(release_metrics, watch_args(pushgateway_url=gateway.url), monkeypatch)
    held = gateway_group(gateway, "watch")
    out = run(release_metrics, watch_args(pushgateway_url=gateway.url, _ansible_check_mode=True, _ansible_diff=True), monkeypatch)
    assert out.result["changed"] is True and out.result["pushgateway"]["changed"] is True
    diff = out.result["diff"][0]
    assert diff["before_header"] == out.result["pushgateway"]["url"]
    assert 'source="watch",result="fail"} 1\n' in diff["before"] and 'source="watch",result="fail"} 2\n' in diff["after"]
    assert gateway_group(gateway, "watch") == held


def test_absent_deletes_the_group_and_only_it(gateway, monkeypatch):
    run(release_metrics, watch_args(pushgateway_url=gateway.url), monkeypatch)
    run(release_metrics, switch_args(pushgateway_url=gateway.url), monkeypatch)
    absent = {"writer": "watch", "environment": ENV, "pushgateway_url": gateway.url, "state": "absent"}
    out = run(release_metrics, absent, monkeypatch)
    assert out.result["changed"] is True and out.result["pushgateway"]["ok"] is True
    assert gateway_group(gateway, "watch") is None and gateway_group(gateway, "switch") is not None
    assert run(release_metrics, absent, monkeypatch).result["changed"] is False
    # counters start again after the group is gone
    again = run(release_metrics, watch_args(pushgateway_url=gateway.url), monkeypatch)
    assert 'source="watch",result="fail"} 1\n' in again.result["text"]


def test_a_gateway_that_is_down_is_a_warning_and_the_textfile_is_still_written(textfile_dir, monkeypatch, warnings_seen):
    with socket.socket() as reserved:  # bound, never listening: connections are refused
        reserved.bind(("127.0.0.1", DOWN_PORT))
        out = run(release_metrics, watch_args(textfile_dir=str(textfile_dir), pushgateway_url=f"http://127.0.0.1:{DOWN_PORT}", timeout=3),
                  monkeypatch)
    assert not out.failed and out.result["changed"] is True
    assert (textfile_dir / "maestro_watch_production.prom").read_text() == out.result["text"]
    assert out.result["pushgateway"]["ok"] is False and "could not be reached" in out.result["pushgateway"]["error"]
    assert len(warnings_seen) == 1 and "nothing was pushed" in warnings_seen[0]


def test_a_gateway_that_answers_an_error_is_a_warning(gateway, textfile_dir, monkeypatch, warnings_seen):
    out = run(release_metrics, watch_args(textfile_dir=str(textfile_dir), pushgateway_url=gateway.url + "/no-such-prefix"), monkeypatch)
    assert not out.failed and (textfile_dir / "maestro_watch_production.prom").exists()
    assert out.result["pushgateway"]["ok"] is False
    assert out.result["pushgateway"]["error"].startswith(f"pushgateway GET {gateway.url}/no-such-prefix/api/v1/metrics: 404")
    assert len(warnings_seen) == 1


def test_basic_auth_reaches_a_gateway_that_requires_it_and_a_wrong_password_is_never_shown(auth_gateway, monkeypatch, warnings_seen):
    good = run(release_metrics, watch_args(pushgateway_url=auth_gateway.url, pushgateway_username=USER, pushgateway_password=PASSWORD),
               monkeypatch)
    assert good.result["pushgateway"]["ok"] is True and warnings_seen == []
    assert gateway_group(auth_gateway, "watch", (USER, PASSWORD)) is not None
    wrong = "wrong-s3cret-password"
    bad = run(release_metrics, watch_args(pushgateway_url=auth_gateway.url, pushgateway_username=USER, pushgateway_password=wrong),
              monkeypatch)
    assert not bad.failed and bad.result["pushgateway"]["ok"] is False
    assert "401 Unauthorized" in bad.result["pushgateway"]["error"]
    assert wrong not in repr(bad.result) + repr(warnings_seen) and PASSWORD not in repr(good.result) + repr(bad.result)


def test_through_ansible_playbook_with_both_targets_check_mode_first(tmp_path, textfile_dir, gateway, node_exporter):
    results = tmp_path / "results.json"
    playbook = tmp_path / "metrics.yml"
    playbook.write_text(f"""
- name: Release metrics, as a procedure writes them
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the watch's metrics
      maestro.conductor.release_metrics:
        writer: watch
        environment: {ENV}
        textfile_dir: {textfile_dir}
        pushgateway_url: {gateway.url}
        gauges:
          - name: maestro_verify_ok
            labels: {{source: watch}}
            value: "{{{{ 1 > 0 }}}}"
        increments:
          - name: maestro_watch_runs_total
            labels: {{result: pass}}
      register: written
    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{{{ written | to_json }}}}"
        dest: {results}
        mode: "0644"
      check_mode: false
""")
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    command = [shutil.which("ansible-playbook", path=env["PATH"]), "-i", "localhost,", "-c", "local", "-e",
               json.dumps({"ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")}), str(playbook)]
    checked = subprocess.run([*command, "--check", "--diff"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(results.read_text())["changed"] is True and list(textfile_dir.iterdir()) == []
    assert gateway_group(gateway, "watch") is None
    assert '+maestro_watch_runs_total{environment="production",result="pass"} 1' in checked.stdout
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(results.read_text())
    assert result["changed"] is True and result["pushgateway"]["ok"] is True
    assert (textfile_dir / "maestro_watch_production.prom").read_text() == result["text"]
    assert exposition(get(node_exporter.url + "/metrics"))["maestro_verify_ok"] == {'environment="production",source="watch"': 1.0}
    group = gateway_group(gateway, "watch")
    runs = {metric["labels"]["result"]: metric["value"] for metric in group["maestro_watch_runs_total"]["metrics"]}
    assert runs == {"pass": "1", "fail": "0"}
