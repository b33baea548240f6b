"""Pending security updates from a real apt: a local file repository (bookworm-security, holding an updated package) read
by the machine's own apt-get, against a private root (its own dpkg status and sources), so the host is never touched."""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import time
import textwrap

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _apt_security
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import security_updates
from tests.apt_repo import repository
from tests.unit.test_modules import run

STATUS = """Package: {name}
Status: install ok installed
Version: {version}
Architecture: all
Maintainer: Test <test@test.invalid>
Description: a package the test installed

"""


@pytest.fixture
def host(tmp_path):
    """A private apt root: canary 1.0 and steady 2.0 installed; a security repository with canary 1.1, another with steady 2.1."""
    root = tmp_path / "root"
    (root / "var" / "lib" / "dpkg").mkdir(parents=True)
    installed = STATUS.format(name="maestro-canary", version="1.0") + STATUS.format(name="maestro-steady", version="2.0")
    (root / "var" / "lib" / "dpkg" / "status").write_text(installed)
    (root / "etc" / "apt" / "sources.list.d").mkdir(parents=True)
    security = repository(tmp_path / "security", "bookworm-security", [("maestro-canary", "1.1")])
    updates = repository(tmp_path / "updates", "bookworm-updates", [("maestro-steady", "2.1")])
    (root / "etc" / "apt" / "sources.list.d" / "debian.list").write_text(f"{security}\n{updates}\n")
    return root


def test_only_the_security_origin_counts_and_the_first_sighting_is_kept(host, tmp_path):
    sources = _apt_security.security_sources(etc_apt=str(host / "etc" / "apt"))
    assert [s.suite for s in sources] == ["bookworm-security"]
    state = tmp_path / "pending.json"
    first = _apt_security.inspect(sources, str(state), root=str(host), now=1_800_000_000)
    assert [(p.package, p.installed, p.candidate) for p in first.pending] == [("maestro-canary", "1.0", "1.1")]
    assert first.pending[0].since == "2027-01-15T08:00:00Z" and first.oldest_pending_seconds == 0
    later = _apt_security.inspect(sources, str(state), root=str(host), now=1_800_000_000 + 7200)
    assert later.pending[0].since == "2027-01-15T08:00:00Z" and later.oldest_pending_seconds == 7200
    assert json.loads(state.read_text()) == {"maestro-canary": "2027-01-15T08:00:00Z"}
    assert not later.reboot_required
    (host / "var" / "run").mkdir(parents=True)
    (host / "var" / "run" / "reboot-required").write_text("*** System restart required ***\n")
    assert _apt_security.inspect(sources, str(state), root=str(host)).reboot_required


def test_nothing_pending_clears_the_record_and_check_mode_writes_nothing(host, tmp_path):
    status = host / "var" / "lib" / "dpkg" / "status"
    status.write_text(status.read_text().replace("Version: 1.0", "Version: 1.1"))
    state = tmp_path / "pending.json"
    state.write_text('{"maestro-canary": "2026-01-01T00:00:00Z"}')
    sources = _apt_security.security_sources(etc_apt=str(host / "etc" / "apt"))
    dry = _apt_security.inspect(sources, str(state), root=str(host), check_mode=True)
    assert dry.pending == [] and state.read_text() == '{"maestro-canary": "2026-01-01T00:00:00Z"}'
    _apt_security.inspect(sources, str(state), root=str(host))
    assert json.loads(state.read_text()) == {}


def test_sources_in_both_formats_and_bad_ones_named(tmp_path):
    deb822 = textwrap.dedent("""\
        Types: deb
        URIs: http://deb.debian.org/debian
        Suites: bookworm bookworm-updates
        Components: main
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

        Types: deb deb-src
        URIs: http://deb.debian.org/debian-security
        Suites: bookworm-security
        Components: main contrib
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
        """)
    found = _apt_security.parse_deb822(deb822)
    assert [(s.suite, s.security) for s in found] == [("bookworm", False), ("bookworm-updates", False), ("bookworm-security", True)]
    assert found[2].stanza() == ("Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n"
                                 "Components: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    one = _apt_security.parse_one_line("# a comment\ndeb-src http://x.example/d bookworm main\ndeb http://x.example/d jammy-security main\n")
    assert [s.suite for s in one] == ["jammy-security"]
    with pytest.raises(ConductorError, match="no security origin among the apt sources"):
        (tmp_path / "apt").mkdir()
        (tmp_path / "apt" / "sources.list").write_text("deb http://x.example/d bookworm main\n")
        _apt_security.security_sources(etc_apt=str(tmp_path / "apt"))
    for line, message in [("deb http://x.example/d ../../etc main", "suite '../../etc' of http://x.example/d is invalid"),
                          ("deb [arch=amd64 $(touch x)] http://x.example/d s main", "is not one this reads"),
                          ("deb [pdiffs=no] http://x.example/d s main", "is not one this reads"),
                          ("deb gopher://x.example/d s-security main", "URI 'gopher://x.example/d' is invalid"),
                          ("deb https://u:s3cret@x.example/d ../x main", "suite '../x' of https://x.example/d is invalid"),
                          ("deb-src http://x.example/d s-security main", "each entry must be one")]:
        with pytest.raises(ConductorError, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
            _apt_security.security_sources([line])


def test_the_module_reads_and_in_check_mode_says_what_it_would_apply(host, tmp_path, monkeypatch):
    state = tmp_path / "pending.json"
    args = {"apt_root": str(host), "state_file": str(state)}
    found = run(security_updates, args, monkeypatch)
    assert (found.result["count"], found.result["changed"], found.result["pending"][0]["candidate"]) == (1, False, "1.1")
    dry = run(security_updates, {**args, "state": "applied", "_ansible_check_mode": True, "_ansible_diff": True}, monkeypatch)
    assert dry.result["changed"] and dry.result["applied"] == ["maestro-canary 1.0 -> 1.1"]
    assert dry.result["diff"] == {"before": "maestro-canary 1.0\n", "after": "maestro-canary 1.1\n"}
    refused = run(security_updates, {**args, "state": "applied"}, monkeypatch)
    assert refused.failed and "packages are installed on the host itself only" in refused.result["msg"]
    bad = run(security_updates, {**args, "security_sources": ["deb http://x.example/d ../x main"]}, monkeypatch)
    assert bad.failed and "suite '../x' of http://x.example/d is invalid" in bad.result["msg"]


def test_deb822_disabled_stanzas_inline_keys_and_credentials(tmp_path):
    text = textwrap.dedent("""\
        Types: deb
        URIs: http://old.example/debian-security
        Suites: buster-security
        Components: main
        Enabled: false

        Types: deb
        URIs: https://mirror:s3cret@deb.example/debian-security
        Suites: bookworm-security
        Components: main
        Architectures: amd64 i386
        Signed-By:
         -----BEGIN PGP PUBLIC KEY BLOCK-----
         .
         mDMEZ0000
         -----END PGP PUBLIC KEY BLOCK-----
        """)
    [source] = _apt_security.parse_deb822(text)  # Enabled: false (as apt reads no, off and 0) is left out
    assert source.shown() == "https://deb.example/debian-security bookworm-security main" and "s3cret" not in source.shown()
    stanza = source.stanza()
    assert "Signed-By: \n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mDMEZ0000\n" in stanza and "Architectures: amd64 i386" in stanza
    assert _apt_security.secrets_of(["deb https://mirror:s3cret@deb.example/debian-security bookworm-security main"]) == ["s3cret"]
    # an unusual source elsewhere (a flat repository, an IPv6 mirror) never stops the security ones from being read
    (tmp_path / "apt" / "sources.list.d").mkdir(parents=True)
    lines = ["deb file:/srv/local ./", "deb http://[2001:db8::1]/debian bookworm main", "deb http://deb.example/debian-security bookworm-security main"]
    (tmp_path / "apt" / "sources.list").write_text("\n".join(lines) + "\n")
    assert [s.suite for s in _apt_security.security_sources(etc_apt=str(tmp_path / "apt"))] == ["bookworm-security"]


def test_kept_back_updates_count_and_a_mirror_that_cannot_be_read_is_an_error(host, tmp_path):
    """An update that needs a new package (as a kernel's ABI package does) is kept back by apt-get upgrade: it is pending."""
    status = host / "var" / "lib" / "dpkg" / "status"
    status.write_text(status.read_text() + STATUS.format(name="maestro-kernel", version="1.0"))
    repo = tmp_path / "security2"
    line = repository(repo, "bookworm-security", [("maestro-kernel", "1.1"), ("maestro-kernel-abi-2", "2.0")])
    control = "Depends: maestro-kernel-abi-2\n"
    packages = repo / "dists" / "bookworm-security" / "main" / "binary-amd64" / "Packages"
    packages.write_text(packages.read_text().replace("Package: maestro-kernel\nVersion: 1.1\n", "Package: maestro-kernel\nVersion: 1.1\n" + control))
    release = repo / "dists" / "bookworm-security" / "Release"
    listed = packages.read_bytes()
    release.write_text(re.sub(r" [0-9a-f]{64} [0-9]+ main", f" {hashlib.sha256(listed).hexdigest()} {len(listed)} main", release.read_text()))
    found = _apt_security.inspect(_apt_security.security_sources([line]), str(tmp_path / "state.json"), root=str(host))
    assert [(p.package, p.candidate) for p in found.pending] == [("maestro-kernel", "1.1")] and found.removals == []
    down = _apt_security.security_sources(["deb [trusted=yes] http://mirror:s3cret@127.0.0.1:9/debian-security bookworm-security main"])
    with pytest.raises(ConductorError, match="apt-get -q update failed") as failed:
        _apt_security.inspect(down, str(tmp_path / "state.json"), root=str(host))
    assert "127.0.0.1:9" in str(failed.value) and "s3cret" not in str(failed.value)


def test_a_first_sighting_to_come_or_unreadable_counts_from_now(tmp_path):
    state = tmp_path / "pending.json"
    state.write_text('{"a": "2099-01-01T00:00:00Z", "b": "2026-01-01T99:99:99Z", "c": "2026-11-01T00:00:00Z"}')
    pending = [_apt_security.Pending(name, "1", "2") for name in ("a", "b", "c")]
    now = 1_795_000_000
    oldest = _apt_security.track(str(state), pending, now)
    assert [p.since for p in pending][:2] == [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))] * 2
    assert pending[2].since == "2026-11-01T00:00:00Z" and oldest == now - calendar.timegm((2026, 11, 1, 0, 0, 0))
