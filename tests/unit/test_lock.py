"""The run lock: holders, waiting, stale takeover, and two processes racing for it."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger, _lock
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import release_lock
from tests.unit.test_modules import run


def test_second_holder_waits_then_fails_naming_the_first(tmp_path):
    path = str(tmp_path / "prod.lock")
    assert _lock.acquire(path, "job-1", ttl=60, purpose="rollback to v1.1.0").changed
    started = time.monotonic()
    with pytest.raises(ConductorError, match=r"is held by job-1 on .* \(expires in \d+s\) for rollback to v1.1.0; gave up after waiting 1s"):
        _lock.acquire(path, "job-2", ttl=60, wait=1, poll=0.1)
    assert time.monotonic() - started >= 1.0
    assert json.loads(open(path, encoding="utf-8").read())["holder"] == "job-1"


def test_same_holder_is_reentrant_and_release_is_idempotent(tmp_path):
    path = str(tmp_path / "prod.lock")
    assert _lock.acquire(path, "job-1", ttl=60).changed
    assert not _lock.acquire(path, "job-1", ttl=60).changed
    with pytest.raises(ConductorError, match="not by job-2: not released"):
        _lock.release(path, "job-2")
    assert _lock.release(path, "job-1") and not _lock.release(path, "job-1")


def test_a_stale_lock_is_taken_over_and_reported(tmp_path):
    path = str(tmp_path / "prod.lock")
    _lock.acquire(path, "crashed-job", ttl=1)
    time.sleep(1.1)
    taken = _lock.acquire(path, "job-2", ttl=60)
    assert taken.changed and taken.stale.holder == "crashed-job" and taken.lock.holder == "job-2"


def test_waiting_holder_gets_the_lock_when_it_is_released(tmp_path):
    path = str(tmp_path / "prod.lock")
    _lock.acquire(path, "job-1", ttl=60)
    releaser = multiprocessing.Process(target=lambda: (time.sleep(0.5), _lock.release(path, "job-1")))
    releaser.start()
    taken = _lock.acquire(path, "job-2", ttl=60, wait=10, poll=0.1)
    releaser.join()
    assert taken.changed and taken.waited >= 0.4 and taken.stale is None


def _race(path: str, holder: str, results) -> None:
    try:
        _lock.acquire(path, holder, ttl=60)
        results.put(holder)
    except ConductorError:
        results.put("")


def test_only_one_of_many_racing_processes_gets_the_lock(tmp_path):
    path = str(tmp_path / "prod.lock")
    results = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_race, args=(path, f"job-{i}", results)) for i in range(8)]
    for proc in procs:
        proc.start()
    winners = [h for h in (results.get(timeout=30) for _proc in procs) if h]
    for proc in procs:
        proc.join()
    assert len(winners) == 1
    assert _lock.read_lock(path).holder == winners[0]


def test_module_check_mode_takes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "prod.lock"
    out = run(release_lock, {"path": str(path), "holder": "job-1", "_ansible_check_mode": True}, monkeypatch)
    assert out.result["changed"] is True and not path.exists()
    out = run(release_lock, {"path": str(path), "holder": "job-1"}, monkeypatch)
    assert out.result["changed"] is True and out.result["lock"]["holder"] == "job-1"
    busy = run(release_lock, {"path": str(path), "holder": "job-2"}, monkeypatch)
    assert busy.failed and "is held by job-1" in busy.result["msg"]
    assert run(release_lock, {"path": str(path), "holder": "job-2", "state": "absent", "force": True}, monkeypatch).result["changed"]
    assert not path.exists()


def test_unreadable_lock_file_is_a_clear_error(tmp_path):
    path = tmp_path / "prod.lock"
    path.write_text("garbage")
    with pytest.raises(ConductorError, match="lock file .* is unreadable"):
        _lock.acquire(str(path), "job-1", ttl=60)


def test_taking_the_lock_reads_the_ledger_it_guards(tmp_path, monkeypatch):
    ledger, path = tmp_path / "prod.jsonl", tmp_path / "prod.lock"
    _ledger.append(str(ledger), _ledger.make_record("prod", "deployed", "v1.0.0", "ci", commit="a" * 40, verdict="green"))
    _ledger.append(str(ledger), _ledger.make_record("staging", "deployed", "v9.0.0", "ci", commit="b" * 40, verdict="green"))
    args = {"path": str(path), "holder": "job-1", "ledger": str(ledger), "environment": "prod"}
    checked = run(release_lock, {**args, "_ansible_check_mode": True}, monkeypatch)
    assert checked.result["ledger"]["live"] == "v1.0.0" and not path.exists()
    out = run(release_lock, args, monkeypatch)
    assert out.result["ledger"] == {"live": "v1.0.0", "live_commit": "a" * 40, "healthy": ["v1.0.0"], "quarantined": []}
    assert json.loads(path.read_text())["holder"] == "job-1"


def test_a_ledger_that_cannot_be_read_gives_the_lock_back(tmp_path, monkeypatch):
    ledger, path = tmp_path / "prod.jsonl", tmp_path / "prod.lock"
    ledger.write_text('{"v": 1, "event": "deployed"\n')
    out = run(release_lock, {"path": str(path), "holder": "job-1", "ledger": str(ledger), "environment": "prod"}, monkeypatch)
    assert out.failed and "line 1" in out.result["msg"]
    assert not path.exists()
    held = run(release_lock, {"path": str(path), "holder": "job-2"}, monkeypatch)
    bad = run(release_lock, {"path": str(path), "holder": "job-2", "ledger": str(ledger), "environment": "prod"}, monkeypatch)
    # a lock the holder already had is not given up because its ledger read failed
    assert held.result["changed"] and bad.failed and json.loads(path.read_text())["holder"] == "job-2"


def test_the_holder_taking_the_lock_again_renews_it(tmp_path):
    path = str(tmp_path / "env.lock")
    first = _lock.acquire(path, "run-1", ttl=10)
    again = _lock.acquire(path, "run-1", ttl=100)
    assert not again.changed and again.lock.acquired == first.lock.acquired and again.lock.expires > first.lock.expires + 50
    assert _lock.read_lock(path).expires == again.lock.expires
