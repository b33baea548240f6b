# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only git access: tag resolution, with every name validated first (``_names``).

Every name that reaches git is validated here first, and git is only ever
called with an argument list (GitPython runs ``git`` without a shell).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from typing import NamedTuple

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
# the names git is given are checked first, by the rules every module shares
from ansible_collections.maestro.conductor.plugins.module_utils._names import TAG_RE, validate_tag_name

try:
    import git as _gitpython
except ImportError:  # also raised by GitPython itself when no git binary is found
    _gitpython = None
    HAS_GITPYTHON = False
else:
    HAS_GITPYTHON = True


class TagInfo(NamedTuple):
    """What a tag is now: its own object id, the commit it peels to, and its kind.

    A NamedTuple because listings build ten thousand of these at a time.
    """

    name: str
    object_id: str
    commit: str
    annotated: bool
    signed: bool
    date: str

    @property
    def kind(self) -> str:
        return "annotated" if self.annotated else "lightweight"

    def as_dict(self) -> dict:
        return {**self._asdict(), "kind": self.kind}


# %(object) and %(type) come from the tag object's own header, which git has read
# anyway to sort by creator date; %(*objectname) would look up every target again.
_FIELDS = (
    "%(refname)", "%(objectname)", "%(objecttype)", "%(object)", "%(type)",
    "%(creatordate:iso-strict)", "%(if)%(contents:signature)%(then)signed%(end)",
)
_SEP = "%00"


def open_repository(path: str):
    """Open the git repository (bare or not) at ``path``, without searching parent directories."""
    if not HAS_GITPYTHON:
        raise ConductorError("GitPython is required to read git repositories: install it with 'pip install GitPython'")
    if not os.path.isdir(path):
        raise ConductorError(f"repository {path} does not exist or is not a directory")
    try:
        return _gitpython.Repo(path, search_parent_directories=False)
    except (_gitpython.InvalidGitRepositoryError, _gitpython.NoSuchPathError) as exc:
        raise ConductorError(f"repository {path} is not a git repository") from exc


def _run(repo, *args: str) -> str:
    try:
        return repo.git.execute(["git", *args], strip_newline_in_stdout=False)
    except _gitpython.GitCommandError as exc:
        stderr = (exc.stderr or "").strip()
        raise ConductorError(f"git {args[0]} failed in {repo.git_dir}: {stderr}") from exc


_PATTERN_RE = re.compile(r"[A-Za-z0-9._+*?\[\]-]{1,128}")


def validate_tag_pattern(pattern: object) -> str:
    """Return ``pattern`` if it is a safe glob over tag names (as git for-each-ref matches them)."""
    if not isinstance(pattern, str) or not _PATTERN_RE.fullmatch(pattern) or pattern.startswith("-") or ".." in pattern:
        raise ConductorError(f"tag pattern {pattern!r} is invalid: expected a glob of letters, digits, '.', '_', '+', '-', '*', '?' "
                             "and '[...]', such as 'v*'")
    return pattern


def _tag_from_fields(fields: list[str]) -> TagInfo | None:
    """A TagInfo from one for-each-ref record, or None for a ref that is not a usable release tag."""
    refname, object_id, object_type, target, target_type, date, signed = fields[:7]
    if object_type == "tag":
        # a tag of a tag, of a tree or of a blob cannot be a release
        return TagInfo(refname[10:], object_id, target, True, signed == "signed", date) if target_type == "commit" else None
    return TagInfo(refname[10:], object_id, object_id, False, False, date) if object_type == "commit" else None


def list_tags(repo_path: str, pattern: str = "v*") -> list[TagInfo]:
    """Tags matching ``pattern``, newest first by creator date, with one git call whatever their number.

    Tags whose names could not be release tags (a slash, a leading '-') or that
    do not point at a commit are left out: they can have no release.
    """
    validate_tag_pattern(pattern)
    repo = open_repository(repo_path)
    try:
        out = _run(repo, "for-each-ref", "--sort=-creatordate", "--format=" + _SEP.join(_FIELDS), f"refs/tags/{pattern}")
    finally:
        repo.close()
    width, valid_name = len(_FIELDS), TAG_RE.fullmatch
    records = (line.split("\0") for line in out.split("\n"))
    tags = [_tag_from_fields(fields) for fields in records if len(fields) >= width and valid_name(fields[0][10:])]
    return [tag for tag in tags if tag is not None]


def nearest_tags(tag: str, names: list[str], count: int = 3) -> list[str]:
    """Existing tag names that look most like ``tag``, for an error message."""
    return difflib.get_close_matches(tag, names, n=count, cutoff=0.4)


def unknown_tag_error(tag: str, repo_path: str, names: list[str]) -> ConductorError:
    near = nearest_tags(tag, names)
    hint = f"; nearest existing tags: {', '.join(near)}" if near else (f"; newest tags: {', '.join(names[:3])}" if names else "; it has no tags")
    return ConductorError(f"tag {tag} does not exist in repository {repo_path}{hint}")


def resolve_tag(repo_path: str, tag: str) -> TagInfo:
    """Resolve ``tag`` in the repository at ``repo_path`` with one git call."""
    validate_tag_name(tag)
    repo = open_repository(repo_path)
    try:
        ref = f"refs/tags/{tag}"
        out = _run(repo, "for-each-ref", "--format=" + _SEP.join(_FIELDS), ref)
    finally:
        repo.close()
    for line in out.split("\n"):
        fields = line.split("\0")
        if len(fields) < len(_FIELDS) or fields[0] != ref:
            continue
        info = _tag_from_fields(fields)
        if info is None:
            raise ConductorError(f"tag {tag} does not point at a commit")
        return info
    raise unknown_tag_error(tag, repo_path, tag_names(repo_path))


def tag_names(repo_path: str) -> list[str]:
    """Every tag name, newest first: only for messages, so it is read only when one is needed."""
    repo = open_repository(repo_path)
    try:
        return _run(repo, "for-each-ref", "--sort=-creatordate", "--format=%(refname:lstrip=2)", "refs/tags").split()
    finally:
        repo.close()


def describe_repository(repo_path: str) -> str:
    """Where the release came from: the 'origin' URL when there is one, else the path."""
    repo = open_repository(repo_path)
    try:
        for remote in repo.remotes:
            if remote.name == "origin":
                return next(iter(remote.urls), os.path.abspath(repo_path))
        return os.path.abspath(repo_path)
    finally:
        repo.close()


def blob_sha256(repo_path: str, commit: str, path: str) -> str:
    """The sha256 of the file ``path`` as commit ``commit`` holds it, or '' when the commit holds no such file."""
    if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit or ""):
        raise ConductorError(f"commit {commit!r} is invalid: expected a full object id")
    if not path or path.startswith("/") or "\0" in path or ".." in path.split("/"):
        raise ConductorError(f"path {path!r} is invalid: expected a path relative to the repository's root")
    repo = open_repository(repo_path)
    try:
        data = repo.git.execute(["git", "cat-file", "blob", f"{commit}:{path}"], stdout_as_string=False, strip_newline_in_stdout=False)
    except _gitpython.GitCommandError:
        return ""  # no such file in that commit, or a directory there (or no such commit: resolve_tag says which)
    finally:
        repo.close()
    return hashlib.sha256(data).hexdigest()
