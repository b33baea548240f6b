"""ci_watch: the CI queue of GitHub Actions and a release's hosted files, against a local stand-in server.

GitHub cannot be reached from here: tests/hosted_api.py is a stand-in that implements the documented endpoints
(workflow runs by status, a run's jobs and artifacts, a release by tag and its assets, the rate limit headers), and
these tests drive the real HTTP client (Ansible's open_url) against it on loopback.
"""

from __future__ import annotations

import json
import subprocess
import time
import traceback
import urllib.parse

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _api, _ci_github
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import ci_watch
from tests.hosted_api import ADMIN, CONTENTS, GITHUB_FILTERED_LIST_LIMIT, READER, HostedApi, iso
from tests.unit.test_modules import run

_api_make_context = _api.make_context

NOW = time.time()
MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.fixture
def api():
    server = HostedApi()
    yield server
    server.stop()


def watch(api, token=READER, **options):
    return _ci_github.watch(_ci_github.client(api.url, token), "acme/app", now=NOW, **options)


def gets(api, path: str) -> list[dict]:
    """The query of each GET the server got for ``path``."""
    return [dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(p).query)) for m, p in api.requests
            if m == "GET" and urllib.parse.urlsplit(p).path == path]


def queue_of_230(api) -> dict:
    """230 queued runs (30 stuck for two hours, 200 queued for minutes), each with one queued job; 3 runs in progress,
    one of them with 250 jobs (120 queued) on three pages, one with a job queued for two hours. Returns {"big": the big run id}."""
    for number in range(30):
        api.add_run("queued", NOW - 2 * HOUR - number, jobs=[("queued", NOW - 2 * HOUR - number)])
    for number in range(200):
        api.add_run("queued", NOW - 10 * MINUTE + number, jobs=[("queued", NOW - 10 * MINUTE + number)])
    big_jobs = [("queued", NOW - 5 * MINUTE)] * 120 + [("in_progress", NOW - 20 * MINUTE)] * 130
    big = api.add_run("in_progress", NOW - 20 * MINUTE, jobs=big_jobs)
    api.add_run("in_progress", NOW - 3 * HOUR, jobs=[("queued", NOW - 2 * HOUR), ("completed", NOW - 3 * HOUR)])
    api.add_run("in_progress", NOW - MINUTE, jobs=[("in_progress", NOW - MINUTE)])
    api.add_run("completed", NOW - DAY, jobs=[("completed", NOW - DAY)])
    return {"big": big}


# --- the queue ------------------------------------------------------------------------------------------------------

def test_a_queue_of_several_pages_counts_stuck_runs_and_jobs_apart(api):
    runs = queue_of_230(api)
    result = watch(api, max_requests=1000)
    assert (result["queued_workflow_runs"], result["stuck_workflow_runs"], result["in_progress_workflow_runs"]) == (200, 30, 3)
    assert (result["queued_jobs"], result["stuck_jobs"]) == (200 + 120, 30 + 1)
    assert result["complete"] is True and result["incomplete"] == []
    # the queued runs on three pages of 100, and the big run's jobs on three pages of 100
    assert gets(api, "/repos/acme/app/actions/runs") == [
        {"status": "queued", "per_page": "100", "page": "1"}, {"status": "queued", "per_page": "100", "page": "2"},
        {"status": "queued", "per_page": "100", "page": "3"}, {"status": "in_progress", "per_page": "100", "page": "1"}]
    assert gets(api, f"/repos/acme/app/actions/runs/{runs['big']}/jobs") == [{"per_page": "100", "page": str(n)} for n in (1, 2, 3)]
    assert result["requests"] == 4 + 233 + 2 and result["rate_limit_remaining"] == 5000 - result["requests"]


def test_the_stuck_floor_is_the_users(api):
    queue_of_230(api)
    result = watch(api, stuck_after=3 * HOUR, max_requests=1000)
    assert (result["queued_workflow_runs"], result["stuck_workflow_runs"]) == (230, 0)
    assert (result["queued_jobs"], result["stuck_jobs"]) == (200 + 120 + 30 + 1, 0)


def test_more_queued_runs_than_github_lists_is_said_and_the_queue_is_its_total_count(api):
    for number in range(1234):
        api.add_run("queued", NOW - 2 * HOUR if number < 300 else NOW - MINUTE)  # the oldest 300 stuck, 234 of them not listed
    result = watch(api, max_requests=30)
    assert result["complete"] is False
    assert result["incomplete"][0] == (f"queued workflow runs: {GITHUB_FILTERED_LIST_LIMIT} of 1234 listed (GitHub lists at most "
                                       "1000); stuck runs among the rest are unknown and counted as queued")
    assert result["stuck_workflow_runs"] == 66 and result["queued_workflow_runs"] == 1234 - 66
    pages = [query["page"] for query in gets(api, "/repos/acme/app/actions/runs") if query["status"] == "queued"]
    assert pages == [str(n) for n in range(1, 11)], "ten pages of 100, and no eleventh"


def test_max_requests_bounds_the_jobs_read_and_says_so(api):
    for number in range(5):
        api.add_run("queued", NOW - MINUTE - number, jobs=[("queued", NOW - MINUTE)])
    result = watch(api, max_requests=4)
    assert result["queued_workflow_runs"] == 5 and result["queued_jobs"] == 2
    assert result["complete"] is False
    assert result["incomplete"] == ["queued jobs: read for 2 of 5 queued and in-progress workflow runs (max_requests (4) reached); "
                                    "the rest are unknown"]
    assert result["requests"] == 4


def test_the_jobs_are_not_read_into_the_tokens_last_requests(api):
    api.rate_limit = 55
    for number in range(6):
        api.add_run("queued", NOW - MINUTE - number, jobs=[("queued", NOW - MINUTE)])
    result = watch(api)
    assert result["queued_jobs"] == 3 and result["rate_limit_remaining"] == 50
    assert "queued jobs: read for 3 of 6" in result["incomplete"][0] and "50 requests left this hour" in result["incomplete"][0]


def test_a_re_run_is_in_the_queue_since_its_latest_attempt_and_only_its_jobs_count(api):
    rerun = api.add_run("queued", NOW - 3 * DAY, attempt=2, started=NOW - MINUTE)
    api.add_job(rerun, "completed", NOW - 3 * DAY, attempt=1)
    api.add_job(rerun, "queued", NOW - MINUTE, attempt=2)
    result = watch(api)
    assert (result["queued_workflow_runs"], result["stuck_workflow_runs"], result["queued_jobs"], result["stuck_jobs"]) == (1, 0, 1, 0)


def test_an_empty_queue_is_zero_and_complete(api):
    api.add_run("completed", NOW - DAY)
    result = watch(api)
    assert (result["queued_workflow_runs"], result["stuck_workflow_runs"], result["queued_jobs"], result["complete"]) == (0, 0, 0, True)
    assert result["artifacts"] is None and result["release_assets"] is None


def test_a_run_listed_twice_while_the_list_moves_counts_once(api, monkeypatch):
    for number in range(105):
        api.add_run("queued", NOW - 2 * HOUR if number < 10 else NOW - MINUTE)  # the oldest 10 stuck: the last of the list
    page = api._github_page

    def shifted(items, query):  # three new runs arrived between the pages: page 2 repeats the last three of page 1
        if query.get("page") == "2" and query.get("status") == "queued":
            return items[97:197]
        return page(items, query)

    monkeypatch.setattr(api, "_github_page", shifted)
    result = watch(api, max_requests=3)
    assert result["stuck_workflow_runs"] == 10 and result["queued_workflow_runs"] == 95


# --- a run's artifacts -----------------------------------------------------------------------------------------------

def test_artifacts_expired_and_expiring_are_counted_and_the_earliest_expiry_named(api):
    run_id = api.add_run("completed", NOW - DAY)
    api.add_artifact(run_id, "logs", NOW - HOUR, expired=True)
    api.add_artifact(run_id, "sbom", NOW + 2 * DAY)
    api.add_artifact(run_id, "provenance", NOW + 30 * DAY)
    api.add_artifact(run_id, "dist", NOW - MINUTE)  # its time is past, and GitHub has not flagged it yet
    artifacts = watch(api, run_id=run_id, expected_artifacts=["sbom", "provenance", "logs"])["artifacts"]
    assert (artifacts["count"], artifacts["expired"], artifacts["expiring"]) == (4, 2, 1)
    assert artifacts["earliest_expiry"] == iso(NOW + 2 * DAY) and artifacts["earliest_expiry_epoch"] == int(NOW + 2 * DAY)
    assert artifacts["names"] == ["dist", "logs", "provenance", "sbom"] and artifacts["missing"] == ["logs"]
    assert artifacts["available"] is False
    assert artifacts["reasons"] == ["expired: dist, logs", f"expiring within 604800 s: sbom ({iso(NOW + 2 * DAY)})", "missing: logs"]


def test_artifacts_all_there_for_longer_than_the_warning_are_available(api):
    run_id = api.add_run("completed", NOW - DAY)
    for name in ("sbom", "provenance"):
        api.add_artifact(run_id, name, NOW + 60 * DAY)
    artifacts = watch(api, run_id=run_id, expected_artifacts=["sbom", "provenance"])["artifacts"]
    assert artifacts["available"] is True and artifacts["reasons"] == [] and artifacts["missing"] == []
    shorter = watch(api, run_id=run_id, expiry_warning=90 * DAY)["artifacts"]
    assert shorter["available"] is False and shorter["expiring"] == 2


def test_artifacts_on_two_pages_are_all_read(api):
    run_id = api.add_run("completed", NOW - DAY)
    for number in range(150):
        api.add_artifact(run_id, f"part-{number:03}", NOW + 30 * DAY)
    artifacts = watch(api, run_id=run_id, expected_artifacts=["part-149"])["artifacts"]
    assert artifacts["count"] == 150 and artifacts["available"] is True and artifacts["complete"] is True
    pages = [{"per_page": "100", "page": "1"}, {"per_page": "100", "page": "2"}]
    assert gets(api, f"/repos/acme/app/actions/runs/{run_id}/artifacts") == pages


def test_a_run_without_artifacts_or_gone_is_unavailable_not_an_error(api):
    empty = api.add_run("completed", NOW - DAY)
    assert watch(api, run_id=empty)["artifacts"]["reasons"] == [f"workflow run {empty} has no artifacts"]
    gone = watch(api, run_id=123, expected_artifacts=["sbom"])["artifacts"]
    assert (gone["found"], gone["available"], gone["missing"]) == (False, False, ["sbom"])
    assert gone["reasons"] == ["workflow run 123 was not found on acme/app (deleted, or removed by retention)"]


# --- a release's assets ----------------------------------------------------------------------------------------------

def test_release_assets_missing_and_unfinished_are_named(api):
    api.add_release("v1.4.0", ["app-v1.4.0.tar.gz", "SHA256SUMS", ("sbom.json", "open")])
    assets = watch(api, tag="v1.4.0", expected_assets=["app-v1.4.0.tar.gz", "sbom.json", "provenance.json"])["release_assets"]
    assert (assets["found"], assets["count"], assets["names"]) == (True, 2, ["SHA256SUMS", "app-v1.4.0.tar.gz"])
    assert assets["missing"] == ["sbom.json", "provenance.json"] and assets["available"] is False
    assert assets["reasons"] == ["upload not finished: sbom.json", "missing: sbom.json, provenance.json"]
    complete = watch(api, tag="v1.4.0", expected_assets=["app-v1.4.0.tar.gz", "SHA256SUMS"])["release_assets"]
    assert complete["available"] is True and complete["missing"] == []


@pytest.mark.parametrize("draft", [False, True])
def test_a_tag_without_a_published_release_is_unavailable(api, draft):
    if draft:
        api.add_release("v2.0.0", ["app.tar.gz"], draft=True)
    assets = watch(api, tag="v2.0.0", expected_assets=["app.tar.gz"])["release_assets"]
    assert (assets["found"], assets["available"], assets["missing"]) == (False, False, ["app.tar.gz"])
    assert assets["reasons"] == ["acme/app has no published release for tag v2.0.0 (a draft is not one)"]


def test_a_release_with_many_assets_is_read_from_its_asset_list(api):
    release = api.add_release("v3.0.0", [f"asset-{number:03}" for number in range(150)])
    api.embedded_asset_limit = 100
    assets = watch(api, tag="v3.0.0", expected_assets=["asset-000", "asset-149"])["release_assets"]
    assert assets["count"] == 150 and assets["missing"] == [] and assets["available"] is True
    pages = [{"per_page": "100", "page": "1"}, {"per_page": "100", "page": "2"}]
    assert gets(api, f"/repos/acme/app/releases/{release['id']}/assets") == pages


# --- errors: clear, naming repository and endpoint, never the token ---------------------------------------------------

def _refusal(api, case: str):
    if case == "rate_limited":
        api.rate_limit = 0
    elif case == "secondary_429":
        api.secondary_limit = (429, 60)
    elif case == "secondary_403":
        api.secondary_limit = (403, 30)
    elif case == "echo":
        api.route = lambda method, path, headers, body: (500, {"message": f"internal error for {headers.get('Authorization')}"})


ERRORS = [
    # case, token, project, the words a user reads
    ("wrong_token", "wrong-token-0000", "acme/app",
     "GitHub API GET /repos/acme/app/actions/runs: 401 the token was rejected (missing, wrong or expired): give a valid token as "
     "token or in MAESTRO_CI_TOKEN (server said: Bad credentials"),
    ("no_actions_right", CONTENTS, "acme/app",
     "GitHub API GET /repos/acme/app/actions/runs: 403 the token may not read this: it needs read access to acme/app, as a "
     "fine-grained token with the repository permissions Actions (read)"),
    ("missing_repository", READER, "acme/missing",
     "GitHub API GET /repos/acme/missing/actions/runs: 404 not found: acme/missing does not exist or the token cannot see it: "
     "check project (owner/name)"),
    ("rate_limited", READER, "acme/app",
     "GitHub API GET /repos/acme/app/actions/runs: 403 rate limit hit: try again after "),
    ("secondary_429", READER, "acme/app",
     "GitHub API GET /repos/acme/app/actions/runs: 429 rate limit hit: try again in 60 s (retry-after)"),
    ("secondary_403", READER, "acme/app",
     "GitHub API GET /repos/acme/app/actions/runs: 403 rate limit hit: try again in 30 s (retry-after)"),
    ("echo", READER, "acme/app",
     "GitHub API GET /repos/acme/app/actions/runs: 500 unexpected answer (server said: internal error for Bearer ********)"),
]


@pytest.mark.parametrize(("case", "token", "project", "words"), ERRORS, ids=[case[0] for case in ERRORS])
def test_errors_name_the_repository_the_endpoint_and_what_to_do_and_never_the_token(api, case, token, project, words):
    _refusal(api, case)
    with pytest.raises(ConductorError) as caught:
        _ci_github.watch(_ci_github.client(api.url, token), project, now=NOW)
    message = str(caught.value)
    assert message.startswith(words), message
    if case.startswith(("rate", "secondary")):
        assert message.endswith("the CI figures of acme/app are unknown until then: run the watch less often, or give it a token "
                                "of its own")
    text = "".join(traceback.format_exception(caught.value)) + repr(caught.value.args)
    assert token not in text


def test_the_primary_rate_limit_says_when_github_takes_requests_again(api):
    api.rate_limit, api.rate_reset = 0, int(NOW) + 1800
    with pytest.raises(ConductorError, match=rf"403 rate limit hit: try again after {iso(NOW + 1800)}, in 1[78][0-9][0-9] s "
                                             r"\(x-ratelimit-reset\) \(server said: API rate limit exceeded"):
        watch(api)


def test_a_secondary_limit_without_retry_after_says_to_wait_a_minute(api):
    api.route = lambda method, path, headers, body: (403, {"message": "You have exceeded a secondary rate limit."})
    with pytest.raises(ConductorError, match="403 rate limit hit: a secondary rate limit: wait at least a minute before trying again"):
        watch(api)


def test_a_repository_that_is_gone_is_an_error_for_artifacts_and_assets_too(api):
    client = _ci_github.client(api.url, READER)
    with pytest.raises(ConductorError, match=r"^GitHub API GET /repos/acme/missing: 404 not found: acme/missing does not exist"):
        _ci_github.read_artifacts(client, "acme/missing", 5, now=NOW)
    with pytest.raises(ConductorError, match=r"^GitHub API GET /repos/acme/missing: 404 not found"):
        _ci_github.read_release_assets(client, "acme/missing", "v1.0.0")


@pytest.fixture
def elsewhere():
    server = HostedApi()
    yield server
    server.stop()


def test_a_redirect_is_refused_and_the_token_goes_nowhere_else(api, elsewhere):
    api.route = lambda method, path, headers, body: (302, None, {"Location": f"{elsewhere.url}/repos/acme/app/actions/runs"})
    with pytest.raises(ConductorError) as caught:
        watch(api)
    assert str(caught.value).startswith(f"GitHub API GET /repos/acme/app/actions/runs: 302 redirect to {elsewhere.url}"
                                        "/repos/acme/app/actions/runs, not followed")
    assert elsewhere.requests == [] and READER not in str(caught.value)


@pytest.fixture
def tls_api(tmp_path):
    """The stand-in over https, with a self-signed certificate for 127.0.0.1 that no CA bundle holds."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = HostedApi(tls=(str(cert), str(key)))
    yield server
    server.stop()


def test_a_certificate_no_ca_vouches_for_is_refused_unless_told_not_to_check(tls_api, monkeypatch):
    tls_api.add_run("queued", NOW - MINUTE)
    with pytest.raises(ConductorError, match=r"^GitHub API GET /repos/acme/app/actions/runs: https://127\.0\.0\.1:\d+ could not be "
                                             r"reached: .*CERTIFICATE_VERIFY_FAILED"):
        _ci_github.watch(_ci_github.client(tls_api.url, READER), "acme/app", now=NOW)
    made = []
    monkeypatch.setattr(_api, "make_context", lambda **kwargs: made.append(kwargs) or _api_make_context(**kwargs))
    unchecked = _ci_github.client(tls_api.url, READER, validate_certs=False)
    assert _ci_github.watch(unchecked, "acme/app", now=NOW)["queued_workflow_runs"] == 1
    assert unchecked.requests_made == 3 and made == [{"validate_certs": False}], "one TLS context, kept for every request"


def test_a_malformed_answer_is_named(api):
    api.route = lambda method, path, headers, body: (200, {"total_count": 1, "workflow_runs": [{"id": 1, "created_at": "yesterday"}]})
    with pytest.raises(ConductorError, match=r"workflow run 1 created_at 'yesterday' is invalid: expected an ISO 8601 time"):
        watch(api)
    api.route = lambda method, path, headers, body: (200, [])
    with pytest.raises(ConductorError, match=r"expected an object with a list 'workflow_runs' and a count total_count"):
        watch(api)


# --- the module through main() ---------------------------------------------------------------------------------------

def module_args(api, **extra):
    return {"project": "acme/app", "api_url": api.url, "token": READER, **extra}


def test_the_module_reports_the_queue_and_the_hosted_files(api, monkeypatch):
    queue_of_230(api)
    run_id = api.add_run("completed", NOW - DAY)
    api.add_artifact(run_id, "sbom", NOW + 3 * DAY)
    api.add_release("v1.4.0", ["app.tar.gz"])
    args = module_args(api, run_id=run_id, expected_artifacts=["sbom"], tag="v1.4.0", expected_assets=["app.tar.gz", "SHA256SUMS"],
                       max_requests=1000)
    out = run(ci_watch, args, monkeypatch)
    assert not out.failed, out.result
    result = out.result
    assert result["changed"] is False and result["complete"] is True
    figures = (result["queued_workflow_runs"], result["stuck_workflow_runs"], result["queued_jobs"], result["stuck_jobs"])
    assert figures == (200, 30, 320, 31)
    assert result["artifacts"]["expiring"] == 1 and result["artifacts"]["available"] is False
    assert result["artifacts"]["earliest_expiry"] == iso(NOW + 3 * DAY)
    assert result["release_assets"]["missing"] == ["SHA256SUMS"] and result["release_assets"]["available"] is False
    assert READER not in json.dumps(result)
    checked = run(ci_watch, {**args, "_ansible_check_mode": True}, monkeypatch)
    assert {k: v for k, v in checked.result.items() if k not in ("requests", "rate_limit_remaining")} == \
        {k: v for k, v in result.items() if k not in ("requests", "rate_limit_remaining")}, "check mode reads the same"


def test_the_module_takes_the_token_from_the_environment_and_names_it_when_missing(api, monkeypatch):
    monkeypatch.setenv("MAESTRO_CI_TOKEN", READER)
    args = {k: v for k, v in module_args(api).items() if k != "token"}
    assert not run(ci_watch, args, monkeypatch).failed
    monkeypatch.delenv("MAESTRO_CI_TOKEN")
    out = run(ci_watch, args, monkeypatch)
    assert out.failed and out.result["msg"] == "token is missing: GitHub needs an API token (give token, or set MAESTRO_CI_TOKEN)"


@pytest.mark.parametrize("token", ["wrong-token-0000", ADMIN + "x"])
def test_the_module_fails_on_a_rejected_token_without_showing_it(api, token, monkeypatch):
    out = run(ci_watch, module_args(api, token=token), monkeypatch)
    assert out.failed and ": 401 the token was rejected" in out.result["msg"]
    assert token not in json.dumps(out.result)


@pytest.mark.parametrize(("extra", "words"), [
    ({"project": "acme"}, "project 'acme' is invalid: GitHub expects owner/name"),
    ({"project": "acme/../etc"}, "GitHub expects owner/name"),
    ({"stuck_after": 0}, "stuck_after 0 is invalid: expected a whole number of at least 1"),
    ({"expiry_warning": -1}, "expiry_warning -1 is invalid"),
    ({"max_requests": 0}, "max_requests 0 is invalid"),
    ({"run_id": 0}, "run_id 0 is invalid"),
    ({"tag": "v1;rm -rf /"}, "tag name 'v1;rm -rf /' is invalid"),
    ({"tag": "v1.0.0", "expected_assets": ["../x"]}, "expected_assets: name '../x' is invalid"),
    ({"run_id": 5, "expected_artifacts": ["a\nb"]}, "expected_artifacts: name 'a\\nb' is invalid"),
    ({"expected_assets": ["app.tar.gz"]}, "missing parameter(s) required by 'expected_assets': tag"),
    ({"api_url": "http://api.example.com"}, "is refused: the token is sent over https only"),
    ({"token": "abc\nX-Injected: 1"}, "token is invalid: expected one line"),
    ({"timeout": 0}, "timeout 0 is invalid: expected whole seconds from 1 to 600"),
])
def test_bad_input_is_named_and_nothing_is_sent(api, extra, words, monkeypatch):
    out = run(ci_watch, module_args(api, **extra), monkeypatch)
    assert out.failed and words in out.result["msg"], out.result
    assert api.requests == []


def test_the_client_for_tag_protection_still_names_its_own_variable():
    with pytest.raises(ConductorError, match="set MAESTRO_TAG_PROTECTION_TOKEN"):
        _api.Client(_api.GITHUB, "https://api.github.com", "")


def test_open_dependabot_alerts_are_read_by_cursor_and_counted_by_severity(api):
    """GitHub pages Dependabot alerts by cursor (the Link header's next names ``after``); 230 open ones take three pages."""
    for number in range(230):
        api.add_dependabot_alert(("critical", "high", "medium", "low")[number % 4], f"pkg{number}")
    api.add_dependabot_alert("critical", "fixed-one", state="fixed")
    api.add_dependabot_alert("moderate", "odd-severity")  # a severity GitHub's list does not name: counted as the worst
    found = watch(api, dependabot=True)["dependabot"]
    assert found["open"] == 231 and found["complete"]
    assert found["severities"] == {"critical": 59, "high": 58, "medium": 57, "low": 57}
    assert found["alerts"][0]["severity"] == "critical" and all(a["package"] != "fixed-one" for a in found["alerts"])
    cursors = [query.get("after") for query in gets(api, "/repos/acme/app/dependabot/alerts")]
    assert cursors == [None, "100", "200"]
    assert all(query["state"] == "open" and "page" not in query for query in gets(api, "/repos/acme/app/dependabot/alerts"))


def test_dependabot_alerts_that_cannot_be_read_are_said_and_the_queue_still_read(api):
    api.dependabot_disabled = True
    result = watch(api, dependabot=True)
    assert "Dependabot alerts are disabled" in result["dependabot"]["error"] and "Dependabot alerts (read)" in result["dependabot"]["error"]
    assert result["queued_workflow_runs"] == 0
    assert "dependabot" not in watch(api)


def test_the_module_returns_the_alerts(api, monkeypatch):
    api.add_dependabot_alert("high", "requests")
    out = run(ci_watch, {"project": "acme/app", "api_url": api.url, "token": READER, "dependabot": True}, monkeypatch)
    assert not out.failed and out.result["dependabot"]["severities"]["high"] == 1
    assert out.result["dependabot"]["alerts"][0]["advisory"] == "GHSA-test-0001-xxxx"
    assert READER not in json.dumps(out.result)


@pytest.mark.parametrize("link, cursor", [
    ('<https://api.github.com/repos/a/b/dependabot/alerts?per_page=100&after=Y3Vyc29y>; rel="next"', "Y3Vyc29y"),
    ('<https://x/alerts?after=a%2Cb>; rel="next", <https://x/alerts?before=z>; rel="prev"', "a,b"),
    ('<https://x/alerts?before=z>; rel="prev"', ""),
    ("", ""),
    ('<https://x/alerts?page=2>; rel="next"', None),  # a next page by number: not followed, the listing is incomplete
])
def test_the_cursor_is_read_from_the_link_header_only(link, cursor):
    assert _api.next_cursor(link) == cursor


def test_a_cursor_that_repeats_or_cannot_be_followed_leaves_the_alerts_incomplete_and_unknown(api):
    for number in range(150):
        api.add_dependabot_alert("low", f"pkg{number}")
    original = api._github_dependabot  # pylint: disable=protected-access

    def stuck(repository, query):
        status, page, headers = original(repository, {**query, "after": "0"})
        return status, page, {"Link": headers["Link"].replace("after=100", "after=0")}
    api._github_dependabot = stuck  # pylint: disable=protected-access
    found = watch(api, dependabot=True)["dependabot"]
    assert not found["complete"] and found["open"] == 100  # each alert once, however often a page came back
    from ansible_collections.maestro.conductor.plugins.module_utils import _daily
    judged = _daily._dependabot_findings(_daily._dependabot({"dependabot_checked": True, "ci": {"dependabot": found}}),  # pylint: disable=protected-access
                                         ["critical"])
    assert [f.message.split(" (")[0] for f in judged] == ["the hosted repository's Dependabot alerts were not all read"]


def test_a_link_relation_is_read_whole():
    assert _api.next_cursor('<https://x/a?after=1>; rel="nextfoo"') == ""
    assert _api.next_cursor('<https://x/a?after=1>; rel="prev next"') == "1"
    assert _api.next_cursor('<https://x/a?after=2>; rel=next') == "2"
