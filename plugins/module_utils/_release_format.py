# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release format: file names, JSON Schemas and strict loaders.

The manifest is at format 2 (format 1 plus the image ids of image archives) and
releases of format 1 keep verifying; the evidence and the attestation are at format 1.
The schemas live here, not in docs/, because modules run on hosts where only
module_utils travels with them; ``make schemas`` writes docs/schemas/ from them.
"""

from __future__ import annotations

import json
import os

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, read_bytes_limited
from ansible_collections.maestro.conductor.plugins.module_utils._image_archive import IMAGE_ID_RE, REPO_TAG_MAX, REPO_TAG_PATTERN
from ansible_collections.maestro.conductor.plugins.module_utils._names import check_relative_path

try:
    import yaml
except ImportError:
    yaml = None

try:
    import jsonschema
except ImportError:
    jsonschema = None

FORMAT_VERSION = 1  # evidence and attestation
MANIFEST_FORMAT_VERSION = 2
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
SIGNATURE_NAMESPACE = "maestro-release"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://maestro-conductor.invalid/release/v1"
# Every term maps into the in-toto vocabulary, so the Statement expands as JSON-LD
# without fetching a remote context.
JSONLD_CONTEXT = {"@vocab": "https://in-toto.io/Statement/v1#"}


def manifest_name(tag: str) -> str:
    return f"release-manifest-{tag}.yaml"


def evidence_name(tag: str) -> str:
    return f"evidence-{tag}.json"


def attestation_name(tag: str) -> str:
    return f"release-attestation-{tag}.jsonld"


def signature_name(tag: str) -> str:
    return attestation_name(tag) + ".sig"


def release_file_names(tag: str) -> tuple[str, str, str, str]:
    """The files a release directory holds besides its artifacts."""
    return manifest_name(tag), evidence_name(tag), attestation_name(tag), signature_name(tag)


_OID = {"type": "string", "pattern": "^([0-9a-f]{40}|[0-9a-f]{64})$"}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_TAG = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$"}
_TIME = {"type": "string", "minLength": 1, "maxLength": 64}
_DRAFT = "https://json-schema.org/draft/2020-12/schema"

_IMAGES = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1000,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "repo_tags"],
        "properties": {
            "id": {"type": "string", "pattern": f"^{IMAGE_ID_RE.pattern}$"},
            "repo_tags": {
                "type": "array",
                "maxItems": 1000,
                "uniqueItems": True,
                "items": {"type": "string", "maxLength": REPO_TAG_MAX, "pattern": REPO_TAG_PATTERN},
            },
        },
    },
}


def _manifest_schema(version: int) -> dict:
    """Format 2 is format 1 plus an optional ``images`` list on each artifact (present on image archives)."""
    artifact = {"path": {"type": "string", "minLength": 1, "maxLength": 1024}, "size": {"type": "integer", "minimum": 0},
                "sha256": _SHA256}
    if version >= 2:
        artifact["images"] = _IMAGES
    return {
        "$schema": _DRAFT,
        "$id": f"https://maestro-conductor.invalid/schemas/release-manifest-v{version}.json",
        "title": "maestro.conductor release manifest",
        "type": "object",
        "additionalProperties": False,
        "required": ["format_version", "kind", "tag", "tag_object", "tag_type", "commit", "repository", "created", "artifacts"],
        "properties": {
            "format_version": {"const": version},
            "kind": {"const": "maestro.conductor/release-manifest"},
            "tag": _TAG,
            "tag_object": _OID,
            "tag_type": {"enum": ["annotated", "lightweight"]},
            "commit": _OID,
            "repository": {"type": "string", "minLength": 1, "maxLength": 4096},
            "created": _TIME,
            "artifacts": {
                "type": "array",
                "minItems": 1,
                "maxItems": 10000,
                "items": {"type": "object", "additionalProperties": False, "required": ["path", "size", "sha256"],
                          "properties": artifact},
            },
        },
    }


MANIFEST_SCHEMAS = {1: _manifest_schema(1), 2: _manifest_schema(2)}


EVIDENCE_SCHEMA = {
    "$schema": _DRAFT,
    "$id": "https://maestro-conductor.invalid/schemas/evidence-v1.json",
    "title": "maestro.conductor release evidence",
    "type": "object",
    "additionalProperties": False,
    "required": ["format_version", "kind", "tag", "commit", "generated_at", "generated_by", "checks", "provenance"],
    "properties": {
        "format_version": {"const": FORMAT_VERSION},
        "kind": {"const": "maestro.conductor/evidence"},
        "tag": _TAG,
        "commit": _OID,
        "generated_at": _TIME,
        "generated_by": {"type": "string", "minLength": 1, "maxLength": 256},
        "ci_run": {"type": "string", "maxLength": 4096},
        "checks": {
            "type": "array",
            "maxItems": 10000,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "result"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 256},
                    "result": {"enum": ["pass", "fail", "skip"]},
                    "detail": {"type": "string", "maxLength": 65536},
                },
            },
        },
        "provenance": {
            "type": "object",
            "additionalProperties": False,
            "required": ["repository", "commit", "builder"],
            "properties": {
                "repository": {"type": "string", "minLength": 1, "maxLength": 4096},
                "commit": _OID,
                "builder": {"type": "string", "minLength": 1, "maxLength": 256},
            },
        },
    },
}

ATTESTATION_SCHEMA = {
    "$schema": _DRAFT,
    "$id": "https://maestro-conductor.invalid/schemas/release-attestation-v1.json",
    "title": "maestro.conductor release attestation (in-toto Statement v1, JSON-LD)",
    "type": "object",
    "additionalProperties": False,
    "required": ["@context", "_type", "subject", "predicateType", "predicate"],
    "properties": {
        "@context": {"type": "object"},
        "_type": {"const": STATEMENT_TYPE},
        "subject": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10002,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "digest"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 1024},
                    "digest": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["sha256"],
                        "properties": {"sha256": _SHA256},
                    },
                },
            },
        },
        "predicateType": {"const": PREDICATE_TYPE},
        "predicate": {
            "type": "object",
            "additionalProperties": False,
            "required": ["format_version", "tag", "tag_object", "commit", "repository"],
            "properties": {
                "format_version": {"const": FORMAT_VERSION},
                "tag": _TAG,
                "tag_object": _OID,
                "commit": _OID,
                "repository": {"type": "string", "minLength": 1, "maxLength": 4096},
            },
        },
    },
}

# What ``make schemas`` writes to docs/schemas/, by file stem.
SCHEMAS = {
    **{f"release-manifest-v{version}": schema for version, schema in MANIFEST_SCHEMAS.items()},
    f"evidence-v{FORMAT_VERSION}": EVIDENCE_SCHEMA,
    f"release-attestation-v{FORMAT_VERSION}": ATTESTATION_SCHEMA,
}


def _no_aliases_loader():
    class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        """SafeLoader that refuses anchors and aliases: a manifest never needs them, and they enable 'billion laughs'."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.events.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(None, None, "aliases are not allowed in a release manifest", event.start_mark)
            return super().compose_node(parent, index)

    return _Loader


def _parse(data: bytes, path: str, what: str):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConductorError(f"{what} {path} is not valid UTF-8: {exc}") from exc
    try:
        return _parse_text(text, path, what)
    except RecursionError as exc:
        raise ConductorError(f"{what} {path} is nested too deeply to be a release document") from exc


def _parse_text(text: str, path: str, what: str):
    if path.endswith(".yaml"):
        if yaml is None:
            raise ConductorError("PyYAML is required to read release manifests: install it with 'pip install PyYAML'")
        try:
            return yaml.load(text, Loader=_no_aliases_loader())  # nosec B506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise ConductorError(f"{what} {path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConductorError(f"{what} {path} is not valid JSON: {exc}") from exc


def validate_document(document, schema: dict, path: str, what: str) -> None:
    """Raise ConductorError naming every schema violation in ``document``."""
    if jsonschema is None:
        raise ConductorError("jsonschema is required to validate release files: install it with 'pip install jsonschema'")
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        problems = "; ".join(f"{'/'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message[:200]}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ConductorError(f"{what} {path} does not match its schema: {problems}{more}")


def load_document(path: str, schema: dict, what: str) -> tuple[dict, bytes]:
    """Read, parse and schema-check one release document; return it and its raw bytes."""
    data = read_bytes_limited(path, MAX_DOCUMENT_BYTES, what)
    document = _parse(data, path, what)
    validate_document(document, schema, path, what)
    return document, data


def manifest_schema(document, path: str, what: str = "manifest") -> dict:
    """The schema of the manifest format ``document`` declares; an unknown format_version is refused by name."""
    version = document.get("format_version") if isinstance(document, dict) else None
    if version is None:
        return MANIFEST_SCHEMAS[MANIFEST_FORMAT_VERSION]  # its violations name what is missing
    if isinstance(version, bool) or version not in MANIFEST_SCHEMAS:
        formats = " and ".join(str(v) for v in MANIFEST_SCHEMAS)
        raise ConductorError(f"{what} format_version {version!r} is not supported: "
                             f"this collection reads formats {formats} ({path})")
    return MANIFEST_SCHEMAS[version]


def load_manifest(path: str, what: str = "manifest") -> tuple[dict, bytes]:
    """Read, parse and check a release manifest against the schema of its own format_version."""
    data = read_bytes_limited(path, MAX_DOCUMENT_BYTES, what)
    document = _parse(data, path, what)
    validate_document(document, manifest_schema(document, path, what), path, what)
    return document, data


def file_problem(release_dir: str, relpath: str) -> str:
    """Why ``relpath`` is not a regular file inside ``release_dir`` (a real path), or ''."""
    reason = check_relative_path(relpath)
    if reason:
        return f"path {relpath!r} {reason}"
    full = os.path.join(release_dir, relpath)
    real = os.path.realpath(full)
    if os.path.commonpath([real, release_dir]) != release_dir:
        return f"path {relpath!r} resolves outside the release directory (to {real})"
    if not os.path.lexists(full):
        return f"{relpath} is missing"
    if not os.path.isfile(real):
        return f"{relpath} is not a regular file"
    return ""


def dump_manifest(manifest: dict) -> bytes:
    """Serialize a manifest the same way every time, so re-runs compare byte for byte."""
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False, allow_unicode=True).encode("utf-8")


def dump_json(document: dict) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8")
