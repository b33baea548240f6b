# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules for names a user or a release gives: release tags, object ids, paths inside a release.

Checked before any process starts or any file is opened. Standard library only, so that every module can
import them without the cost of git or schema libraries (a module's start-up is on the rollback's path).
"""

from __future__ import annotations

import os
import posixpath
import re

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

# A release tag is one path component: it names files in the release directory,
# so it may not hold a slash, start with '-' or '.', or contain '..'.
TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_OBJECT_ID_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
TAG_RULE = "1-128 characters of letters, digits, '.', '_', '+' or '-', starting with a letter or digit, without '..' or a trailing '.lock' or '.'"


def is_tag_name(tag: object) -> bool:
    return isinstance(tag, str) and bool(TAG_RE.fullmatch(tag)) and ".." not in tag and not tag.endswith((".lock", "."))


def validate_tag_name(tag: object) -> str:
    """Return ``tag`` if it is a safe release tag name, else raise ConductorError."""
    if not is_tag_name(tag):
        raise ConductorError(f"tag name {tag!r} is invalid: expected {TAG_RULE}")
    return tag


_INCIDENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}")


def validate_incident_id(value: object) -> str:
    """An incident id as the incident procedure makes them: ENVIRONMENT-YYYYMMDDTHHMMSSZ-xxxx (safe in paths)."""
    if not isinstance(value, str) or not _INCIDENT_ID_RE.fullmatch(value):
        raise ConductorError(f"incident id {value!r} is invalid: expected ENVIRONMENT-YYYYMMDDTHHMMSSZ-xxxx, "
                             "such as demo-20261128T162501Z-a3f9")
    return value


def validate_object_id(value: object, what: str) -> str:
    """Return a full hexadecimal object id, lower-cased, or raise ConductorError."""
    text = value.lower() if isinstance(value, str) else ""
    if not _OBJECT_ID_RE.fullmatch(text):
        raise ConductorError(f"{what} {value!r} is invalid: expected a full 40- or 64-digit hexadecimal object id")
    return text


def check_relative_path(relpath: str) -> str:
    """Return the reason ``relpath`` may not name a file inside a release directory, or ''."""
    if relpath.startswith("/") or posixpath.isabs(relpath) or os.path.isabs(relpath):
        return "is absolute"
    if "\\" in relpath or "\0" in relpath:
        return "contains a backslash or NUL"
    parts = relpath.split("/")
    if ".." in parts:
        return "contains '..'"
    if any(part in ("", ".") for part in parts):
        return "is not a normalized relative path"
    return ""
