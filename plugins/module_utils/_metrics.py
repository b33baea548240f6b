# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way the collection writes Prometheus metrics: a file for node_exporter's textfile collector, a Pushgateway group, or both.

Every sample is checked against the catalogue (``_metric_catalogue.SPECS``) before anything is read or written. The output is
the text exposition format 0.0.4 without timestamps, families and samples in a stable order, so that the same input renders
the same bytes and a second run changes nothing. Counters are carried across runs: a run gives increments, and the writer
adds them to the values it wrote last time for the same writer and environment (read back from its own file, or from its
Pushgateway group, since an AWX execution environment keeps no files). Once a writer has touched a counter, every
combination of its bounded labels is written, at 0 until incremented, so that ``increase()`` sees a failure after the
first run (a writer whose very first run fails has its fail series born at 1: the pass-rate alert counts a series born
within its day whole).
Gauges are this run's, but for the ones named in ``keep``: their series from the previous run stay when this run gives
none (a failed switch has no time to green, and the last one stays the last one).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import errno
import fcntl
import itertools
import json
import math
import os
import re
import stat
import time
import urllib.parse
from dataclasses import dataclass, field
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

from ansible_collections.maestro.conductor.plugins.module_utils._urls import is_loopback
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import validate_environment
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import PREFIX, SOURCES, SPECS, WRITERS, Spec
from ansible_collections.maestro.conductor.plugins.module_utils._task import Outcome
from ansible_collections.maestro.conductor.plugins.module_utils._urls import has_credentials, strip_credentials

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MAX_LABEL_VALUE = 256
_MAX_FILE = 1024 * 1024          # a writer's file holds tens of samples; anything near this is not ours
_MAX_ANSWER = 32 * 1024 * 1024   # the Pushgateway answers with every group it holds
# the bounded label that names the procedure that wrote a series: only the writer's own sources, or two writers would
# write the same series (node_exporter refuses duplicates across files)
_SOURCE_LABEL = "source"
# labels the Pushgateway adds to what it serves: its grouping key, and an empty instance
_GATEWAY_LABELS = ("job", "instance")
_GATEWAY_OWN = ("push_time_seconds", "push_failure_time_seconds")

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_PAIR = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_HELP_RE = re.compile(rf"# HELP ({_NAME}) (.*)")
_TYPE_RE = re.compile(rf"# TYPE ({_NAME}) (counter|gauge)")
_SAMPLE_RE = re.compile(rf"({_NAME})(?:\{{((?:{_PAIR})(?:,{_PAIR})*)\}})? ({_NUMBER})")
_PAIR_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_UNESCAPE_RE = re.compile(r'\\([\\"n])')
_SAFE_HOST_RE = re.compile(r"[A-Za-z0-9.:-]+")
_USERNAME_RE = re.compile(r"[\x21-\x39\x3b-\x7e]{1,256}")  # printable, no space, no ':' (it ends the user in basic auth)


# --- samples -------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Sample:
    """One series and its value; ``labels`` in the order the catalogue lists them, ``environment`` included."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float = field(compare=False)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.name, self.labels

    def describe(self) -> str:
        return self.name + "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in self.labels) + "}"


def writer_sources(writer: str) -> tuple[str, ...]:
    """The sources a writer writes: its own name when that is a source (watch, verify, drill, daily); for the switch, the
    sources that are no writer's name (deploy and rollback); none for a writer that verifies nothing itself (weekly). So
    each source belongs to exactly one writer."""
    if writer in SOURCES:
        return (writer,)
    if writer == "switch":
        return tuple(source for source in SOURCES if source not in WRITERS)
    return ()


def _bounded(spec: Spec, writer: str) -> dict[str, tuple[str, ...]]:
    bounded = dict(spec.values)
    if _SOURCE_LABEL in bounded:
        bounded[_SOURCE_LABEL] = writer_sources(writer)
    return bounded


def _check_label_value(spec: Spec, label: str, value: object, writer: str) -> str:
    allowed = _bounded(spec, writer).get(label)
    if label == _SOURCE_LABEL and allowed is not None and value not in allowed and value in SOURCES:
        raise ConductorError(f"metric {spec.name}: label {label} is {value!r}, expected {' or '.join(allowed)}: it names the procedure "
                             f"that wrote the series, and the {writer} writer writes only its own (two writers never write the same "
                             "series)")
    if allowed is not None:
        if value not in allowed:
            raise ConductorError(f"metric {spec.name}: label {label} is {value!r}, expected one of {', '.join(allowed)}")
        return value  # type: ignore[return-value]
    if not isinstance(value, str):
        raise ConductorError(f"metric {spec.name}: label {label} is {type(value).__name__} {value!r}, expected text (quote it)")
    if not value or len(value) > _MAX_LABEL_VALUE or not value.isprintable():
        raise ConductorError(f"metric {spec.name}: label {label} is invalid: expected one line of 1-{_MAX_LABEL_VALUE} printable "
                             f"characters ({len(value)} characters given)")
    return value


def _number(spec_name: str, what: str, value: object) -> float:
    """A finite float from an int, float or bool (bool is 0 or 1); anything else is refused."""
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)):
        raise ConductorError(f"metric {spec_name}: {what} is {type(value).__name__} {value!r}, expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ConductorError(f"metric {spec_name}: {what} is {value!r}, expected a finite number")
    return number


def make_sample(writer: str, environment: str, name: object, labels: object, value: object, kind: str,
                what: str = "value") -> Sample:
    """A validated sample of ``kind`` (counter or gauge); ``labels`` are every label but ``environment``, which is filled in."""
    spec = SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ConductorError(f"metric {name!r} is not in the catalogue (_metric_catalogue.SPECS): expected one of "
                             f"{', '.join(sorted(SPECS))}")
    if spec.type != kind:
        where = "increments, with by" if spec.type == "counter" else "gauges, with value"
        raise ConductorError(f"metric {spec.name} is a {spec.type}: give it in {where}")
    if labels is None:
        labels = {}
    if not isinstance(labels, dict):
        raise ConductorError(f"metric {spec.name}: labels is {type(labels).__name__}, expected a mapping of label to value")
    expected = [label for label in spec.labels if label != "environment"]
    if "environment" in labels:
        raise ConductorError(f"metric {spec.name}: label environment is filled in by the writer, leave it out")
    for label in labels:
        if label not in expected:
            raise ConductorError(f"metric {spec.name}: label {label!r} is not one of its labels "
                                 f"(expected: {', '.join(expected) or 'none'})")
    for label in expected:
        if label not in labels:
            raise ConductorError(f"metric {spec.name}: label {label} is missing (expected: {', '.join(expected)})")
    values = {"environment": environment, **{label: _check_label_value(spec, label, labels[label], writer) for label in expected}}
    number = _number(spec.name, what, value)
    if spec.type == "counter" and number < 0:
        raise ConductorError(f"metric {spec.name}: {what} is {value!r}, expected a number >= 0 (a counter only goes up)")
    return Sample(spec.name, tuple((label, values[label]) for label in spec.labels), number)


def _entries(items: object, what: str, value_key: str) -> list[dict]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConductorError(f"{what} is {type(items).__name__}, expected a list of {{name, labels, {value_key}}}")
    for item in items:
        if not isinstance(item, dict) or "name" not in item or value_key not in item:
            raise ConductorError(f"{what}: entry {item!r} is invalid: expected a mapping with name, labels and {value_key}")
        unknown = sorted(set(item) - {"name", "labels", value_key})
        if unknown:
            raise ConductorError(f"{what}: entry for {item['name']!r} has unknown keys {unknown}: expected name, labels and {value_key}")
    return items


def gauge_samples(writer: str, environment: str, gauges: object) -> list[Sample]:
    samples: dict = {}
    for item in _entries(gauges, "gauges", "value"):
        sample = make_sample(writer, environment, item["name"], item.get("labels"), item["value"], "gauge")
        if sample.key in samples:
            raise ConductorError(f"metric {sample.describe()} is given twice in gauges: expected one value per series")
        samples[sample.key] = sample
    return list(samples.values())


def increment_samples(writer: str, environment: str, increments: object) -> list[Sample]:
    return [make_sample(writer, environment, item["name"], item.get("labels"), item["by"], "counter", what="by")
            for item in _entries(increments, "increments", "by")]


def validate_keep(keep: object) -> tuple[str, ...]:
    """The gauge names whose previous series stay when a run does not give them."""
    if keep is None:
        return ()
    if not isinstance(keep, (list, tuple)):
        raise ConductorError(f"keep is {type(keep).__name__}, expected a list of gauge names")
    for name in keep:
        spec = SPECS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise ConductorError(f"keep: metric {name!r} is not in the catalogue (_metric_catalogue.SPECS)")
        if spec.type != "gauge":
            raise ConductorError(f"keep: metric {name} is a {spec.type}: counters are always carried, keep names gauges")
    return tuple(keep)


def next_samples(writer: str, previous: list[Sample], gauges: list[Sample], increments: list[Sample],
                 keep: tuple[str, ...] = ()) -> list[Sample]:
    """What a run writes: its gauges, the previous series of the gauges in ``keep`` it does not give, and the counters."""
    given = {sample.key for sample in gauges}
    kept = [sample for sample in previous if sample.name in keep and SPECS[sample.name].type == "gauge" and sample.key not in given]
    return gauges + kept + carry_counters(writer, previous, increments)


def carry_counters(writer: str, previous: list[Sample], increments: list[Sample]) -> list[Sample]:
    """The counters to write: the previous values plus the increments, every bounded combination of a counter touched."""
    values: dict = {sample.key: sample.value for sample in previous if SPECS[sample.name].type == "counter"}
    for sample in increments:
        values[sample.key] = values.get(sample.key, 0.0) + sample.value
    for name, labels in list(values):
        spec = SPECS[name]
        bounded = _bounded(spec, writer)
        choices = [bounded.get(label, (value,)) for label, value in labels]
        for combination in itertools.product(*choices):
            values.setdefault((name, tuple(zip(spec.labels, combination))), 0.0)
    return [Sample(name, labels, value) for (name, labels), value in values.items()]


# --- the text exposition format ------------------------------------------------------------------------------------------

def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """Integers without '.0' (up to 2**53, where a float stops holding every integer), else the shortest exact form."""
    if value.is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(value)


def render(samples: list[Sample]) -> str:
    """The exposition: families by name, each with HELP and TYPE, samples by their labels; no timestamps."""
    lines: list[str] = []
    for name, family in itertools.groupby(sorted(samples), key=lambda sample: sample.name):
        spec = SPECS[name]
        lines += [f"# HELP {name} {_escape_help(spec.help)}", f"# TYPE {name} {spec.type}"]
        lines += [f"{sample.describe()} {format_value(sample.value)}" for sample in family]
    return "".join(line + "\n" for line in lines)


class NotOurs(ConductorError):
    """Metrics read back that this writer did not write: the counters start again."""


def parse(text: str) -> list[tuple[str, str, dict[str, str], float]]:
    """(name, type, labels, value) of every sample of an exposition as ``render`` writes it; NotOurs for anything else."""
    samples = []
    family, kind = "", ""
    if text and not text.endswith("\n"):
        raise NotOurs("it does not end with a newline (a torn write)")
    # split at '\n' only: the format ends lines there, and our label values hold no other line break
    for number, line in enumerate(text[:-1].split("\n") if text else [], 1):
        helped, typed, sampled = _HELP_RE.fullmatch(line), _TYPE_RE.fullmatch(line), _SAMPLE_RE.fullmatch(line)
        if helped:
            family, kind = helped.group(1), ""
        elif typed and typed.group(1) == family and not kind:
            kind = typed.group(2)
        elif sampled and sampled.group(1) == family and kind:
            labels = {key: _UNESCAPE_RE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), value)
                      for key, value in _PAIR_RE.findall(sampled.group(2) or "")}
            samples.append((family, kind, labels, float(sampled.group(3))))
        else:
            raise NotOurs(f"line {number} is not HELP, TYPE and samples of one family as this writer writes them")
    return samples


def ours(writer: str, environment: str, read: list[tuple[str, str, dict[str, str], float]]) -> list[Sample]:
    """The samples read back, checked as this writer's own for ``environment``; NotOurs when one is not."""
    samples: dict = {}
    for name, kind, labels, value in read:
        labels = dict(labels)
        if labels.pop("environment", None) != environment:
            raise NotOurs(f"metric {name} is not labelled environment={environment!r}")
        try:
            sample = make_sample(writer, environment, name, labels, value, kind)
        except ConductorError as exc:
            raise NotOurs(str(exc)) from None
        if sample.key in samples:
            raise NotOurs(f"series {sample.describe()} appears twice")
        samples[sample.key] = sample
    return list(samples.values())


# --- where metrics go ----------------------------------------------------------------------------------------------------

@dataclass
class Gateway:
    """A Pushgateway; the password goes only into the request's Authorization header."""

    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10.0


@dataclass
class Request:
    writer: str
    environment: str
    gauges: list = field(default_factory=list)
    increments: list = field(default_factory=list)
    textfile_dir: str = ""
    gateway: Gateway | None = None
    state: str = "present"
    timeout: float = 10.0
    keep: list = field(default_factory=list)


@dataclass
class Target:
    """What one target held before and holds after (or would, in check mode)."""

    where: str
    before: str = ""
    after: str = ""
    changed: bool = False
    ok: bool = True
    error: str = ""


@dataclass
class Result:
    path: str = ""
    text: str = ""
    aside: str = ""
    textfile: Target | None = None
    pushgateway: Target | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(target.changed for target in (self.textfile, self.pushgateway) if target)


def textfile_path(directory: str, writer: str, environment: str) -> str:
    return os.path.join(directory, f"{PREFIX}{writer}_{environment}.prom")


def validate_gateway_url(url: object, with_password: bool) -> str:
    """``url`` without a trailing slash if it is an http(s) URL without credentials, query or fragment; else ConductorError."""
    text = url if isinstance(url, str) else ""
    try:
        parts = urllib.parse.urlsplit(text)
        host = parts.hostname
    except ValueError:  # an unclosed '[' of an IPv6 address
        host = None
    if not host or parts.scheme not in ("http", "https") or not _SAFE_HOST_RE.fullmatch(host):
        raise ConductorError(f"pushgateway_url {strip_credentials(text)!r} is invalid: expected the Pushgateway's http:// or https:// "
                             "URL, such as http://pushgateway.example.com:9091")
    if has_credentials(text) or parts.username or parts.query or parts.fragment:
        raise ConductorError("pushgateway_url must not carry credentials, a query or a fragment: give pushgateway_username and "
                             "pushgateway_password")
    if with_password and parts.scheme == "http" and not is_loopback(host):
        raise ConductorError(f"pushgateway_url {text!r} is refused with a password: it would cross the network in clear text "
                             "(plain http only to 127.0.0.0/8, ::1 or localhost); use https://")
    return text.rstrip("/")


def validate(request: Request) -> tuple[list[Sample], list[Sample]]:
    """Everything the user gave, checked before anything is read or written: (gauges, increments); ``keep`` as a tuple."""
    if request.writer not in WRITERS:
        raise ConductorError(f"writer {request.writer!r} is invalid: expected one of {', '.join(WRITERS)}")
    validate_environment(request.environment)
    if request.state not in ("present", "absent"):
        raise ConductorError(f"state {request.state!r} is invalid: expected present or absent")
    if not request.textfile_dir and request.gateway is None:
        raise ConductorError("no target: give textfile_dir (node_exporter's textfile collector directory), pushgateway_url, or both")
    if request.gateway is not None:
        request.gateway.url = validate_gateway_url(request.gateway.url, bool(request.gateway.password))
        if request.gateway.password and not request.gateway.username:
            raise ConductorError("pushgateway_password is given without pushgateway_username: basic auth needs both")
        if request.gateway.username and not _USERNAME_RE.fullmatch(request.gateway.username):
            raise ConductorError("pushgateway_username is invalid: expected 1-256 printable characters without spaces or ':'")
    if not isinstance(request.timeout, (int, float)) or isinstance(request.timeout, bool) or not 0 < request.timeout <= 3600:
        raise ConductorError(f"timeout {request.timeout!r} is invalid: expected seconds, more than 0 and at most 3600")
    gauges = gauge_samples(request.writer, request.environment, request.gauges)
    increments = increment_samples(request.writer, request.environment, request.increments)
    request.keep = list(validate_keep(request.keep))
    if request.state == "absent" and (gauges or increments):
        raise ConductorError("gauges and increments go with state=present: state=absent removes the writer's metrics")
    return gauges, increments


# --- textfile ------------------------------------------------------------------------------------------------------------

def _check_directory(directory: str) -> None:
    hint = ("create it, or give textfile_dir the directory node_exporter reads (its --collector.textfile.directory; "
            "Debian's default is /var/lib/prometheus/node-exporter)")
    if not os.path.isdir(directory):
        what = "is not a directory" if os.path.exists(directory) else "does not exist"
        raise ConductorError(f"textfile directory {directory} {what}: {hint}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConductorError(f"textfile directory {directory} is not writable: run the task as a user who may write there "
                             f"(become), or {hint}")


class _Lock:
    """An exclusive flock on a file beside the textfile (its name does not end in .prom, so node_exporter ignores it)."""

    def __init__(self, path: str, timeout: float):
        self.path, self.timeout, self.fd = path + ".lock", timeout, -1

    def __enter__(self) -> _Lock:
        directory = os.path.dirname(self.path)
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConductorError(f"textfile directory {directory} is not writable: {exc.strerror} creating {self.path}; make it "
                                 "writable by the user the task runs as (become), or give textfile_dir another directory that "
                                 "node_exporter reads (--collector.textfile.directory)") from None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise ConductorError(f"{self.path} is locked by another run of this writer for more than {self.timeout:g} s "
                                         "(timeout): it holds it only while it writes, so that run is stuck") from None
                time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


def _aside_path(path: str) -> str:
    return f"{path}.corrupt-{datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}"


def read_textfile(path: str, writer: str, environment: str) -> tuple[str, list[Sample], str]:
    """(text, samples, problem) of the writer's file; problem is why it is not ours ('' when it is, or is missing).

    Opened without following a link and without blocking on a pipe: a link to another file, or a device, in a shared
    textfile directory is never read, and what a file that is not ours holds is never quoted (it may be anyone's)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return "", [], ""
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "", [], "it is a symbolic link"
        raise ConductorError(f"textfile {path} cannot be read: {exc.strerror}") from None
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):  # not set aside: a directory is nobody's stray file
        os.close(fd)
        raise ConductorError(f"textfile {path} cannot be read: Is a directory")
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(info.st_mode):
            return "", [], "it is not a regular file"
        if info.st_size > _MAX_FILE:
            return "", [], f"it is larger than {_MAX_FILE} bytes"
        raw = handle.read(_MAX_FILE + 1)
    try:
        text = raw.decode("utf-8")
        return text, ours(writer, environment, parse(text)), ""
    except UnicodeDecodeError:
        return "", [], "it is not UTF-8"
    except NotOurs as exc:
        return "", [], str(exc)


def _write_textfile(request: Request, result: Result, gauges: list[Sample], increments: list[Sample], check_mode: bool) -> None:
    path = textfile_path(request.textfile_dir, request.writer, request.environment)
    result.path = path
    _check_directory(request.textfile_dir)
    # check mode reads without the lock: it creates nothing, and the file is only ever replaced whole
    try:
        with contextlib.nullcontext() if check_mode else _Lock(path, request.timeout):
            _textfile_step(request, result, path, gauges, increments, check_mode)
    except OSError as exc:  # a full or read-only file system, a directory where the file should be
        raise ConductorError(f"textfile {path} could not be written: {exc.strerror or exc}") from None


def _textfile_step(request: Request, result: Result, path: str, gauges: list[Sample], increments: list[Sample], check_mode: bool) -> None:
    """Read, decide and write, under the lock outside check mode."""
    existed = os.path.exists(path)
    before, previous, problem = read_textfile(path, request.writer, request.environment)
    target = result.textfile = Target(path, before=before)
    if problem:
        result.aside = _aside_path(path)
        if not check_mode:
            os.rename(path, result.aside)
        verb = "would be set aside as" if check_mode else "was set aside as"
        result.warnings.append(f"textfile {path} is not this writer's metrics ({problem}): it {verb} {result.aside}, and its "
                               "counters start again from 0 (Prometheus reads that as a counter reset)")
    if request.state == "absent":
        target.changed = existed
        if existed and not problem and not check_mode:
            os.unlink(path)
        return
    target.after = render(next_samples(request.writer, previous, gauges, increments, tuple(request.keep)))
    target.changed = target.after != before or bool(problem) or not existed
    if check_mode:
        return
    if target.changed:
        atomic_write(path, target.after.encode("utf-8"), mode=0o644)
    else:
        os.utime(path)  # the same metrics, written again: node_textfile_mtime_seconds says the writer still runs


# --- Pushgateway ---------------------------------------------------------------------------------------------------------

class GatewayError(ConductorError):
    """The Pushgateway is down or answered an error: reported and warned, never a failed write."""


def group_url(gateway: Gateway, writer: str, environment: str) -> str:
    """The group of ``writer`` in ``environment``: its grouping key is job and environment, never instance."""
    return f"{gateway.url}/metrics/job/{PREFIX}{writer}/environment/{urllib.parse.quote(environment, safe='')}"


def _call(gateway: Gateway, method: str, url: str, data: bytes | None = None) -> bytes:
    headers = {"Content-Type": CONTENT_TYPE} if data is not None else {}
    where = f"pushgateway {method} {url}"
    try:
        response = open_url(url, data=data, headers=headers, method=method, timeout=gateway.timeout, follow_redirects="none",
                            use_netrc=False, use_proxy=not is_loopback(urllib.parse.urlsplit(url).hostname or ""),
                            url_username=gateway.username or None, url_password=gateway.password or None,
                            force_basic_auth=bool(gateway.username), http_agent="maestro.conductor")
        raw = response.read(_MAX_ANSWER + 1)
    except HTTPError as exc:
        if 300 <= exc.code < 400:
            location = strip_credentials((exc.headers.get("Location") if exc.headers else "") or "nowhere")
            said = f"redirect to {location}, not followed: give the Pushgateway's own URL"
        else:
            said = f"{exc.code} {exc.reason}"
            try:
                body = exc.read(2000).decode("utf-8", "replace").strip()
            except Exception:  # pylint: disable=broad-except
                body = ""
            said += f" (it said: {body[:500]})" if body else ""
        raise GatewayError(_mask(f"{where}: {said}", gateway)) from None
    except (URLError, OSError, ValueError) as exc:
        raise GatewayError(_mask(f"{where}: could not be reached: {getattr(exc, 'reason', exc)}", gateway)) from None
    if len(raw) > _MAX_ANSWER:
        raise GatewayError(f"{where}: the answer is larger than {_MAX_ANSWER} bytes")
    return raw


def _mask(text: str, gateway: Gateway) -> str:
    """The password masked, and the basic-auth header value that carries it (a server may echo the request's headers)."""
    if len(gateway.password) < 4:
        return text
    header = base64.b64encode(f"{gateway.username}:{gateway.password}".encode()).decode()
    return text.replace(header, "********").replace(gateway.password, "********")


def read_group(gateway: Gateway, writer: str, environment: str) -> dict | None:
    """This writer's group as the gateway's JSON API shows it; None when there is none."""
    raw = _call(gateway, "GET", f"{gateway.url}/api/v1/metrics")
    try:
        answer = json.loads(raw.decode("utf-8"))
        groups = answer["data"]
        if answer.get("status") != "success" or not isinstance(groups, list):
            raise ValueError("not a success")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise GatewayError(f"pushgateway GET {gateway.url}/api/v1/metrics: the answer is not the Pushgateway's JSON API "
                           "(expected status success and a data list)") from None
    key = {"job": f"{PREFIX}{writer}", "environment": environment}
    for group in groups:
        if isinstance(group, dict) and group.get("labels") == key:
            return group
    return None


def group_samples(group: dict) -> list[tuple[str, str, dict[str, str], float]]:
    """(name, type, labels, value) of a group's samples, without the gateway's own push_* series and grouping labels."""
    samples = []
    for name, family in sorted(group.items()):
        if name in ("labels", "last_push_successful") or name in _GATEWAY_OWN:
            continue
        try:
            kind = family["type"].lower()
            for metric in family["metrics"]:
                labels = {k: v for k, v in metric["labels"].items() if k not in _GATEWAY_LABELS or (k == "instance" and v)}
                samples.append((name, kind, labels, float(metric["value"])))
        except (KeyError, TypeError, AttributeError, ValueError):
            raise NotOurs(f"family {name} is not a counter or gauge of plain samples") from None
    return samples


def _push(request: Request, gateway: Gateway, result: Result, gauges: list[Sample], increments: list[Sample], check_mode: bool) -> None:
    url = group_url(gateway, request.writer, request.environment)
    target = result.pushgateway = Target(url)
    try:
        held = read_group(gateway, request.writer, request.environment)
    except GatewayError as exc:
        _gateway_failed(result, target, str(exc), "nothing was pushed" if request.state == "present" else "its group was not deleted")
        return
    previous: list[Sample] = []
    if held is not None:
        try:
            previous = ours(request.writer, request.environment, group_samples(held))
            target.before = render(previous)
        except NotOurs as exc:
            target.before = f"# metrics this writer did not write: {exc}\n"
            result.warnings.append(f"pushgateway group {url} holds metrics this writer did not write ({exc}): they are replaced, "
                                   "and its counters start again from 0 (Prometheus reads that as a counter reset)")
    if request.state == "absent":
        target.changed = held is not None
        if target.changed and not check_mode:
            try:
                _call(gateway, "DELETE", url)
            except GatewayError as exc:
                _gateway_failed(result, target, str(exc), "its group was not deleted")
        return
    target.after = render(next_samples(request.writer, previous, gauges, increments, tuple(request.keep)))
    target.changed = held is None or target.after != target.before
    if check_mode:
        return
    try:
        # pushed even when unchanged: the gateway's push_time_seconds says the writer still runs
        _call(gateway, "PUT", url, target.after.encode("utf-8"))
    except GatewayError as exc:
        _gateway_failed(result, target, str(exc), "nothing was pushed")


def _gateway_failed(result: Result, target: Target, error: str, consequence: str) -> None:
    target.ok, target.error, target.changed = False, error, False
    result.warnings.append(f"{error}; {consequence} (the run goes on: metrics that do not reach the Pushgateway go stale, "
                           "which its staleness alert reports)")


# --- the whole write -----------------------------------------------------------------------------------------------------

def write(request: Request, check_mode: bool = False) -> Result:
    """Write (state=present) or remove (state=absent) the writer's metrics on every target given."""
    gauges, increments = validate(request)
    result = Result()
    if request.textfile_dir:
        _write_textfile(request, result, gauges, increments, check_mode)
    if request.gateway is not None:
        _push(request, request.gateway, result, gauges, increments, check_mode)
    target = result.textfile or result.pushgateway
    result.text = target.after if target else ""
    return result


def run(params: dict, check_mode: bool, diff: bool) -> Outcome:
    """release_metrics: the module's parameters in, its result out."""
    gateway = None
    if params.get("pushgateway_url"):
        gateway = Gateway(params["pushgateway_url"], params.get("pushgateway_username") or "", params.get("pushgateway_password") or "",
                          params.get("timeout", 10))
    request = Request(params["writer"], params["environment"], params.get("gauges") or [], params.get("increments") or [],
                      params.get("textfile_dir") or "", gateway, params.get("state") or "present", params.get("timeout", 10),
                      params.get("keep") or [])
    result = write(request, check_mode)
    out: dict = {"changed": result.changed, "text": result.text}
    if result.textfile:
        out["path"] = result.path
    if result.aside:
        out["aside"] = result.aside
    if result.pushgateway:
        push = result.pushgateway
        out["pushgateway"] = {"ok": push.ok, "error": push.error, "url": push.where, "changed": push.changed}
    if diff:
        out["diff"] = [{"before": target.before, "after": target.after, "before_header": target.where, "after_header": target.where}
                       for target in (result.textfile, result.pushgateway) if target]
    return Outcome(out, result.warnings)
