"""A module's core run in Ansible's worker on the controller gives what the module gives on a host, from the same
spec; and it only runs there when the module would have run on this very machine, as this user, with this Python."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _task_ledger, _task_lock, _task_verify
from ansible_collections.maestro.conductor.plugins.modules import release_ledger, release_lock, release_verify
from ansible_collections.maestro.conductor.plugins.plugin_utils._controller import run_here, runs_here
from tests.unit.test_modules import run, verify_args

ROOT = Path(__file__).resolve().parents[2]


def action(transport="local", become=False, async_val=0, environment=None, delegate_to=None):
    templar = SimpleNamespace(template=lambda value: value)
    task = SimpleNamespace(async_val=async_val, environment=environment if environment is not None else [{}], delegate_to=delegate_to)
    return SimpleNamespace(_task=task, _connection=SimpleNamespace(transport=transport), _play_context=SimpleNamespace(become=become),
                           _templar=templar)


HERE = {"ansible_python_interpreter": sys.executable}


@pytest.mark.parametrize("kwargs, task_vars, expected", [
    ({}, HERE, True),
    ({"transport": "ansible.builtin.local"}, HERE, True),
    ({"transport": "ssh"}, HERE, False),
    ({"become": True}, HERE, False),
    ({"async_val": 30}, HERE, False),
    ({"environment": [{"DOCKER_HOST": "unix:///x.sock"}]}, HERE, False),
    ({}, {"ansible_python_interpreter": "/usr/bin/python3.9"}, False),
    ({}, {}, False),
    ({"delegate_to": "lb1"}, {"ansible_delegated_vars": {"lb1": HERE}}, True),
    ({"delegate_to": "lb1"}, {**HERE, "ansible_delegated_vars": {"lb1": {"ansible_python_interpreter": "/usr/bin/python3"}}}, False),
])
def test_the_core_runs_here_only_when_the_module_would_run_on_this_machine_as_it_is(kwargs, task_vars, expected):
    assert runs_here(action(**kwargs), task_vars) is expected


def test_here_and_there_give_the_same_result(tmp_path, monkeypatch):
    args = {"path": str(tmp_path / "ledger.jsonl"), "environment": "prod", "state": "append", "event": "deployed", "tag": "v1.0.0",
            "actor": "me", "commit": "a" * 40, "record_id": "one"}
    here = run_here(_task_ledger.ENTRY, args, check_mode=False, diff=False)
    there = run(release_ledger, {**args, "record_id": "two"}, monkeypatch).result
    assert here["changed"] and there["changed"] and here["live"] == there["live"] == "v1.0.0"
    assert {k for k in here if k != "record"} <= set(there) and len(there["records"]) == 2


def test_arguments_are_checked_by_the_modules_own_spec(tmp_path):
    out = run_here(_task_lock.ENTRY, {"path": str(tmp_path / "l"), "holder": "me", "state": "maybe", "bogus": 1}, False, False)
    assert out["failed"] and "maybe" in out["msg"] and "bogus" in out["msg"]
    assert run_here(_task_lock.ENTRY, {"path": str(tmp_path / "l"), "holder": "me", "ledger": "/x"}, False, False)["failed"]


def test_a_failure_keeps_its_fields_and_warnings_are_carried(release, monkeypatch):
    (release.dir / "sbom.json").write_text("{}\n")
    here = run_here(_task_verify.ENTRY, verify_args(release), False, False)
    there = run(release_verify, verify_args(release), monkeypatch)
    assert here["failed"] and there.failed and here["msg"] == there.result["msg"] and here["failed_checks"] == ["artifacts"]
    warned = run_here(_task_verify.ENTRY, verify_args(release, expected_commit=release.commit, fail_on_error=False), False, False)
    assert warned["warnings"] == ["expected_commit is only checked with strict=true; it was ignored"]


def test_check_mode_reaches_the_core(tmp_path, monkeypatch):
    args = {"path": str(tmp_path / "lock"), "holder": "me"}
    assert run_here(_task_lock.ENTRY, args, check_mode=True, diff=False)["changed"] and not (tmp_path / "lock").exists()
    assert run(release_lock, {**args, "_ansible_check_mode": True}, monkeypatch).result["changed"] and not (tmp_path / "lock").exists()


def test_a_worker_dies_with_the_ansible_playbook_that_forked_it(tmp_path):
    # the parent stands for ansible-playbook, its child for a worker; SIGKILL the parent and the worker must not go on
    marker = tmp_path / "worker.pid"
    script = f"""
import os, sys, time
sys.path.insert(0, {str(ROOT / ".collections")!r})
from ansible_collections.maestro.conductor.plugins.plugin_utils._controller import die_with_parent
if os.fork() == 0:
    die_with_parent()
    open({str(marker)!r}, "w").write(str(os.getpid()))
    time.sleep(60)
    os._exit(0)
time.sleep(60)
"""
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 10
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.05)
        worker = int(marker.read_text())
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 5
        while _alive(worker):
            assert time.monotonic() < deadline, "the worker outlived the playbook that forked it"
            time.sleep(0.05)
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
