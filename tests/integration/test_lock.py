"""The environment lock end to end, through make as an operator runs it: a rollback killed with SIGKILL leaves no lock
the next one must wait for; `make unlock` names the holder, breaks a dead run's lock and refuses a live one unless
forced; a run whose lock was forced away stops before it changes anything.

Its own demo environment ("itest-lock": directory, ports, compose projects), behind a real nginx.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.demo_env import ROOT, Env, make_demo, out, tear_down


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    env = make_demo(Env(tmp_path_factory.mktemp("itest-lock"), "itest-lock"))
    assert env.demo_run.returncode == 0, out(env.demo_run)[-3000:]
    yield env
    tear_down(env)


def make(env: Env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], env=env.env(), capture_output=True, text=True,
                          timeout=600, check=False)


def start_rollback(env: Env, tag: str) -> subprocess.Popen:
    """`make rollback TAG=...` in a process group of its own, as a terminal or a CI runner starts it."""
    return subprocess.Popen(["make", "--no-print-directory", "-C", str(ROOT), "rollback", f"TAG={tag}"], env=env.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def lock_file(env: Env) -> Path:
    return env.root / "locks" / f"{env.environment}.lock"


def wait_for_lock(env: Env, run: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None:
        try:
            return json.loads(lock_file(env).read_text())
        except (FileNotFoundError, ValueError):
            time.sleep(0.05)
    raise AssertionError(f"the rollback never took the lock: {run.communicate()[0][-3000:] if run.poll() is not None else 'timed out'}")


@contextlib.contextmanager
def paused(run: subprocess.Popen):
    """The run stopped (SIGSTOP: alive, but taking no step) while the caller acts, then resumed."""
    os.killpg(run.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(run.pid, signal.SIGCONT)


def kill(run: subprocess.Popen) -> None:
    """SIGKILL to the whole run - make, ansible-playbook, its workers - as when a job is cancelled or its machine dies."""
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)


def test_a_killed_rollback_leaves_no_lock_the_next_one_waits_for(demo):
    killed = start_rollback(demo, "v1.0.0")
    held = wait_for_lock(demo, killed)
    # the lock names the ansible-playbook process of the run, on this controller
    with open(f"/proc/{held['pid']}/cmdline", "rb") as handle:
        assert b"ansible-playbook" in handle.read()
    time.sleep(2.5)
    kill(killed)
    assert json.loads(lock_file(demo).read_text())["holder"] == held["holder"], "the killed run's lock is left behind"
    started = time.monotonic()
    done = make(demo, "rollback", "TAG=v1.0.0")
    text = out(done)
    assert done.returncode == 0, text[-3000:]
    assert f"took the lock over from {held['holder']} (its process {held['pid']} on " in text and " is gone)" in text
    assert time.monotonic() - started < held["lease"], "it waited for the lease instead of seeing the holder dead"
    assert demo.served() == demo.commit("v1.0.0") and not lock_file(demo).exists()
    back = make(demo, "rollback", "TAG=v1.1.0")
    assert back.returncode == 0 and demo.served() == demo.commit("v1.1.0"), out(back)[-3000:]


def test_make_unlock_refuses_a_live_holder_naming_it(demo):
    running = start_rollback(demo, "v1.0.0")
    held = wait_for_lock(demo, running)
    with paused(running):
        refused = make(demo, "unlock")
    text = out(refused)
    assert refused.returncode != 0
    assert f"held by {held['holder']} on " in text and f"pid {held['pid']} (running)" in text and "for rollback to v1.0.0" in text
    assert "not removed" in text and "FORCE=true" in text
    # the run it refused to break goes on and finishes
    finished = running.communicate(timeout=600)[0]
    assert running.returncode == 0, finished[-3000:]
    assert demo.served() == demo.commit("v1.0.0") and not lock_file(demo).exists()
    back = make(demo, "rollback", "TAG=v1.1.0")
    assert back.returncode == 0 and demo.served() == demo.commit("v1.1.0"), out(back)[-3000:]


def test_make_unlock_breaks_the_lock_of_a_run_that_died(demo):
    killed = start_rollback(demo, "v1.0.0")
    held = wait_for_lock(demo, killed)
    kill(killed)
    check = make(demo, "unlock", "PLAYBOOK_ARGS=--check")
    assert check.returncode == 0 and "(check mode: nothing was removed)" in out(check) and lock_file(demo).exists()
    done = make(demo, "unlock")
    text = out(done)
    assert done.returncode == 0, text[-3000:]
    assert f"removed the lock {lock_file(demo)} of {held['holder']} on " in text and f"(pid {held['pid']})" in text
    assert f"its process {held['pid']} on " in text and "is gone" in text and not lock_file(demo).exists()
    again = make(demo, "unlock")
    assert again.returncode == 0 and "nothing to unlock" in out(again)
    back = make(demo, "rollback", "TAG=v1.1.0")
    assert back.returncode == 0 and demo.served() == demo.commit("v1.1.0"), out(back)[-3000:]


def test_a_run_whose_lock_was_forced_away_stops_before_changing_anything(demo):
    include, ledger = (demo.root / "nginx" / "upstream.conf").read_text(), len(demo.ledger())
    running = start_rollback(demo, "v1.0.0")
    held = wait_for_lock(demo, running)
    with paused(running):
        forced = make(demo, "unlock", "FORCE=true")
    assert forced.returncode == 0 and f"of {held['holder']}" in out(forced) and "forced" in out(forced), out(forced)[-3000:]
    text = " ".join(running.communicate(timeout=600)[0].split())
    assert running.returncode != 0
    assert f"is no longer held by this run ({held['holder']}, generation {held['generation']}): no run holds it" in text
    assert "Traffic was not moved: it stays on blue (v1.1.0)" in text
    assert (demo.root / "nginx" / "upstream.conf").read_text() == include and len(demo.ledger()) == ledger
    assert demo.served() == demo.commit("v1.1.0")
