# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving traffic between colours: nginx (upstream include + test + reload) and HAProxy (runtime API).

Every flip is confirmed through the proxy itself: the expected commit must
answer there. When any step fails, the previous state is put back.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils import _http
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write

COLOURS = ("blue", "green")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ADDR_RE = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}$|^unix:/[A-Za-z0-9_./-]{1,200}$")
_HEADER_RE = re.compile(r"^# maestro.conductor proxy_flip: colour=(\w+)", re.M)


def validate_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ConductorError(f"{what} {value!r} is invalid: expected 1-64 letters, digits, '_', '.' or '-'")
    return value


def validate_colour(colour: str) -> str:
    if colour not in COLOURS:
        raise ConductorError(f"colour {colour!r} is invalid: expected blue or green")
    return colour


@dataclass
class FlipResult:
    changed: bool
    colour: str
    previous_colour: str
    diff: dict = field(default_factory=dict)
    confirmed: bool = False
    confirmation: str = ""
    rolled_back: bool = False
    seconds: float = 0.0


def _children(pid: int) -> set[int]:
    """Child process ids of ``pid``, from /proc."""
    children = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    stat = handle.read()
            except OSError:
                continue
            # the parent pid is the second field after the parenthesised command name
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.add(int(entry))
    return children


def _accepting(pid: int) -> bool:
    """Whether an nginx worker may still accept connections (it has not begun its graceful exit)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"shutting down" not in handle.read()
    except OSError:
        return False


def _confirm_or_undo(result: FlipResult, url: str, commit: str, timeout: float, undo, undone: str) -> FlipResult:
    """Confirm through the proxy that ``commit`` answers; if it does not, undo a change and fail."""
    if not url:
        return result
    confirmation = _http.wait_for_commit(url, commit, timeout)
    result.confirmed, result.confirmation = confirmation.ok, confirmation.describe(url, commit)
    if not confirmation.ok:
        if result.changed:
            undo()
            result.rolled_back = True
        raise ConductorError(f"flip to {result.colour} not confirmed: {result.confirmation}" + (f"; {undone}" if result.rolled_back else ""))
    return result


# --- nginx -----------------------------------------------------------------------------------------


@dataclass
class Nginx:
    """An nginx whose config includes ``include_path``, which holds the upstream block we manage."""

    include_path: str
    upstream: str
    config: str
    binary: str = "nginx"

    def render(self, colour: str, servers: list[str], tag: str) -> str:
        lines = [f"# maestro.conductor proxy_flip: colour={colour} tag={tag or '-'}",
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

    def reload(self, timeout: float = 15.0) -> None:
        """Reload and return once the master runs workers with the new configuration.

        `nginx -s reload` only sends a signal; new workers appear once the master
        has loaded the configuration, so they are what we wait for.
        """
        master = self._master_pid()
        before = _children(master)
        done = self._run("-s", "reload")
        if done.returncode != 0:
            raise ConductorError(f"nginx -s reload failed: {(done.stderr or done.stdout).strip()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = _children(master)
            # new workers run the new configuration; old ones close their listeners before they
            # retitle themselves "shutting down", and until then they may still take a connection
            if now - before and all(not _accepting(pid) for pid in before & now):
                return
            time.sleep(0.02)
        raise ConductorError(f"nginx (master {master}) did not switch its workers to the new configuration within {timeout:.0f}s: "
                             "see its error log")

    def put_back(self, previous: str | None) -> None:
        if previous is None:
            os.unlink(self.include_path)
        else:
            atomic_write(self.include_path, previous.encode("utf-8"))
        if not self.test():
            self.reload()


def flip_nginx(proxy: Nginx, colour: str, servers: list[str], tag: str = "", confirm_url: str = "", commit: str = "",
               confirm_timeout: float = 30.0, check_mode: bool = False) -> FlipResult:
    validate_colour(colour)
    validate_name(proxy.upstream, "upstream name")
    if not servers or any(not _ADDR_RE.match(s) for s in servers):
        raise ConductorError(f"servers {servers!r} are invalid: expected host:port or unix:/path entries")
    wanted = proxy.render(colour, servers, tag)
    previous, previous_colour = proxy.current()
    result = FlipResult(changed=previous != wanted, colour=colour, previous_colour=previous_colour,
                        diff={"before": previous or "", "after": wanted, "before_header": proxy.include_path,
                              "after_header": proxy.include_path})
    if check_mode:
        return result
    if result.changed:
        atomic_write(proxy.include_path, wanted.encode("utf-8"))
        problem = proxy.test()
        if problem:
            proxy.put_back(previous)
            raise ConductorError(f"nginx -t rejected the configuration with the {colour} upstream, previous file put back: {problem}")
        try:
            proxy.reload()
        except ConductorError as exc:
            proxy.put_back(previous)
            raise ConductorError(f"{exc}; previous upstream file put back") from exc
    return _confirm_or_undo(result, confirm_url, commit, confirm_timeout, lambda: proxy.put_back(previous),
                            "traffic put back on the previous upstream")


# --- HAProxy ---------------------------------------------------------------------------------------


@dataclass
class HAProxy:
    """An HAProxy whose backend has one server per colour, switched through the runtime API (no reload)."""

    socket_path: str
    backend: str
    timeout: float = 5.0

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.socket_path)
                sock.sendall(line.encode("ascii") + b"\n")
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            except OSError as exc:
                raise ConductorError(f"HAProxy runtime API at {self.socket_path} did not answer {line.split()[0]!r}: {exc}") from exc
        return b"".join(chunks).decode("utf-8", "replace")

    def states(self) -> dict[str, str]:
        """Each server of the backend with 'ready', 'maint' or 'drain'."""
        out = self.command(f"show servers state {self.backend}")
        lines = [line for line in out.splitlines() if line and not line.startswith("#") and line.strip() != "1"]
        if not lines and ("No such backend" in out or "Can't find" in out or out.strip().startswith("Unknown")):
            raise ConductorError(f"HAProxy has no backend {self.backend}: {out.strip()}")
        states = {}
        for line in lines:
            fields = line.split()
            if len(fields) < 7:
                continue
            # srv_admin_state: HAProxy's maintenance mask is 0x23 (forced, inherited, DNS); 0x04 (disabled in
            # the config) stays set after "state ready", so it alone is no maintenance; drain is 0x18
            admin = int(fields[6])
            states[fields[3]] = "maint" if admin & 0x23 else ("drain" if admin & 0x18 else "ready")
        if not states:
            raise ConductorError(f"HAProxy backend {self.backend} has no servers, or the runtime API said: {out.strip()[:200]}")
        return states

    def live_colour(self) -> str:
        ready = [server for server, state in self.states().items() if state == "ready" and server in COLOURS]
        return ready[0] if len(ready) == 1 else ""

    def set_states(self, wanted: dict[str, str]) -> None:
        # bring the target up before taking the others down, so no moment has no server
        for server, state in sorted(wanted.items(), key=lambda item: item[1] != "ready"):
            out = self.command(f"set server {self.backend}/{server} state {state}").strip()
            if out:
                raise ConductorError(f"HAProxy refused 'set server {self.backend}/{server} state {state}': {out}")


def flip_haproxy(proxy: HAProxy, colour: str, confirm_url: str = "", commit: str = "", confirm_timeout: float = 30.0,
                 check_mode: bool = False) -> FlipResult:
    validate_colour(colour)
    validate_name(proxy.backend, "backend name")
    before = proxy.states()
    if colour not in before:
        raise ConductorError(f"HAProxy backend {proxy.backend} has no server named {colour} (servers: {', '.join(sorted(before))})")
    wanted = {server: ("ready" if server == colour else "maint") for server in before}
    live = [server for server, state in before.items() if state == "ready"]
    result = FlipResult(changed=before != wanted, colour=colour, previous_colour=live[0] if len(live) == 1 else "",
                        diff={"before": "".join(f"{s} {before[s]}\n" for s in sorted(before)),
                              "after": "".join(f"{s} {wanted[s]}\n" for s in sorted(wanted)),
                              "before_header": f"{proxy.backend} server states", "after_header": f"{proxy.backend} server states"})
    if check_mode:
        return result
    if result.changed:
        try:
            proxy.set_states(wanted)
        except ConductorError:
            proxy.set_states(before)
            raise
    return _confirm_or_undo(result, confirm_url, commit, confirm_timeout, lambda: proxy.set_states(before),
                            "servers put back as they were")
