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
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write
from ansible_collections.maestro.conductor.plugins.module_utils._urls import scrub, strip_credentials

REBOOT_REQUIRED = "/var/run/reboot-required"
_SUITE_RE = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._/-]{0,99}|\./?)")
_URI_RE = re.compile(r"(?:https?|file|cdrom|copy|mirror\+https?|mirror\+file|tor\+https?)://?(?:\[[0-9A-Fa-f:.]+\])?[^\s\[\]]{0,1000}")
_WORD_RE = re.compile(r"[^\s\[\]]{1,500}")
_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,199}(?::[a-z0-9-]{1,30})?")
_VERSION_RE = re.compile(r"[A-Za-z0-9.+~:-]{1,200}")
# apt-get -s: "Inst libssl3 [3.0.11-1~deb12u1] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])"; a package
# new to the host (a kernel's ABI package) has no [installed] part and is installed with what needs it
_INST_RE = re.compile(r"^Inst (\S+) \[([^\]]+)\] \((\S+) ", re.MULTILINE)
_REMOVE_RE = re.compile(r"^Remv (\S+)", re.MULTILINE)
_FAILED_RE = re.compile(r"^(?:[WE]: Failed to fetch|E: Some index files failed to download|E: )", re.MULTILINE)
# one-line options and the deb822 fields they are (the rest are refused: which would mean what is unknown)
_OPTION_FIELDS = {"signed-by": "Signed-By", "trusted": "Trusted", "arch": "Architectures", "check-valid-until": "Check-Valid-Until",
                  "lang": "Languages", "target": "Targets", "by-hash": "By-Hash", "allow-insecure": "Allow-Insecure"}
_DISABLED = ("no", "false", "off", "0")


@dataclass(frozen=True)
class Source:
    """One apt source: a URI and a suite, with its components and the deb822 fields that go with them."""

    uri: str
    suite: str
    components: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()  # (Signed-By, /usr/share/keyrings/...), as deb822 names them

    @property
    def security(self) -> bool:
        return self.suite.rstrip("/").endswith("-security")

    def shown(self) -> str:
        """The source as people read it, without any credential its URI carries."""
        return f"{strip_credentials(self.uri)} {self.suite} {' '.join(self.components)}".strip()

    def stanza(self) -> str:
        """The deb822 stanza apt reads (an inline Signed-By key kept as its continuation lines)."""
        lines = ["Types: deb", f"URIs: {self.uri}", f"Suites: {self.suite}"]
        if self.components:
            lines.append(f"Components: {' '.join(self.components)}")
        for name, value in self.fields:
            first, *rest = value.split("\n")
            lines.append(f"{name}: {first}")
            lines += [f" {line}" if line.strip() else " ." for line in rest]
        return "\n".join(lines) + "\n"


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
    removals: list[str] = field(default_factory=list)  # what applying them would remove: refused


def _check_source(source: Source) -> Source:
    shown = strip_credentials(source.uri)
    if not _URI_RE.fullmatch(source.uri):
        raise ConductorError(f"apt source URI {shown!r} is invalid: expected an http(s):// or file: URI without spaces")
    if not _SUITE_RE.fullmatch(source.suite) or ".." in source.suite:
        raise ConductorError(f"apt source suite {source.suite!r} of {shown} is invalid: expected a suite name such as "
                             "bookworm-security, or ./")
    for part in source.components:
        if not _WORD_RE.fullmatch(part):
            raise ConductorError(f"apt source component {part!r} of {shown} is invalid: expected one word")
    for name, value in source.fields:
        if name not in _OPTION_FIELDS.values() or any(ch in value for ch in "\r\0") or (
                name != "Signed-By" and not _WORD_RE.fullmatch(value.replace(" ", ""))):
            raise ConductorError(f"apt source field {name} of {shown} is invalid")
    return source


def parse_one_line(text: str) -> list[Source]:
    """The ``deb`` lines of a one-line sources file (``deb-src`` and comments skipped); unchecked."""
    found = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb ") and not line.startswith("deb\t"):
            continue
        rest = line[3:].strip()
        fields = []
        if rest.startswith("["):
            inside, _sep, rest = rest[1:].partition("]")
            for option in inside.split():
                name, sep, value = option.partition("=")
                if not sep or name.rstrip("+-") not in _OPTION_FIELDS:
                    raise ConductorError(f"apt source option {option!r} is not one this reads: expected one of "
                                         f"{', '.join(sorted(_OPTION_FIELDS))} as name=value")
                fields.append((_OPTION_FIELDS[name.rstrip("+-")], value.replace(",", " ")))
        words = rest.split()
        if len(words) >= 2:
            found.append(Source(words[0], words[1], tuple(words[2:]), tuple(fields)))
    return found


def parse_deb822(text: str) -> list[Source]:
    """The ``deb`` entries of a deb822 sources file, one source per URI and suite of each enabled stanza; unchecked."""
    found = []
    for stanza in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        names: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:  # a continuation line (an inline key's, among others)
                fields[key] += "\n" + raw.strip()
                continue
            name, _sep, value = raw.partition(":")
            key = name.strip().lower()
            names[key] = name.strip()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").strip().lower() in _DISABLED:
            continue
        kept = tuple((name, fields[name.lower()]) for name in _OPTION_FIELDS.values() if fields.get(name.lower()))
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                found.append(Source(uri, suite, tuple(fields.get("components", "").split()), kept))
    return found


def host_sources(etc_apt: str = "/etc/apt") -> list[Source]:
    """Every ``deb`` source the host's apt reads (unchecked: only the security origins are checked and used)."""
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
        try:
            found += parse_deb822(text) if path.endswith(".sources") else parse_one_line(text)
        except ConductorError as exc:
            raise ConductorError(f"apt sources {path}: {exc}") from exc
    return found


def security_sources(given: list[str] | None = None, etc_apt: str = "/etc/apt") -> list[Source]:
    """The security origins: the lines given (each must be one), else the host's sources whose suite ends in -security."""
    if given:
        sources = [source for line in given for source in parse_one_line(line)]
        if len(sources) != len(given):
            raise ConductorError("security_sources: each entry must be one 'deb [options] URI SUITE [COMPONENT...]' line")
        return [_check_source(source) for source in sources]
    found = [_check_source(source) for source in host_sources(etc_apt) if source.security]
    if not found:
        raise ConductorError(f"no security origin among the apt sources under {etc_apt} (no suite ending in -security): "
                             "which updates are security updates is unknown; name them with security_sources")
    return found


def secrets_of(lines: list[str]) -> list[str]:
    """The passwords in the URIs of source lines: masked wherever a result or message could show them."""
    found = []
    for line in lines or []:
        for match in re.finditer(r"://[^/\s:@]*:([^@/\s]+)@", line):
            found.append(match.group(1))
    return found


class Apt:
    """apt-get with the security sources alone (a deb822 file of its own), private package lists and caches, and none of the
    host's update hooks; ``root`` moves every apt path under a directory (apt's own ``Dir``), for tests."""

    def __init__(self, sources: list[Source], workdir: str, root: str = "/", timeout: float = 900):
        self.workdir, self.timeout = workdir, timeout
        for name in ("lists/partial", "parts", "archives/partial"):
            os.makedirs(os.path.join(workdir, name), mode=0o700, exist_ok=True)
        with open(os.path.join(workdir, "parts", "security.sources"), "w", encoding="utf-8") as handle:
            handle.write("\n".join(source.stanza() for source in sources))
        empty = os.path.join(workdir, "empty.list")
        open(empty, "w", encoding="utf-8").close()
        # read after the host's apt.conf.d: its update hooks (appstream, command-not-found, ...) do not run for this
        main = os.path.join(workdir, "apt.conf")
        with open(main, "w", encoding="utf-8") as handle:
            handle.write("#clear APT::Update::Pre-Invoke;\n#clear APT::Update::Post-Invoke;\n#clear APT::Update::Post-Invoke-Success;\n")
        self.options = ["-o", f"Dir={root}", "-o", f"Dir::Etc::main={main}", "-o", f"Dir::Etc::SourceList={empty}",
                        "-o", f"Dir::Etc::SourceParts={os.path.join(workdir, 'parts')}",
                        "-o", f"Dir::State::Lists={os.path.join(workdir, 'lists')}",
                        # the binary caches apt builds from the lists: the host's own stay as its full sources made them
                        "-o", f"Dir::Cache::pkgcache={os.path.join(workdir, 'pkgcache.bin')}",
                        "-o", f"Dir::Cache::srcpkgcache={os.path.join(workdir, 'srcpkgcache.bin')}",
                        "-o", "APT::Get::List-Cleanup=false", "-o", "APT::Update::Error-Mode=any"]

    def run(self, args: list[str], archives: bool = False) -> str:
        options = list(self.options)
        if not archives:  # a simulation keeps its downloads out of the host's cache
            options += ["-o", f"Dir::Cache::Archives={os.path.join(self.workdir, 'archives')}"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
        env.pop("APT_CONFIG", None)
        try:
            done = subprocess.run(["apt-get", *options, *args], capture_output=True, text=True, env=env, timeout=self.timeout, check=False)
        except FileNotFoundError as exc:
            raise ConductorError("apt-get was not found on this host: only apt hosts are supported") from exc
        except subprocess.TimeoutExpired as exc:
            raise ConductorError(f"apt-get {args[0]} did not finish within {self.timeout:.0f} s") from exc
        said = (done.stderr or "") + (done.stdout if done.returncode else "")
        # apt-get update exits 0 when an index could not be fetched; an empty private list then looks like nothing pending
        if done.returncode != 0 or _FAILED_RE.search(done.stderr or ""):
            raise ConductorError(f"apt-get {' '.join(args[:2])} failed (exit {done.returncode}): {scrub(said.strip())[-800:]}")
        return done.stdout

    def update(self) -> None:
        self.run(["-q", "update"])

    def simulate(self) -> tuple[list[Pending], list[str]]:
        """What the security sources would upgrade, kept-back updates included (a kernel's new ABI package, a changed
        dependency), and what doing so would remove."""
        out = self.run(["-q", "-s", "dist-upgrade"])
        pending = [Pending(name, installed, candidate) for name, installed, candidate in _INST_RE.findall(out)]
        for item in pending:
            if not _PACKAGE_RE.fullmatch(item.package) or not _VERSION_RE.fullmatch(item.candidate):
                raise ConductorError(f"apt-get named a package it would upgrade as {item.package!r} {item.candidate!r}: not read")
        return pending, _REMOVE_RE.findall(out)

    def apply(self, packages: list[Pending]) -> str:
        pinned = [f"{item.package}={item.candidate}" for item in packages]
        return self.run(["-q", "-y", "--no-remove", "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef",
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
        item.since = stamp
        first = seen.get(item.package)
        try:
            if isinstance(first, str) and calendar.timegm(time.strptime(first, "%Y-%m-%dT%H:%M:%SZ")) <= now:
                item.since = first  # a time to come, or no time at all, is not kept: the package counts from now
        except ValueError:
            pass
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
        pending, removals = apt.simulate()
    result = Inspection(pending=pending, sources=[source.shown() for source in sources], removals=removals)
    result.oldest_pending_seconds = round(track(state_file, pending, now, check_mode), 3)
    result.reboot_required = os.path.exists(os.path.join(root, REBOOT_REQUIRED.lstrip("/")))
    return result
