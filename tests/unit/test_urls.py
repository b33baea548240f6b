"""_urls: no credential a URL carries is recorded, signed, printed or returned."""

from __future__ import annotations

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils._urls import (
    has_credentials, redact, scrub, strip_credentials, urls_with_credentials)


@pytest.mark.parametrize("url, stripped", [
    ("https://user:s3cret@git.example.com/team/svc.git", "https://git.example.com/team/svc.git"),
    ("https://oauth2:glpat-XYZ@gitlab.example.com/svc.git", "https://gitlab.example.com/svc.git"),
    ("https://user:@host/repo.git", "https://host/repo.git"),  # an empty password is still a password field
    ("https://ghp_TOKEN1234@github.com/o/r.git", "https://github.com/o/r.git"),  # a bare token as the user
    ("HTTPS://ghp_TOKEN1234@github.com/o/r.git", "HTTPS://github.com/o/r.git"),
    ("git+https://ghp_TOKEN1234@github.com/o/r.git", "git+https://github.com/o/r.git"),
    ("https://u:p@ss@host/r.git", "https://host/r.git"),  # an unencoded '@' in the password: the last '@' ends it
    ("ssh://git:hunter22@host/r.git", "ssh://host/r.git"),
    ("https://host/r.git?private_token=abcd", "https://host/r.git"),
    ("https://host/r.git?ref=main&access_token=abcd", "https://host/r.git"),
    ("https://host/r.git?sv=2024&sig=abcd%3D", "https://host/r.git"),  # an Azure SAS URL
    ("https://bucket.s3.example.com/a?X-Amz-Credential=AKIA%2F&X-Amz-Signature=ab12", "https://bucket.s3.example.com/a"),
    ("https://host/callback#access_token=abcd&state=1", "https://host/callback"),  # a token in the fragment
    ("https://host/r.git?api_key=abcd", "https://host/r.git"),
    ("https://host/r.git?accessKey=abcd", "https://host/r.git"),
    ("https://bucket.example.com/a?AWSAccessKeyId=AKIA&Expires=1&Signature=ab12", "https://bucket.example.com/a"),
])
def test_credentials_are_found_and_stripped(url, stripped):
    assert has_credentials(url)
    assert strip_credentials(url) == stripped
    assert not has_credentials(strip_credentials(url))


@pytest.mark.parametrize("url", [
    "https://git.example.com/team/svc.git",
    "ssh://git@git.example.com/team/svc.git",  # a user name on ssh is an account, not a secret
    "git@github.com:team/svc.git",
    "/srv/git/svc.git",
    "file:///srv/git/svc.git",
    "https://host/a@b",  # '@' in the path is no userinfo
    "https://host/r.git?monkey=1",  # a parameter whose name merely contains 'key='
    "https://host/r.git?ref=tokens-v2",  # a value that mentions tokens
    "https://@host/r.git",
    "make demo",
])
def test_urls_without_credentials(url):
    assert not has_credentials(url)


@pytest.mark.parametrize("url", [
    "ssh://git@git.example.com/team/svc.git",
    "git@github.com:team/svc.git",
    "/srv/git/svc.git",
    "https://git.example.com/team/svc.git",
])
def test_credential_free_repository_urls_are_kept_as_they_are(url):
    assert strip_credentials(url) == url


def test_urls_inside_text_are_found_and_scrubbed():
    text = ('CI run https://ci:tok3n@ci.example.com/job/42 cloned "https://x-token:abcd@git.example.com/svc.git", '
            "see https://docs.example.com/x?page=2 and ssh://git@host/r.git")
    assert urls_with_credentials(text) == ["https://ci:tok3n@ci.example.com/job/42", "https://x-token:abcd@git.example.com/svc.git"]
    assert scrub(text) == ('CI run https://ci.example.com/job/42 cloned "https://git.example.com/svc.git", '
                           "see https://docs.example.com/x?page=2 and ssh://git@host/r.git")
    assert scrub("no URL here") == "no URL here"


def test_redact_masks_the_secret_wherever_a_tool_quoted_it():
    url = "https://user:p%40ssw0rd@git.example.com/svc.git"
    text = (f"fatal: unable to access '{url}/': 403; "
            "retrying as user:p@ssw0rd; git config remote.origin.url says user:p%40ssw0rd@git.example.com")
    redacted = redact(text, url)
    assert "p@ssw0rd" not in redacted and "p%40ssw0rd" not in redacted
    assert "fatal: unable to access 'https://git.example.com/svc.git/': 403" in redacted
    assert redact("ls-remote https://host/x.git failed", "https://host/x.git") == "ls-remote https://host/x.git failed"
    assert redact("text", "") == "text"


def test_redact_leaves_short_secrets_alone_outside_the_url():
    # masking 'ab' everywhere would mangle the message and protect nothing: the URL itself is still stripped
    assert redact("https://u:ab@host/r failed: about ab", "https://u:ab@host/r") == "https://host/r failed: about ab"
