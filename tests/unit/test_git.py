"""Tag listing and resolution on real repositories."""

from __future__ import annotations

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _git
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from tests.conftest import commit, git, make_keypair


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "--initial-branch=main")
    return path


def test_tags_are_listed_newest_first_by_creator_date_with_their_kind(repo, tmp_path):
    first = commit(repo, "one", date="2026-01-01T00:00:00Z")
    git(repo, "tag", "-a", "-m", "a", "v1.0.0", date="2026-01-01T00:00:00Z")
    second = commit(repo, "two", date="2026-02-01T00:00:00Z")
    git(repo, "tag", "v1.1.0")  # lightweight: its creator date is the commit's
    third = commit(repo, "three", date="2026-03-01T00:00:00Z")
    key = make_keypair(tmp_path / "tag_key", "tagger")
    git(repo, "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "tag", "-s", "-m", "signed", "v2.0.0",
        date="2026-04-01T00:00:00Z")
    git(repo, "tag", "-a", "-m", "not a release", "other-1", first, date="2026-05-01T00:00:00Z")
    tags = _git.list_tags(str(repo))
    assert [t.name for t in tags] == ["v2.0.0", "v1.1.0", "v1.0.0"]
    v2, v11, v1 = tags
    assert (v2.commit, v2.annotated, v2.signed, v2.kind) == (third, True, True, "annotated")
    assert v2.object_id == git(repo, "rev-parse", "refs/tags/v2.0.0") != third
    assert (v11.commit, v11.object_id, v11.annotated, v11.signed, v11.kind) == (second, second, False, False, "lightweight")
    assert (v1.commit, v1.signed) == (first, False)
    assert v2.date.startswith("2026-04-01T00:00:00")
    assert [t.name for t in _git.list_tags(str(repo), "other-*")] == ["other-1"]


def test_tags_that_cannot_be_releases_are_left_out(repo):
    commit(repo, "one")
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    git(repo, "tag", "v-tree", tree)
    git(repo, "tag", "v/nested")
    git(repo, "tag", "v1.0.0")
    git(repo, "tag", "-a", "-m", "tag of a tag", "v-tag-of-tag", "v-tree")
    assert [t.name for t in _git.list_tags(str(repo))] == ["v1.0.0"]


@pytest.mark.parametrize("pattern", ["--upload-pack=x", "v*;rm", "../*", "", "v* x", "-v*"])
def test_bad_patterns_are_rejected_before_git_runs(repo, pattern, processes):
    with pytest.raises(ConductorError, match="tag pattern .* is invalid"):
        _git.list_tags(str(repo), pattern)
    assert processes == []


def test_listing_is_one_git_call_whatever_the_number_of_tags(repo, request):
    commit(repo, "one")
    for i in range(50):
        git(repo, "tag", f"v0.{i}.0")
    processes = request.getfixturevalue("processes")
    assert len(_git.list_tags(str(repo))) == 50
    assert len(processes) == 1 and processes[0][1] == "for-each-ref"


def test_unknown_tag_names_its_nearest_neighbours(repo):
    commit(repo, "one")
    for name in ("v1.2.0", "v1.2.1", "v3.0.0"):
        git(repo, "tag", name)
    with pytest.raises(ConductorError, match=r"tag v1\.2\.2 does not exist in repository .*; nearest existing tags: v1\.2\.[01], v1\.2\.[01]"):
        _git.resolve_tag(str(repo), "v1.2.2")


def test_not_a_repository(tmp_path):
    with pytest.raises(ConductorError, match="is not a git repository"):
        _git.list_tags(str(tmp_path))
    with pytest.raises(ConductorError, match="does not exist or is not a directory"):
        _git.list_tags(str(tmp_path / "missing"))
