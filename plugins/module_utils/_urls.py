# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""URLs that may carry credentials (a CI checkout's ``https://user:token@host/...``).

One home for the rule, so that nothing the tool records, signs, prints or returns carries a secret a URL held.
Standard library only.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, unquote

# scheme://userinfo@host...: everything between '//' and the last '@' before the path is userinfo
_USERINFO_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>[^/?#]*)@")
# a URL inside free text (an error message, a check's detail): up to whitespace, a quote or a bracket
_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")
# query or fragment parameters that carry a secret, by the words of their names: ?private_token= (GitLab),
# ?access_token= (Gitea, OAuth), ?api_key=, ?password=, and the signature and credential of pre-signed URLs
# (?sig=, ?X-Amz-Signature=, ?X-Amz-Credential=); a word that contains one of the first, or is one of the second
_SECRET_WORD_PARTS = ("token", "passw", "secret", "credential", "signature")
_SECRET_WORDS = ("key", "apikey", "sig", "auth", "authorization")
# a secret this short is not masked on its own in free text: it would mangle every word that contains it
_MIN_MASKED = 4


def _is_http(scheme: str) -> bool:
    """http, https and their ``git+https`` forms, where a bare user name is a token, not an account."""
    return scheme.lower().rsplit("+", 1)[-1] in ("http", "https")


def _secret_params(url: str) -> list[str]:
    """The values of the query and fragment parameters of ``url`` whose names say they are secrets."""
    if "://" not in url:
        return []
    head, fragment = url.partition("#")[::2]
    query = head.partition("?")[2]
    pairs = parse_qsl(query, keep_blank_values=True) + parse_qsl(fragment, keep_blank_values=True)
    return [value for name, value in pairs if _is_secret_name(name)]


def _is_secret_name(name: str) -> bool:
    """api_key, accessKey, X-Amz-Signature: yes; monkey, ref: no."""
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    return any(part in word for word in words for part in _SECRET_WORD_PARTS) or any(word in _SECRET_WORDS for word in words)


def _userinfo_secret(url: str) -> str:
    """The secret part of the userinfo of ``url``: the password, or on http(s) the whole userinfo (a bare token)."""
    found = _USERINFO_RE.match(url)
    if not found:
        return ""
    userinfo = found.group("userinfo")
    if ":" in userinfo:
        return userinfo.split(":", 1)[1]
    return userinfo if _is_http(found.group("scheme")) else ""


def has_credentials(url: str) -> bool:
    """True when ``url`` holds a password or token in its userinfo, or a query or fragment parameter that is one."""
    found = _USERINFO_RE.match(url)
    if found and ":" in found.group("userinfo"):
        return True  # user:password, even when the password is empty
    return bool(_userinfo_secret(url) or _secret_params(url))


def strip_credentials(url: str) -> str:
    """``url`` without its userinfo secret, its query and its fragment; ssh-style user names (ssh://git@host) stay."""
    found = _USERINFO_RE.match(url)
    if found:
        userinfo = found.group("userinfo")
        keep = userinfo + "@" if userinfo and ":" not in userinfo and not _is_http(found.group("scheme")) else ""
        url = f"{found.group('scheme')}://{keep}{url[found.end():]}"
    if "://" in url:
        url = url.split("#", 1)[0].split("?", 1)[0]
    return url


def urls_with_credentials(text: str) -> list[str]:
    """Every URL inside ``text`` that carries credentials, as written there."""
    return [url for url in _URL_IN_TEXT_RE.findall(text) if has_credentials(url)]


def scrub(text: str) -> str:
    """``text`` with every URL in it that carries credentials replaced by its credential-free form."""
    for url in urls_with_credentials(text):
        text = text.replace(url, strip_credentials(url))
    return text


def redact(text: str, url: str) -> str:
    """``text`` with ``url`` in its credential-free form, and each secret ``url`` held masked wherever else it appears.

    Tools quote a URL as they see it (with a '/' added, percent-decoded): the secret itself is masked too.
    """
    if not url:
        return text
    stripped = strip_credentials(url)
    if stripped != url:
        text = text.replace(url, stripped)
    for secret in [_userinfo_secret(url), *_secret_params(url)]:
        for form in dict.fromkeys((secret, unquote(secret))):
            if len(form) >= _MIN_MASKED:
                text = text.replace(form, "***")
    return text


def is_loopback(host: str) -> bool:
    """True for localhost and addresses in 127.0.0.0/8 or ::1: the only hosts plain http may carry a secret to."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
