# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Taking app hosts out of rotation and putting them back, without moving traffic between colours: the live colour's
server of a host is left out of nginx's upstream (named in the include's header as drained) or drained, then put in
maintenance, through HAProxy's runtime API. Servers not named are left as they are, so that a host left drained by an
earlier run is never put back by a later one that did not prove it. At least one server always keeps serving, and every
change is confirmed through the proxy (the live commit still answers there) or undone."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._haproxy import HAProxy
from ansible_collections.maestro.conductor.plugins.module_utils._nginx import Nginx, flip_nginx
from ansible_collections.maestro.conductor.plugins.module_utils._proxy import addresses, confirm_or_undo, validate_colour, validate_servers

STATES = ("drained", "serving")


@dataclass
class DrainResult:
    changed: bool
    colour: str
    drained: list[str] = field(default_factory=list)  # the colour's servers out of rotation after this change
    serving: list[str] = field(default_factory=list)
    diff: dict = field(default_factory=dict)
    confirmed: bool = False
    confirmation: str = ""
    # how long the servers taken out were waited for to finish what they were doing, and what was still open then
    waited: float = 0.0
    unfinished: dict = field(default_factory=dict)


def _check(state: str, colour: str, servers: list[str]) -> None:
    if state not in STATES:
        raise ConductorError(f"state {state!r} is invalid: expected drained or serving")
    validate_colour(colour)
    validate_servers(servers, "servers to drain or put back")


def _wait(pending: Callable[[], dict], timeout: float) -> tuple[float, dict]:
    """Wait until ``pending()`` is empty or ``timeout`` passed: (seconds waited, what was still pending)."""
    started = time.monotonic()
    left = pending()
    while left and time.monotonic() - started < timeout:
        time.sleep(0.2)
        left = pending()
    return round(time.monotonic() - started, 3), left


def _what(state: str, servers: list[str]) -> str:
    return f"{'taking' if state == 'drained' else 'putting'} {', '.join(servers)} {'out of' if state == 'drained' else 'back in'} rotation"


def drain_nginx(proxy: Nginx, state: str, colour: str, servers: list[str], colour_servers: list[str], confirm_url: str = "",
                commit: str = "", confirm_timeout: float = 30.0, drain_timeout: float = 30.0, check_mode: bool = False,
                fence: Callable[[], object] | None = None, staying: Callable[[list[str]], object] | None = None) -> DrainResult:
    """``servers`` (of ``colour``, the live colour) out of the upstream or back in it; ``colour_servers``: all of the colour's
    servers, the ones the include lists and the ones it names drained; ``staying``: called with the servers that keep
    serving before any is taken out (it raises when they cannot carry the traffic)."""
    _check(state, colour, servers)
    validate_servers(colour_servers, f"{colour} servers")
    live, tag, was_drained = proxy.header()
    if live != colour:
        raise ConductorError(f"nginx include {proxy.include_path} says colour {live or '(none)'}, the live colour is {colour}: "
                             "nothing drained or put back (did a switch run in between?)")
    unknown = [server for server in servers if server not in colour_servers]
    if unknown:
        raise ConductorError(f"{', '.join(unknown)} is no {colour} server of the app hosts ({', '.join(colour_servers)}): nothing changed")
    listed = proxy.listed()
    if sorted(listed + was_drained) != sorted(colour_servers):
        raise ConductorError(f"nginx include {proxy.include_path} lists {', '.join(listed) or 'no server'}"
                             f"{' and names ' + ', '.join(was_drained) + ' drained' if was_drained else ''}, but the app hosts' "
                             f"{colour} servers are {', '.join(colour_servers)}: it does not match the inventory; nothing changed")
    drained = [s for s in colour_servers if (s in was_drained or s in servers) and not (state == "serving" and s in servers)]
    serving = [s for s in colour_servers if s not in drained]
    if not serving:
        raise ConductorError(f"draining {', '.join(servers)} would leave nginx upstream {proxy.upstream} no server: at least one "
                             f"{colour} server must keep serving (drain fewer hosts at a time); nothing changed")
    if staying is not None and state == "drained" and not check_mode and sorted(drained) != sorted(was_drained):
        staying(serving)
    flip = flip_nginx(proxy, colour, serving, tag, confirm_url=confirm_url, commit=commit, confirm_timeout=confirm_timeout,
                      check_mode=check_mode, fence=fence, drained=drained, what=_what(state, servers))
    result = DrainResult(changed=flip.changed, colour=colour, drained=drained, serving=serving, diff=flip.diff, confirmed=flip.confirmed,
                         confirmation=flip.confirmation)
    if flip.changed and not check_mode and state == "drained":
        # the workers of the old configuration finish the requests they hold to the drained servers, then exit
        result.waited, result.unfinished = _wait(_old_nginx_workers(proxy), drain_timeout)
    return result


def _old_nginx_workers(proxy: Nginx) -> Callable[[], dict]:
    def pending() -> dict:
        workers = proxy.old_workers()
        if workers is None:  # unknown is said, never taken for done
            return {"nginx": "its workers could not be read: whether the old ones finished is unknown"}
        return {str(pid): "old nginx worker" for pid in workers}
    return pending


def _match(given: list[str], known: dict[str, str]) -> dict[str, str]:
    """Each address given -> the one server (name) that has it; ``known``: server name -> address."""
    found = {}
    for server in given:
        names = [name for name, address in known.items() if address == server or addresses(server) & addresses(address)]
        if len(names) != 1:
            raise ConductorError(f"{server} is {'no' if not names else 'more than one'} server of the live colour "
                                 f"({', '.join(f'{n} {a}' for n, a in sorted(known.items()))}): nothing changed")
        found[server] = names[0]
    return found


def drain_haproxy(proxy: HAProxy, state: str, colour: str, servers: list[str], confirm_url: str = "", commit: str = "",
                  confirm_timeout: float = 30.0, drain_timeout: float = 30.0, check_mode: bool = False,
                  fence: Callable[[], object] | None = None, staying: Callable[[list[str]], object] | None = None) -> DrainResult:
    """``servers`` (addresses of ``colour``'s servers, the live colour) drained then put in maintenance, or made ready."""
    _check(state, colour, servers)
    current = proxy.servers()
    mine = {s.name: s.address for s in current if s.colour == colour}
    elsewhere = [f"{s.name} {s.state}" for s in current if s.colour != colour and s.state != "maint"]
    if not any(s.state == "ready" for s in current if s.colour == colour) or elsewhere:
        raise ConductorError(f"HAProxy backend {proxy.backend}'s live colour is not {colour} ("
                             + ", ".join(f"{s.name} {s.state}" for s in current) + "): nothing drained or put back")
    named = set(_match(servers, mine).values())
    before = {s.name: s.state for s in current}
    wanted = dict(before)
    for name in named:
        wanted[name] = "maint" if state == "drained" else "ready"
    serving = sorted(mine[n] for n in mine if wanted[n] == "ready")
    if not serving:
        raise ConductorError(f"draining {', '.join(servers)} would leave HAProxy backend {proxy.backend} no {colour} server ready: "
                             "at least one must keep serving (drain fewer hosts at a time); nothing changed")
    result = DrainResult(changed=before != wanted, colour=colour, serving=serving,
                         drained=sorted(mine[n] for n in mine if wanted[n] != "ready"),
                         diff={"before": "".join(f"{s} {before[s]}\n" for s in sorted(before)),
                               "after": "".join(f"{s} {wanted[s]}\n" for s in sorted(wanted)),
                               "before_header": f"{proxy.backend} server states", "after_header": f"{proxy.backend} server states"})
    what = _what(state, servers)
    if check_mode or not result.changed:
        return confirm_or_undo(result, "" if check_mode else confirm_url, commit, confirm_timeout, lambda: None, "", what)
    if staying is not None and state == "drained":
        staying(serving)
    if fence is not None:
        fence()
    going = [name for name in named if before[name] == "ready" and wanted[name] == "maint"]
    # only the servers named are sent a state: another's maintenance (inherited, DNS) is never turned into a forced one
    changed = {name: wanted[name] for name in named if wanted[name] != before[name]}
    undo = {name: before[name] for name in changed}
    try:
        # drain first: no new connection reaches the server while those it holds finish; then maintenance
        proxy.set_states({name: "drain" for name in going})
        result.waited, result.unfinished = _wait(lambda: {n: c for n, c in proxy.sessions().items() if n in going and c}, drain_timeout)
        proxy.set_states(changed)
    except ConductorError:
        proxy.set_states(undo)
        raise
    return confirm_or_undo(result, confirm_url, commit, confirm_timeout, lambda: proxy.set_states(undo), "servers put back as they were",
                           what)
