"""The gateway's JSON rules (issue #19): an event nests objects and arrays at most
``MAX_EVENT_DEPTH`` levels deep, and ``NaN``/``Infinity`` are not JSON (RFC 8259). One verdict
for a body on every path (a JSON array, JSON lines, gzip, chunked) and at any call-stack depth;
the reliability fuzzer's oracle expects exactly these verdicts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from connectors.gateway.body import JSON, MAX_EVENT_DEPTH, NDJSON, bracket_depth, parse_events
from connectors.gateway.problems import Problem
from tests.connectors.gateway.helpers import examples, problem, running_gateway, with_unknown_division
from tests.reliability import gateway_fuzz

TRANSPORTS = ["json array", "json lines", "gzip", "chunked"]


def nested(depth: int) -> str:
    return "[" * depth + "0" + "]" * depth


def event_lines(raw_value: str) -> list[str]:
    """Two events that validation rejects (no Kafka needed: a 207 means the body was parsed), the
    second with a field ``extra`` holding ``raw_value``, JSON text as is."""
    first, second = with_unknown_division(examples("sites"))[:2]
    second["extra"] = None
    return [json.dumps(first), json.dumps(second).replace('"extra": null', f'"extra": {raw_value}')]


async def post(gw, transport: str, lines: list[str]):
    if transport == "json lines":
        return await gw.post("sites", data="\n".join(lines), content_type=NDJSON)
    body = ("[" + ",".join(lines) + "]").encode()
    if transport == "gzip":
        return await gw.post("sites", data=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    if transport == "chunked":
        async def chunks():
            for i in range(0, len(body), 1000):
                yield body[i:i + 1000]
        return await gw.post("sites", data=chunks())
    return await gw.post("sites", data=body)


async def refused(gw, transport: str, lines: list[str]) -> dict:
    """The 400 problem of the body; for JSON lines it names the second line."""
    body = await problem(await post(gw, transport, lines), 400, "malformed-body")
    if transport == "json lines":
        assert body["line"] == 2, body
    return body


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_event_at_the_depth_limit_is_validated_one_level_deeper_is_400(transport):
    async with running_gateway() as gw:
        # the event object is level 1, so a field may hold MAX_EVENT_DEPTH - 1 levels
        resp = await post(gw, transport, event_lines(nested(MAX_EVENT_DEPTH - 1)))
        assert resp.status == 207, await resp.text()
        first, second = (await resp.json())["results"]
        assert first["reason"] == "unknown_division_code"
        assert (second["reason"], second["field"]) == ("schema_violation", "extra")  # parsed, then validated
        for depth in (MAX_EVENT_DEPTH, 500, 950, 100_000):  # 91 fuzz cases of #19 were 500-1000 deep
            body = await refused(gw, transport, event_lines(nested(depth)))
            assert body["max_depth"] == MAX_EVENT_DEPTH and f"at most {MAX_EVENT_DEPTH} levels" in body["detail"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_not_json(transport, constant):
    async with running_gateway() as gw:
        body = await refused(gw, transport, event_lines(constant))
    assert body["detail"].endswith(f"{constant} is not valid JSON")


def _verdict(body: bytes, media_type: str) -> str:
    try:
        return f"{len(parse_events(body, media_type, 10))} events"
    except Problem as exc:
        return exc.detail


def _at_stack_depth(frames: int, fn):
    return fn() if frames == 0 else _at_stack_depth(frames - 1, fn)


@pytest.mark.parametrize("depth", [MAX_EVENT_DEPTH - 1, MAX_EVENT_DEPTH, 500])
def test_the_verdict_does_not_depend_on_the_call_stack(depth):
    """The bug of #19: the parser's own recursion limit counts the frames below it, so a 500 deep
    body was parsed in the gateway but refused by the same code called from deeper down."""
    lines = event_lines(nested(depth))
    bodies = {JSON: ("[" + ",".join(lines) + "]").encode(), NDJSON: "\n".join(lines).encode()}
    for media_type, body in bodies.items():
        shallow = _verdict(body, media_type)
        assert _at_stack_depth(700, lambda: _verdict(body, media_type)) == shallow
        assert (shallow == "2 events") == (depth < MAX_EVENT_DEPTH), shallow


@pytest.mark.parametrize("text, depth", [
    ("0", 0), ("[]", 1), ('{"a": [{}]}', 3), ('["[[[", "\\"[[", {"b": "]"}]', 2),
    (nested(100_000), 100_000), ('["[', 1), ("]][[[", 1),
])
def test_bracket_depth_skips_strings(text, depth):
    assert bracket_depth(text) == depth


@pytest.mark.parametrize("value, ok", [
    (1.5, True), ("NaN", True), (float("nan"), False), (float("inf"), False), (float("-inf"), False),
    (json.loads(nested(MAX_EVENT_DEPTH - 1)), True), (json.loads(nested(MAX_EVENT_DEPTH)), False),
])
def test_the_fuzzers_oracle_expects_what_the_gateway_answers(value, ok):
    """The reliability fuzzer's expectation for a batch of events is the gateway's verdict on
    the body it sends, as JSON array and as JSON lines."""
    events = [dict(e, extra=value) for e in examples("sites")[:2]]
    assert gateway_fuzz.events_expect(events) == (gateway_fuzz.EVENTS if ok else gateway_fuzz.MALFORMED)
    for media_type in (JSON, NDJSON):
        case = gateway_fuzz.HttpCase("oracle", "/v1/events/sites", content_type=media_type, events=events)
        assert (_verdict(case.body_bytes(), media_type) == "2 events") == ok


def test_the_platform_guide_states_the_limit():
    guide = (Path(__file__).parents[3] / "docs" / "platform-guide.md").read_text()
    assert f"at most **{MAX_EVENT_DEPTH} levels**" in guide and f'"max_depth": {MAX_EVENT_DEPTH}' in guide


async def test_a_huge_site_id_is_a_rejection_not_a_503():
    """CI's gateway fuzz (session 8): a headcount whose ``site_id`` held 900 k characters passed
    every rule, became a ~1 MB record key plus value, and the broker refused it on every retry:
    the gateway answered 503 'retry' for a request that could never succeed. The id's length is
    a rule now (``invalid_key_id``), so the verdict is 207 and nothing is produced."""
    event = examples("headcounts")[0]
    async with running_gateway() as gw:
        resp = await gw.post("headcounts", data=json.dumps([dict(event, site_id="s" * 900_000)]).encode())
        assert resp.status == 207, await resp.text()
        [result] = (await resp.json())["results"]
        assert (result["reason"], result["field"]) == ("invalid_key_id", "site_id")
