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


@dataclass
class Answer:
    status: int
    body: str

    def commit(self) -> str:
        """The commit a /version-style answer reports: JSON {"commit": ...} or the bare id."""
        text = self.body.strip()
        if not text.startswith("{"):
            return text  # a bare id; an all-digit one would otherwise parse as a JSON number
        try:
            data = json.loads(text)
        except ValueError:
            return ""
        return str(data.get("commit", "")) if isinstance(data, dict) else ""


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

    def describe(self, url: str, commit: str) -> str:
        if self.ok:
            return f"{url} answered commit {commit} after {self.attempts} attempts ({self.seconds:.2f}s)"
        seen = (f"status {self.answer.status}, commit {self.answer.commit() or 'none'}" if self.answer and self.answer.status
                else (self.answer.body if self.answer else "no answer"))
        return f"{url} did not answer commit {commit} within {self.seconds:.1f}s ({self.attempts} attempts; last: {seen})"


def wait_for_commit(url: str, commit: str, timeout: float, interval: float = 0.2) -> Confirmation:
    """Poll ``url`` until it answers 200 with ``commit``, for at most ``timeout`` seconds."""
    started = time.monotonic()
    attempts, last = 0, None
    while True:
        attempts += 1
        try:
            last = get(url, timeout=min(5.0, max(timeout, 0.5)))
            if last.status == 200 and last.commit() == commit:
                return Confirmation(True, last, attempts, time.monotonic() - started)
        except ConductorError as exc:
            last = Answer(0, str(exc))
        if time.monotonic() - started >= timeout:
            return Confirmation(False, last, attempts, time.monotonic() - started)
        time.sleep(interval)
