"""tag_protection on GitHub, GitLab and Gitea, against a local HTTP server (tests/hosted_api.py).

These services cannot be reached from here: the server implements their documented endpoints and
answers, and these tests drive the module's real HTTP client (Ansible's open_url) against it.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _api, _protect_gitea, _protect_gitlab, _tag_protection
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
    ("github", {"allowed_actors": ["alice"]}, "a user is User:ID with the account's id, not its login"),
    ("github", {"allowed_actors": ["User:alice"]}, "allowed actor 'User:alice' is invalid for GitHub"),
    ("github", {"api_url": "ftp://example"}, "api_url 'ftp://example' is invalid"),
    ("github", {"api_url": "http://api.example.com"}, "is refused: the token is sent over https only"),
    ("gitea", {"api_url": "http://127.0.0.1.example.com/api/v1"}, "is refused: the token is sent over https only"),
    ("gitlab", {"token": ADMIN + "\n"}, "token is invalid: expected one line"),
    ("gitea", {"allowed_actors": ["release-bot\n"]}, "allowed actor 'release-bot\\n' is invalid"),
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
    assert _protect_gitlab.GitLabProtectedTags.normalize(api.protected_tags["v*"]) == {"create": ["maintainer", "user:7"]}


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


# --- the token goes only to the configured origin ---------------------------------------------------------------------

@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_plain_http_is_taken_to_loopback_only(api, host, monkeypatch):
    out = run(tag_protection, args(api, "gitea", api_url=api.url.replace("127.0.0.1", host) + "/api/v1"), monkeypatch)
    assert not out.failed and out.result["changed"] is True, out.result


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://api.github.com", True), ("http://127.0.0.1:8080", True), ("http://127.9.9.9", True), ("http://[::1]:3000", True),
    ("http://localhost", True), ("http://10.0.0.1", False), ("http://localhost.example.com", False), ("http://[::2]", False),
])
def test_which_api_roots_may_carry_the_token(url, allowed):
    if allowed:
        assert _api.validate_api_url(url + "/") == url
    else:
        with pytest.raises(ConductorError, match="is refused: the token is sent over https only"):
            _api.validate_api_url(url)


@pytest.fixture
def elsewhere():
    server = HostedApi()
    yield server
    server.stop()


@pytest.mark.parametrize("backend", ["github", "gitlab", "gitea"])
def test_a_redirect_to_another_origin_is_not_followed_and_gets_no_token(api, elsewhere, backend, monkeypatch):
    target = f"{elsewhere.url}{API_ROOT[backend]}/collect?x=1"
    api.route = lambda method, path, headers, body: (302, None, {"Location": target})
    out = run(tag_protection, args(api, backend), monkeypatch)
    assert out.failed, out.result
    assert f"302 redirect to {elsewhere.url}{API_ROOT[backend]}/collect, not followed" in out.result["msg"]
    assert f"the token is sent only to {api.url}{API_ROOT[backend]}" in out.result["msg"]
    assert elsewhere.requests == [] and ADMIN not in json.dumps(out.result)


def test_a_redirect_on_the_same_server_is_not_followed_either(api, monkeypatch):
    original = api.route

    def moved(method, path, headers, body):
        if path.startswith("/repos/acme/app/"):
            return 301, {"message": "Moved Permanently", "url": f"{api.url}/repositories/42/rulesets",
                         "documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api"}, \
                {"Location": f"{api.url}/repositories/42/rulesets?per_page=100"}
        return original(method, path, headers, body)

    api.route = moved
    out = run(tag_protection, args(api, "github"), monkeypatch)
    assert out.failed and "301 redirect to" in out.result["msg"] and "renamed or moved" in out.result["msg"]
    assert [path for _method, path in api.requests] == ["/repos/acme/app/rulesets?per_page=100&page=1"]


def test_a_redirect_location_with_credentials_is_shown_without_them(api, monkeypatch):
    api.route = lambda method, path, headers, body: (307, None, {"Location": "https://someone:s3cret-pass@evil.example/api"})
    out = run(tag_protection, args(api, "github"), monkeypatch)
    assert out.failed and "redirect to https://evil.example/api, not followed" in out.result["msg"]
    assert "s3cret-pass" not in json.dumps(out.result)


# --- each service's own rules and answers -------------------------------------------------------------------------------

def test_github_bypass_actors_may_be_single_users(api, monkeypatch):
    out = run(tag_protection, args(api, "github", allowed_actors=["User:7", "OrganizationAdmin", "Team:42"]), monkeypatch)
    assert not out.failed and out.result["changed"] is True, out.result
    assert held(api, "github")["maestro release tags"][2] == [("OrganizationAdmin", None), ("Team", 42), ("User", 7)]
    again = run(tag_protection, args(api, "github", allowed_actors=["User:7", "OrganizationAdmin", "Team:42"]), monkeypatch)
    assert again.result["changed"] is False


def test_github_ruleset_made_by_hand_with_a_user_bypass_is_kept(api, monkeypatch):
    body = {"name": "maestro release tags", "target": "tag", "enforcement": "active",
            "conditions": {"ref_name": {"exclude": [], "include": ["refs/tags/v*"]}},
            "rules": [{"type": "update"}, {"type": "non_fast_forward"}, {"type": "deletion"}],
            "bypass_actors": [{"actor_id": 5120, "actor_type": "User", "bypass_mode": "always"}]}
    api.rulesets[7] = api._github_ruleset(7, "acme/app", body)
    out = run(tag_protection, args(api, "github", allowed_actors=["User:5120"]), monkeypatch)
    assert not out.failed and out.result["changed"] is False, out.result
    assert api.writes() == [] and held(api, "github")["maestro release tags"][2] == [("User", 5120)]


def test_github_error_objects_are_shown_with_their_details_and_documentation(api, monkeypatch):
    original = api.route

    def taken(method, path, headers, body):
        if method == "POST":  # another run created it between our read and our write
            return api._github_error(422, "Validation Failed", [{"resource": "Ruleset", "field": "name", "code": "already_exists"},
                                                                "Name must be unique"])
        return original(method, path, headers, body)

    api.route = taken
    out = run(tag_protection, args(api, "github"), monkeypatch)
    assert out.failed
    assert out.result["msg"] == ("GitHub API POST /repos/acme/app/rulesets: 422 the server refused the request as invalid (server said: "
                                 "Validation Failed: Ruleset name already_exists; Name must be unique; see https://docs.github.com/rest/repos/rules)")


def test_gitlab_knows_access_levels_0_30_and_40_only():
    normalize = _protect_gitlab.GitLabProtectedTags.normalize
    assert normalize({"create_access_levels": [{"access_level": 0}, {"access_level": 40}]}) == {"create": ["maintainer", "no_one"]}
    assert normalize({"create_access_levels": [{"access_level": 60}]}) == {"create": ["access_level:60"]}
    with pytest.raises(ConductorError, match=r"GitLab protected tag 'v\*' allows creating to access_level:60, which GitLab's "
                                             r"protected tags API does not take \(it knows access levels 0 \(no one\), 30"):
        _protect_gitlab.GitLabProtectedTags._body("v*", {"create": ["access_level:60"]})


def test_gitlab_refuses_to_replace_a_protection_it_could_not_put_back(api, monkeypatch):
    api.protected_tags["v*"] = {"name": "v*", "create_access_levels": [{"id": 9, "access_level": 60, "access_level_description": "Admins"}]}
    out = run(tag_protection, args(api, "gitlab"), monkeypatch)
    assert out.failed and "GitLab protected tag 'v*' allows creating to access_level:60" in out.result["msg"], out.result
    assert api.writes() == [], "nothing unprotected for a protection that could not be put back"


def test_gitlab_says_loudly_when_a_tag_is_left_unprotected(api, monkeypatch):
    api.protected_tags["v*"] = {"name": "v*", "create_access_levels": [{"id": 9, "access_level": 40}]}
    original = api.route

    def refuse_every_protect(method, path, headers, body):
        if method == "POST":
            return 500, {"message": "500 Internal Server Error"}
        return original(method, path, headers, body)

    api.route = refuse_every_protect
    out = run(tag_protection, args(api, "gitlab"), monkeypatch)
    assert out.failed
    assert out.result["msg"].startswith("tag pattern 'v*' is now UNPROTECTED on GitLab: it was unprotected to be protected again, "
                                        "protecting it failed (GitLab API POST /projects/acme%2Fapp/protected_tags: 500")
    assert "putting the old protection back failed too" in out.result["msg"]
    assert held(api, "gitlab") == {}, "what the message says is what the server holds"


def test_gitlab_name_taken_meanwhile_is_said_so(api, monkeypatch):
    api.protected_tags["v*"] = {"name": "v*", "create_access_levels": [{"id": 9, "access_level": 30}]}
    original = api.route
    # the list read first does not show it yet: another run protected it at the same time
    api.route = lambda method, path, headers, body: (200, []) if method == "GET" else original(method, path, headers, body)
    out = run(tag_protection, args(api, "gitlab"), monkeypatch)
    assert out.failed and out.result["msg"].startswith("GitLab already protects 'v*' (it answered 422: Name has already been taken)")


def test_gitea_teams_on_a_repository_a_user_owns_are_refused_before_any_write(api, monkeypatch):
    out = run(tag_protection, args(api, "gitea", project="alice/tools"), monkeypatch)
    assert out.failed
    assert out.result["msg"].startswith("allowed_actors name teams (team:releasers), but alice is not an organization")
    assert "Gitea applies teams only on repositories an organization owns" in out.result["msg"]
    assert api.writes() == []
    users_only = run(tag_protection, args(api, "gitea", project="alice/tools", allowed_actors=["release-bot"]), monkeypatch)
    assert not users_only.failed and held(api, "gitea") == {"v*": (["release-bot"], [])}


def test_gitea_duplicate_pattern_answer_is_said_so(api, monkeypatch):
    run(tag_protection, args(api, "gitea"), monkeypatch)
    original = api.route
    api.route = lambda method, path, headers, body: (200, []) if method == "GET" and "tag_protections" in path \
        else original(method, path, headers, body)
    out = run(tag_protection, args(api, "gitea"), monkeypatch)
    assert out.failed and out.result["msg"].startswith("Gitea already has a tag protection for 'v*' (it answered 403: Tag protection already exist)")


def test_gitea_empty_lists_answer_400_and_the_client_says_what_the_server_said(api):
    backend = _tag_protection.hosted_backend("gitea", api.url + "/api/v1", ADMIN, "acme/app")
    with pytest.raises(_api.ApiError, match=r": 400 the server refused the request as malformed \(server said: both whitelist_usernames "
                                            r"and whitelist_teams are empty\)") as caught:
        backend.create("v*", {"users": [], "teams": []})
    assert caught.value.status == 400 and isinstance(backend, _protect_gitea.GiteaTagProtections)
