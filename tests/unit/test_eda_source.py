"""The Alertmanager event source's pure part: payload checks, the bearer token, deduplication by fingerprint.

ansible-rulebook loads the source by path, so the test does too; neither ansible-rulebook nor a server is needed.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "extensions" / "eda" / "plugins" / "event_source" / "alertmanager.py"
_spec = importlib.util.spec_from_file_location("maestro_eda_alertmanager", SOURCE)
am = importlib.util.module_from_spec(_spec)
# dataclasses look their module up while the class is built (ansible-rulebook's runpy registers it the same way)
sys.modules[_spec.name] = am
_spec.loader.exec_module(am)

ALERT = {
    "status": "firing",
    "labels": {"alertname": "MaestroVerificationFailed", "environment": "demo", "severity": "critical"},
    "annotations": {"summary": "demo: the live release v1.2.0 failed verification", "description": "3 files differ"},
    "startsAt": "2026-11-28T16:25:01.123456789Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://127.0.0.1:19090/graph?g0.expr=maestro_verify_ok+%3D%3D+0",
    "fingerprint": "3f1c9a2b7d4e5f60",
}
PAYLOAD = {
    "version": "4",
    "groupKey": '{}:{alertname="MaestroVerificationFailed"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "maestro",
    "groupLabels": {"alertname": "MaestroVerificationFailed"},
    "commonLabels": {"alertname": "MaestroVerificationFailed", "environment": "demo"},
    "commonAnnotations": {},
    "externalURL": "http://127.0.0.1:19093",
    "alerts": [ALERT],
}


def payload(**changes) -> dict:
    data = copy.deepcopy(PAYLOAD)
    data.update(changes)
    return data


def alert(**changes) -> dict:
    data = copy.deepcopy(ALERT)
    data.update(changes)
    return data


def body(data) -> bytes:
    return json.dumps(data).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- parsing


def test_a_payload_becomes_one_event_per_alert_in_the_incident_shape():
    second = alert(fingerprint="00000000000000aa", labels={"alertname": "MaestroReleaseDrift", "environment": "prod"},
                   annotations={})
    notification = am.parse_payload(body(payload(alerts=[ALERT, second])))
    events, duplicates = am.events_from(notification, am.Deduplicator(window=60))
    assert duplicates == 0
    assert [e["alert"]["name"] for e in events] == ["MaestroVerificationFailed", "MaestroReleaseDrift"]
    assert events[0]["alert"] == {
        "name": "MaestroVerificationFailed", "status": "firing", "fingerprint": "3f1c9a2b7d4e5f60",
        "starts_at": "2026-11-28T16:25:01.123456789Z", "labels": ALERT["labels"], "annotations": ALERT["annotations"],
        "generator_url": ALERT["generatorURL"]}
    assert events[0]["ends_at"] == "0001-01-01T00:00:00Z"
    assert events[0]["alertmanager"] == {"receiver": "maestro", "group_key": PAYLOAD["groupKey"], "status": "firing",
                                         "external_url": "http://127.0.0.1:19093",
                                         "group_labels": {"alertname": "MaestroVerificationFailed"}, "truncated_alerts": 0}
    # JSON through and through: ansible-rulebook hands it to Drools and to ansible-playbook
    assert json.loads(json.dumps(events)) == events


@pytest.mark.parametrize("annotations, reason", [
    ({"summary": "the summary", "description": "the description"}, "the summary"),
    ({"summary": "", "description": "the description"}, "the description"),
    ({}, "MaestroVerificationFailed"),
])
def test_the_reason_is_the_summary_else_the_description_else_the_name(annotations, reason):
    notification = am.parse_payload(body(payload(alerts=[alert(annotations=annotations)])))
    assert notification.alerts[0].reason == reason


def test_an_alert_without_annotations_or_generator_url_is_accepted():
    bare = {k: v for k, v in ALERT.items() if k not in ("annotations", "generatorURL")}
    parsed = am.parse_payload(body(payload(alerts=[bare]))).alerts[0]
    assert (parsed.annotations, parsed.generator_url) == ({}, "")


def test_an_empty_alert_list_is_valid_and_queues_nothing():
    notification = am.parse_payload(body(payload(alerts=[])))
    assert am.events_from(notification, am.Deduplicator(window=60)) == ([], 0)


# -- validation: every refusal names the field and what was expected


@pytest.mark.parametrize("raw, message", [
    (b"this is not json", "request body is not JSON"),
    (b"\xff\xfe{}", "request body is not JSON"),
    (b"[1, 2]", "request body is a JSON list: expected an object"),
    (body(payload(version="3")), "version is '3': expected '4'"),
    (body({k: v for k, v in PAYLOAD.items() if k != "version"}), "version is 'None': expected '4'"),
    (body(payload(status="pending")), "status is 'pending': expected firing or resolved"),
    (body(payload(alerts={"a": 1})), "alerts is dict: expected a list"),
    (body(payload(alerts=["x"])), "alerts[0] is str: expected an object"),
    (body(payload(alerts=[{k: v for k, v in ALERT.items() if k != "fingerprint"}])), "alerts[0].fingerprint is 'None'"),
    (body(payload(alerts=[ALERT, alert(fingerprint="")])), "alerts[1].fingerprint is ''"),
    (body(payload(alerts=[alert(fingerprint="../../etc")])), "expected 1-64 hex digits"),
    (body(payload(alerts=[alert(status="unknown")])), "alerts[0].status is 'unknown'"),
    (body(payload(alerts=[alert(labels={"environment": 7})])), "alerts[0].labels.environment is int: expected a string"),
    (body(payload(alerts=[alert(labels=["a"])])), "alerts[0].labels is list: expected an object of strings"),
    (body(payload(alerts=[alert(startsAt="yesterday")])), "alerts[0].startsAt is 'yesterday': expected an RFC 3339 time"),
    (body(payload(alerts=[alert(generatorURL=5)])), "alerts[0].generatorURL is int: expected a string"),
    (body(payload(truncatedAlerts=-1)), "truncatedAlerts is -1: expected a count"),
])
def test_a_bad_request_is_refused_with_400_naming_what_is_wrong(raw, message):
    with pytest.raises(am.PayloadError) as caught:
        am.parse_payload(raw)
    assert caught.value.status == 400
    assert message in str(caught.value)


def test_an_oversized_body_is_refused_with_413_before_it_is_parsed():
    raw = body(payload(alerts=[alert(annotations={"description": "x" * 5000})]))
    with pytest.raises(am.PayloadError) as caught:
        am.parse_payload(raw, max_bytes=4096)
    assert caught.value.status == 413
    assert f"request body is {len(raw)} bytes: expected at most 4096" in str(caught.value)
    assert am.parse_payload(raw, max_bytes=len(raw)).alerts[0].fingerprint == "3f1c9a2b7d4e5f60"


# -- the bearer token


@pytest.mark.parametrize("header, accepted", [
    ("Bearer s3cret-token", True),
    ("bearer s3cret-token", True),
    ("Bearer s3cret-tokeN", False),
    ("Bearer s3cret-token-and-more", False),
    ("Basic czNjcmV0LXRva2Vu", False),
    ("s3cret-token", False),
    ("", False),
    (None, False),
])
def test_the_bearer_token_must_match_exactly(header, accepted):
    assert am.check_token("s3cret-token", header) is accepted


def test_no_token_configured_accepts_any_request():
    assert am.check_token("", None)


def test_settings_take_templated_strings_and_never_show_the_token():
    settings = am.settings_from({"port": "19500", "dedup_window": "600"}, environ={"MAESTRO_EDA_TOKEN": "s3cret-token"})
    assert (settings.host, settings.port, settings.path, settings.dedup_window) == ("127.0.0.1", 19500, "/alerts", 600)
    assert settings.token == "s3cret-token"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize("args, message", [
    ({}, "port is required"),
    ({"port": "http"}, "port is 'http': expected a whole number"),
    ({"port": 70000}, "port is 70000: expected 1-65535"),
    ({"port": 19500, "dedup_window": -1}, "dedup_window is -1"),
    ({"port": 19500, "path": "alerts"}, "path is 'alerts': expected an absolute URL path"),
    ({"port": 19500, "host": "0.0.0.0"}, "host is '0.0.0.0', not loopback: set a token"),
])
def test_bad_settings_are_refused_at_start(args, message):
    with pytest.raises(ValueError) as caught:
        am.settings_from(args, environ={})
    assert message in str(caught.value)


def test_a_token_allows_listening_beyond_loopback():
    assert am.settings_from({"port": 19500, "host": "0.0.0.0", "token": "t0ken"}, environ={}).host == "0.0.0.0"


# -- deduplication by fingerprint


def queued(dedup, *payloads) -> list[tuple[str, str]]:
    out = []
    for data in payloads:
        events = am.events_from(am.parse_payload(body(data)), dedup)[0]
        out += [(e["alert"]["fingerprint"], e["alert"]["status"]) for e in events]
    return out


def test_a_repeated_firing_alert_is_queued_once_within_the_window():
    clock = Clock()
    dedup = am.Deduplicator(window=3600, clock=clock)
    assert queued(dedup, PAYLOAD) == [("3f1c9a2b7d4e5f60", "firing")]
    # Alertmanager's repeat_interval, and a group update that carries the alert again with another
    clock.now += 1800
    other = alert(fingerprint="00000000000000bb")
    assert queued(dedup, PAYLOAD, payload(alerts=[ALERT, other])) == [("00000000000000bb", "firing")]


def test_the_copy_from_the_other_member_of_an_ha_pair_is_not_queued():
    dedup = am.Deduplicator(window=3600, clock=Clock())
    # the same alert, through the other Alertmanager: its own receiver name and external URL, the same fingerprint
    twin = payload(externalURL="http://127.0.0.1:29093")
    assert queued(dedup, PAYLOAD, twin) == [("3f1c9a2b7d4e5f60", "firing")]


def test_resolved_clears_the_fingerprint_so_the_alert_firing_again_is_queued_again():
    clock = Clock()
    dedup = am.Deduplicator(window=3600, clock=clock)
    resolved = payload(status="resolved", alerts=[alert(status="resolved", endsAt="2026-11-28T16:40:01Z")])
    refired = payload(alerts=[alert(startsAt="2026-11-28T16:45:01Z")])
    clock.now += 10
    # the resolved notice from both members of the HA pair is queued once
    assert queued(dedup, PAYLOAD, resolved, resolved, refired, refired) == [
        ("3f1c9a2b7d4e5f60", "firing"), ("3f1c9a2b7d4e5f60", "resolved"), ("3f1c9a2b7d4e5f60", "firing")]


def test_after_the_window_a_still_firing_alert_is_queued_again():
    clock = Clock()
    dedup = am.Deduplicator(window=600, clock=clock)
    assert queued(dedup, PAYLOAD) == [("3f1c9a2b7d4e5f60", "firing")]
    clock.now += 599.9
    assert queued(dedup, PAYLOAD) == []
    clock.now += 0.1
    assert queued(dedup, PAYLOAD) == [("3f1c9a2b7d4e5f60", "firing")]
    # the window counts from when it was queued, not from the last copy: repeats cannot keep it suppressed forever
    clock.now += 599
    assert queued(dedup, PAYLOAD) == []


def test_fingerprints_are_compared_case_insensitively():
    dedup = am.Deduplicator(window=60, clock=Clock())
    assert len(queued(dedup, PAYLOAD, payload(alerts=[alert(fingerprint="3F1C9A2B7D4E5F60")]))) == 1


def test_a_window_of_zero_queues_every_copy():
    dedup = am.Deduplicator(window=0, clock=Clock())
    assert len(queued(dedup, PAYLOAD, PAYLOAD)) == 2


def test_memory_is_bounded_by_the_window_and_the_limit():
    clock = Clock()
    dedup = am.Deduplicator(window=60, clock=clock, limit=3)
    storm = payload(alerts=[alert(fingerprint=f"{i:016x}") for i in range(5)])
    assert len(queued(dedup, storm)) == 5
    assert len(dedup) == 3
    clock.now += 61
    assert len(queued(dedup, payload(alerts=[alert(fingerprint="00000000000000ff")]))) == 1
    assert len(dedup) == 1
