# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving traffic between colours, whatever the proxy: what both backends share.

The backends live beside this file, one a file: ``_nginx.py`` (an upstream include, ``nginx -t``,
reload) and ``_haproxy.py`` (server states through the runtime API). Every flip is confirmed through
the proxy itself (the expected commit must answer there); when a step fails, the previous state is
put back. What a proxy really sends traffic to is observed here too: its configuration's claim, and
what it serves compared with what each colour's servers answer.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils import _http
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

COLOURS = ("blue", "green")
# every value that goes into a proxy's configuration or a runtime API command is one of these shapes, checked before
# anything is rendered: no white space, ';', '{', '}', '#', quote or newline can reach nginx or HAProxy
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HOST_RE = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?",
                      re.ASCII)
_UNIX_RE = re.compile(r"unix:/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*", re.ASCII)
_URL_PATH_RE = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,1023}", re.ASCII)


def validate_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise ConductorError(f"{what} {value!r} is invalid: expected 1-64 letters, digits, '_', '.' or '-'")
    return value


def validate_colour(colour: str) -> str:
    if colour not in COLOURS:
        raise ConductorError(f"colour {colour!r} is invalid: expected blue or green")
    return colour


def _server_problem(server: object) -> str:
    """Why ``server`` is no address a proxy may be given ('' when it is one)."""
    if not isinstance(server, str):
        return "not a string"
    if server.startswith("unix:"):
        parts = server[len("unix:"):].split("/")
        return "" if _UNIX_RE.fullmatch(server) and len(server) <= 205 and ".." not in parts else "expected unix:/absolute/path"
    host, sep, port = server.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        return "expected a port 1-65535 after the last ':'"
    if host.startswith("[") and host.endswith("]"):
        try:
            return "" if ipaddress.ip_address(host[1:-1]).version == 6 else "expected an IPv6 address inside []"
        except ValueError:
            return "expected an IPv6 address inside []"
    return "" if _HOST_RE.fullmatch(host) else "expected a host name, an IPv4 address or [IPv6]"


def validate_servers(servers: list[str], what: str = "servers") -> list[str]:
    if not isinstance(servers, list) or not servers:
        raise ConductorError(f"{what} {servers!r} are invalid: expected at least one host:port or unix:/path entry")
    for server in servers:
        problem = _server_problem(server)
        if problem:
            raise ConductorError(f"{what} {servers!r} are invalid: {server!r}: {problem} (host:port, [IPv6]:port or unix:/path)")
    return list(servers)


def validate_url_path(path: str, what: str) -> str:
    """A path asked on a server ('' for none): it goes into URLs, so it is one URL path and nothing more."""
    if path and (not isinstance(path, str) or not _URL_PATH_RE.fullmatch(path)):
        raise ConductorError(f"{what} {path!r} is invalid: expected a URL path starting with '/', without white space, '?' or '#'")
    return path


def other(colour: str) -> str:
    """The other colour; blue when nothing is live."""
    return COLOURS[1] if colour == COLOURS[0] else COLOURS[0]


def colour_of_servers(servers: list[str], colour_servers: dict[str, list[str]]) -> str:
    """The colour whose servers are exactly ``servers`` ('' when none is)."""
    found = [colour for colour, mine in colour_servers.items() if mine and sorted(mine) == sorted(servers)]
    return found[0] if len(found) == 1 else ""


def addresses(server: str) -> set[str]:
    """``server`` and every ``ip:port`` it resolves to here (a proxy that resolved a name reports the address)."""
    host, _sep, port = server.rpartition(":")
    found = {server}
    if host and port.isdigit() and not server.startswith("unix:"):
        try:
            found |= {f"{info[4][0]}:{port}" for info in socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)}
        except (OSError, UnicodeError):
            pass
    return found


def fit(listed: list[str], colour: str, colour_servers: dict[str, list[str]]) -> tuple[bool | None, list[str]]:
    """Whether ``listed`` (what a proxy sends ``colour``'s traffic to) is exactly that colour's app hosts, and which of
    them are no app host of it; (None, []) when the app hosts are not known."""
    expected = colour_servers.get(colour) or []
    if not expected:
        return None, []
    known = {server: addresses(server) for server in expected}
    matched, unknown = set(), []
    for server in listed:
        hits = [name for name, found in known.items() if server in found or addresses(server) & found]
        if hits:
            matched.update(hits)
        else:
            unknown.append(server)
    return not unknown and matched == set(expected) and len(listed) == len(expected), unknown


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


@dataclass
class Observation:
    """What one proxy claims and what it does: the configuration's colour, and what answers through it."""

    config_colour: str = ""
    # "servers" when the colour is read from the servers an include lists by hand, not from a header proxy_flip wrote
    config_source: str = ""
    config_problem: str = ""
    # whether the claimed colour's servers are exactly the app hosts' endpoints of that colour (None: not known)
    config_exact: bool | None = None
    # servers the proxy sends traffic to that are no app host of the claimed colour
    config_unknown: list = field(default_factory=list)
    # nginx: whether nginx loaded the include as it is now (None: cannot tell)
    config_loaded: bool | None = True
    config_servers: dict = field(default_factory=dict)
    # servers of the live colour out of rotation on purpose (proxy_drain): known, not serving
    config_drained: list = field(default_factory=list)
    serving_status: int = 0
    serving_commit: str = ""
    serving_tag: str = ""
    colour_answers: dict = field(default_factory=dict)


def _answer(url: str, timeout: float) -> dict:
    try:
        answer = _http.get(url, timeout=timeout)
    except ConductorError:
        answer = _http.Answer(0, "")
    ok = answer.status == 200
    return {"url": url, "status": answer.status, "commit": answer.commit() if ok else "", "tag": answer.tag() if ok else ""}


def observe_answers(observation: Observation, confirm_url: str, colour_urls: dict[str, list[str]]) -> Observation:
    """Fill in what the proxy serves and what each colour's own servers answer (new connections, no retries)."""
    if confirm_url:
        served = _answer(confirm_url, 5.0)
        observation.serving_status, observation.serving_commit, observation.serving_tag = served["status"], served["commit"], served["tag"]
    observation.colour_answers = {colour: [_answer(url, 2.0) for url in urls] for colour, urls in colour_urls.items() if colour in COLOURS}
    return observation


def confirm_or_undo(result: FlipResult, url: str, commit: str, timeout: float, undo, undone: str, what: str = "") -> FlipResult:
    """Confirm through the proxy that ``commit`` answers; if it does not, undo a change and fail. ``what``: the change, as
    the error names it (default: the flip to the result's colour)."""
    if not url:
        return result
    confirmation = _http.wait_for_commit(url, commit, timeout)
    result.confirmed, result.confirmation = confirmation.ok, confirmation.describe(url, commit)
    if not confirmation.ok:
        if result.changed:
            undo()
            result.rolled_back = True
        raise ConductorError(f"{what or 'flip to ' + result.colour} not confirmed: {result.confirmation}"
                             + (f"; {undone}" if result.rolled_back else ""))
    return result
