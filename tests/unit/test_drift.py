"""release_drift on real repositories: moved, deleted and re-created tags, a branch ahead of its release,
an environment running another commit."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _drift, _ledger
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import release_drift
from ansible_collections.maestro.conductor.plugins.module_utils._reported_commit import reported_commit, running_commit
from tests.conftest import commit, git
from tests.servers import free_port
from tests.unit.test_modules import run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def drift(release, monkeypatch, **extra):
    args = {"repo": str(release.repo), "releases_root": str(release.dir.parent), **extra}
    return run(release_drift, args, monkeypatch)


def test_nothing_moved_is_no_finding(release, monkeypatch):
    out = drift(release, monkeypatch, protected_branches=["main"])
    assert out.result["findings"] == [] and out.result["drifted"] is False
    assert out.result["checked"] == {"tags": 1, "branches": 1, "running_commit": False}
    assert out.result["unknown"] == []


def test_a_moved_tag_is_found_with_what_was_recorded(release, monkeypatch):
    recorded_object = git(release.repo, "rev-parse", "v1.0.0")
    second = commit(release.repo, "second")
    git(release.repo, "tag", "-f", "-a", "-m", "moved", "v1.0.0", second)
    now_object = git(release.repo, "rev-parse", "v1.0.0")
    (finding,) = drift(release, monkeypatch).result["findings"]
    assert finding == {
        "kind": "moved", "ref": "refs/tags/v1.0.0",
        "expected": f"object {recorded_object}, commit {release.commit}", "found": f"object {now_object}, commit {second}",
        "message": f"tag v1.0.0 moved on {release.repo}: recorded object {recorded_object}, commit {release.commit}, "
                   f"now object {now_object}, commit {second}",
    }


def test_a_tag_deleted_and_recreated_on_the_same_commit_is_found(release, monkeypatch):
    git(release.repo, "tag", "-d", "v1.0.0")
    git(release.repo, "tag", "-a", "-m", "again", "v1.0.0", release.commit, date="2026-03-01T00:00:00Z")
    (finding,) = drift(release, monkeypatch).result["findings"]
    assert finding["kind"] == "recreated" and f"same commit {release.commit}" in finding["message"]


def test_a_deleted_tag_is_found(release, monkeypatch):
    git(release.repo, "tag", "-d", "v1.0.0")
    (finding,) = drift(release, monkeypatch).result["findings"]
    assert (finding["kind"], finding["found"]) == ("deleted", "absent")
    assert finding["message"].startswith("tag v1.0.0 (object ") and finding["message"].endswith(f"is gone from {release.repo}")


def test_a_protected_branch_ahead_of_the_latest_release_and_a_missing_one(release, monkeypatch):
    ahead = commit(release.repo, "work after the release")
    findings = drift(release, monkeypatch, protected_branches=["main", "release/1.x"]).result["findings"]
    assert [(f["kind"], f["ref"]) for f in findings] == [("branch_not_at_release", "refs/heads/main"), ("branch_missing", "refs/heads/release/1.x")]
    assert findings[0]["message"] == (f"protected branch main is at {ahead} on {release.repo}, the latest release tag v1.0.0 at {release.commit}")


def test_a_remote_that_differs_from_the_clone(release, monkeypatch, tmp_path):
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--mirror", str(release.repo), str(mirror))
    git(mirror, "tag", "-d", "v1.0.0")
    out = drift(release, monkeypatch, remote=str(mirror))
    assert [f["kind"] for f in out.result["findings"]] == ["deleted"]
    # the local clone is untouched: only the remote drifted
    assert drift(release, monkeypatch).result["findings"] == []


def test_the_environment_running_another_commit_than_the_ledger_says(release, monkeypatch, tmp_path):
    ledger = tmp_path / "prod.jsonl"
    _ledger.append(str(ledger), _ledger.make_record("prod", "deployed", "v1.0.0", "ci", commit=release.commit, verdict="green"))
    same = drift(release, monkeypatch, ledger=str(ledger), environment="prod", running_commit=release.commit)
    assert same.result["findings"] == [] and same.result["checked"]["tags"] == 2  # the manifest and the ledger
    other = "e" * 40
    (finding,) = drift(release, monkeypatch, ledger=str(ledger), environment="prod", running_commit=other).result["findings"]
    assert finding["kind"] == "running_commit"
    assert finding["message"] == f"environment prod runs commit {other}, the ledger says v1.0.0 ({release.commit}) is live"


def test_fail_on_drift_fails_with_every_finding(release, monkeypatch):
    git(release.repo, "tag", "-d", "v1.0.0")
    out = drift(release, monkeypatch, fail_on_drift=True)
    assert out.failed and out.result["msg"].startswith("1 drift finding(s): tag v1.0.0 (object ")
    assert out.result["findings"][0]["kind"] == "deleted"


@pytest.mark.parametrize("extra, message", [
    ({"remote": "--upload-pack=touch /tmp/x"}, "remote '--upload-pack=touch /tmp/x' is invalid"),
    ({"protected_branches": ["main..x"]}, "branch name 'main..x' is invalid"),
    ({"pattern": "-v*"}, "tag pattern '-v*' is invalid"),
    ({"running_commit": "abc", "ledger": "/nonexistent", "environment": "prod"}, "running commit 'abc' is invalid"),
    ({"version_url": "file:///etc/hostname", "ledger": "/nonexistent", "environment": "prod"}, "version_url 'file:///etc/hostname' is invalid"),
])
def test_bad_input_is_named_and_runs_nothing(release, monkeypatch, processes, extra, message):
    out = drift(release, monkeypatch, **extra)
    assert out.failed and out.result["msg"].startswith(message)
    assert not any(args[:2] == ["git", "ls-remote"] for args in processes)


def test_releases_root_that_does_not_exist(release):
    with pytest.raises(ConductorError, match="releases directory /nonexistent does not exist"):
        _drift.recorded_from_releases("/nonexistent", "v*")


def test_a_remote_that_does_not_answer_is_a_clear_error(release, monkeypatch, tmp_path):
    out = drift(release, monkeypatch, remote=str(tmp_path / "no-such-repo"))
    assert out.failed and out.result["msg"].startswith(f"git ls-remote of {tmp_path / 'no-such-repo'} failed:")


# --- unknown is not "no drift" ---------------------------------------------------------------------------------------------

class VersionEndpoint:
    """A /version endpoint on loopback answering what the test sets: (status, content type, body)."""

    def __init__(self, status: int = 200, content_type: str = "application/json", body: str = ""):
        self.answer = (status, content_type, body)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                status, content_type, body = endpoint.answer
                data = body.encode()
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/version"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    server = VersionEndpoint()
    yield server
    server.stop()


@pytest.fixture
def live(release, tmp_path):
    """A ledger saying v1.0.0 is live in prod."""
    ledger = tmp_path / "prod.jsonl"
    _ledger.append(str(ledger), _ledger.make_record("prod", "deployed", "v1.0.0", "ci", commit=release.commit, verdict="green"))
    return {"ledger": str(ledger), "environment": "prod"}


def test_a_missing_release_repository_is_a_finding_unless_allowed(release, monkeypatch, tmp_path):
    missing = tmp_path / "no-repository"
    out = drift(release, monkeypatch, repo=str(missing), fail_on_drift=True)
    assert out.failed
    assert out.result["msg"] == (f"1 drift finding(s): release repository {missing} does not exist: release tags and protected branches "
                                 "were not compared")
    assert out.result["findings"][0]["kind"] == "unknown"
    allowed = drift(release, monkeypatch, repo=str(missing), fail_on_drift=True, allow_unknown=["repository"])
    assert not allowed.failed and allowed.result["findings"] == [] and allowed.result["drifted"] is False
    assert allowed.result["unknown"] == [out.result["findings"][0]["message"]]
    assert allowed.result["checked"] == {"tags": 0, "branches": 0, "running_commit": False}


NO_COMMIT = "neither a JSON object with one nor a bare commit id"


@pytest.mark.parametrize(("status", "content_type", "body", "why"), [
    (200, "text/html", "<html><body>502 Bad Gateway</body></html>", "answered text/html (41 characters) naming no commit: " + NO_COMMIT),
    (502, "text/html", "<html>Bad Gateway</html>", "answered status 502"),
    (200, "application/json", '{"tag": "v1.0.0"}', "answered application/json (17 characters) naming no commit: " + NO_COMMIT),
    (200, "application/json", '{"commit": "abc123"}', "reports commit 'abc123', not a full 40- or 64-digit hexadecimal commit id"),
])
def test_a_version_answer_that_names_no_commit_is_unknown_and_red(release, monkeypatch, live, endpoint, status, content_type, body, why):
    endpoint.answer = (status, content_type, body)
    out = drift(release, monkeypatch, version_url=endpoint.url, fail_on_drift=True, **live)
    assert out.failed, out.result
    (finding,) = out.result["findings"]
    assert finding["kind"] == "unknown" and finding["ref"] == "prod"
    assert finding["message"] == f"environment prod: the running commit is unknown ({endpoint.url} {why}), so it was not compared with the live tag"
    assert out.result["checked"]["running_commit"] is False


def test_a_version_endpoint_that_does_not_answer_is_unknown_and_red(release, monkeypatch, live):
    url = f"http://127.0.0.1:{free_port()}/version"
    out = drift(release, monkeypatch, version_url=url, **live)
    (finding,) = out.result["findings"]
    assert finding["kind"] == "unknown" and f"({url} did not answer: " in finding["message"]
    allowed = drift(release, monkeypatch, version_url=url, allow_unknown=["running_commit"], fail_on_drift=True, **live)
    assert not allowed.failed and allowed.result["findings"] == [] and allowed.result["unknown"] == [finding["message"]]


@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream", "text/plain"])
def test_the_running_commit_is_read_from_the_version_endpoint(release, monkeypatch, live, endpoint, content_type):
    # the demo service's busybox httpd answers its JSON /version as application/octet-stream: the body says it
    endpoint.answer = (200, content_type, json.dumps({"tag": "v1.0.0", "commit": release.commit}) + "\n")
    same = drift(release, monkeypatch, version_url=endpoint.url, fail_on_drift=True, **live)
    assert not same.failed and same.result["findings"] == [] and same.result["checked"]["running_commit"] is True
    other = "e" * 40
    endpoint.answer = (200, content_type, other if content_type == "text/plain" else json.dumps({"commit": other}))
    (finding,) = drift(release, monkeypatch, version_url=endpoint.url, **live).result["findings"]
    assert finding["kind"] == "running_commit" and finding["found"] == f"commit {other}"


def test_a_ledger_with_nothing_saying_what_runs_is_unknown(release, monkeypatch, live):
    (finding,) = drift(release, monkeypatch, **live).result["findings"]
    assert finding["kind"] == "unknown" and "neither running_commit nor version_url says what runs" in finding["message"]
    assert drift(release, monkeypatch, allow_unknown=["running_commit"], **live).result["findings"] == []


def test_a_redirecting_version_endpoint_is_not_followed(release, monkeypatch, live, endpoint):
    endpoint.answer = (302, "", "")
    endpoint.server.RequestHandlerClass.do_GET = lambda handler: (handler.send_response(302), handler.send_header(
        "Location", "http://127.0.0.1:1/elsewhere"), handler.send_header("Content-Length", "0"), handler.end_headers())
    (finding,) = drift(release, monkeypatch, version_url=endpoint.url, **live).result["findings"]
    assert f"{endpoint.url} answered 302, a redirect to http://127.0.0.1:1/elsewhere (not followed)" in finding["message"]


@pytest.mark.parametrize(("body", "expected"), [
    ('{"tag": "v1.0.0", "commit": "' + "a" * 40 + '"}', "a" * 40),
    ("A" * 40 + "\n", "a" * 40),
    ("b" * 64, "b" * 64),
    ("<html><body>502 Bad Gateway</body></html>", ""),
    ("abc123", ""),
    ('{"tag": "v1.0.0"}', ""),
    ('{"commit": 12}', ""),
    ("[1, 2]", ""),
    ("", ""),
    (None, ""),
])
def test_reported_commit_gives_a_commit_or_nothing(body, expected):
    assert reported_commit(body) == expected


def test_the_reported_commit_filter_is_the_same_rule():
    from ansible_collections.maestro.conductor.plugins.filter.reported_commit import FilterModule  # pylint: disable=import-outside-toplevel

    read = FilterModule().filters()["reported_commit"]
    assert read("<h1>Service Unavailable</h1>") == "" and read('{"commit": "' + "c" * 40 + '"}') == "c" * 40
    assert running_commit(200, "text/html; charset=utf-8", "<h1>down</h1>") == ("", "answered text/html (13 characters) naming no commit: "
                                                                                "neither a JSON object with one nor a bare commit id")


# --- a remote with credentials is never said as given ------------------------------------------------------------------------

SECRET = "glpat-s3cr3tT0ken"


@pytest.fixture
def credentialed(release, tmp_path, monkeypatch):
    """An https remote with a token that git resolves (url.insteadOf) to a mirror of the release repository."""
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--mirror", str(release.repo), str(mirror))
    remote = f"https://ci-bot:{SECRET}@git.example.com/acme/app.git"
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{mirror}.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", remote)
    return remote, mirror


def test_findings_name_a_credentialed_remote_without_its_token(release, monkeypatch, credentialed):
    remote, mirror = credentialed
    git(mirror, "tag", "-d", "v1.0.0")
    out = drift(release, monkeypatch, remote=remote, fail_on_drift=True)
    assert out.failed and "is gone from https://git.example.com/acme/app.git" in out.result["msg"]
    assert SECRET not in json.dumps(out.result)


@pytest.mark.parametrize("remote", [f"https://ci-bot:{SECRET}@127.0.0.1:{{port}}/acme/app.git", f"https://{SECRET}@127.0.0.1:{{port}}/app.git",
                                    f"https://127.0.0.1:{{port}}/app.git?private_token={SECRET}"])
def test_errors_name_a_credentialed_remote_without_its_token(release, monkeypatch, remote):
    out = drift(release, monkeypatch, remote=remote.format(port=free_port()))
    assert out.failed and "git ls-remote of https://127.0.0.1:" in out.result["msg"], out.result
    assert SECRET not in json.dumps(out.result)
    invalid = drift(release, monkeypatch, remote=f"https://ci-bot:{SECRET}@host/a b.git")
    assert invalid.failed and invalid.result["msg"].startswith("remote 'https://host/a b.git' is invalid")
    assert SECRET not in invalid.result["msg"]


def test_a_credentialed_remote_is_masked_in_what_ansible_shows(release, credentialed, tmp_path):
    """Through ansible itself: the result it prints (the module's arguments included, at -v) never holds the token."""
    remote, mirror = credentialed
    git(mirror, "tag", "-d", "v1.0.0")
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    args = json.dumps({"repo": str(release.repo), "releases_root": str(release.dir.parent), "remote": remote, "fail_on_drift": True})
    done = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-vvv",
                           "-e", "ansible_python_interpreter=" + os.path.join(ROOT, ".venv", "bin", "python"),
                           "-m", "maestro.conductor.release_drift", "-a", args], env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "is gone from https://git.example.com/acme/app.git" in output, output[-3000:]
    assert "invocation" in output and SECRET not in output


@pytest.mark.parametrize("remote, extra", [
    (f"https://u:{SECRET}@127.0.0.1:1/r", {"allow_unknown": ["bogus"]}),  # an argument error: reported before main() runs
    (f"https://u:{SECRET}@127.0.0.1:1/r", {"running_commit": "0" * 40}),  # required_by fails the same way
    (f"https://127.0.0.1:1/r#access_token={SECRET}", {}),  # a token in the fragment
], ids=["bad choice", "required_by", "fragment"])
def test_a_credentialed_remote_is_masked_even_when_the_arguments_are_refused(release, tmp_path, remote, extra):
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    args = json.dumps({"repo": str(release.repo), "releases_root": str(release.dir.parent), "remote": remote, **extra})
    done = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-vvv",
                           "-e", "ansible_python_interpreter=" + os.path.join(ROOT, ".venv", "bin", "python"),
                           "-m", "maestro.conductor.release_drift", "-a", args], env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "invocation" in output, output[-3000:]
    assert SECRET not in output


def test_a_release_whose_manifest_is_gone_is_unknown_and_red(release, monkeypatch):
    # the tag re-created and its record deleted: without the manifest, nothing says what the tag should be
    git(release.repo, "tag", "-d", "v1.0.0")
    git(release.repo, "tag", "-a", "-m", "again", "v1.0.0", release.commit, date="2026-03-01T00:00:00Z")
    release.manifest().unlink()
    (finding,) = drift(release, monkeypatch, fail_on_drift=True).result["findings"]
    assert finding["kind"] == "unknown" and finding["ref"] == "refs/tags/v1.0.0" and "is missing" in finding["message"]
