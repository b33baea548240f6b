# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A line per step, with its duration: the output of the make targets."""

from __future__ import annotations

DOCUMENTATION = r"""
name: steps
type: stdout
short_description: A line per step with its duration, the procedure's own summaries, failures in full
description:
  - Each task that ran is one line once it is done - its outcome over the hosts (the worst one), how long it took, its
    name - followed by what its C(ansible.builtin.debug) messages say (the summaries a procedure writes for its reader).
  - A step still running says so every O(progress_interval) seconds, and each retry of a step that waits (for health,
    for a lock) is a line; so a long hash, image load or wait shows it is alive.
  - Failures, unreachable hosts, warnings, diffs (C(--diff)) and the play recap are shown as the default callback shows
    them. Steps every host skipped are not shown.
  - The make targets use it; C(V=1) gives Ansible's default output instead.
  - Written because none of the callbacks at hand prints a step's duration on its line (C(ansible.posix.profile_tasks)
    adds a timing to every task banner of the default output; C(community.general.dense) and C(community.general.unixy)
    shorten the output but do not time it).
extends_documentation_fragment:
  - ansible.builtin.default_callback
  - ansible.builtin.result_format_callback
options:
  progress_interval:
    description: Seconds between the lines that say a step is still running (V(0) for none).
    type: int
    default: 20
    env:
      - name: MAESTRO_STEPS_PROGRESS_INTERVAL
    ini:
      - section: callback_steps
        key: progress_interval
"""

import threading
import time

from ansible import constants as C
from ansible.playbook.task_include import TaskInclude
from ansible.plugins.callback.default import CallbackModule as DefaultCallback

from ansible_collections.maestro.conductor.plugins.plugin_utils._steps import Step, line, message_lines, progress

_DEBUG = ("debug", "ansible.builtin.debug", "ansible.legacy.debug")
_ARGUMENT_CHECK = ("validate_argument_spec", "ansible.builtin.validate_argument_spec", "ansible.legacy.validate_argument_spec")
_COLOURS = {"ok": C.COLOR_OK, "changed": C.COLOR_CHANGED, "skipped": C.COLOR_SKIP, "ignored": C.COLOR_SKIP,
            "failed": C.COLOR_ERROR, "unreachable": C.COLOR_UNREACHABLE}


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "maestro.conductor.steps"

    def __init__(self):
        super().__init__()
        self._step: Step | None = None
        self._lock = threading.Lock()
        self._beat: threading.Event | None = None

    # ------------------------------------------------------------------------------------------- a step begins and ends

    def _begin(self, name: str, quiet: bool = False) -> None:
        self._end()
        with self._lock:
            self._step = Step(name or "(unnamed step)", time.monotonic(), quiet=quiet)
        interval = self.get_option("progress_interval")
        if interval and interval > 0:
            self._beat = threading.Event()
            threading.Thread(target=self._heartbeat, args=(self._step, self._beat, interval), daemon=True).start()

    def _heartbeat(self, step: Step, stop: threading.Event, interval: int) -> None:
        while not stop.wait(interval):
            with self._lock:
                if self._step is not step:
                    return
                self._display.display(progress(step.name, time.monotonic() - step.started, "still running"), color=C.COLOR_SKIP)

    def _end(self) -> None:
        if self._beat is not None:
            self._beat.set()
            self._beat = None
        with self._lock:
            step, self._step = self._step, None
        if step is None or not step.shown():
            return
        self._display.display(line(step, time.monotonic() - step.started), color=_COLOURS.get(step.outcome))
        for text in step.messages:
            self._display.display(text)

    def v2_playbook_on_task_start(self, task, is_conditional):
        # a role's own check of its arguments is no step of the procedure (its failure still shows in full)
        self._begin(task.name.strip() if task.name else task.get_name().strip(), quiet=task.action in _ARGUMENT_CHECK)
        # the default callback's banner is printed only with a failure, which then names its task
        self._last_task_banner = None

    def v2_playbook_on_handler_task_start(self, task):
        self._begin(f"handler: {(task.name or task.get_name()).strip()}")
        self._last_task_banner = None

    def v2_playbook_on_play_start(self, play):
        self._end()
        self._play = play
        name = play.get_name().strip()
        check = " [CHECK MODE]" if play.check_mode and self.get_option("check_mode_markers") else ""
        self._display.display(f"PLAY {name}{check}", color=C.COLOR_HIGHLIGHT)

    def v2_playbook_on_stats(self, stats):
        self._end()
        super().v2_playbook_on_stats(stats)

    def v2_playbook_on_no_hosts_remaining(self):
        self._end()
        super().v2_playbook_on_no_hosts_remaining()

    def v2_playbook_on_include(self, included_file):
        pass

    # ------------------------------------------------------------------------------------------------ results

    def _record(self, result, outcome: str) -> None:
        with self._lock:
            if self._step is not None:
                self._step.record(result.host.get_name(), outcome)

    def _say(self, result) -> None:
        """What a debug task says (never under no_log: the default callback's censoring is in its result already)."""
        if result.task.action not in _DEBUG or "censored" in result.result:
            return
        found = result.result.get("msg", {k: v for k, v in result.result.items() if not k.startswith("_") and k != "changed"})
        with self._lock:
            if self._step is not None:
                self._step.messages += message_lines(found)

    def v2_runner_on_ok(self, result):
        if isinstance(result.task, TaskInclude):
            return
        self._record(result, "changed" if result.result.get("changed", False) else "ok")
        self._handle_warnings_and_exception(result)
        if not (result.task.loop and "results" in result.result):
            self._say(result)

    def v2_runner_item_on_ok(self, result):
        if not isinstance(result.task, TaskInclude):
            self._say(result)

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_item_on_skipped(self, result):
        pass

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")
        if ignore_errors:
            # a failure the procedure handles: its reason, on one line
            reason = str(result.result.get("msg", "")).strip().splitlines()
            with self._lock:
                if self._step is not None and reason:
                    self._step.messages.append(f"      (ignored) {reason[0][:300]}")
            return
        # in full, as it happens; the step's line follows when the step is done
        super().v2_runner_on_failed(result, ignore_errors)

    def v2_runner_item_on_failed(self, result):
        if not result.task.ignore_errors:
            super().v2_runner_item_on_failed(result)

    def v2_runner_on_unreachable(self, result):
        self._record(result, "ignored" if result.task.ignore_unreachable else "unreachable")
        if not result.task.ignore_unreachable:
            super().v2_runner_on_unreachable(result)

    def v2_runner_retry(self, result):
        with self._lock:
            step = self._step
            if step is None:
                return
            detail = f"retry {result.result.get('attempts', '?')} of {result.result.get('retries', '?')}, {result.host.get_name()}"
            self._display.display(progress(step.name, time.monotonic() - step.started, detail), color=C.COLOR_SKIP)

    def v2_runner_on_async_poll(self, result):
        with self._lock:
            step = self._step
            if step is not None:
                self._display.display(progress(step.name, time.monotonic() - step.started, f"polling {result.host.get_name()}"),
                                      color=C.COLOR_SKIP)
