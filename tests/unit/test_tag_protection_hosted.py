"""tag_protection on GitHub, GitLab and Gitea, against a local HTTP server (tests/hosted_api.py).

These services cannot be reached from here: the server implements their documented endpoints and
answers, and these tests drive the module's real HTTP client (Ansible's open_url) against it.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _tag_protection
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import tag_protection
from tests.hosted_api import ADMIN, READER, HostedApi
from tests.unit.test_modules import run

# the actors each backend accepts for the same intent
ACTORS = {"github": ["Team:42"], "gitlab": [], "gitea": ["release-bot", "team:releasers"]}
API_ROOT = {"github": "", "gitlab": "/api/v4", "gitea": "/api/v1"}


@pytest.fixture
def api():
    server = HostedApi()
    yield server
    server.stop()


def args(api, backend, **extra):
    return {"backend": backend, "api_url": api.url + API_ROOT[backend], "project": "acme/app", "token": ADMIN,
            "allowed_actors": ACTORS[backend], **extra}


def held(api, backend) -> dict:
    """What the server holds, as a user would read it in the service's settings page."""
    if backend == "github":
        return {r["name"]: (r["conditions"]["ref_name"]["include"], sorted(rule["type"] for rule in r["rules"]),
                            [(a["actor_type"], a["actor_id"]) for a in r["bypass_actors"]]) for r in api.rulesets.values()}
    if backend == "gitlab":
        return {n: [level["access_level"] for level in t["create_access_levels"]] for n, t in api.protected_tags.items()}
    return {p["name_pattern"]: (p["whitelist_usernames"], p["whitelist_teams"]) for p in api.protections.values()}


EXPECTED = {
    "github": {"maestro release tags": (["refs/tags/v*"], ["deletion", "non_fast_forward", "update"], [("Team", 42)])},
    "gitlab": {"v*": [30]},
    "gitea": {"v*": (["release-bot"], ["releasers"])},
}


@pytest.mark.parametrize("backend", ["github", "gitlab", "gitea"])
def test_protects_then_changes_nothing_on_a_second_run(api, backend, monkeypatch):
    out = run(tag_protection, args(api, backend), monkeypatch)
    assert not out.failed, out.result
    assert out.result["changed"] is True
    assert held(api, backend) == EXPECTED[backend]
    writes = len(api.writes())
    again = run(tag_protection, args(api, backend), monkeypatch)
    assert again.result["changed"] is False
    assert len(api.writes()) == writes, "a run with nothing to change must not write"
    assert again.result["creation"] == ("restricted to allowed_actors" if backend == "gitea" else "open")


@pytest.mark.parametrize("backend", ["github", "gitlab", "gitea"])
def test_check_mode_reports_the_change_and_writes_nothing(api, backend, monkeypatch):
    out = run(tag_protection, args(api, backend, _ansible_check_mode=True, _ansible_diff=True), monkeypatch)
    assert out.result["changed"] is True
    assert api.writes() == [] and held(api, backend) == {}
    assert "v*" in out.result["diff"]["after"] and out.result["diff"]["before"] == ""


def test_github_updates_a_ruleset_of_that_name_that_differs(api, monkeypatch):
    run(tag_protection, args(api, "github", allowed_actors=[]), monkeypatch)
    ident = next(iter(api.rulesets))
    # someone loosened it by hand: deletion allowed again, and another pattern
    api.rulesets[ident]["rules"] = [{"type": "update"}]
    api.rulesets[ident]["conditions"]["ref_name"]["include"].append("refs/tags/release-*")
    out = run(tag_protection, args(api, "github", _ansible_diff=True), monkeypatch)
    assert out.result["changed"] is True
    assert ("PUT", f"/repos/acme/app/rulesets/{ident}") in api.requests
    assert list(api.rulesets) == [ident], "updated in place, not a second ruleset"
    assert held(api, "github") == EXPECTED["github"]
    assert '"deletion"' in out.result["diff"]["after"] and '"deletion"' not in out.result["diff"]["before"]


def test_github_leaves_other_rulesets_alone_and_finds_its_own_past_the_first_page(api, monkeypatch):
    for number in range(120):
        api.rulesets[1000 + number] = api._github_ruleset(1000 + number, "acme/app", {"name": f"branch rules {number}", "rules": []})
    run(tag_protection, args(api, "github"), monkeypatch)
    again = run(tag_protection, args(api, "github"), monkeypatch)
    assert again.result["changed"] is False
    assert len(api.rulesets) == 121
    assert any("page=2" in path for method, path in api.requests if method == "GET")


def test_github_ruleset_made_by_hand_that_matches_is_left_as_it_is(api, monkeypatch):
    body = {"name": "maestro release tags", "target": "tag", "enforcement": "active",
            "conditions": {"ref_name": {"exclude": [], "include": ["refs/tags/v*"]}},
            "rules": [{"type": "update"}, {"type": "non_fast_forward"}, {"type": "deletion"}],
            "bypass_actors": [{"actor_id": 42, "actor_type": "Team", "bypass_mode": "always"}]}
    api.rulesets[7] = api._github_ruleset(7, "acme/app", body)
    out = run(tag_protection, args(api, "github"), monkeypatch)
    assert out.result["changed"] is False and api.writes() == []


def test_gitlab_replaces_a_protected_tag_that_differs(api, monkeypatch):
    api.protected_tags["v*"] = {"name": "v*", "create_access_levels": [{"id": 9, "access_level": 0, "access_level_description": "No one"}]}
    api.protected_tags["stable-*"] = {"name": "stable-*", "create_access_levels": [{"id": 8, "access_level": 40}]}
    out = run(tag_protection, args(api, "gitlab"), monkeypatch)
    assert out.result["changed"] is True
    assert held(api, "gitlab") == {"v*": [30], "stable-*": [40]}, "a pattern not in the policy is left alone"
    assert api.writes() == [("DELETE", "/api/v4/projects/acme%2Fapp/protected_tags/v%2A"),
                            ("POST", "/api/v4/projects/acme%2Fapp/protected_tags")]


def test_gitea_updates_a_protection_that_differs_in_place(api, monkeypatch):
    run(tag_protection, args(api, "gitea"), monkeypatch)
    ident = next(iter(api.protections))
    api.protections[ident]["whitelist_usernames"] = ["mallory"]
    out = run(tag_protection, args(api, "gitea"), monkeypatch)
    assert out.result["changed"] is True
    assert ("PATCH", f"/api/v1/repos/acme/app/tag_protections/{ident}") in api.requests
    assert held(api, "gitea") == EXPECTED["gitea"]


@pytest.mark.parametrize("backend", ["github", "gitlab", "gitea"])
def test_a_write_the_server_does_not_apply_is_caught_by_reading_back(api, backend, monkeypatch):
    api.drop_writes = True
    out = run(tag_protection, args(api, backend), monkeypatch)
    assert out.failed
    assert "did not apply the tag protection" in out.result["msg"] and "read back {}" in out.result["msg"]


@pytest.mark.parametrize("backend", ["github", "gitlab", "gitea"])
def test_absent_removes_only_what_the_policy_manages(api, backend, monkeypatch):
    run(tag_protection, args(api, backend), monkeypatch)
    run(tag_protection, args(api, backend, patterns=["keep-*"]) if backend != "github" else args(api, backend, ruleset_name="other"),
        monkeypatch)
    out = run(tag_protection, args(api, backend, state="absent"), monkeypatch)
    assert out.result["changed"] is True
    remaining = held(api, backend)
    assert list(remaining) == (["other"] if backend == "github" else ["keep-*"])
    assert run(tag_protection, args(api, backend, state="absent"), monkeypatch).result["changed"] is False


@pytest.mark.parametrize("backend", ["github", "gitlab", "gitea"])
@pytest.mark.parametrize(("token", "project", "status", "words"), [
    ("wrong-token-0000", "acme/app", "401", "token was rejected"),
    (READER, "acme/app", "403", "may not do this"),
    (ADMIN, "acme/missing", "404", "does not exist"),
])
def test_api_errors_are_clear_and_never_show_the_token(api, backend, token, project, status, words, monkeypatch):
    out = run(tag_protection, args(api, backend, token=token, project=project), monkeypatch)
    assert out.failed
    message = out.result["msg"]
    assert f": {status} " in message and words in message
    assert token not in json.dumps(out.result)
    assert held(api, backend) == {}


def test_a_server_that_echoes_the_token_has_it_masked(api, monkeypatch):
    original = api.route

    def echoing(method, path, headers, body):
        return 500, {"message": f"internal error for {headers.get('Authorization', '')}"}

    api.route = echoing
    out = run(tag_protection, args(api, "github"), monkeypatch)
    api.route = original
    assert out.failed and "500" in out.result["msg"] and "********" in out.result["msg"]
    assert ADMIN not in json.dumps(out.result)


@pytest.mark.parametrize(("backend", "extra", "words"), [
    ("github", {"token": ""}, "token is missing"),
    ("gitlab", {"token": "abc\nX-Injected: 1"}, "token is invalid: expected one line"),
    ("github", {"project": "acme"}, "expects owner/name"),
    ("github", {"project": "acme/../etc"}, "expects owner/name"),
    ("github", {"allowed_actors": ["alice"]}, "cannot name single users"),
    ("github", {"api_url": "ftp://example"}, "api_url 'ftp://example' is invalid"),
    ("gitlab", {"allowed_actors": ["alice"]}, "must be empty with GitLab"),
    ("gitlab", {"patterns": ["v?"]}, "know '*' only"),
    ("gitea", {"allowed_actors": []}, "let no one make a release"),
    ("gitea", {"patterns": ["v*;rm -rf /"]}, "is invalid"),
])
def test_bad_input_is_named_and_nothing_is_sent(api, backend, extra, words, monkeypatch):
    monkeypatch.delenv("MAESTRO_TAG_PROTECTION_TOKEN", raising=False)
    out = run(tag_protection, args(api, backend, **extra), monkeypatch)
    assert out.failed and words in out.result["msg"], out.result
    assert api.requests == []


def test_the_token_may_come_from_the_environment(api, monkeypatch):
    monkeypatch.setenv("MAESTRO_TAG_PROTECTION_TOKEN", ADMIN)
    out = run(tag_protection, {k: v for k, v in args(api, "gitea").items() if k != "token"}, monkeypatch)
    assert not out.failed and out.result["changed"] is True


def test_unknown_backend_is_refused_by_the_core_too():
    with pytest.raises(ConductorError, match="backend 'bitbucket' is unknown: expected git, github, gitlab or gitea"):
        _tag_protection.hosted_backend("bitbucket", "https://example.invalid", ADMIN, "acme/app")


def test_gitea_requires_its_api_url(api, monkeypatch):
    out = run(tag_protection, {k: v for k, v in args(api, "gitea").items() if k != "api_url"}, monkeypatch)
    assert out.failed and "api_url" in out.result["msg"]


def test_gitlab_puts_the_old_protection_back_when_protecting_again_fails(api, monkeypatch):
    api.protected_tags["v*"] = {"name": "v*", "create_access_levels": [
        {"id": 9, "access_level": 40, "access_level_description": "Maintainers"},
        {"id": 10, "access_level": 40, "access_level_description": "Release Bot", "user_id": 7}]}
    original, refused = api.route, []

    def refuse_one_create(method, path, headers, body):
        if method == "POST" and body.get("create_access_level") == 30 and not refused:
            refused.append(path)
            return 422, {"message": "create_access_level is invalid"}
        return original(method, path, headers, body)

    api.route = refuse_one_create
    out = run(tag_protection, args(api, "gitlab"), monkeypatch)
    assert out.failed and "422" in out.result["msg"] and "the protection of v* was put back as it was" in out.result["msg"]
    assert held(api, "gitlab") == {"v*": [40, 40]}, "never left unprotected"
    assert _tag_protection.GitLabProtectedTags.normalize(api.protected_tags["v*"]) == {"create": ["maintainer", "user:7"]}


def test_a_list_the_server_does_not_page_is_read_once(api, monkeypatch):
    for number in range(150):
        api.protections[1000 + number] = {"id": 1000 + number, "name_pattern": f"other-{number}-*", "whitelist_usernames": ["x"],
                                          "whitelist_teams": []}
    monkeypatch.setattr(api, "_page", lambda items, query, size_param: items)  # every page answers the whole list
    out = run(tag_protection, args(api, "gitea"), monkeypatch)
    assert not out.failed and out.result["changed"] is True, out.result
    assert run(tag_protection, args(api, "gitea"), monkeypatch).result["changed"] is False
    assert len(api.protections) == 151


def test_an_unknown_backend_is_refused_with_the_ones_there_are(api, monkeypatch):
    out = run(tag_protection, {"backend": "bitbucket", "project": "acme/app", "token": ADMIN}, monkeypatch)
    assert out.failed and "backend must be one of: git, github, gitlab, gitea, got: bitbucket" in out.result["msg"]
    assert api.requests == []
