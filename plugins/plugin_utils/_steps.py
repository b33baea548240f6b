# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the steps callback prints: one line per step that ran, with its outcome over its hosts and its duration, and the
messages the procedure means a reader to see (its debug summaries). Plain Python, so that unit tests reach it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# the worst outcome of any host is the step's
_RANK = ("skipped", "ok", "changed", "ignored", "failed", "unreachable")
_WIDTH = 9


@dataclass
class Step:
    name: str
    started: float
    outcomes: dict[str, str] = field(default_factory=dict)  # host -> outcome
    messages: list[tuple[str, str, bool]] = field(default_factory=list)  # (host, line, whether the line names its host)
    quiet: bool = False  # shown only when it fails

    def record(self, host: str, outcome: str) -> None:
        """A host's outcome (several results for one host, as a loop gives: the worst counts)."""
        before = self.outcomes.get(host)
        if before is None or _RANK.index(outcome) > _RANK.index(before):
            self.outcomes[host] = outcome

    def note(self, host: str, lines: list[str], named: bool = False) -> None:
        self.messages += [(host, text, named) for text in lines]

    def lines(self) -> list[str]:
        """The messages, each named by its host when several hosts said something (a tolerated failure names its own)."""
        several = len({host for host, _text, _named in self.messages}) > 1
        return [f"      [{host}] {text.strip()}" if several and not named else text for host, text, named in self.messages]

    @property
    def outcome(self) -> str:
        return max(self.outcomes.values(), key=_RANK.index) if self.outcomes else "skipped"

    def shown(self) -> bool:
        """A step every host skipped, or a quiet one (a role checking its arguments) that went well, is no step a reader
        follows."""
        if self.quiet:
            return self.outcome in ("failed", "unreachable")
        return self.outcome != "skipped" or bool(self.messages)


def line(step: Step, seconds: float) -> str:
    """``  changed   1.2s  Flip the proxy`` and, when hosts differ or there are several, who had what."""
    text = f"  {step.outcome:<{_WIDTH}}{seconds:>7.1f}s  {step.name}"
    if len(step.outcomes) > 1:
        counts = Counter(step.outcomes.values())
        text += "  [" + ", ".join(f"{counts[o]} {o}" for o in sorted(counts, key=_RANK.index)) + "]"
    return text


def progress(name: str, seconds: float, detail: str = "") -> str:
    """A line for a step still running (a heartbeat, a retry)."""
    return f"  {'...':<{_WIDTH}}{seconds:>7.1f}s  {name}" + (f" ({detail})" if detail else "")


def ignored_lines(host: str, result: dict, kind: str = "ignored") -> list[str]:
    """A failure the procedure tolerates, a line per failed item: the host, the item, the reason (the first line of the
    message, or of stderr when the message says no more than that the command failed)."""
    failed = [r for r in result.get("results", []) if isinstance(r, dict) and (r.get("failed") or r.get("unreachable"))]
    lines = []
    for item in failed or [result]:
        label = f" (item={item.get('_ansible_item_label', item.get('item'))})" if item is not result else ""
        lines.append(f"      ({kind}) {host}{label}: {_reason(item)}")
    return lines


def _reason(result: dict) -> str:
    msg = str(result.get("msg") or "").strip()
    stderr = str(result.get("stderr") or "").strip()
    if (not msg or msg == "non-zero return code") and stderr:
        msg = f"{msg}: {stderr}" if msg else stderr
    first = msg.splitlines()[0] if msg else "(no reason given)"
    return first[:300]


def message_lines(msg: object) -> list[str]:
    """A debug message as the lines a reader sees: a list an item a line, text as it is."""
    items = msg if isinstance(msg, list) else [msg]
    lines: list[str] = []
    for item in items:
        lines += str(item).splitlines() or [""]
    return [f"      {text}" for text in lines]
