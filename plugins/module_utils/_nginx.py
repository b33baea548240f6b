# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx: the upstream block of a colour in an include file we own, ``nginx -t``, a reload that waits for
the new workers, and what nginx has really loaded."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Callable

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_tag_name
from ansible_collections.maestro.conductor.plugins.module_utils._proxy import (
    FlipResult, Observation, addresses, colour_of_servers, confirm_or_undo, fit, other, validate_colour, validate_name, validate_servers)

# start times are whole clock ticks (10 ms) and boot time is known to 10 ms: a file this much newer still counts as loaded
_TICK_SLACK = 0.02
# beside the include: the sha256 of the include nginx last loaded through proxy_flip (not a .conf: no glob includes it)
LOADED_SUFFIX = ".maestro-loaded"
_HEADER_RE = re.compile(r"^# maestro.conductor proxy_flip: colour=(\w+)", re.M)
# the rest of the header: the tag the colour runs, and the servers of the colour drained (proxy_drain) when any are
_HEADER_TAG_RE = re.compile(r"^# maestro.conductor proxy_flip: colour=\w+ tag=(\S+)", re.M)
_HEADER_DRAINED_RE = re.compile(r"^# maestro.conductor proxy_flip: colour=\w+ tag=\S+ drained=(\S+)", re.M)
_SERVER_RE = re.compile(r"\bserver\s+([^\s;]+)")


def _children(pid: int) -> list[tuple[int, int]]:
    """Child processes of ``pid`` with their start times (clock ticks since boot), from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    stat = handle.read()
            except OSError:
                continue
            # the fields after the parenthesised command name: state, ppid, ... starttime is the 20th
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children.append((int(entry), int(fields[19])))
    return children


def _accepting(pid: int) -> bool:
    """Whether an nginx worker may still accept connections (it has not begun its graceful exit)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"shutting down" not in handle.read()
    except OSError:
        return False


def _boot_time() -> float:
    """When this machine booted, in the clock of file times (to the 10 ms of /proc/uptime)."""
    with open("/proc/uptime", encoding="ascii") as handle:
        return time.time() - float(handle.read().split()[0])


@dataclass
class Nginx:
    """An nginx whose config includes ``include_path``, which holds the upstream block we manage."""

    include_path: str
    upstream: str
    config: str
    binary: str = "nginx"

    def render(self, colour: str, servers: list[str], tag: str, drained: list[str] | None = None) -> str:
        """The include for ``colour``; every value in it is checked first, so that none can add configuration. ``drained``:
        servers of the colour left out on purpose (named in the header, so that a reader knows they are out of rotation)."""
        validate_colour(colour)
        validate_name(self.upstream, "upstream name")
        validate_servers(servers)
        if drained:
            validate_servers(drained, "drained servers")
        if tag:
            validate_tag_name(tag)
        lines = [f"# maestro.conductor proxy_flip: colour={colour} tag={tag or '-'}" + (f" drained={','.join(drained)}" if drained else ""),
                 "# Managed file: maestro.conductor.proxy_flip rewrites it on every flip.",
                 f"upstream {self.upstream} {{"]
        lines += [f"    server {server};" for server in servers]
        lines += ["    keepalive 16;", "}", ""]
        return "\n".join(lines)

    def current(self) -> tuple[str | None, str]:
        try:
            with open(self.include_path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return None, ""
        found = _HEADER_RE.search(text)
        return text, found.group(1) if found else ""

    def live_colour(self) -> str:
        return self.current()[1]

    def header(self) -> tuple[str, str, list[str]]:
        """The colour, tag ('' for none) and drained servers the include's header names."""
        text, colour = self.current()
        tag = _HEADER_TAG_RE.search(text or "")
        drained = _HEADER_DRAINED_RE.search(text or "")
        return colour, (tag.group(1) if tag and tag.group(1) != "-" else ""), (drained.group(1).split(",") if drained else [])

    def listed(self) -> list[str]:
        """The servers the include sends traffic to."""
        return _SERVER_RE.findall(self.current()[0] or "")

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        binary = shutil.which(self.binary) or self.binary
        try:
            return subprocess.run([binary, "-c", self.config, *args], capture_output=True, text=True, timeout=60, check=False)
        except FileNotFoundError as exc:
            raise ConductorError(f"nginx binary {self.binary} was not found") from exc

    def test(self) -> str:
        """'' when `nginx -t` accepts the configuration, else what it said."""
        done = self._run("-t", "-q")
        return "" if done.returncode == 0 else (done.stderr or done.stdout).strip()

    def _master_pid(self) -> int:
        dump = self._run("-T", "-q").stdout
        found = re.search(r"^\s*pid\s+([^;\s]+)\s*;", dump, re.M)
        if found:
            pid_file = found.group(1)
        else:
            compiled = re.search(r"--pid-path=(\S+)", self._run("-V").stderr)
            pid_file = compiled.group(1) if compiled else "/run/nginx.pid"
        try:
            with open(pid_file, encoding="ascii") as handle:
                return int(handle.read().strip())
        except (OSError, ValueError) as exc:
            raise ConductorError(f"nginx is not running (no master pid in {pid_file}): start it before flipping traffic") from exc

    def old_workers(self) -> list[int] | None:
        """Workers of an earlier configuration still finishing their requests ("shutting down"); None when they cannot be read."""
        try:
            return [pid for pid, _started in _children(self._master_pid()) if not _accepting(pid)]
        except (ConductorError, OSError, ValueError):
            return None

    def loaded_since(self) -> float | None:
        """When nginx last loaded its configuration (its newest accepting worker started), or None when unknown."""
        try:
            workers = [started for pid, started in _children(self._master_pid()) if _accepting(pid)]
            return _boot_time() + max(workers) / os.sysconf("SC_CLK_TCK") if workers else None
        except (ConductorError, OSError, ValueError):
            return None

    def observe(self, colour_servers: dict[str, list[str]]) -> Observation:
        """What the include claims, whether nginx loaded it, and whether its servers are exactly one colour's app hosts."""
        text, header = self.current()
        servers = _SERVER_RE.findall(text or "")
        observation = Observation(config_colour=header, config_source="header" if header else "", config_servers={header or "listed": servers})
        by_servers = colour_of_servers(servers, colour_servers) if servers else ""
        others = [s for s in servers if header and any(s in addresses(o) or addresses(s) & addresses(o)
                                                       for o in colour_servers.get(other(header), []))]
        if others:
            observation.config_problem = (f"nginx include {self.include_path} says {header} but lists {other(header)}'s servers "
                                          f"({', '.join(others)})")
        elif not header and by_servers:
            observation.config_colour, observation.config_source = by_servers, "servers"  # an include written by hand
        observation.config_drained = self.header()[2] if header and not others else []
        if observation.config_colour:
            observation.config_exact, observation.config_unknown = fit(servers + observation.config_drained, observation.config_colour,
                                                                       colour_servers)
        elif servers and colour_servers:
            observation.config_unknown = [s for s in servers if all(fit([s], c, colour_servers)[1] for c in colour_servers)]
        observation.config_loaded = self.loaded(text)
        return observation

    def loaded(self, text: str | None) -> bool | None:
        """Whether nginx runs the include as it is: the record proxy_flip writes after each reload says which content it
        loaded; without one, whether the file is older than nginx's newest worker (None when that cannot be told)."""
        if text is None:
            return None
        try:
            with open(self.include_path + LOADED_SUFFIX, encoding="ascii") as handle:
                return handle.read().strip() == hashlib.sha256(text.encode("utf-8")).hexdigest()
        except OSError:
            pass
        since = self.loaded_since()
        return None if since is None else os.stat(self.include_path).st_mtime <= since + _TICK_SLACK

    def note_loaded(self) -> None:
        """Record which include content nginx now runs (after a reload that took)."""
        text = self.current()[0]
        if text is not None:
            atomic_write(self.include_path + LOADED_SUFFIX, (hashlib.sha256(text.encode("utf-8")).hexdigest() + "\n").encode("ascii"))

    def reload(self, timeout: float = 15.0) -> None:
        """Reload and return once the master runs workers with the new configuration.

        `nginx -s reload` only sends a signal; new workers appear once the master
        has loaded the configuration, so they are what we wait for.
        """
        master = self._master_pid()
        before = {pid for pid, _started in _children(master)}
        done = self._run("-s", "reload")
        if done.returncode != 0:
            raise ConductorError(f"nginx -s reload failed: {(done.stderr or done.stdout).strip()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = {pid for pid, _started in _children(master)}
            # new workers run the new configuration; old ones close their listeners before they
            # retitle themselves "shutting down", and until then they may still take a connection
            if now - before and all(not _accepting(pid) for pid in before & now):
                self.note_loaded()
                return
            time.sleep(0.02)
        raise ConductorError(f"nginx (master {master}) did not switch its workers to the new configuration within {timeout:.0f}s: "
                             "see its error log")

    def put_back(self, previous: str | None, reload: bool = True) -> None:
        """Put the previous include back; reload only when nginx had loaded it (else what it runs is not in any file)."""
        if previous is None:
            os.unlink(self.include_path)
        else:
            atomic_write(self.include_path, previous.encode("utf-8"))
        if reload and not self.test():
            self.reload()


def flip_nginx(proxy: Nginx, colour: str, servers: list[str], tag: str = "", confirm_url: str = "", commit: str = "",
               confirm_timeout: float = 30.0, check_mode: bool = False, fence: Callable[[], object] | None = None,
               drained: list[str] | None = None, what: str = "") -> FlipResult:
    """Flip ``proxy`` to ``colour``; ``fence`` is called right before the first change (it raises when the run may not
    change anything any more); ``drained``: servers of the colour left out of ``servers`` on purpose (proxy_drain)."""
    wanted = proxy.render(colour, servers, tag, drained)
    previous, previous_colour = proxy.current()
    # a file nginx never loaded (a run died between writing and reloading): reload it even when it already says
    # so, and never reload it again to undo
    unloaded = proxy.loaded(previous) is False
    result = FlipResult(changed=previous != wanted or unloaded, colour=colour, previous_colour=previous_colour,
                        diff={"before": previous or "", "after": wanted, "before_header": proxy.include_path,
                              "after_header": proxy.include_path})
    if check_mode:
        return result
    if result.changed:
        if fence is not None:
            fence()
        if previous != wanted:
            atomic_write(proxy.include_path, wanted.encode("utf-8"))
        problem = proxy.test()
        if problem:
            proxy.put_back(previous, reload=False)
            raise ConductorError(f"nginx -t rejected the configuration with the {colour} upstream, previous file put back: {problem}")
        try:
            proxy.reload()
        except ConductorError as exc:
            proxy.put_back(previous, reload=not unloaded)
            raise ConductorError(f"{exc}; previous upstream file put back") from exc
    return confirm_or_undo(result, confirm_url, commit, confirm_timeout, lambda: proxy.put_back(previous, reload=not unloaded),
                           "the previous upstream file put back" + ("" if unloaded else " and traffic with it"), what)
