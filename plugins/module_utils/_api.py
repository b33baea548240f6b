# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small JSON client for the hosted git services' REST APIs (GitHub, GitLab, Gitea).

Requests go through ``ansible.module_utils.urls.open_url`` (proxies, CA bundles and certificate checks
as everywhere else in Ansible). The token is sent in a header and never appears in an error: every
message is built from the method, the path and the status, and anything the server says back has
the token masked before it is shown.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

_MAX_BODY = 4 * 1024 * 1024
_PER_PAGE = 100
_MAX_PAGES = 50
_SAFE_HOST_RE = re.compile(r"^[A-Za-z0-9.:-]+$")  # a name, IPv4, or IPv6 without its brackets
_TOKEN_RE = re.compile(r"^[\x21-\x7e]{1,4096}$")

# what each status means for the person running the playbook
_STATUS_HINTS = {
    401: "the token was rejected (missing, wrong or expired)",
    403: "the token may not do this (it needs admin rights on the repository) or a rate limit was hit",
    404: "not found: the repository does not exist, the token cannot see it, or the server has no such endpoint",
    409: "conflict: it exists already",
    422: "the server refused the request as invalid",
}


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
    """``url`` without a trailing slash, if it is http(s) with a plain host; else ConductorError."""
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or not _SAFE_HOST_RE.match(parts.hostname):
        raise ConductorError(f"{what} {url!r} is invalid: expected an http:// or https:// URL of the API root, such as https://api.github.com")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConductorError(f"{what} must not carry credentials, a query or a fragment: give the token as token")
    return url.rstrip("/")


class Client:
    """JSON requests to one API root with one token."""

    def __init__(self, service: Service, api_url: str, token: str, validate_certs: bool = True, timeout: int = 30):
        if not token:
            raise ConductorError(f"token is missing: {service.name} needs an API token (give token, or set MAESTRO_TAG_PROTECTION_TOKEN)")
        if not _TOKEN_RE.match(token):  # before use: a control character would end the header early, and its error quote the token
            raise ConductorError(f"token is invalid: expected one line of printable characters without spaces ({len(token)} characters given)")
        self.service, self.api_url, self._token = service, validate_api_url(api_url), token
        self.validate_certs, self.timeout = validate_certs, timeout

    def _mask(self, text: str) -> str:
        return text.replace(self._token, "********") if self._token else text

    def request(self, method: str, path: str, body: dict | None = None, query: dict | None = None, missing_ok: bool = False):
        """The decoded JSON answer (None for an empty one, or a 404 when ``missing_ok``); ConductorError otherwise."""
        url = self.api_url + path + (("?" + urllib.parse.urlencode(query)) if query else "")
        headers = {self.service.auth_header: self.service.auth_prefix + self._token, "User-Agent": "maestro.conductor"}
        headers.update(dict(self.service.extra_headers))
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        where = f"{self.service.name} API {method} {path}"
        try:
            response = open_url(url, data=data, headers=headers, method=method, validate_certs=self.validate_certs,
                                timeout=self.timeout, follow_redirects="safe" if method == "GET" else "none")
            raw = response.read(_MAX_BODY + 1)
        except HTTPError as exc:
            if exc.code == 404 and missing_ok:
                return None
            said = ""  # without a readable body, the status alone is the error
            try:
                said = _message(exc.read(65536))
            except Exception:  # pylint: disable=broad-except
                pass
            hint = _STATUS_HINTS.get(exc.code, "unexpected answer")
            raise ConductorError(self._mask(f"{where}: {exc.code} {hint}" + (f" (server said: {said})" if said else ""))) from None
        except (URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConductorError(self._mask(f"{where}: {self.api_url} could not be reached: {reason}")) from None
        if len(raw) > _MAX_BODY:
            raise ConductorError(f"{where}: the answer is larger than {_MAX_BODY} bytes")
        if not raw.strip():
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise ConductorError(f"{where}: the answer is not JSON") from None

    def list_all(self, path: str, page_size_param: str = "per_page") -> list:
        """Every item of a paginated list (pages of 100 until a short one)."""
        items: list = []
        previous = None
        for page in range(1, _MAX_PAGES + 1):
            answer = self.request("GET", path, query={page_size_param: _PER_PAGE, "page": page})
            if not isinstance(answer, list):
                raise ConductorError(f"{self.service.name} API GET {path}: expected a list, got {type(answer).__name__}")
            if answer == previous:  # a server that does not page this list answers every page with all of it
                return items
            items.extend(answer)
            if len(answer) < _PER_PAGE:
                return items
            previous = answer
        raise ConductorError(f"{self.service.name} API GET {path}: more than {_MAX_PAGES * _PER_PAGE} items")


def _message(raw: bytes) -> str:
    """What an error answer says, short: its "message" (GitHub, GitLab, Gitea all use one) or its text."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(data, dict):
        text = str(data.get("message") or data.get("error") or data)
    return text[:200]


def quote(value: str) -> str:
    """One URL path segment: a GitLab project path or a tag pattern, '/' and '*' included."""
    return urllib.parse.quote(value, safe="")
