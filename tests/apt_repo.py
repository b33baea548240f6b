"""Local apt file repositories for tests: packages built with dpkg-deb, a suite's Packages index and Release file, read by
a real apt-get with ``[trusted=yes]`` (no signing key: the repository is a directory the test made)."""

from __future__ import annotations

import hashlib
import subprocess
import textwrap
from pathlib import Path


def deb(directory: Path, name: str, version: str, postinst: str = "") -> Path:
    """An ``Architecture: all`` package of ``name`` ``version``; ``postinst``: its maintainer script's body (sh)."""
    tree = directory / f"{name}-{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
                                             f"Maintainer: Test <test@test.invalid>\nDescription: {name}\n")
    if postinst:
        script = tree / "DEBIAN" / "postinst"
        script.write_text(f"#!/bin/sh\nset -e\n{postinst}\n")
        script.chmod(0o755)
    out = directory / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(out)], check=True, capture_output=True)
    return out


def repository(root: Path, suite: str, packages: list[tuple[str, str]], postinst: str = "", uri_root: str = "") -> str:
    """A file: repository of ``suite`` holding ``packages`` (name, version), each with ``postinst``; its source line, for
    ``uri_root`` when the repository is to be read from another place than ``root`` (copied into a host)."""
    pool = root / "pool"
    pool.mkdir(parents=True)
    entries = []
    for name, version in packages:
        built = deb(pool, name, version, postinst)
        data = built.read_bytes()
        entries.append(f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: Test <test@test.invalid>\n"
                       f"Filename: pool/{built.name}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"
                       f"Description: {name}\n")
    index = root / "dists" / suite / "main" / "binary-amd64"
    index.mkdir(parents=True)
    (index / "Packages").write_text("\n".join(entries))
    listed = (index / "Packages").read_bytes()
    (root / "dists" / suite / "Release").write_text(textwrap.dedent(f"""\
        Origin: Debian
        Label: Debian-Security
        Suite: {suite}
        Codename: {suite}
        Date: Sat, 28 Nov 2026 00:00:00 UTC
        Architectures: amd64
        Components: main
        SHA256:
         {hashlib.sha256(listed).hexdigest()} {len(listed)} main/binary-amd64/Packages
        """))
    return f"deb [trusted=yes] file:{uri_root or root} {suite} main"
