"""The run lock: holders, waiting, dead holders and leases, generations and fencing, and two processes racing for it."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict

import pytest

from ansible_collections.maestro.conductor.plugins.action import release_lock as lock_action
from ansible_collections.maestro.conductor.plugins.module_utils import _ledger, _lock
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import release_lock
from ansible_collections.maestro.conductor.plugins.plugin_utils._controller import ControllerAction
from tests.unit.test_modules import run


def test_second_holder_waits_then_fails_naming_the_first(tmp_path):
    path = str(tmp_path / "prod.lock")
    assert _lock.acquire(path, "job-1", ttl=60, purpose="rollback to v1.1.0").changed
    started = time.monotonic()
    with pytest.raises(ConductorError, match=r"is held by job-1 on .* generation 1, lease ends in \d+s, for rollback to v1.1.0; "
                                             r"gave up after waiting 1s .*another run is in progress. If that run is gone, `make unlock`"):
        _lock.acquire(path, "job-2", ttl=60, wait=1, poll=0.1)
    assert time.monotonic() - started >= 1.0
    assert json.loads(open(path, encoding="utf-8").read())["holder"] == "job-1"


def test_same_holder_is_reentrant_and_release_is_idempotent(tmp_path):
    path = str(tmp_path / "prod.lock")
    assert _lock.acquire(path, "job-1", ttl=60).changed
    assert not _lock.acquire(path, "job-1", ttl=60).changed
    with pytest.raises(ConductorError, match="not by job-2: not released"):
        _lock.release(path, "job-2")
    assert _lock.release(path, "job-1").changed and not _lock.release(path, "job-1").changed


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
    assert out.result["ledger"] == {"live": "v1.0.0", "live_commit": "a" * 40, "healthy": ["v1.0.0"], "quarantined": [],
                                    "open_incidents": [], "frozen": []}
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


# --- dead holders, leases, generations and fencing -------------------------------------------------------------------

def _process() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "60"])


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_holder_whose_process_is_gone_on_this_controller_loses_the_lock_at_once(tmp_path):
    path = str(tmp_path / "prod.lock")
    proc = _process()
    try:
        held = _lock.acquire(path, "killed-run", ttl=900, purpose="rollback to v1.0.0", owner=_lock.owner_of(proc.pid))
        assert held.lock.pid == proc.pid and held.lock.pid_started > 0
        with pytest.raises(_lock.LockHeld, match=rf"held by killed-run on .*, pid {proc.pid} \(running\)"):
            _lock.acquire(path, "next-run", ttl=900)
    finally:
        _kill(proc)
    started = time.monotonic()
    taken = _lock.acquire(path, "next-run", ttl=900)
    # no wait for a lease or a time limit: the holder is dead, and the takeover says why
    assert time.monotonic() - started < 5
    assert taken.changed and taken.stale.holder == "killed-run" and taken.reason == f"its process {proc.pid} on {socket.gethostname()} is gone"
    assert taken.lock.generation == held.lock.generation + 1


def test_a_reused_pid_is_not_the_holder(tmp_path):
    path = str(tmp_path / "prod.lock")
    me = _lock.owner_of(os.getpid())
    # this very process runs, but it started at another time than the recorded holder: that pid was reused
    _lock.acquire(path, "old-run", ttl=900, owner=_lock.Owner(me.host, me.pid, me.started + 1, me.space))
    taken = _lock.acquire(path, "next-run", ttl=900)
    assert taken.changed and taken.reason.endswith("is gone")


def test_a_live_holder_here_keeps_its_lock_past_its_lease_but_not_past_the_time_limit(tmp_path):
    path = str(tmp_path / "prod.lock")
    _lock.acquire(path, "long-step", ttl=3, lease=1, owner=_lock.owner_of(os.getpid()))
    time.sleep(1.2)
    with pytest.raises(_lock.LockHeld, match="lease ended"):
        _lock.acquire(path, "next-run", ttl=900)
    time.sleep(2)
    taken = _lock.acquire(path, "next-run", ttl=900)
    assert taken.changed and "runs but has not renewed the lock for" in taken.reason and "(time limit 3s)" in taken.reason


def test_a_holder_on_another_controller_keeps_the_lock_for_its_lease_renewed_at_each_step(tmp_path):
    path = str(tmp_path / "prod.lock")
    elsewhere = _lock.Owner(host="ctl-2", pid=4242, started=1, space="another-boot/pid:[1]")
    held = _lock.acquire(path, "remote-run", ttl=900, lease=1, owner=elsewhere)
    time.sleep(0.6)
    renewed = _lock.fence(path, "remote-run", held.lock.generation, "its next step")
    assert renewed.expires > held.lock.expires and renewed.acquired == held.lock.acquired
    time.sleep(0.6)  # past the first lease, within the renewed one
    with pytest.raises(_lock.LockHeld, match="held by remote-run on ctl-2, pid 4242 since"):
        _lock.acquire(path, "next-run", ttl=900)
    time.sleep(0.6)
    taken = _lock.acquire(path, "next-run", ttl=900)
    assert taken.changed and taken.reason.startswith("its lease ended")


def test_generations_only_grow_across_releases_and_a_lock_file_removed_by_hand(tmp_path):
    path = tmp_path / "prod.lock"
    generations = []
    for holder in ("run-1", "run-2", "run-3"):
        generations.append(_lock.acquire(str(path), holder, ttl=60).lock.generation)
        _lock.release(str(path), holder)
    _lock.acquire(str(path), "run-4", ttl=60)
    path.unlink()
    generations.append(_lock.acquire(str(path), "run-5", ttl=60).lock.generation)
    assert generations == [1, 2, 3, 5]
    assert json.loads(path.read_text())["generation"] == 5


def test_a_run_that_lost_the_lock_is_fenced_out(tmp_path):
    path = str(tmp_path / "prod.lock")
    first = _lock.acquire(path, "slow-run", ttl=900, lease=1, owner=_lock.Owner(host="ctl-2", pid=7, started=1, space="x"))
    time.sleep(1.1)
    second = _lock.acquire(path, "next-run", ttl=900)
    assert second.changed and second.lock.generation == first.lock.generation + 1
    with pytest.raises(_lock.LockLost, match=rf"no longer held by this run \(slow-run, generation {first.lock.generation}\): it is held by "
                                             r"next-run .* This run stopped before flipping"):
        _lock.fence(path, "slow-run", first.lock.generation, "flipping")
    assert _lock.fence(path, "next-run", second.lock.generation, "flipping").holder == "next-run"
    # the run that lost the lock gives up nothing of the run that holds it now
    given = _lock.release(path, "slow-run", generation=first.lock.generation)
    assert not given.changed and "left to that run" in given.warnings[0] and _lock.read_lock(path).holder == "next-run"


def test_unlock_removes_a_dead_holder_and_refuses_a_live_one_unless_forced(tmp_path):
    path = str(tmp_path / "prod.lock")
    proc = _process()
    _lock.acquire(path, "live-run", ttl=900, purpose="rollback to v1.0.0", owner=_lock.owner_of(proc.pid))
    try:
        with pytest.raises(_lock.LockHeld, match=r"held by live-run on .* for rollback to v1.0.0, and that holder is alive .* FORCE=true"):
            _lock.release(path)
        assert _lock.read_lock(path).holder == "live-run"
    finally:
        _kill(proc)
    removed = _lock.release(path)
    assert removed.changed and removed.lock.holder == "live-run" and removed.reason.endswith("is gone") and not os.path.exists(path)
    _lock.acquire(path, "another-live-run", ttl=900, owner=_lock.owner_of(os.getpid()))
    forced = _lock.release(path, force=True)
    assert forced.changed and forced.reason == "forced" and "its holder may still run" in forced.warnings[0]


def test_module_unlock_names_the_holder_and_the_renewal_reports_a_lost_lock(tmp_path, monkeypatch):
    path = tmp_path / "prod.lock"
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": _lock.owner_of(os.getpid()).started, "space": _lock.pid_space()}
    taken = run(release_lock, {"path": str(path), "holder": "run-1", "owner": owner}, monkeypatch)
    assert taken.result["lock"]["pid"] == os.getpid() and taken.result["lock"]["generation"] == 1
    refused = run(release_lock, {"path": str(path), "state": "absent"}, monkeypatch)
    assert refused.failed and "held by run-1" in refused.result["msg"] and refused.result["held"]["holder"] == "run-1"
    checked = run(release_lock, {"path": str(path), "state": "absent", "force": True, "_ansible_check_mode": True}, monkeypatch)
    assert checked.result["changed"] and checked.result["reason"] == "forced" and path.exists()
    assert run(release_lock, {"path": str(path), "state": "absent", "force": True}, monkeypatch).result["changed"] and not path.exists()
    lost = run(release_lock, {"path": str(path), "holder": "run-1", "generation": 1}, monkeypatch)
    assert lost.failed and lost.result["lost"] is True and "no run holds it" in lost.result["msg"]
    # a dry run never took the lock: its renewals are no loss
    dry = run(release_lock, {"path": str(path), "holder": "run-2", "generation": 2, "_ansible_check_mode": True}, monkeypatch)
    assert not dry.failed and not path.exists()


def test_the_action_checks_on_the_controller_a_holder_the_lock_host_cannot_see(tmp_path, monkeypatch):
    """The lock file on another host: that host refuses a holder whose process ran here; the action sees it is gone."""
    proc = _process()
    dead = _lock.LockInfo(holder="killed-run", host="", acquired=1.0, expires=time.time() + 100, generation=3)
    mine = _lock.owner_of(proc.pid)
    dead.host, dead.pid, dead.pid_started, dead.pid_space = mine.host, mine.pid, mine.started, mine.space
    _kill(proc)
    calls = []

    def remote(_self, args, _task_vars):
        calls.append(args)
        if not args.get("dead"):
            return {"failed": True, "msg": "held", "held": asdict(dead)}
        return {"changed": True, "lock": {"holder": args["holder"]}}

    monkeypatch.setattr(ControllerAction, "_module", remote)
    monkeypatch.setattr(lock_action, "runs_here", lambda _action, _vars: False)
    action = object.__new__(lock_action.ActionModule)
    result = action._module({"path": "/x.lock", "holder": "next-run", "wait": 30}, {})  # pylint: disable=protected-access
    assert result["changed"] and [c.get("wait") for c in calls] == [0, 30]
    assert calls[1]["dead"] == {"holder": "killed-run", "generation": 3}
    assert calls[0]["owner"]["pid"] == os.getppid()
    assert lock_action.dead_here({**asdict(dead), "pid": os.getpid(), "pid_started": _lock.owner_of(os.getpid()).started}) is False
