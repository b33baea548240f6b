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
    them; a failure the procedure tolerates (C(ignore_errors), C(ignore_unreachable)) is a line naming the host, the item
    and the reason. Steps every host skipped are not shown. A run that ends abruptly still shows its last step.
  - With C(-v) or more, C(--step), or a play whose strategy is not C(linear), it prints what the default callback prints
    (results there do not arrive a step at a time).
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

import atexit
import threading
import time

from ansible import constants as C
from ansible import context
from ansible.playbook.task_include import TaskInclude
from ansible.plugins.callback.default import CallbackModule as DefaultCallback

from ansible_collections.maestro.conductor.plugins.plugin_utils._steps import Step, ignored_lines, line, message_lines, progress

_DEBUG = ("debug", "ansible.builtin.debug", "ansible.legacy.debug")
_ARGUMENT_CHECK = ("validate_argument_spec", "ansible.builtin.validate_argument_spec", "ansible.legacy.validate_argument_spec")
_COLOURS = {"ok": C.COLOR_OK, "changed": C.COLOR_CHANGED, "skipped": C.COLOR_SKIP, "ignored": C.COLOR_SKIP,
            "failed": C.COLOR_ERROR, "unreachable": C.COLOR_UNREACHABLE}
_STEP_BY_STEP = ("linear",)


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "maestro.conductor.steps"

    def __init__(self):
        super().__init__()
        self._step: Step | None = None
        self._lock = threading.Lock()
        self._beat: threading.Event | None = None
        self._last_retry = 0.0
        # Ansible's own output where results do not come a step at a time, or where the operator asked for more
        self._plain = False
        # a run that ends abruptly (an error raised before the next task starts) still shows the step it was on
        atexit.register(self._end, "interrupted")

    def _plain_run(self) -> bool:
        return self._display.verbosity > 0 or bool(context.CLIARGS.get("step"))

    # ------------------------------------------------------------------------------------------- a step begins and ends

    def _begin(self, name: str, quiet: bool = False) -> None:
        self._end()
        with self._lock:
            self._step = Step(name or "(unnamed step)", time.monotonic(), quiet=quiet)
            self._last_retry = 0.0
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

    def _end(self, how: str = "") -> None:
        if self._beat is not None:
            self._beat.set()
            self._beat = None
        with self._lock:
            step, self._step = self._step, None
        if step is None or not (step.shown() or how):
            return
        text = line(step, time.monotonic() - step.started) + (f"  ({how})" if how else "")
        self._display.display(text, color=_COLOURS.get(step.outcome))
        for message in step.lines():
            self._display.display(message)

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self._plain:
            return super().v2_playbook_on_task_start(task, is_conditional)
        # a role's own check of its arguments is no step of the procedure (its failure still shows in full)
        self._begin(task.name.strip() if task.name else task.get_name().strip(), quiet=task.action in _ARGUMENT_CHECK)
        # the default callback's banner is printed only with a failure, which then names its task
        self._last_task_banner = None
        return None

    def v2_playbook_on_handler_task_start(self, task):
        if self._plain:
            return super().v2_playbook_on_handler_task_start(task)
        self._begin(f"handler: {(task.name or task.get_name()).strip()}")
        self._last_task_banner = None
        return None

    def v2_playbook_on_play_start(self, play):
        self._end()
        self._plain = self._plain_run() or (play.strategy or C.DEFAULT_STRATEGY) not in _STEP_BY_STEP
        if self._plain:
            return super().v2_playbook_on_play_start(play)
        self._play = play
        name = play.get_name().strip()
        check = " [CHECK MODE]" if play.check_mode and self.get_option("check_mode_markers") else ""
        self._display.display(f"PLAY {name}{check}", color=C.COLOR_HIGHLIGHT)
        return None

    def v2_playbook_on_stats(self, stats):
        self._end()
        super().v2_playbook_on_stats(stats)

    def v2_playbook_on_no_hosts_remaining(self):
        self._end()
        super().v2_playbook_on_no_hosts_remaining()

    def v2_playbook_on_include(self, included_file):
        if self._plain:
            super().v2_playbook_on_include(included_file)

    # ------------------------------------------------------------------------------------------------ results

    def _record(self, result, outcome: str) -> None:
        with self._lock:
            if self._step is not None:
                self._step.record(result.host.get_name(), outcome)

    def _note(self, host: str, lines: list[str], named: bool = False) -> None:
        with self._lock:
            if self._step is not None:
                self._step.note(host, lines, named)

    def _say(self, result) -> None:
        """What a debug task says (never under no_log: the default callback's censoring is in its result already)."""
        if result.task.action not in _DEBUG or "censored" in result.result:
            return
        found = result.result.get("msg", {k: v for k, v in result.result.items() if not k.startswith("_") and k != "changed"})
        self._note(result.host.get_name(), message_lines(found))

    def v2_runner_on_ok(self, result):
        if self._plain:
            return super().v2_runner_on_ok(result)
        if isinstance(result.task, TaskInclude):
            return None
        self._record(result, "changed" if result.result.get("changed", False) else "ok")
        self._handle_warnings_and_exception(result)
        if not (result.task.loop and "results" in result.result):
            self._say(result)
        return None

    def v2_runner_item_on_ok(self, result):
        if self._plain:
            return super().v2_runner_item_on_ok(result)
        if not isinstance(result.task, TaskInclude):
            self._say(result)
        return None

    def v2_runner_on_skipped(self, result):
        if self._plain:
            return super().v2_runner_on_skipped(result)
        self._record(result, "skipped")
        self._handle_warnings_and_exception(result)
        return None

    def v2_runner_item_on_skipped(self, result):
        if self._plain:
            return super().v2_runner_item_on_skipped(result)
        return None

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._plain:
            return super().v2_runner_on_failed(result, ignore_errors)
        self._record(result, "ignored" if ignore_errors else "failed")
        if ignore_errors:
            # a failure the procedure handles: the host, each failed item, the reason
            self._handle_warnings_and_exception(result)
            self._note(result.host.get_name(), ignored_lines(result.host.get_name(), result.result), named=True)
            return None
        # in full, as it happens; the step's line follows when the step is done
        return super().v2_runner_on_failed(result, ignore_errors)

    def v2_runner_item_on_failed(self, result):
        if self._plain or not result.task.ignore_errors:
            return super().v2_runner_item_on_failed(result)
        return None

    def v2_runner_on_unreachable(self, result):
        if self._plain:
            return super().v2_runner_on_unreachable(result)
        if result.task.ignore_unreachable:
            self._record(result, "ignored")
            self._handle_warnings_and_exception(result)
            self._note(result.host.get_name(), ignored_lines(result.host.get_name(), result.result, "unreachable"), named=True)
            return None
        self._record(result, "unreachable")
        return super().v2_runner_on_unreachable(result)

    def v2_runner_retry(self, result):
        if self._plain:
            return super().v2_runner_retry(result)
        interval = self.get_option("progress_interval") or 0
        with self._lock:
            step = self._step
            now = time.monotonic()
            # the first retry, then one a progress interval at most: a fast poll is no flood
            if step is None or (self._last_retry and now - self._last_retry < interval):
                return None
            self._last_retry = now
            detail = f"retry {result.result.get('attempts', '?')} of {result.result.get('retries', '?')}, {result.host.get_name()}"
            self._display.display(progress(step.name, now - step.started, detail), color=C.COLOR_SKIP)
        return None

    def v2_runner_on_async_poll(self, result):
        if self._plain:
            return super().v2_runner_on_async_poll(result)
        with self._lock:
            step = self._step
            if step is not None:
                self._display.display(progress(step.name, time.monotonic() - step.started, f"polling {result.host.get_name()}"),
                                      color=C.COLOR_SKIP)
        return None
