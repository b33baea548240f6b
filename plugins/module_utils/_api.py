# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small JSON client for the hosted git services' REST APIs (GitHub, GitLab, Gitea).

Requests go through ``ansible.module_utils.urls`` (proxies, CA bundles and certificate checks as
everywhere else in Ansible), with one TLS context a client: building one loads the CA bundle, which
costs more than a request on loopback, and a watch makes hundreds. The token goes only to the
configured origin: the API root must be https (plain http only to this machine's loopback, for
tests), every request URL is checked to be on that origin, and redirects are never followed: a
redirect is an error that names where it pointed, since following one would carry the token to
wherever a server (or whoever answers for it) says. The token is sent in a header and never appears
in an error: every message is built from the method, the path and the status, and anything the
server says back has the token masked before it is shown. A rate limit (403 or 429 with
``x-ratelimit-remaining: 0``, a ``retry-after``, or a secondary limit's message) is named as such,
with when the server takes requests again.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import Request, make_context

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._urls import is_loopback, strip_credentials

_MAX_BODY = 4 * 1024 * 1024
_PER_PAGE = 100
_MAX_PAGES = 50
_SAFE_HOST_RE = re.compile(r"[A-Za-z0-9.:-]+")  # a name, IPv4, or IPv6 without its brackets
_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,4096}")
_OWNER_REPO_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")

# what each status means for the person running the playbook
_STATUS_HINTS = {
    400: "the server refused the request as malformed",
    401: "the token was rejected (missing, wrong or expired)",
    403: "the token may not do this (it needs admin rights on the repository) or a rate limit was hit",
    404: "not found: the repository does not exist, the token cannot see it, or the server has no such endpoint",
    409: "conflict: it exists already",
    422: "the server refused the request as invalid",
    429: "too many requests",
}


@dataclass(frozen=True)
class RateLimit:
    """Why a request was refused as over a rate limit, and when to try again (either may be unknown: None)."""

    retry_after: int | None = None  # seconds, from retry-after
    reset: int | None = None  # epoch seconds, from x-ratelimit-reset when x-ratelimit-remaining is 0

    def when(self, now: float | None = None) -> str:
        """When the server takes requests again, as a person reads it."""
        if self.retry_after is not None:
            return f"try again in {self.retry_after} s (retry-after)"
        if self.reset is not None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.reset))
            wait = max(0, int(self.reset - (time.time() if now is None else now)))
            return f"try again after {stamp}, in {wait} s (x-ratelimit-reset)"
        return "a secondary rate limit: wait at least a minute before trying again"


class ApiError(ConductorError):
    """An error answer: ``status`` and what the server said (token masked), for backends that know what it means;
    ``where`` is the method and path, ``rate_limit`` set when the refusal was a rate limit."""

    def __init__(self, message: str, status: int = 0, said: str = "", where: str = "", rate_limit: RateLimit | None = None):
        super().__init__(message)
        self.status, self.said, self.where, self.rate_limit = status, said, where, rate_limit


@dataclass
class Listing:
    """The items of a paged list, the total the server reported (None if it reports none), and whether every page was read."""

    items: list = field(default_factory=list)
    total_count: int | None = None
    complete: bool = True


@dataclass
class Service:
    """How one kind of server authenticates and names itself in messages."""

    name: str
    auth_header: str
    auth_prefix: str
    extra_headers: tuple = ()


GITHUB = Service("GitHub", "Authorization", "Bearer ", (("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")))
GITLAB = Service("GitLab", "PRIVATE-TOKEN", "")
GITEA = Service("Gitea", "Authorization", "token ")


def validate_api_url(url: str, what: str = "api_url") -> str:
    """``url`` without a trailing slash, if it is https (or http to loopback) with a plain host; else ConductorError."""
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or not _SAFE_HOST_RE.fullmatch(parts.hostname):
        raise ConductorError(f"{what} {strip_credentials(url or '')!r} is invalid: expected an https:// URL of the API root, "
                             "such as https://api.github.com")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConductorError(f"{what} must not carry credentials, a query or a fragment: give the token as token")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConductorError(f"{what} {url!r} is refused: the token is sent over https only (plain http only to this machine, "
                             "127.0.0.0/8, ::1 or localhost, as tests do); use https://")
    return url.rstrip("/")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())


class Client:
    """JSON requests to one API root with one token."""

    def __init__(self, service: Service, api_url: str, token: str, validate_certs: bool = True, timeout: int = 30,
                 token_env: str = "MAESTRO_TAG_PROTECTION_TOKEN"):
        if not token:
            raise ConductorError(f"token is missing: {service.name} needs an API token (give token, or set {token_env})")
        if not _TOKEN_RE.fullmatch(token):  # before use: a control character would end the header early, and its error quote the token
            raise ConductorError("token is invalid: expected one line of printable characters without spaces "
                                 f"({len(token)} characters given)")
        self.service, self.api_url, self._token = service, validate_api_url(api_url), token
        self.validate_certs, self.timeout = validate_certs, timeout
        # a proxy on the way to loopback would see the token of a plain-http test server
        self._use_proxy = not is_loopback(urllib.parse.urlsplit(self.api_url).hostname or "")
        self.requests_made = 0
        self._context = None  # made at the first request, then kept
        self.rate_limit_remaining: int | None = None  # x-ratelimit-remaining of the last answer that carried it
        self.last_link = ""  # the Link header of the last answer (cursor pagination)

    def _mask(self, text: str) -> str:
        return text.replace(self._token, "********") if self._token else text

    def mask(self, text: str) -> str:
        """``text`` with the token masked, for messages a caller builds from its own parts."""
        return self._mask(text)

    def _url(self, path: str, query: dict | None) -> str:
        """The request URL, refused unless it is on the API root's origin (the only place the token may go)."""
        url = self.api_url + path + (("?" + urllib.parse.urlencode(query)) if query else "")
        if not path.startswith("/") or _origin(url) != _origin(self.api_url) or "@" in urllib.parse.urlsplit(url).netloc:
            raise ConductorError(f"{self.service.name} API path {path!r} is invalid: expected a path under {self.api_url}")
        return url

    def request(self, method: str, path: str, body: dict | None = None, query: dict | None = None, missing_ok: bool = False):
        """The decoded JSON answer (None for an empty one, or a 404 when ``missing_ok``); ApiError otherwise."""
        url = self._url(path, query)
        headers = {self.service.auth_header: self.service.auth_prefix + self._token, "User-Agent": "maestro.conductor"}
        headers.update(dict(self.service.extra_headers))
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        where = f"{self.service.name} API {method} {path}"
        self.requests_made += 1
        try:
            if self._context is None:
                self._context = make_context(validate_certs=self.validate_certs)
            # never follow a redirect, never add ~/.netrc credentials, and never let the token header travel on; a Request
            # of its own each time, as open_url makes one, so that no cookie carries from one request to the next
            response = Request().open(method, url, data=data, headers=headers, validate_certs=self.validate_certs,
                                      timeout=self.timeout, follow_redirects="none", use_netrc=False, use_proxy=self._use_proxy,
                                      unredirected_headers=[self.service.auth_header], context=self._context)
            self._note_remaining(getattr(response, "headers", None))
            self.last_link = str((getattr(response, "headers", None) or {}).get("Link") or "")
            raw = response.read(_MAX_BODY + 1)
        except HTTPError as exc:
            self._note_remaining(exc.headers)
            if 300 <= exc.code < 400:
                raise ApiError(self._mask(self._redirected(where, url, exc)), exc.code, where=where) from None
            if exc.code == 404 and missing_ok:
                return None
            said = ""  # without a readable body, the status alone is the error
            try:
                said = self._mask(_message(exc.read(65536)))
            except Exception:  # pylint: disable=broad-except
                pass
            limit = _rate_limit(exc.code, exc.headers, said)
            hint = f"rate limit hit: {limit.when()}" if limit else _STATUS_HINTS.get(exc.code, "unexpected answer")
            raise ApiError(self._mask(f"{where}: {exc.code} {hint}" + (f" (server said: {said})" if said else "")), exc.code, said,
                           where, limit) from None
        except (URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(self._mask(f"{where}: {self.api_url} could not be reached: {reason}"), where=where) from None
        if len(raw) > _MAX_BODY:
            raise ApiError(f"{where}: the answer is larger than {_MAX_BODY} bytes")
        if not raw.strip():
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise ApiError(f"{where}: the answer is not JSON") from None

    def _note_remaining(self, headers) -> None:
        remaining = _header_int(headers, "X-RateLimit-Remaining")
        if remaining is not None:
            self.rate_limit_remaining = remaining

    def _redirected(self, where: str, url: str, exc: HTTPError) -> str:
        location = (exc.headers.get("Location") if exc.headers else "") or ""
        target = strip_credentials(urllib.parse.urljoin(url, location)) if location else "nowhere (no Location)"
        same = location and _origin(urllib.parse.urljoin(url, location)) == _origin(self.api_url)
        advice = ("the same server: the repository may have been renamed or moved, so give project its current name"
                  if same else f"another place: give api_url as the API root itself ({self.api_url} is not)")
        return (f"{where}: {exc.code} redirect to {target}, not followed: the token is sent only to {self.api_url}, "
                f"and the redirect points to {advice}")

    def list_all(self, path: str, page_size_param: str = "per_page") -> list:
        """Every item of a paginated list (pages of 100 until a short one)."""
        items: list = []
        previous = None
        for page in range(1, _MAX_PAGES + 1):
            answer = self.request("GET", path, query={page_size_param: _PER_PAGE, "page": page})
            if not isinstance(answer, list):
                raise ApiError(f"{self.service.name} API GET {path}: expected a list, got {type(answer).__name__}")
            if answer == previous:  # a server that does not page this list answers every page with all of it
                return items
            items.extend(answer)
            if len(answer) < _PER_PAGE:
                return items
            previous = answer
        raise ApiError(f"{self.service.name} API GET {path}: more than {_MAX_PAGES * _PER_PAGE} items")

    def list_cursor(self, path: str, query: dict | None = None, max_pages: int = _MAX_PAGES) -> Listing:
        """Every item of a list paged by cursor (GitHub's ``after``, named in the Link header's ``rel="next"``), up to
        ``max_pages``; ``complete`` is False when the bound ended it first. Only the cursor is taken from the link: the next
        request goes to the same path, never to a URL the server named."""
        listing, cursor, seen = Listing(), "", set()
        for _page in range(max_pages):
            answer = self.request("GET", path, query={**(query or {}), "per_page": _PER_PAGE, **({"after": cursor} if cursor else {})})
            if not isinstance(answer, list):
                raise ApiError(f"{self.service.name} API GET {path}: expected a list, got {type(answer).__name__}")
            listing.items.extend(answer)
            cursor = next_cursor(self.last_link)
            if cursor is None or cursor in seen:
                # a next page this client cannot follow, or one it was sent to before: the rest is unknown, never "none"
                listing.complete = False
                return listing
            if not cursor or not answer:
                return listing
            seen.add(cursor)
        listing.complete = False
        return listing

    def list_field(self, path: str, array: str, query: dict | None = None, max_pages: int = _MAX_PAGES,
                   missing_ok: bool = False) -> Listing | None:
        """The items of an object's array field, paged (GitHub's ``{"total_count": N, "workflow_runs": [...]}``): pages of 100
        until a short one, the reported total, or ``max_pages``; ``complete`` is False when the bound ended it first.
        None for a 404 on the first page when ``missing_ok``."""
        listing = Listing()
        for page in range(1, max_pages + 1):
            answer = self.request("GET", path, query={**(query or {}), "per_page": _PER_PAGE, "page": page}, missing_ok=missing_ok)
            if answer is None and missing_ok:  # gone: before the first page, or (the list moved) between pages
                if page == 1:
                    return None
                listing.complete = False
                return listing
            items = answer.get(array) if isinstance(answer, dict) else None
            total = answer.get("total_count") if isinstance(answer, dict) else None
            if not isinstance(items, list) or not (total is None or (isinstance(total, int) and total >= 0)):
                raise ApiError(f"{self.service.name} API GET {path}: expected an object with a list {array!r} and a count total_count")
            if page == 1:
                listing.total_count = total
            listing.items.extend(items)
            if len(items) < _PER_PAGE or (listing.total_count is not None and len(listing.items) >= listing.total_count):
                return listing
        listing.complete = False
        return listing


def next_cursor(link: str) -> str | None:
    """The ``after`` cursor of a Link header's ``rel="next"``: '' when there is no next page, None when there is one this
    client cannot follow (no ``after`` in it)."""
    # each link is <URL>; params: a comma inside the URL (an encoded cursor may hold one) does not end it
    for target, params in re.findall(r"<([^>]*)>((?:\s*;[^,<]*)*)", link or ""):
        rels = [value.strip().strip('"').split() for key, _sep, value in (p.strip().partition("=") for p in params.split(";"))
                if key.strip().lower() == "rel"]
        if any("next" in values for values in rels):
            found = urllib.parse.parse_qs(urllib.parse.urlsplit(target.strip()).query).get("after")
            return found[0] if found and found[0] else None
    return ""


def _header_int(headers, name: str) -> int | None:
    value = headers.get(name) if headers is not None else None
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def _rate_limit(status: int, headers, said: str) -> RateLimit | None:
    """The rate limit a 403 or 429 answer reports, as GitHub documents them: x-ratelimit-remaining 0 (then x-ratelimit-reset
    says when), a retry-after, or a secondary limit named in its message; None when the refusal is something else."""
    if status not in (403, 429):
        return None
    retry_after = _header_int(headers, "Retry-After")
    exhausted = _header_int(headers, "X-RateLimit-Remaining") == 0
    if retry_after is None and not exhausted and "rate limit" not in said.lower():
        return None
    return RateLimit(retry_after, _header_int(headers, "X-RateLimit-Reset") if exhausted else None)


def _message(raw: bytes) -> str:
    """What an error answer says, short. GitHub: {"message", "errors": [...], "documentation_url"}; GitLab: {"message": text,
    list or {field: [...]}} or {"error": text}; Gitea: {"message", "url"}. Anything else: its text."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    if not isinstance(data, dict):
        return text[:300]
    said = _flatten(data.get("message") or data.get("error") or "")
    details = [_flatten(error) for error in data.get("errors") or [] if error] if isinstance(data.get("errors"), list) else []
    if details:
        said = f"{said}: {'; '.join(details)}" if said else "; ".join(details)
    if not said:
        said = text
    docs = data.get("documentation_url")
    if isinstance(docs, str) and docs.startswith("https://"):
        said = f"{said[:300]}; see {docs[:200]}"
    return said[:600]


def _flatten(value) -> str:
    """One line from a message that may be text, a list of texts, a {field: [texts]} map, or a GitHub error object."""
    if isinstance(value, list):
        return "; ".join(_flatten(item) for item in value if item)
    if isinstance(value, dict):
        if "message" in value or "code" in value:  # a GitHub error object: {resource, field, code[, message]}
            return str(value.get("message") or " ".join(str(value[k]) for k in ("resource", "field", "code") if value.get(k)))
        return "; ".join(f"{field} {_flatten(texts)}" for field, texts in value.items())
    return str(value)


def owner_repo(project: object, service: str) -> str:
    """``project`` if it is owner/name (the form GitHub and Gitea name a repository in their paths); else ConductorError."""
    if not isinstance(project, str) or not _OWNER_REPO_RE.fullmatch(project) or any(p in (".", "..") for p in project.split("/")):
        raise ConductorError(f"project {project!r} is invalid: {service} expects owner/name, such as acme/app")
    return project


def quote(value: str) -> str:
    """One URL path segment: a GitLab project path or a tag pattern, '/' and '*' included."""
    return urllib.parse.quote(value, safe="")
