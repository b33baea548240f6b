# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""URLs that may carry credentials (a CI checkout's ``https://user:token@host/...``).

One home for the rule, so that nothing the tool records, signs, prints or returns carries a secret a URL held.
Standard library only.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# scheme://userinfo@host...: everything between '//' and the last '@' before the path is userinfo
_USERINFO_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#]*)@")


def has_credentials(url: str) -> bool:
    """True when ``url`` holds a password or token in its userinfo, or a query that looks like one."""
    found = _USERINFO_RE.match(url)
    if found and ":" in found.group("userinfo"):
        return True
    # https://host/...?private_token=... or ?access_token=... (GitLab, Gitea)
    if "://" in url:
        query = urlsplit(url).query.lower()
        if any(word in query for word in ("token", "password", "secret", "key=")):
            return True
    # a bare token as userinfo on http(s) (https://TOKEN@github.com/...) is a credential too
    return bool(found and url.lower().startswith(("http://", "https://")) and found.group("userinfo"))


def strip_credentials(url: str) -> str:
    """``url`` without its userinfo secret and without a query; ssh-style user names (git@host) stay."""
    found = _USERINFO_RE.match(url)
    if found:
        userinfo = found.group("userinfo")
        keep = ""
        if not url.lower().startswith(("http://", "https://")) and ":" not in userinfo:
            keep = userinfo + "@"  # ssh://git@host/...: a user name, not a secret
        url = found.group("scheme") + keep + url[found.end():]
    if "://" in url:
        parts = urlsplit(url)
        if parts.query:
            url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return url


def redact(text: str, url: str) -> str:
    """``text`` with every occurrence of ``url`` replaced by its credential-free form."""
    return text.replace(url, strip_credentials(url)) if url and url != strip_credentials(url) else text
