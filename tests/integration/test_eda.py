"""The incident rulebook end to end: a real ansible-rulebook (on the JVM) with the collection's rulebook and its
Alertmanager source, real Alertmanager-shaped requests, and a real Alertmanager posting to it.

The rulebook runs, by the variable incident_playbook, a small playbook written into the test's directory that
appends its extra variables as one JSON line to a file: the test reads what the incident procedure would get.
Loopback only: the source on 127.0.0.1:19500, Alertmanager on 19509 (its cluster port off).

Whether something did NOT run is proven with a sentinel: ansible-rulebook runs actions one after another, so once
a later qualifying alert's line is written, any run the earlier requests caused would already be there.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"
HOST = "127.0.0.1"
SOURCE_PORT = 19500
ALERTMANAGER_PORT = 19509
URL = f"http://{HOST}:{SOURCE_PORT}/alerts"
TOKEN = "eda-test-" + uuid.uuid4().hex
# the JVM, Drools and the first ansible-galaxy call: seconds on an idle machine, more on a loaded one
STARTUP_TIMEOUT = 120
RUN_TIMEOUT = 120

RECORD_PLAYBOOK = """\
- name: Record what the incident procedure would get
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Append the extra variables as one JSON line
      ansible.builtin.command:
        argv:
          - "{{ ansible_playbook_python }}"
          - -c
          - 'import sys; open(sys.argv[1], "a").write(sys.argv[2] + chr(10))'
          - "%(runs)s"
          - "{{ {'incident_environment': incident_environment, 'incident_reason': _handed.reason,
                 'incident_alert': _handed.alert, 'incident_source': incident_source} | to_json }}"
      vars:
        # decoded as roles/incident/tasks/open.yml decodes it
        _handed: "{{ incident_event_b64 | b64decode | from_json }}"
      changed_when: true
"""

pytestmark = pytest.mark.skipif(not (BIN / "ansible-rulebook").exists() or not Path(JAVA_HOME).is_dir(),
                                reason="ansible-rulebook or Java 17 missing: run scripts/eda.sh")


def firing(fingerprint: str, name: str = "MaestroVerificationFailed", environment: str | None = "demo", **labels) -> dict:
    all_labels = {"alertname": name, "severity": "critical", **labels}
    if environment is not None:
        all_labels["environment"] = environment
    return {"status": "firing", "labels": all_labels,
            "annotations": {"summary": f"{environment}: the live release failed verification", "description": "3 files differ"},
            "startsAt": "2026-11-28T16:25:01.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": f"http://{HOST}:19090/graph?g0.expr=maestro_verify_ok", "fingerprint": fingerprint}


def notification(*alerts: dict, external_url: str = f"http://{HOST}:19093") -> dict:
    return {"version": "4", "groupKey": '{}:{alertname="MaestroVerificationFailed"}', "truncatedAlerts": 0,
            "status": "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing", "receiver": "maestro",
            "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": external_url, "alerts": list(alerts)}


def post(data: bytes | dict, token: str | None = TOKEN, url: str = URL) -> tuple[int, dict]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=raw, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Rulebook:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.runs = directory / "runs.jsonl"
        self.log = directory / "rulebook.log"
        self.process: subprocess.Popen | None = None
        self.listening_after = 0.0
        self.ready_after = 0.0

    def lines(self) -> list[dict]:
        if not self.runs.exists():
            return []
        return [json.loads(line) for line in self.runs.read_text().splitlines() if line.strip()]

    def wait_for_runs(self, count: int) -> list[dict]:
        deadline = time.monotonic() + RUN_TIMEOUT
        while len(self.lines()) < count:
            assert self.process.poll() is None, f"ansible-rulebook exited: {self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{count} runs expected, saw {self.lines()}: {self.log.read_text()[-3000:]}"
            time.sleep(0.1)
        return self.lines()

    def runs_after_sentinel(self) -> list[dict]:
        """Every run so far, the sentinel's last: a qualifying alert with a fingerprint of its own."""
        before = len(self.lines())
        fingerprint = uuid.uuid4().hex[:16]
        assert post(notification(firing(fingerprint, environment="sentinel")))[0] == 200
        runs = self.wait_for_runs(before + 1)
        assert runs[-1]["incident_alert"]["fingerprint"] == fingerprint, runs
        return runs[:-1]


@pytest.fixture(scope="module")
def rulebook(tmp_path_factory):
    directory = tmp_path_factory.mktemp("eda")
    book = Rulebook(directory)
    playbook = directory / "record.yml"
    playbook.write_text(RECORD_PLAYBOOK % {"runs": book.runs})
    # the shipped defaults, with the test's playbook and ports
    variables = (ROOT / "extensions" / "eda" / "vars" / "incident.yml").read_text()
    variables = variables.replace("incident_playbook: maestro.conductor.incident", f"incident_playbook: {playbook}")
    assert str(playbook) in variables
    (directory / "vars.yml").write_text(variables)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "JAVA_HOME": JAVA_HOME,
           "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "DEMO_DIR": str(directory / "demo"), "MAESTRO_EDA_TOKEN": TOKEN}
    # the rulebook by its name in the collection, as make eda runs it
    command = [str(BIN / "ansible-rulebook"), "-r", "maestro.conductor.incident", "-e", str(directory / "vars.yml"),
               "-i", str(ROOT / "inventories" / "local"), "-v"]
    started = time.monotonic()
    with open(book.log, "wb") as log:
        book.process = subprocess.Popen(command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = started + STARTUP_TIMEOUT
        while "Waiting for events" not in book.log.read_text(errors="replace"):
            assert book.process.poll() is None, f"ansible-rulebook exited: {book.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"ansible-rulebook not ready in {STARTUP_TIMEOUT} s: {book.log.read_text()[-3000:]}"
            if not book.listening_after and "listening on" in book.log.read_text(errors="replace"):
                book.listening_after = time.monotonic() - started
            time.sleep(0.05)
        book.ready_after = time.monotonic() - started
        print(f"\nansible-rulebook: source listening after {book.listening_after:.2f} s, rules ready after {book.ready_after:.2f} s")
        yield book
    finally:
        if book.process.poll() is None:
            os.killpg(book.process.pid, signal.SIGINT)
            try:
                book.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(book.process.pid, signal.SIGKILL)
                book.process.wait()
        # the token never reaches ansible-rulebook's output
        assert TOKEN not in book.log.read_text(errors="replace")


def test_a_firing_alert_runs_the_incident_procedure_once_with_its_variables(rulebook):
    alert = firing("3f1c9a2b7d4e5f60")
    sent = time.monotonic()
    assert post(notification(alert)) == (200, {"queued": 1, "duplicates": 0})
    runs = rulebook.wait_for_runs(1)
    print(f"\nalert posted -> the playbook's task done: {time.monotonic() - sent:.2f} s")
    assert runs == [{
        "incident_environment": "demo",
        "incident_reason": "demo: the live release failed verification",
        "incident_source": "alert",
        "incident_alert": {"name": "MaestroVerificationFailed", "status": "firing", "fingerprint": "3f1c9a2b7d4e5f60",
                           "starts_at": "2026-11-28T16:25:01.123456789Z", "labels": alert["labels"],
                           "annotations": alert["annotations"], "generator_url": alert["generatorURL"]},
    }]
    # Alertmanager's repeat, and the same alert from the other member of an HA pair
    assert post(notification(alert)) == (200, {"queued": 0, "duplicates": 1})
    assert post(notification(alert, external_url=f"http://{HOST}:29093")) == (200, {"queued": 0, "duplicates": 1})
    assert rulebook.runs_after_sentinel() == runs


def test_a_resolved_alert_starts_nothing(rulebook):
    before = rulebook.lines()
    resolved = {**firing("00000000000000a1"), "status": "resolved", "endsAt": "2026-11-28T16:40:01Z"}
    assert post(notification(resolved)) == (200, {"queued": 1, "duplicates": 0})
    assert rulebook.runs_after_sentinel() == before


def test_only_the_collections_incident_alerts_with_an_environment_start_it(rulebook):
    before = rulebook.lines()
    assert post(notification(firing("00000000000000b1", name="HighMemoryUsage")))[0] == 200
    assert post(notification(firing("00000000000000b2", environment=None)))[0] == 200
    runs = rulebook.runs_after_sentinel()
    assert runs == before
    # any alert labelled maestro_incident: rollback does
    assert post(notification(firing("00000000000000b3", name="CheckoutErrorsHigh", environment="prod",
                                    maestro_incident="rollback")))[0] == 200
    runs = rulebook.wait_for_runs(len(before) + 2)
    assert [(r["incident_alert"]["name"], r["incident_environment"]) for r in runs[len(before) + 1:]] == [("CheckoutErrorsHigh", "prod")]


def test_alert_text_is_data_never_a_template(rulebook, tmp_path):
    """A label or annotation holding a template (label values can come from scraped metrics) reaches the playbook as the
    text it is: nothing is rendered, nothing runs; an environment label that is no environment name starts nothing."""
    before = rulebook.lines()
    pwned = tmp_path / "pwned"
    hostile = "{{ lookup('pipe', 'touch " + str(pwned) + "') }}"
    alert = firing("00000000000000d1")
    alert["annotations"] = {"summary": hostile}
    alert["labels"]["team"] = hostile
    assert post(notification(alert))[0] == 200
    bad_environment = firing("00000000000000d2", environment="{{ lookup('pipe', 'touch " + str(pwned) + "-env') }}")
    assert post(notification(bad_environment))[0] == 200
    runs = rulebook.wait_for_runs(len(before) + 1)
    assert runs[-1]["incident_reason"] == hostile and runs[-1]["incident_alert"]["labels"]["team"] == hostile
    assert rulebook.runs_after_sentinel() == runs
    assert not list(tmp_path.glob("pwned*"))


def test_bad_requests_are_refused_and_start_nothing(rulebook):
    before = rulebook.lines()
    good = notification(firing("00000000000000c1"))
    no_fingerprint = copy.deepcopy(good)
    del no_fingerprint["alerts"][0]["fingerprint"]
    status, answer = post(b"{not json")
    assert (status, answer["error"].startswith("request body is not JSON")) == (400, True)
    assert post({**good, "version": "3"}) == (400, {"error": "version is '3': expected '4' (Alertmanager's webhook payload)"})
    assert post(no_fingerprint)[0] == 400
    assert post(json.dumps({**good, "padding": "x" * (2 << 20)}).encode())[0] == 413
    # the right payload without the token, or with another
    assert post(good, token=None)[0] == 401
    assert post(good, token="not-" + TOKEN)[0] == 401
    assert rulebook.runs_after_sentinel() == before


ALERTMANAGER_CONFIG = """\
route:
  receiver: eda
  group_by: [alertname, environment]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: eda
    webhook_configs:
      - url: "%(url)s"
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: "%(token_file)s"
"""


@pytest.fixture
def alertmanager(tmp_path):
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager missing: apt-get install prometheus-alertmanager")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    (tmp_path / "alertmanager.yml").write_text(ALERTMANAGER_CONFIG % {"url": URL, "token_file": token_file})
    log = open(tmp_path / "alertmanager.log", "wb")
    process = subprocess.Popen([binary, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'data'}",
                                f"--web.listen-address={HOST}:{ALERTMANAGER_PORT}", "--cluster.listen-address="],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{ALERTMANAGER_PORT}/-/ready", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
                assert time.monotonic() < deadline, "Alertmanager not ready in 30 s"
                time.sleep(0.1)
        yield f"http://{HOST}:{ALERTMANAGER_PORT}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_a_real_alertmanager_repeating_its_alert_runs_the_procedure_once(rulebook, alertmanager):
    before = rulebook.lines()
    labels = {"alertname": "MaestroServingUnproven", "environment": "staging", "severity": "critical", "run": uuid.uuid4().hex}
    alert = [{"labels": labels, "annotations": {"summary": "staging: what serves is not the verified release"},
              "generatorURL": f"http://{HOST}:19090/graph"}]
    request = urllib.request.Request(f"{alertmanager}/api/v2/alerts", data=json.dumps(alert).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    runs = rulebook.wait_for_runs(len(before) + 1)
    assert runs[-1]["incident_environment"] == "staging"
    assert runs[-1]["incident_alert"]["labels"] == labels
    assert runs[-1]["incident_reason"] == "staging: what serves is not the verified release"
    # repeat_interval is 2 s: Alertmanager sends the alert again and again while the test waits
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        time.sleep(0.5)
    sent = rulebook.log.read_text().count("alerts from 'eda'")
    assert sent >= 3, f"Alertmanager notified {sent} times in 8 s, expected a repeat every 2 s"
    assert rulebook.runs_after_sentinel() == runs
