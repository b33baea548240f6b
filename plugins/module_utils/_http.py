# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small HTTP probes (health, running commit), standard library only, a new connection each time."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from dataclasses import dataclass

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._reported_commit import reported_commit


@dataclass
class Answer:
    status: int
    body: str

    def _json(self) -> dict:
        try:
            data = json.loads(self.body)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def commit(self) -> str:
        """The commit a /version-style answer reports: JSON {"commit": ...} or a bare full id; "" for anything else
        (a proxy's error page is not a commit)."""
        return reported_commit(self.body)

    def tag(self) -> str:
        """The tag a JSON /version answer names ("" when it names none)."""
        return str(self._json().get("tag", "")) if self.body.strip().startswith("{") else ""


def get(url: str, timeout: float = 5.0) -> Answer:
    """GET ``url`` on a fresh connection; raises ConductorError when nothing answers."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConductorError(f"URL {url!r} is invalid: expected http:// or https:// with a host")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers={"Connection": "close"})
        response = conn.getresponse()
        return Answer(response.status, response.read(65536).decode("utf-8", "replace"))
    except (OSError, http.client.HTTPException) as exc:
        raise ConductorError(f"{url} did not answer: {exc}") from exc
    finally:
        conn.close()


@dataclass
class Confirmation:
    ok: bool
    answer: Answer | None
    attempts: int
    seconds: float

    def describe(self, url: str, commit: str = "") -> str:
        """One line saying what ``url`` answered; ``commit`` is what was expected ("" when only a 200 was)."""
        wanted = f"commit {commit}" if commit else "200"
        if self.ok:
            return f"{url} answered {wanted} after {self.attempts} attempts ({self.seconds:.2f}s)"
        seen = (f"status {self.answer.status}, commit {self.answer.commit() or 'none'}" if self.answer and self.answer.status
                else (self.answer.body if self.answer else "no answer"))
        return f"{url} did not answer {wanted} within {self.seconds:.1f}s ({self.attempts} attempts; last: {seen})"


def wait_for_commit(url: str, commit: str, timeout: float, interval: float = 0.2, settled: bool = False) -> Confirmation:
    """Poll ``url`` until it answers 200 (with ``commit`` when one is given), for at most ``timeout`` seconds.

    ``settled``: the answer cannot change by waiting (one server, already up), so a 200 with another
    commit ends the wait at once."""
    started = time.monotonic()
    attempts, last = 0, None
    while True:
        attempts += 1
        try:
            last = get(url, timeout=min(5.0, max(timeout, 0.5)))
            if last.status == 200 and (not commit or last.commit() == commit):
                return Confirmation(True, last, attempts, time.monotonic() - started)
            if settled and last.status == 200 and last.commit():
                return Confirmation(False, last, attempts, time.monotonic() - started)
        except ConductorError as exc:
            last = Answer(0, str(exc))
        if time.monotonic() - started >= timeout:
            return Confirmation(False, last, attempts, time.monotonic() - started)
        time.sleep(interval)


def preflight(health_urls: list[str], version_urls: list[str], commit: str, timeout: float) -> list[str]:
    """Check servers directly before traffic moves to them: every health URL answers 200 and every version
    URL reports ``commit``, all within one ``timeout``. Returns what each answered; raises ConductorError
    naming the first that did not."""
    deadline = time.monotonic() + timeout
    seen = []
    for url, wanted in [(url, "") for url in health_urls] + [(url, commit) for url in version_urls]:
        confirmation = wait_for_commit(url, wanted, max(deadline - time.monotonic(), 0.0), settled=True)
        seen.append(confirmation.describe(url, wanted))
        answer = confirmation.answer
        if not confirmation.ok and wanted and answer and answer.status == 200:
            raise ConductorError(f"preflight: {url} reports commit {answer.commit()}, expected {wanted}")
        if not confirmation.ok:
            raise ConductorError(f"preflight: {seen[-1]}")
    return seen
