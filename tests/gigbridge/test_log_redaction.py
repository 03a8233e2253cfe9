"""gigbridge.log_redaction on a real structlog logger rendering JSON lines into a buffer."""

from __future__ import annotations

import copy
import io
import json
import logging

import pytest
import structlog

from gigbridge.log_redaction import redact_event_values, redact_structure

RECORD = {
    "event_id": "2f1b6a57-2c1d-4d7e-9a53-0c2a44b1e0aa", "platform_id": "swiftmeal", "occurred_at": 1780271400000,
    "incident_id": "inc-1", "site_id": "swif-00001", "division_code": "440305000000", "category": "FALL",
    "severity": "MINOR", "weather": "RAIN", "worker_ref": "3f" * 32, "order_ref": None, "insured": True,
    "location": {"lat": 22.543210, "lon": 113.934567}, "reported_at": 1780271700000,
    "description": "骑手摔倒，电话 138 0013 8000，身份证 11010519491231002X",
    "facilities": ["REST_AREA", "粤B·D12345"],
}


@pytest.fixture
def log_lines():
    buffer = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(buffer),
        processors=[redact_event_values, structlog.processors.JSONRenderer(ensure_ascii=False)],
    )

    def lines():
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    return logger, lines, buffer


SECRETS_IN_RECORD = ["13800138000", "138 0013 8000", "11010519491231002X", "粤B·D12345", "骑手摔倒",
                     "2f1b6a57", "swiftmeal", "swif-00001", "3f3f3f", "REST_AREA"]


@pytest.mark.parametrize("key", ["payload", "record", "value", "raw", "decoded", "batch"])
def test_payload_structures_keep_shape_but_no_string_values(log_lines, key):
    logger, lines, buffer = log_lines
    logger.warning("event rejected", **{key: RECORD}, reason="schema_violation")
    (line,) = lines()
    out = line[key]
    assert set(out) == set(RECORD)                               # keys kept
    assert out["description"] == f"<redacted len={len(RECORD['description'])}>"
    assert out["event_id"] == "<redacted len=36>"
    assert out["facilities"] == ["<redacted len=9>", "<redacted len=9>"]
    assert out["location"] == {"lat": 22.543210, "lon": 113.934567}  # numbers kept
    assert out["occurred_at"] == 1780271400000 and out["insured"] is True and out["order_ref"] is None
    assert line["event"] == "event rejected" and line["reason"] == "schema_violation"
    text = buffer.getvalue()
    for secret in SECRETS_IN_RECORD:
        assert secret not in text


def test_string_payload_keys_are_redacted(log_lines):
    logger, lines, _ = log_lines
    logger.info("undecodable", raw="not json but maybe personal", value="x" * 7, record="y", payload=b"\x00\x01")
    (line,) = lines()
    assert line["raw"] == "<redacted len=27>" and line["value"] == "<redacted len=7>"
    assert line["record"] == "<redacted len=1>" and line["payload"] == "<redacted bytes len=2>"


def test_event_as_a_payload_is_redacted_but_a_message_is_kept(log_lines):
    logger, lines, _ = log_lines
    logger.info(event={"description": "zhang@qq.com"})
    logger.info("batch delivered", size=500, topic="platform.swiftmeal.incidents")
    first, second = lines()
    assert first["event"] == {"description": "<redacted len=12>"}
    assert second == {"event": "batch delivered", "size": 500, "topic": "platform.swiftmeal.incidents"}


@pytest.mark.parametrize("text, kind", [
    ("customer 13800138000 complained", "mobile_phone"),
    ("ID １１０１０５１９４９１２３１００２Ｘ", "resident_id"),
    ("card 4111 1111 1111 1111", "bank_card"),
    ("mail zhang＠qq.com", "email"),
    ("plate 粤B·D12345", "vehicle_plate"),
])
def test_identifiers_in_plain_strings_are_scrubbed(log_lines, text, kind):
    logger, lines, buffer = log_lines
    logger.error(f"bad input: {text}", detail=text, exception=f"ValueError: {text}")
    (line,) = lines()
    assert line["detail"] == f"<redacted kind={kind} len={len(text)}>"
    assert line["event"].startswith(f"<redacted kind={kind}")
    assert line["exception"].startswith(f"<redacted kind={kind}")
    assert text not in buffer.getvalue()


def test_numbers_and_harmless_strings_pass(log_lines):
    logger, lines, _ = log_lines
    logger.info("counts", valid=1200, rejected=3, rate=0.25, ok=True, missing=None,
                occurred_at=1780271400000, division="440305000000", event_id="2f1b6a57-2c1d-4d7e-9a53-0c2a44b1e0aa")
    (line,) = lines()
    assert line == {"event": "counts", "valid": 1200, "rejected": 3, "rate": 0.25, "ok": True, "missing": None,
                    "occurred_at": 1780271400000, "division": "440305000000",
                    "event_id": "2f1b6a57-2c1d-4d7e-9a53-0c2a44b1e0aa"}


def test_long_ints_and_objects_that_are_identifiers(log_lines):
    logger, lines, _ = log_lines

    class Wrapper:
        def __str__(self):
            return "Wrapper(phone=13800138000)"

    logger.info("oops", phone=13800138000, obj=Wrapper(), mapping={13800138000: "x", "zhang@qq.com": 1})
    (line,) = lines()
    assert line["phone"] == "<redacted kind=mobile_phone len=11>"
    assert line["obj"].startswith("<redacted kind=mobile_phone")
    assert "13800138000" not in json.dumps(line) and "zhang@qq.com" not in json.dumps(line)


def test_callers_objects_are_not_mutated(log_lines):
    logger, _, _ = log_lines
    record = copy.deepcopy(RECORD)
    logger.info("x", payload=record, items=[record])
    assert record == RECORD


def test_exc_info_is_left_for_the_traceback_formatter():
    buffer = io.StringIO()
    logger = structlog.wrap_logger(structlog.PrintLogger(buffer), processors=[
        structlog.processors.format_exc_info, redact_event_values, structlog.processors.JSONRenderer()])
    try:
        raise KeyError("13800138000")
    except KeyError:
        logger.exception("lookup failed")
    line = json.loads(buffer.getvalue())
    assert line["exception"].startswith("<redacted kind=mobile_phone")
    assert "13800138000" not in buffer.getvalue()


def test_structure_helper():
    assert redact_structure({"a": ["xy", 1, 2.5, None, False, ("z",), {"b"}]}) == {
        "a": ["<redacted len=2>", 1, 2.5, None, False, ["<redacted len=1>"], ["<redacted len=1>"]]
    }
    assert redact_structure(object()) == "<redacted type=object>"


def test_works_in_the_stdlib_processor_formatter_chain():
    """As the lead would wire it: foreign (stdlib) log records through ProcessorFormatter."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), redact_event_values],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
    ))
    std = logging.getLogger("test_log_redaction.foreign")
    std.propagate = False
    std.addHandler(handler)
    try:
        std.warning("producer error for 13800138000", extra={"payload": {"description": "x"}})
    finally:
        std.removeHandler(handler)
    line = json.loads(buffer.getvalue())
    assert line["event"] == "<redacted kind=mobile_phone len=30>"
    assert line["payload"] == {"description": "<redacted len=1>"}
