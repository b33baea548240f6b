# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detached signatures with ``ssh-keygen -Y``: offline, checked against an allowed-signers file."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

_TIMEOUT = 60


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
