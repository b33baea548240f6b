# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The attestation as in-toto tools take it: the plain Statement in a DSSE envelope, signed with Ed25519.

DSSE v1.0 signs the pre-authentication encoding of the payload type and the payload,
``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, so a signature made for one payload type never
verifies for another. The key is the release signing key, the OpenSSH Ed25519 key that ``ssh-keygen -Y sign``
uses for the detached signature; the signature's keyid is its SHA256 fingerprint, a hint only: every key the
allowed-signers file accepts for the release namespace is tried. Ed25519 signatures are deterministic, so the
same Statement and key give the same envelope, byte for byte, and a re-run writes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt, _signing
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

try:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
except ImportError:
    HAS_CRYPTOGRAPHY = False
    InvalidSignature = UnsupportedAlgorithm = serialization = Ed25519PrivateKey = None
else:
    HAS_CRYPTOGRAPHY = True

_KEY_TYPE = "ssh-ed25519"
_MAX_REPORTED_DIFFERENCES = 5


@dataclass
class Opened:
    """What an envelope holds and who signed it: the Statement (None when unreadable), the signer's principals
    ('' when not checked or not verified) and every problem found."""

    statement: dict | None = None
    principal: str = ""
    problems: list[str] = field(default_factory=list)


def _require_cryptography() -> None:
    if not HAS_CRYPTOGRAPHY:
        raise ConductorError("the Python package cryptography is required to sign or verify the DSSE envelope: "
                             "install it with 'pip install cryptography'")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1's pre-authentication encoding: what is signed, so that the payload type is signed too."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not: DSSE allows either alphabet."""
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _private_key(key_path: str):
    _require_cryptography()
    try:
        with open(key_path, "rb") as handle:
            data = handle.read(64 * 1024)
    except OSError as exc:
        raise ConductorError(f"signing key {key_path} cannot be read: {exc.strerror}") from exc
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConductorError(f"signing key {key_path} cannot be loaded: expected an OpenSSH or PEM private key "
                             f"without passphrase ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        kind = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[0].decode()
        raise ConductorError(f"signing key {key_path} is an {kind} key, expected {_KEY_TYPE}: the DSSE envelope is signed with Ed25519, "
                             "so the release signing key must be an Ed25519 key (ssh-keygen -t ed25519)")
    return key


def _key_base64(public_key) -> str:
    """The base64 field of the OpenSSH line of ``public_key``."""
    return public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[1].decode("ascii")


def make(statement: dict, key_path: str, payload_type: str = fmt.ENVELOPE_PAYLOAD_TYPE) -> bytes:
    """The DSSE envelope of ``statement``, signed with the Ed25519 key at ``key_path``, as the bytes of its JSON file."""
    key = _private_key(key_path)
    payload = json.dumps(statement, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    signature = key.sign(pae(payload_type, payload))
    envelope = {
        "payloadType": payload_type,
        "payload": _b64encode(payload),
        "signatures": [{"keyid": _signing.fingerprint(_key_base64(key.public_key())), "sig": _b64encode(signature)}],
    }
    return fmt.dump_json(envelope)


def _statement(payload: bytes, name: str) -> dict:
    try:
        statement = json.loads(payload.decode("utf-8"), object_pairs_hook=fmt._unique_keys)  # pylint: disable=protected-access
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConductorError(f"the payload of {name} is not a JSON document: {exc}") from exc
    if not isinstance(statement, dict):
        raise ConductorError(f"the payload of {name} is a JSON {type(statement).__name__}, expected an in-toto Statement (an object)")
    return statement


def _signer(envelope: dict, payload: bytes, name: str, allowed_signers: str, namespace: str) -> tuple[str, list[str]]:
    """The principals of the allowed key whose signature verifies, or the problems naming why none does."""
    _require_cryptography()
    keys = []
    for signer in _signing.allowed_signers(allowed_signers, namespace):
        if signer.key_type != _KEY_TYPE:
            continue
        try:
            keys.append((signer, serialization.load_ssh_public_key(f"{signer.key_type} {signer.key_base64}".encode("ascii"))))
        except (ValueError, UnsupportedAlgorithm):
            continue  # a key ssh-keygen cannot read either: it accepts nothing
    if not keys:
        return "", [f"{allowed_signers} holds no Ed25519 key allowed for namespace {namespace}: {name} cannot be verified"]
    message = pae(envelope["payloadType"], payload)
    problems = []
    for number, signature in enumerate(envelope["signatures"], 1):
        keyid = signature.get("keyid") or "no keyid"
        try:
            raw = _b64decode(signature["sig"])
        except (binascii.Error, ValueError):
            problems.append(f"signature {number} of {name} ({keyid}) is not valid base64")
            continue
        for signer, key in keys:
            try:
                key.verify(raw, message)
            except InvalidSignature:
                continue
            return signer.principals, []
        # the keyid is an unverified hint: it only picks the more likely explanation
        known = next((signer.principals for signer, _key in keys if signer.fingerprint == keyid), "")
        if known:
            problems.append(f"signature {number} of {name} by {known} ({keyid}) does not verify: "
                            "the payload or its type changed after signing")
        else:
            problems.append(f"signature {number} of {name} ({keyid}) was not made by any key in {allowed_signers} "
                            f"allowed for namespace {namespace}")
    return "", problems


def open_envelope(path: str, name: str, allowed_signers: str | None, namespace: str) -> Opened:
    """Read the envelope at ``path`` (called ``name`` in messages): its Statement, and its signer when
    ``allowed_signers`` is given. Never raises for what the file holds: every problem is in the result."""
    try:
        envelope, _raw = fmt.load_document(path, fmt.ENVELOPE_SCHEMA, "DSSE envelope", limit=fmt.MAX_ENVELOPE_BYTES)
    except ConductorError as exc:
        return Opened(problems=[str(exc).replace(path, name)])
    try:
        payload = _b64decode(envelope["payload"])
    except (binascii.Error, ValueError):
        return Opened(problems=[f"the payload of {name} is not valid base64"])
    opened = Opened()
    try:
        opened.statement = _statement(payload, name)
    except ConductorError as exc:
        opened.problems.append(str(exc))
    if allowed_signers:
        try:
            opened.principal, problems = _signer(envelope, payload, name, allowed_signers, namespace)
        except ConductorError as exc:
            problems = [str(exc)]
        opened.problems += problems
    return opened


def _canonical(value) -> str:
    """JSON with sorted keys: equal only for equal JSON (Python alone takes true for 1 and 1.0 for 1)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _differences(actual, expected, path: str) -> list[str]:
    if isinstance(actual, dict) and isinstance(expected, dict):
        keys = list(expected) + [key for key in actual if key not in expected]
        return [found for key in keys
                for found in _differences(actual.get(key), expected.get(key), f"{path}.{key}" if path else key)]
    if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        return [found for index, pair in enumerate(zip(actual, expected)) for found in _differences(*pair, f"{path}[{index}]")]
    return [] if _canonical(actual) == _canonical(expected) else [path or "the whole Statement"]


def statement_differences(statement: dict, expected: dict, name: str, expected_name: str) -> list[str]:
    """A problem naming where the envelope's Statement differs from the one ``expected_name`` holds, or none."""
    if _canonical(statement) == _canonical(expected):
        return []
    paths = _differences(statement, expected, "") or ["the whole Statement"]
    more = f" (and {len(paths) - _MAX_REPORTED_DIFFERENCES} more)" if len(paths) > _MAX_REPORTED_DIFFERENCES else ""
    return [f"the Statement in {name} is not the one in {expected_name} without @context: "
            f"they differ at {', '.join(paths[:_MAX_REPORTED_DIFFERENCES])}{more}"]
