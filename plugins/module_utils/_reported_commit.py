# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a service's ``/version`` answer says about the commit it runs: one rule for the filter and the drift check.

A JSON object's ``commit``, or a bare commit id; anything else says nothing (an empty string, never the body:
a proxy's error page is not a commit). Standard library only.
"""

from __future__ import annotations

import json

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_object_id


def _object_id(text: str) -> str:
    try:
        return validate_object_id(text, "commit")
    except ConductorError:
        return ""


def _json_commit(text: str):
    """The "commit" of a JSON object, None when ``text`` is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data.get("commit") if isinstance(data, dict) else None


def reported_commit(body: object) -> str:
    """The commit a version endpoint's body reports, whatever its content type says: a JSON object's "commit" (a string),
    or a bare full commit id; "" for anything else."""
    text = str(body or "").strip()
    if text.startswith("{"):
        commit = _json_commit(text)
        return commit.strip() if isinstance(commit, str) else ""
    return _object_id(text)


def running_commit(status: int, content_type: str, body: str) -> tuple[str, str]:
    """(commit, "") when an answer names the commit a service runs; ("", why not) otherwise.

    Read as reported_commit reads it (proxy_flip and the restore drill read the same body the same way, whatever
    the content type), and stricter: only a 200 counts, and only a full commit id, since a drift check that
    cannot tell must say so rather than compare nothing."""
    media = (content_type or "").split(";")[0].strip().lower() or "no content type"
    if status != 200:
        return "", f"answered status {status} ({media})"
    found = reported_commit(body)
    commit = _object_id(found)
    if commit:
        return commit, ""
    if found:
        return "", f"reports commit {found[:80]!r}, not a full 40- or 64-digit hexadecimal commit id"
    return "", f"answered {media} ({len(body or '')} characters) naming no commit: neither a JSON object with one nor a bare commit id"
