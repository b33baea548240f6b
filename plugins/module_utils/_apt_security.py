# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security updates from a host's package manager: apt, security origins only.

A security origin is an apt source whose suite ends in ``-security`` (Debian's and Ubuntu's naming: bookworm-security,
jammy-security), read from the host's one-line (``.list``) and deb822 (``.sources``) files, or given. What is pending is
what apt would upgrade with those sources alone: apt reads them into a private lists directory (the host's own package
lists are never touched) and a simulated upgrade names each package with its installed and new version. Applying
installs exactly those versions from the same sources, non-interactively, keeping changed configuration files. A
reboot is required when ``/var/run/reboot-required`` exists (Debian's and Ubuntu's convention).

How long updates have been pending is kept in a small state file: a package first seen pending keeps that time until
it is no longer pending, so an alert can fire when a host has had security updates waiting too long.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write

REBOOT_REQUIRED = "/var/run/reboot-required"
_SUITE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")
_URI_RE = re.compile(r"(?:https?|file|cdrom|copy|mirror\+https?|mirror\+file|tor\+https?):[^\s\[\]]{1,1000}")
_OPTION_RE = re.compile(r"[A-Za-z-]{1,40}=[^\s\[\]]{1,500}")
_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,199}")
# apt-get -s: "Inst libssl3 [3.0.11-1~deb12u1] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])"
_INST_RE = re.compile(r"^Inst (\S+) \[([^\]]+)\] \((\S+) ", re.MULTILINE)


@dataclass(frozen=True)
class Source:
    """One apt source line: ``deb [options] uri suite components``."""

    uri: str
    suite: str
    components: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def line(self) -> str:
        options = f"[{' '.join(self.options)}] " if self.options else ""
        return f"deb {options}{self.uri} {self.suite} {' '.join(self.components)}".rstrip() + "\n"

    @property
    def security(self) -> bool:
        return self.suite.rstrip("/").endswith("-security")


@dataclass
class Pending:
    package: str
    installed: str
    candidate: str
    since: str = ""  # when first seen pending


@dataclass
class Inspection:
    pending: list[Pending] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    reboot_required: bool = False
    oldest_pending_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "count": len(self.pending)}


def _check_source(source: Source) -> Source:
    if not _URI_RE.fullmatch(source.uri):
        raise ConductorError(f"apt source URI {source.uri!r} is invalid: expected an http(s):// or file: URI without spaces")
    if not _SUITE_RE.fullmatch(source.suite) or ".." in source.suite:
        raise ConductorError(f"apt source suite {source.suite!r} is invalid: expected a suite name such as bookworm-security, or ./")
    for part in (*source.components, *source.options):
        if not re.fullmatch(r"[^\s\[\]]{1,500}", part):
            raise ConductorError(f"apt source part {part!r} is invalid: expected one word")
    for option in source.options:
        if not _OPTION_RE.fullmatch(option):
            raise ConductorError(f"apt source option {option!r} is invalid: expected name=value")
    return source


def parse_one_line(text: str) -> list[Source]:
    """The ``deb`` lines of a one-line sources file (``deb-src`` and comments skipped)."""
    found = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb ") and not line.startswith("deb\t"):
            continue
        rest = line[3:].strip()
        options: tuple[str, ...] = ()
        if rest.startswith("["):
            inside, _sep, rest = rest[1:].partition("]")
            options = tuple(inside.split())
        words = rest.split()
        if len(words) >= 2:
            found.append(_check_source(Source(words[0], words[1], tuple(words[2:]), options)))
    return found


def parse_deb822(text: str) -> list[Source]:
    """The ``deb`` entries of a deb822 sources file: one source per URI and suite of each stanza."""
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:  # a continuation line
                fields[key] += " " + raw.strip()
                continue
            key, _sep, value = raw.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        options = []
        if fields.get("signed-by") and not fields["signed-by"].startswith("-----"):  # an inline key stays with the host's file
            options.append(f"signed-by={fields['signed-by'].split()[0]}")
        if fields.get("trusted"):
            options.append(f"trusted={fields['trusted']}")
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                found.append(_check_source(Source(uri, suite, tuple(fields.get("components", "").split()), tuple(options))))
    return found


def host_sources(etc_apt: str = "/etc/apt") -> list[Source]:
    """Every ``deb`` source the host's apt reads."""
    files = [os.path.join(etc_apt, "sources.list")]
    parts = os.path.join(etc_apt, "sources.list.d")
    if os.path.isdir(parts):
        files += [os.path.join(parts, name) for name in sorted(os.listdir(parts)) if name.endswith((".list", ".sources"))]
    found = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise ConductorError(f"apt sources {path} cannot be read: {exc}") from exc
        found += parse_deb822(text) if path.endswith(".sources") else parse_one_line(text)
    return found


def security_sources(given: list[str] | None = None, etc_apt: str = "/etc/apt") -> list[Source]:
    """The security origins: the lines given (each must be one), else the host's sources whose suite ends in -security."""
    if given:
        sources = [source for line in given for source in parse_one_line(line)]
        if len(sources) != len(given):
            raise ConductorError("security_sources: each entry must be one 'deb [options] URI SUITE [COMPONENT...]' line")
        return sources
    found = [source for source in host_sources(etc_apt) if source.security]
    if not found:
        raise ConductorError(f"no security origin among the apt sources under {etc_apt} (no suite ending in -security): "
                             "which updates are security updates is unknown; name them with security_sources")
    return found


class Apt:
    """apt-get with the security sources alone and a private lists directory; ``root`` moves every apt path under a
    directory (apt's own ``Dir`` option), for tests that must not touch the host."""

    def __init__(self, sources: list[Source], workdir: str, root: str = "/", timeout: float = 900):
        self.workdir, self.timeout = workdir, timeout
        listfile = os.path.join(workdir, "security.list")
        with open(listfile, "w", encoding="utf-8") as handle:
            handle.writelines(source.line() for source in sources)
        for name in ("lists/partial", "parts", "archives/partial"):
            os.makedirs(os.path.join(workdir, name), exist_ok=True)
        self.options = ["-o", f"Dir={root}", "-o", f"Dir::Etc::SourceList={listfile}",
                        "-o", f"Dir::Etc::SourceParts={os.path.join(workdir, 'parts')}",
                        "-o", f"Dir::State::Lists={os.path.join(workdir, 'lists')}",
                        # the binary caches apt builds from the lists: the host's own stay as its full sources made them
                        "-o", f"Dir::Cache::pkgcache={os.path.join(workdir, 'pkgcache.bin')}",
                        "-o", f"Dir::Cache::srcpkgcache={os.path.join(workdir, 'srcpkgcache.bin')}",
                        "-o", "APT::Get::List-Cleanup=false"]

    def run(self, args: list[str], archives: bool = False) -> str:
        options = list(self.options)
        if not archives:  # a simulation keeps its downloads out of the host's cache
            options += ["-o", f"Dir::Cache::Archives={os.path.join(self.workdir, 'archives')}"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
        try:
            done = subprocess.run(["apt-get", *options, *args], capture_output=True, text=True, env=env, timeout=self.timeout, check=False)
        except FileNotFoundError as exc:
            raise ConductorError("apt-get was not found on this host: only apt hosts are supported") from exc
        except subprocess.TimeoutExpired as exc:
            raise ConductorError(f"apt-get {args[0]} did not finish within {self.timeout:.0f} s") from exc
        if done.returncode != 0:
            raise ConductorError(f"apt-get {' '.join(args[:2])} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")
        return done.stdout

    def update(self) -> None:
        self.run(["-q", "update"])

    def pending(self) -> list[Pending]:
        out = self.run(["-q", "-s", "upgrade"])
        return [Pending(name.split(":")[0], installed, candidate) for name, installed, candidate in _INST_RE.findall(out)]

    def apply(self, packages: list[Pending]) -> str:
        for item in packages:
            if not _PACKAGE_RE.fullmatch(item.package):
                raise ConductorError(f"package name {item.package!r} is invalid")
        pinned = [f"{item.package}={item.candidate}" for item in packages]
        return self.run(["-q", "-y", "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef",
                         "install", "--only-upgrade", "--no-install-recommends", *pinned], archives=True)


def track(state_file: str, pending: list[Pending], now: float, check_mode: bool = False) -> float:
    """Fills each package's ``since`` from the state file (now for one first seen), rewrites the file to hold only what is
    pending, and returns the oldest pending age in seconds."""
    try:
        with open(state_file, encoding="utf-8") as handle:
            seen = json.load(handle)
        if not isinstance(seen, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        seen = {}
    except (OSError, ValueError) as exc:
        raise ConductorError(f"the pending-updates record {state_file} cannot be read ({exc}): move it aside") from exc
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    kept = {}
    for item in pending:
        first = seen.get(item.package)
        item.since = first if isinstance(first, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z", first) else stamp
        kept[item.package] = item.since
    if kept != seen and not check_mode:
        os.makedirs(os.path.dirname(os.path.abspath(state_file)), mode=0o755, exist_ok=True)
        atomic_write(state_file, json.dumps(kept, sort_keys=True).encode(), mode=0o644)
    ages = [now - calendar.timegm(time.strptime(item.since, "%Y-%m-%dT%H:%M:%SZ")) for item in pending]
    return max(ages, default=0.0)


def inspect(sources: list[Source], state_file: str, root: str = "/", check_mode: bool = False, now: float | None = None) -> Inspection:
    """What the security sources would upgrade now, since when each has waited, and whether a reboot is required."""
    now = time.time() if now is None else now
    with tempfile.TemporaryDirectory(prefix="maestro-apt-") as workdir:
        apt = Apt(sources, workdir, root)
        apt.update()
        pending = apt.pending()
    result = Inspection(pending=pending, sources=[source.line().strip() for source in sources])
    result.oldest_pending_seconds = round(track(state_file, pending, now, check_mode), 3)
    result.reboot_required = os.path.exists(os.path.join(root, REBOOT_REQUIRED.lstrip("/")))
    return result
