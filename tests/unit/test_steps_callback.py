"""The steps callback (the make targets' output): a line per step with its outcome and duration, the procedure's own
messages, failures in full, progress while a step runs; through a real ansible-playbook run of a small playbook."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ansible_collections.maestro.conductor.plugins.plugin_utils._steps import Step, line, message_lines, progress

ROOT = Path(__file__).resolve().parents[2]

PLAYBOOK = """
- name: A procedure
  hosts: all
  gather_facts: false
  tasks:
    - name: Say what was found
      ansible.builtin.debug:
        msg: ["release v1.2.0: GREEN", "  every check passed"]
      run_once: true
    - name: Never runs
      ansible.builtin.debug:
        msg: never shown
      when: false
    - name: Take a while
      ansible.builtin.command: sleep 2.5
      changed_when: inventory_hostname == 'two'
    - name: Wait for it
      ansible.builtin.command: "true"
      register: waited
      until: waited.attempts >= 2
      retries: 3
      delay: 1
      changed_when: false
    - name: A failure the procedure handles
      ansible.builtin.fail:
        msg: the proxy did not answer
      ignore_errors: true
    - name: Keep a secret
      ansible.builtin.debug:
        msg: "the token is {{ lookup('ansible.builtin.env', 'TEST_TOKEN') }}"
      no_log: true
    - name: Stop with a reason
      ansible.builtin.fail:
        msg: release v1.2.0 FAILED verification
      when: inventory_hostname == 'one'
"""


def run(tmp_path: Path, callback: str, interval: str = "1") -> subprocess.CompletedProcess:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    one: {}\n    two: {}\n  vars:\n    ansible_connection: local\n"
                                        f"    ansible_python_interpreter: {sys.executable}\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": callback, "ANSIBLE_NOCOLOR": "1",
           "MAESTRO_STEPS_PROGRESS_INTERVAL": interval, "TEST_TOKEN": "s3cr3t-t0ken"}
    return subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_line_per_step_with_its_duration_the_messages_failures_in_full_and_the_recap(tmp_path):
    done = run(tmp_path, "maestro.conductor.steps")
    lines = done.stdout.splitlines()
    assert done.returncode == 2
    said = [text for text in lines if text.startswith("  ") and "s  " in text and not text.startswith("      ")]
    names = [text.split("s  ", 1)[1] for text in said if not text.lstrip().startswith("...")]
    assert names == ["Say what was found", "Take a while  [1 ok, 1 changed]", "Wait for it  [2 ok]",
                     "A failure the procedure handles  [2 ignored]", "Keep a secret  [2 ok]", "Stop with a reason  [1 skipped, 1 failed]"]
    took = next(text for text in said if "Take a while" in text and not text.lstrip().startswith("..."))
    assert took.split()[0] == "changed" and 2.4 <= float(took.split()[1].rstrip("s")) < 10
    assert "      release v1.2.0: GREEN" in lines and "        every check passed" in lines
    assert "Never runs" not in done.stdout and "never shown" not in done.stdout and "censored" not in done.stdout
    # a failure the procedure tolerates names each host and its reason
    assert "(ignored) one: the proxy did not answer" in done.stdout and "(ignored) two: the proxy did not answer" in done.stdout
    # progress while a step runs, and each retry of a step that waits
    assert any("Take a while (still running)" in text for text in lines)
    assert any("Wait for it (retry 1 of" in text for text in lines)
    # a failure as the default callback shows it, and the recap
    assert "fatal: [one]: FAILED!" in done.stdout and "release v1.2.0 FAILED verification" in done.stdout
    recap = done.stdout.split("PLAY RECAP")[-1]
    assert re.search(r"\bone\s+: ok=\d+ .*failed=1", recap) and re.search(r"\btwo\s+: ok=\d+ .*failed=0", recap)
    assert "s3cr3t-t0ken" not in done.stdout + done.stderr
    # and far shorter than Ansible's own output of the same run
    full = run(tmp_path, "ansible.builtin.default")
    assert len(lines) < len(full.stdout.splitlines()) * 0.75


def test_the_worst_outcome_of_any_host_is_the_steps():
    step = Step("Flip the proxy", 0.0)
    step.record("a", "ok")
    step.record("b", "changed")
    step.record("a", "skipped")  # a loop's later item never hides an earlier outcome
    assert step.outcome == "changed" and line(step, 1.25) == "  changed      1.2s  Flip the proxy  [1 ok, 1 changed]"
    step.record("c", "failed")
    assert step.outcome == "failed"
    assert not Step("skipped everywhere", 0.0).shown()
    checked = Step("Validating arguments against arg spec 'main'", 0.0, quiet=True)
    checked.record("a", "ok")
    assert not checked.shown()
    checked.record("a", "failed")
    assert checked.shown()
    assert progress("Load the image", 41.0, "still running") == "  ...         41.0s  Load the image (still running)"
    assert message_lines(["a", "b\nc"]) == ["      a", "      b", "      c"] and message_lines("") == ["      "]


TOLERATED = """
- name: Failures a procedure tolerates
  hosts: all
  gather_facts: false
  tasks:
    - name: Ask every host
      ansible.builtin.command: "true"
      changed_when: false
      ignore_unreachable: true
    - name: Read each proxy
      ansible.builtin.command: "sh -c 'echo proxy {{ item }} refused >&2; exit 3'"
      loop: [a, b]
      changed_when: false
      ignore_errors: true
      when: inventory_hostname == 'one'
    - name: Say how it ended
      ansible.builtin.debug:
        msg: "the summary of the run"
      run_once: true
    - name: Break the run
      ansible.builtin.include_tasks: missing-file.yml
"""


def test_a_tolerated_failure_names_its_host_item_and_reason_and_an_abrupt_end_still_shows_the_last_step(tmp_path):
    (tmp_path / "play.yml").write_text(TOLERATED)
    (tmp_path / "hosts.yml").write_text(f"all:\n  hosts:\n    one:\n      ansible_connection: local\n      ansible_python_interpreter: {sys.executable}\n"
                                        "    gone:\n      ansible_connection: ssh\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "maestro.conductor.steps",
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_TIMEOUT": "5"}
    argv = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    text = done.stdout
    assert re.search(r"\(unreachable\) gone: .*(refused|Connection)", text), text
    assert "(ignored) one (item=a): non-zero return code: proxy a refused" in text
    assert "(ignored) one (item=b): non-zero return code: proxy b refused" in text
    assert "the summary of the run" in text
    # the include that breaks the run is named, as the default callback names it
    assert done.returncode != 0 and "missing-file.yml" in text + done.stderr
    # with -v, what Ansible's default callback prints
    verbose = subprocess.run(argv + ["-v"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert "TASK [Ask every host]" in verbose.stdout
