# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release format: file names, JSON Schemas and strict loaders.

The manifest is at format 3: format 2 (format 1 plus the image ids of image archives) whose signed
releases also carry the attestation as a DSSE envelope. Releases of formats 1 and 2 keep verifying;
the evidence and the attestation are at format 1.
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
# Evidence format 2 adds the CI workflow's path and digest to the provenance; a release that records no workflow
# is still written in format 1, which collections before it read.
EVIDENCE_WORKFLOW_FORMAT = 2
MANIFEST_FORMAT_VERSION = 3
# From this manifest format on, a signed release also carries its Statement as a DSSE envelope.
ENVELOPE_FORMAT = 3
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
SIGNATURE_NAMESPACE = "maestro-release"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://maestro-conductor.invalid/release/v1"
# Every term maps into the in-toto vocabulary, so the Statement expands as JSON-LD
# without fetching a remote context.
JSONLD_CONTEXT = {"@vocab": "https://in-toto.io/Statement/v1#"}
ENVELOPE_PAYLOAD_TYPE = "application/vnd.in-toto+json"
# base64 of a document at the size limit, and room for a few signatures
MAX_ENVELOPE_BYTES = MAX_DOCUMENT_BYTES * 4 // 3 + 64 * 1024


def manifest_name(tag: str) -> str:
    return f"release-manifest-{tag}.yaml"


def evidence_name(tag: str) -> str:
    return f"evidence-{tag}.json"


def attestation_name(tag: str) -> str:
    return f"release-attestation-{tag}.jsonld"


def signature_name(tag: str) -> str:
    return attestation_name(tag) + ".sig"


def envelope_name(tag: str) -> str:
    return f"release-attestation-{tag}.dsse.json"


def release_file_names(tag: str) -> tuple[str, str, str, str, str]:
    """The files a release directory holds besides its artifacts: manifest, evidence, attestation, signature, envelope."""
    return manifest_name(tag), evidence_name(tag), attestation_name(tag), signature_name(tag), envelope_name(tag)


def plain_statement(attestation: dict) -> dict:
    """The in-toto Statement of the JSON-LD attestation: the same document without ``@context``.

    in-toto's own parsers (the Go and Python bindings) refuse a field the Statement does not define, so the
    envelope carries this, and the JSON-LD view must say exactly the same.
    """
    return {key: value for key, value in attestation.items() if key != "@context"}


# (?![\s\S]) ends a pattern in Python (which jsonschema uses, and whose "$" also matches before a final newline)
# and in ECMA-262 alike
_OID = {"type": "string", "pattern": "^([0-9a-f]{40}|[0-9a-f]{64})(?![\\s\\S])"}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}(?![\\s\\S])"}
_TAG = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}(?![\\s\\S])"}
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
            "id": {"type": "string", "pattern": f"^{IMAGE_ID_RE.pattern}(?![\\s\\S])"},
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
    """Format 2 is format 1 plus an optional ``images`` list on each artifact (present on image archives).

    Format 3 adds no field: it says that the release, when signed, also holds the DSSE envelope.
    """
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


MANIFEST_SCHEMAS = {version: _manifest_schema(version) for version in (1, 2, 3)}


def _evidence_schema(version: int) -> dict:
    """The evidence schema of ``version``: 2 adds provenance.workflow, the CI workflow the release was built by."""
    provenance = {
        "repository": {"type": "string", "minLength": 1, "maxLength": 4096},
        "commit": _OID,
        "builder": {"type": "string", "minLength": 1, "maxLength": 256},
    }
    if version >= EVIDENCE_WORKFLOW_FORMAT:
        provenance["workflow"] = {
            "type": "object",
            "additionalProperties": False,
            "required": ["path", "sha256"],
            "properties": {
                # as it is in the repository: relative, no '..', no backslash
                "path": {"type": "string", "minLength": 1, "maxLength": 1024,
                         "pattern": r"^(?!/)(?!.*(?:^|/)[.][.]?(?:/|$))[^\\\x00-\x1f]+(?![\s\S])"},
                "sha256": _SHA256,
            },
        }
    return {
        "$schema": _DRAFT,
        "$id": f"https://maestro-conductor.invalid/schemas/evidence-v{version}.json",
        "title": "maestro.conductor release evidence",
        "type": "object",
        "additionalProperties": False,
        "required": ["format_version", "kind", "tag", "commit", "generated_at", "generated_by", "checks", "provenance"],
        "properties": {
            "format_version": {"const": version},
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
                "properties": provenance,
            },
        },
    }


EVIDENCE_SCHEMAS = {version: _evidence_schema(version) for version in (1, EVIDENCE_WORKFLOW_FORMAT)}

ATTESTATION_SCHEMA = {
    "$schema": _DRAFT,
    "$id": "https://maestro-conductor.invalid/schemas/release-attestation-v1.json",
    "title": "maestro.conductor release attestation (in-toto Statement v1, JSON-LD)",
    "type": "object",
    "additionalProperties": False,
    "required": ["@context", "_type", "subject", "predicateType", "predicate"],
    "properties": {
        "@context": {"const": JSONLD_CONTEXT},
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

_BASE64 = {"type": "string", "pattern": "^[A-Za-z0-9+/_-]*={0,2}(?![\\s\\S])"}  # DSSE allows the standard and the URL-safe alphabet

# DSSE v1.0's JSON envelope, as the release writes it. Other fields are allowed: DSSE consumers must ignore them.
ENVELOPE_SCHEMA = {
    "$schema": _DRAFT,
    "$id": "https://maestro-conductor.invalid/schemas/release-attestation-envelope-v1.json",
    "title": "maestro.conductor release attestation as a DSSE envelope (in-toto Statement v1, without @context)",
    "type": "object",
    "required": ["payload", "payloadType", "signatures"],
    "properties": {
        "payload": {**_BASE64, "maxLength": MAX_DOCUMENT_BYTES * 4 // 3 + 4},
        "payloadType": {"const": ENVELOPE_PAYLOAD_TYPE},
        "signatures": {
            "type": "array",
            "minItems": 1,
            "maxItems": 64,
            "items": {
                "type": "object",
                "required": ["sig"],
                "properties": {
                    "keyid": {"type": "string", "maxLength": 256},
                    "sig": {**_BASE64, "minLength": 1, "maxLength": 4096},
                },
            },
        },
    },
}

# What ``make schemas`` writes to docs/schemas/, by file stem.
SCHEMAS = {
    **{f"release-manifest-v{version}": schema for version, schema in MANIFEST_SCHEMAS.items()},
    **{f"evidence-v{version}": schema for version, schema in EVIDENCE_SCHEMAS.items()},
    f"release-attestation-v{FORMAT_VERSION}": ATTESTATION_SCHEMA,
    "release-attestation-envelope-v1": ENVELOPE_SCHEMA,
}


def _refuse_shared(root) -> None:
    """A ComposerError when a node of the composed document appears twice: that is what an alias makes."""
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise yaml.composer.ComposerError(None, None, "aliases are not allowed in a release manifest", node.start_mark)
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _no_aliases_loader():
    # libyaml's parser when PyYAML has it (about ten times faster: the weekly validation reads hundreds of manifests)
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(base):  # pylint: disable=too-many-ancestors
        """A safe loader that refuses aliases (an anchor alone is harmless and read): a manifest never needs them, and they
        enable 'billion laughs'. The composed document is checked before anything is constructed from it."""

        def get_single_node(self):
            node = super().get_single_node()
            if node is not None:
                _refuse_shared(node)
            return node

        def construct_mapping(self, node, deep=False):
            # PyYAML keeps the last of two equal keys, other readers the first: a signed document means one thing
            seen = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return _Loader


_LOADER = _no_aliases_loader() if yaml is not None else None


def _unique_keys(pairs: list) -> dict:
    """A JSON object whose keys are unique (json keeps the last of two equal keys, other readers the first)."""
    found: dict = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {key!r}")
        found[key] = value
    return found


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
            return yaml.load(text, Loader=_LOADER)  # nosec B506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            if "maximum nesting depth" in str(exc):  # libyaml's own limit, where pure Python runs out of recursion
                raise RecursionError(str(exc)) from exc
            raise ConductorError(f"{what} {path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
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


def load_document(path: str, schema: dict, what: str, limit: int = MAX_DOCUMENT_BYTES) -> tuple[dict, bytes]:
    """Read, parse and schema-check one release document; return it and its raw bytes."""
    data = read_bytes_limited(path, limit, what)
    document = _parse(data, path, what)
    validate_document(document, schema, path, what)
    return document, data


def _schema_of(document, schemas: dict[int, dict], newest: int, path: str, what: str) -> dict:
    """The schema of the format ``document`` declares among ``schemas``; an unknown format_version is refused by name."""
    version = document.get("format_version") if isinstance(document, dict) else None
    if version is None:
        return schemas[newest]  # its violations name what is missing
    if isinstance(version, bool) or version not in schemas:
        *earlier, last = map(str, schemas)
        formats = f"{', '.join(earlier)} and {last}" if earlier else last
        raise ConductorError(f"{what} format_version {version!r} is not supported: "
                             f"this collection reads formats {formats} ({path})")
    return schemas[version]


def manifest_schema(document, path: str, what: str = "manifest") -> dict:
    """The schema of the manifest format ``document`` declares; an unknown format_version is refused by name."""
    return _schema_of(document, MANIFEST_SCHEMAS, MANIFEST_FORMAT_VERSION, path, what)


def evidence_schema(document, path: str, what: str = "evidence") -> dict:
    """The schema of the evidence format ``document`` declares; an unknown format_version is refused by name."""
    return _schema_of(document, EVIDENCE_SCHEMAS, EVIDENCE_WORKFLOW_FORMAT, path, what)


def load_evidence(path: str, what: str = "evidence", limit: int = MAX_DOCUMENT_BYTES) -> tuple[dict, bytes]:
    """Read, parse and check an evidence document against the schema of its own format_version."""
    data = read_bytes_limited(path, limit, what)
    document = _parse(data, path, what)
    validate_document(document, evidence_schema(document, path, what), path, what)
    return document, data


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
