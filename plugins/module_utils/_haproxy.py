# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy: a backend whose servers are named after their colour (``blue``, or ``blue-app1``, ``blue_2`` for a
fleet), switched through the runtime API with no reload. The server states are the truth of what it runs."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Callable

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._proxy import (
    COLOURS, FlipResult, Observation, confirm_or_undo, fit, validate_colour, validate_name, validate_servers)

_COMMAND_RE = re.compile(r"[ -:<-~]{1,512}", re.ASCII)
_SERVER_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,128}", re.ASCII)


def server_colour(name: str) -> str:
    """The colour a server belongs to by its name: ``blue``, ``blue-...`` or ``blue_...`` ('' for none)."""
    for colour in COLOURS:
        if name == colour or name.startswith((colour + "-", colour + "_")):
            return colour
    return ""


@dataclass
class Server:
    name: str
    address: str
    state: str  # ready, maint or drain

    @property
    def colour(self) -> str:
        return server_colour(self.name)


@dataclass
class HAProxy:
    """An HAProxy whose backend has servers per colour, switched through the runtime API (no reload)."""

    socket_path: str
    backend: str
    timeout: float = 5.0

    def command(self, line: str) -> str:
        # one command: ';' would chain another, a newline end this one; the names in it were checked on their own
        if not _COMMAND_RE.fullmatch(line):
            raise ConductorError(f"HAProxy runtime API command {line!r} is invalid: expected printable ASCII without ';'")
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

    def servers(self) -> list[Server]:
        """The backend's servers with their addresses and 'ready', 'maint' or 'drain'."""
        out = self.command(f"show servers state {self.backend}")
        lines = [line for line in out.splitlines() if line and not line.startswith("#") and line.strip() != "1"]
        if not lines and ("No such backend" in out or "Can't find" in out or out.strip().startswith("Unknown")):
            raise ConductorError(f"HAProxy has no backend {self.backend}: {out.strip()}")
        servers = []
        for line in lines:
            fields = line.split()
            if len(fields) < 19:
                continue
            # srv_admin_state: HAProxy's maintenance mask is 0x23 (forced, inherited, DNS); 0x04 (disabled in
            # the config) stays set after "state ready", so it alone is no maintenance; drain is 0x18
            admin = int(fields[6])
            state = "maint" if admin & 0x23 else ("drain" if admin & 0x18 else "ready")
            # a name from the proxy goes back into runtime API commands: checked as our own values are
            if not _SERVER_NAME_RE.fullmatch(fields[3]):
                raise ConductorError(f"HAProxy backend {self.backend} has a server named {fields[3]!r}: expected letters, digits, "
                                     "'_', '.', ':' or '-' (as HAProxy allows), to name it in runtime API commands")
            servers.append(Server(fields[3], f"{fields[4]}:{fields[18]}", state))
        if not servers:
            raise ConductorError(f"HAProxy backend {self.backend} has no servers, or the runtime API said: {out.strip()[:200]}")
        return servers

    def sessions(self) -> dict[str, int]:
        """Each server's current sessions (``show stat``'s scur), to tell when a drained server has finished its requests."""
        rows = [line.split(",") for line in self.command("show stat").splitlines() if line and not line.startswith("#")]
        found = {row[1]: int(row[4]) for row in rows if len(row) > 4 and row[0] == self.backend and row[1] not in ("FRONTEND", "BACKEND")
                 and row[4].isdigit()}
        if not found:
            raise ConductorError(f"HAProxy's 'show stat' has no server of backend {self.backend}")
        return found

    def states(self) -> dict[str, str]:
        return {server.name: server.state for server in self.servers()}

    def observe(self, colour_servers: dict[str, list[str]] | None = None) -> Observation:
        """The colour whose servers are all ready while every other server is in maintenance, and whether they are
        exactly that colour's app hosts."""
        servers = self.servers()
        observation = Observation(config_servers={colour: sorted(s.address for s in servers if s.colour == colour) for colour in COLOURS})
        ready = {s.colour for s in servers if s.state == "ready"}
        # servers of the live colour drained or in maintenance while the rest of it serves: out of rotation (proxy_drain)
        mixed = [colour for colour in COLOURS if len({s.state for s in servers if s.colour == colour}) > 1 and colour not in ready]
        idle_up = [s for s in servers if s.colour not in ready and s.state != "maint"]
        if mixed or idle_up or len(ready) > 1 or "" in ready:
            observation.config_problem = (f"HAProxy backend {self.backend} has servers of more than one colour, or of no colour, ready: "
                                          + ", ".join(f"{s.name} {s.state}" for s in servers))
        elif ready:
            observation.config_colour = ready.pop()
            live = [s.address for s in servers if s.state == "ready"]
            observation.config_drained = sorted(s.address for s in servers if s.colour == observation.config_colour and s.state != "ready")
            observation.config_exact, observation.config_unknown = fit(live + observation.config_drained, observation.config_colour,
                                                                       colour_servers or {})
        return observation

    def live_colour(self) -> str:
        observation = self.observe()
        return "" if observation.config_problem else observation.config_colour

    def set_states(self, wanted: dict[str, str]) -> None:
        # bring the target up before taking the others down, so no moment has no server
        for server, state in sorted(wanted.items(), key=lambda item: item[1] != "ready"):
            out = self.command(f"set server {self.backend}/{server} state {state}").strip()
            if out:
                raise ConductorError(f"HAProxy refused 'set server {self.backend}/{server} state {state}': {out}")


def flip_haproxy(proxy: HAProxy, colour: str, confirm_url: str = "", commit: str = "", confirm_timeout: float = 30.0,
                 check_mode: bool = False, servers: list[str] | None = None, fence: Callable[[], object] | None = None) -> FlipResult:
    """Every server of ``colour`` ready, every other one in maintenance; ``servers``: the addresses the colour's
    servers must have (the app hosts), checked before anything changes; ``fence``: called right before the first change."""
    validate_colour(colour)
    validate_name(proxy.backend, "backend name")
    if servers:
        validate_servers(servers)
    current = proxy.servers()
    mine = sorted(s.address for s in current if s.colour == colour)
    if not mine:
        raise ConductorError(f"HAProxy backend {proxy.backend} has no server of colour {colour} (servers: "
                             f"{', '.join(s.name for s in current)}); name them {colour} or {colour}-NAME")
    if servers and not fit(mine, colour, {colour: servers})[0]:
        raise ConductorError(f"HAProxy backend {proxy.backend}'s {colour} servers are {', '.join(mine)}, but the app hosts' {colour} "
                             f"endpoints are {', '.join(sorted(servers))}: the HAProxy configuration does not match the inventory")
    before = {s.name: s.state for s in current}
    wanted = {s.name: ("ready" if s.colour == colour else "maint") for s in current}
    live = {s.colour for s in current if s.state == "ready"}
    result = FlipResult(changed=before != wanted, colour=colour, previous_colour=live.pop() if len(live) == 1 else "",
                        diff={"before": "".join(f"{s} {before[s]}\n" for s in sorted(before)),
                              "after": "".join(f"{s} {wanted[s]}\n" for s in sorted(wanted)),
                              "before_header": f"{proxy.backend} server states", "after_header": f"{proxy.backend} server states"})
    if check_mode:
        return result
    if result.changed:
        if fence is not None:
            fence()
        try:
            proxy.set_states(wanted)
        except ConductorError:
            proxy.set_states(before)
            raise
    return confirm_or_undo(result, confirm_url, commit, confirm_timeout, lambda: proxy.set_states(before),
                           "servers put back as they were")
