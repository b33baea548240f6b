# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detached signatures with ``ssh-keygen -Y``: offline, checked against an allowed-signers file.

The allowed-signers file is also read here, as ssh-keygen reads it, for the signatures ssh-keygen cannot check
(the DSSE envelope's, ``_dsse``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

_TIMEOUT = 60
_MAX_ALLOWED_SIGNERS_BYTES = 1024 * 1024
# a field of an allowed-signers line: quoted parts ("a b,c") and unquoted characters, up to unquoted whitespace
_FIELD_RE = re.compile(r'(?:"[^"]*"|[^\s"])+')
_OPTION_RE = re.compile(r'(?:"[^"]*"|[^,"])+')
_KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")
_TIME_FORMATS = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}


def _ssh_keygen() -> str:
    path = shutil.which("ssh-keygen")
    if not path:
        raise ConductorError("ssh-keygen (OpenSSH 8.2 or later) is required to sign or verify release attestations")
    return path


def _run(args: list[str], stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=stdin, capture_output=True, timeout=_TIMEOUT, check=False)  # noqa: S603 - argument list, no shell


def sign(data: bytes, key_path: str, namespace: str) -> bytes:
    """Return an armored SSH signature of ``data`` made with the private key at ``key_path``."""
    if not os.path.isfile(key_path):
        raise ConductorError(f"signing key {key_path} does not exist or is not a file")
    with tempfile.TemporaryDirectory(prefix="maestro-sign-") as tmp:
        message = os.path.join(tmp, "message")
        with open(message, "wb") as handle:
            handle.write(data)
        # -P '' refuses to prompt: a key with a passphrase fails instead of hanging an unattended run.
        result = _run([_ssh_keygen(), "-Y", "sign", "-q", "-P", "", "-f", key_path, "-n", namespace, message], b"")
        if result.returncode != 0:
            raise ConductorError(f"signing with key {key_path} failed: {result.stderr.decode(errors='replace').strip()}")
        with open(message + ".sig", "rb") as handle:
            return handle.read()


def verify(data: bytes, signature: bytes, allowed_signers: str, namespace: str) -> str:
    """Verify ``signature`` over ``data``; return the signer's principal or raise ConductorError."""
    if not os.path.isfile(allowed_signers):
        raise ConductorError(f"allowed signers file {allowed_signers} does not exist or is not a file")
    tool = _ssh_keygen()
    with tempfile.TemporaryDirectory(prefix="maestro-verify-") as tmp:
        sig_path = os.path.join(tmp, "message.sig")
        with open(sig_path, "wb") as handle:
            handle.write(signature)
        principal = _principal_of(signature, allowed_signers, namespace)
        if not principal:
            # the signature's key named no plain principal here: ssh-keygen says (patterns, certificates), or nobody
            found = _run([tool, "-Y", "find-principals", "-s", sig_path, "-f", allowed_signers], b"")
            principals = found.stdout.decode(errors="replace").split()
            if found.returncode != 0 or not principals:
                raise ConductorError(f"the attestation signature was not made by any key in {allowed_signers}")
            principal = principals[0]
        checked = _run([tool, "-Y", "verify", "-f", allowed_signers, "-I", principal, "-n", namespace, "-s", sig_path], data)
        if checked.returncode != 0:
            detail = (checked.stderr or checked.stdout).decode(errors="replace").strip()
            raise ConductorError(f"the attestation signature does not verify for {principal} in {allowed_signers}: {detail}")
        return principal


def signature_key(signature: bytes) -> str:
    """The base64 public key an armored SSHSIG signature names ('' when it cannot be read): which key to look up, never
    proof of anything (ssh-keygen -Y verify checks the signature itself)."""
    try:
        text = signature.decode("ascii")
        body = text.split("-----BEGIN SSH SIGNATURE-----", 1)[1].split("-----END SSH SIGNATURE-----", 1)[0]
        blob = base64.b64decode("".join(body.split()), validate=True)
        if blob[:6] != b"SSHSIG":
            return ""
        size = int.from_bytes(blob[10:14], "big")  # after the magic and the uint32 version: the public key as an SSH string
        key = blob[14:14 + size]
        return base64.b64encode(key).decode() if size and len(key) == size else ""
    except (UnicodeDecodeError, IndexError, ValueError, binascii.Error):
        return ""


def _principal_of(signature: bytes, path: str, namespace: str) -> str:
    """The principal of the allowed-signers file whose key made ``signature`` when it is one plain name (no pattern),
    else '' (ssh-keygen -Y find-principals is asked then): one process a verification instead of two."""
    key = signature_key(signature)
    if not key:
        return ""
    for signer in allowed_signers(path, namespace):
        if signer.key_base64 == key and re.fullmatch(r"[^*?!,\s]+", signer.principals):
            return signer.principals
    return ""


def public_key(key_path: str) -> str:
    """The OpenSSH public key line of the private key at ``key_path``."""
    result = _run([_ssh_keygen(), "-y", "-P", "", "-f", key_path], b"")
    if result.returncode != 0:
        raise ConductorError(f"cannot read signing key {key_path}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode().strip()


def signed_by(data: bytes, signature: bytes, key_path: str, namespace: str) -> bool:
    """Whether ``signature`` is a valid signature of ``data`` by the key at ``key_path``."""
    with tempfile.TemporaryDirectory(prefix="maestro-verify-") as tmp:
        signers = os.path.join(tmp, "allowed_signers")
        with open(signers, "w", encoding="utf-8") as handle:
            handle.write(f'signer namespaces="{namespace}" {public_key(key_path)}\n')
        try:
            verify(data, signature, signers, namespace)
        except ConductorError:
            return False
        return True


def fingerprint(key_base64: str) -> str:
    """The SHA256 fingerprint ssh-keygen -l prints for a public key given as the base64 field of its OpenSSH line."""
    digest = hashlib.sha256(base64.b64decode(key_base64, validate=True)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class AllowedSigner:
    """A key an allowed-signers file accepts: its principals field, key type and base64 key, as written there."""

    principals: str
    key_type: str
    key_base64: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key_base64)


def _pattern_list_matches(patterns: str, value: str) -> bool:
    """ssh_config(5) PATTERNS: a comma-separated list with '*', '?' and '!' negation; any negated match refuses."""
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        regex = re.escape(pattern[1:] if negated else pattern).replace(r"\*", ".*").replace(r"\?", ".")
        if re.fullmatch(regex, value):
            if negated:
                return False
            matched = True
    return matched


def _timestamp(value: str) -> datetime.datetime | None:
    """YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]: local time unless it ends in Z, as ssh-keygen reads it."""
    utc = value[-1:] in ("Z", "z")
    digits = value[:-1] if utc else value
    if not digits.isdigit() or len(digits) not in _TIME_FORMATS:
        return None
    try:
        moment = datetime.datetime.strptime(digits, _TIME_FORMATS[len(digits)])
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.timezone.utc) if utc else moment.astimezone()


def _accepts(options: str, namespace: str, now: datetime.datetime) -> bool:
    """Whether a line with ``options`` accepts a plain key (not a certificate) for ``namespace`` at ``now``."""
    for option in _OPTION_RE.findall(options):
        name, value = option.partition("=")[::2]
        name, value = name.lower(), value.strip('"')
        if name == "namespaces":
            if not _pattern_list_matches(value, namespace):
                return False
        elif name in ("valid-after", "valid-before"):
            moment = _timestamp(value)
            if moment is None or (now < moment if name == "valid-after" else now > moment):
                return False
        else:  # cert-authority (a CA signs certificates, not messages), or an option ssh-keygen would refuse the line for
            return False
    return True


def allowed_signers(path: str, namespace: str, now: datetime.datetime | None = None) -> list[AllowedSigner]:
    """The keys the allowed-signers file at ``path`` accepts for ``namespace`` at ``now``, in file order.

    A line that restricts its key to other namespaces, outside its validity window, for a certificate
    authority, or that cannot be read is left out, so no key ssh-keygen would refuse is accepted here.
    """
    if not os.path.isfile(path):
        raise ConductorError(f"allowed signers file {path} does not exist or is not a file")
    with open(path, "rb") as handle:
        data = handle.read(_MAX_ALLOWED_SIGNERS_BYTES + 1)
    if len(data) > _MAX_ALLOWED_SIGNERS_BYTES:
        raise ConductorError(f"allowed signers file {path} is larger than {_MAX_ALLOWED_SIGNERS_BYTES} bytes")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    signers = []
    # lines as ssh-keygen reads them: split at \n only (splitlines() would also split at \v, \f, \r and U+2028)
    for line in data.decode("utf-8", "replace").split("\n"):
        line = line[:-1] if line.endswith("\r") else line
        fields = _FIELD_RE.findall(line.strip())
        if len(fields) < 3 or fields[0].startswith("#"):
            continue
        principals, rest = fields[0].strip('"'), fields[1:]
        options = "" if rest[0].startswith(_KEY_TYPE_PREFIXES) else rest.pop(0)
        if len(rest) < 2 or not _accepts(options, namespace, now):
            continue
        try:
            fingerprint(rest[1])
        except (binascii.Error, ValueError):
            continue
        signers.append(AllowedSigner(principals, rest[0], rest[1]))
    return signers
