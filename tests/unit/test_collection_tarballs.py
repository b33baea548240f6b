"""scripts/collection_tarballs.py: a collection of the bundle rebuilt as a tarball ansible-galaxy installs offline, and
refused when the bundle was edited or names a path outside the collection."""

from __future__ import annotations

import hashlib
import json
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import collection_tarballs  # noqa: E402  pylint: disable=wrong-import-position


def fake_bundle(root: Path, files: dict[str, bytes], listed: list[str] | None = None, version: str = "1.2.3") -> Path:
    collection = root / "acme" / "tools"
    collection.mkdir(parents=True)
    entries = [{"name": ".", "ftype": "dir", "chksum_type": None, "chksum_sha256": None, "format": 1}]
    for name, data in files.items():
        (collection / name).parent.mkdir(parents=True, exist_ok=True)
        (collection / name).write_bytes(data)
    for name in listed if listed is not None else files:
        data = files.get(name, b"")
        entries.append({"name": name, "ftype": "file", "chksum_type": "sha256", "chksum_sha256": hashlib.sha256(data).hexdigest(),
                        "format": 1})
    raw = json.dumps({"files": entries, "format": 1}).encode()
    (collection / "FILES.json").write_bytes(raw)
    manifest = {"collection_info": {"namespace": "acme", "name": "tools", "version": version, "dependencies": {}},
                "file_manifest_file": {"name": "FILES.json", "ftype": "file", "chksum_type": "sha256",
                                       "chksum_sha256": hashlib.sha256(raw).hexdigest(), "format": 1}, "format": 1}
    (collection / "MANIFEST.json").write_text(json.dumps(manifest))
    return collection


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    def at(**kwargs) -> Path:
        collection = fake_bundle(tmp_path / "bundle", **kwargs)
        monkeypatch.setattr(collection_tarballs, "bundled", lambda namespace, name: collection)
        return collection
    return at


def test_a_bundle_missing_files_it_lists_gives_a_tarball_listing_only_what_it_holds(bundle, tmp_path):
    bundle(files={"plugins/a.py": b"print(1)\n"}, listed=["plugins/a.py", "tests/not-shipped.py"])
    tarball, dependencies = collection_tarballs.rebuild("acme.tools", tmp_path)
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        listed = json.loads(archive.extractfile("FILES.json").read())
        manifest = json.loads(archive.extractfile("MANIFEST.json").read())
    assert tarball.name == "acme-tools-1.2.3.tar.gz" and dependencies == {}
    assert "plugins/a.py" in names and [e["name"] for e in listed["files"] if e["ftype"] == "file"] == ["plugins/a.py"]
    assert manifest["file_manifest_file"]["chksum_sha256"] == hashlib.sha256(json.dumps(listed, indent=2).encode()).hexdigest()


@pytest.mark.parametrize("damage, message", [
    ("file", "differs from the digest its FILES.json gives"),
    ("files_json", "FILES.json differs from the digest MANIFEST.json gives"),
    ("link", "is a link or leads outside"),
])
def test_an_edited_bundle_or_a_link_out_of_it_is_refused(bundle, tmp_path, damage, message):
    collection = bundle(files={"plugins/a.py": b"print(1)\n"})
    if damage == "file":
        (collection / "plugins" / "a.py").write_bytes(b"print(2)\n")
    elif damage == "files_json":
        (collection / "FILES.json").write_bytes((collection / "FILES.json").read_bytes() + b" ")
    else:
        (tmp_path / "outside.py").write_bytes(b"print(1)\n")
        (collection / "plugins" / "a.py").unlink()
        (collection / "plugins" / "a.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(SystemExit, match=message):
        collection_tarballs.rebuild("acme.tools", tmp_path / "out")


@pytest.mark.parametrize("name, listed, version, message", [
    ("../evil", None, "1.2.3", "expected namespace.name"),
    ("acme.tools", ["../../etc/passwd"], "1.2.3", "expected a relative path inside"),
    ("acme.tools", None, "../../x", "is not a collection version"),
])
def test_names_paths_and_versions_are_refused_before_use(bundle, tmp_path, name, listed, version, message):
    bundle(files={"plugins/a.py": b"x"}, listed=listed, version=version)
    with pytest.raises(SystemExit, match=message):
        collection_tarballs.rebuild(name, tmp_path / "out")
