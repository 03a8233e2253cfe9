"""Pure helpers: signing, Retry-After parsing, backoff, truncation, records."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import random

import pytest

from connectors.signing import (
    canonical_json,
    compute_signature,
    sign,
    signature_headers,
    verify_signature,
)
from connectors.sinks.base import SinkRecord, backoff_delay, truncate_body
from connectors.sinks.http import parse_retry_after

SECRET = b"whsec-unit"
NOW = 1_700_000_000
BODY = canonical_json({"b": [1, 2], "a": "工伤认定"})


def test_canonical_json_is_compact_sorted_utf8():
    assert BODY == '{"a":"工伤认定","b":[1,2]}'.encode("utf-8")
    with pytest.raises(ValueError):
        canonical_json({"x": float("inf")})


def test_signature_matches_the_documented_recipe():
    expected = hmac.new(SECRET, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, NOW, BODY) == expected
    assert sign(SECRET, NOW, BODY) == f"v1={expected}"
    assert signature_headers(SECRET, BODY, NOW + 0.9) == {
        "X-Gigbridge-Timestamp": str(NOW), "X-Gigbridge-Signature": f"v1={expected}"}
    assert compute_signature("whsec-unit", NOW, BODY) == expected  # str secrets are UTF-8


def test_verify_signature_accepts_good_and_rejects_everything_else():
    header = sign(SECRET, NOW, BODY)
    assert verify_signature(SECRET, str(NOW), BODY, header, now=NOW + 10)
    assert verify_signature(SECRET, NOW, BODY, header, now=NOW + 300)          # edge of the window
    assert not verify_signature(SECRET, NOW, BODY, header, now=NOW + 301)      # replayed too late
    assert not verify_signature(SECRET, NOW, BODY, header, now=NOW - 301)      # from the future
    assert not verify_signature(b"wrong", NOW, BODY, header, now=NOW)
    assert not verify_signature(SECRET, NOW, BODY + b"x", header, now=NOW)
    assert not verify_signature(SECRET, NOW + 1, BODY, header, now=NOW)        # timestamp is signed
    assert not verify_signature(SECRET, NOW, BODY, header.replace("v1=", "v0="), now=NOW)
    for bad_ts in (None, "", "abc", "-5", "1.5", "１２３"):
        assert not verify_signature(SECRET, bad_ts, BODY, header, now=NOW)
    for bad_header in (None, "", "v1", "v1=", "garbage", "v1=zz\u00e9"):
        assert not verify_signature(SECRET, NOW, BODY, bad_header, now=NOW)
    assert verify_signature(SECRET, NOW, BODY, header, now=NOW + 1000, tolerance_s=1000)


def test_verify_signature_accepts_any_of_several_during_rotation():
    rotated = f"{sign(b'old-secret', NOW, BODY)}, {sign(SECRET, NOW, BODY)}"
    assert verify_signature(SECRET, NOW, BODY, rotated, now=NOW)
    assert verify_signature(b"old-secret", NOW, BODY, rotated, now=NOW)
    assert not verify_signature(b"third", NOW, BODY, rotated, now=NOW)


def test_parse_retry_after():
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("", NOW) is None
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after(" 2.5 ", NOW) == 2.5
    assert parse_retry_after("-3", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("nan", NOW) is None
    date = email.utils.formatdate(NOW + 45, usegmt=True)
    assert parse_retry_after(date, NOW) == 45.0
    assert parse_retry_after(email.utils.formatdate(NOW - 45, usegmt=True), NOW) == 0.0


def test_backoff_delay_bounds_and_no_overflow():
    class Max(random.Random):
        def uniform(self, a, b):
            return b

    assert [backoff_delay(i, 0.5, 60, Max()) for i in range(9)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(10_000, 0.5, 60, Max()) == 60  # hours of retries do not overflow
    rng = random.Random(3)
    assert all(0 <= backoff_delay(i, 0.5, 60, rng) <= min(60, 0.5 * 2 ** i) for i in range(40))


def test_truncate_body():
    assert truncate_body(None) == ""
    assert truncate_body(b"short") == "short"
    assert len(truncate_body("x" * 5000)) == 4096
    cut = truncate_body("é" * 3000)  # 6000 bytes; a character is never split
    assert len(cut.encode()) <= 4096 and set(cut) == {"é"}
    assert truncate_body(b"\xff\xfe ok") .endswith(" ok")


def test_sink_record_requires_an_idempotency_key_and_hashes_by_keys():
    with pytest.raises(ValueError):
        SinkRecord(key=None, value={}, idempotency_key="")
    a = SinkRecord(key="k", value={"x": 1}, idempotency_key="e1", meta=object())
    b = SinkRecord(key="k", value={"x": 1}, idempotency_key="e1", meta=object())
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1


def test_documented_receiver_snippet_agrees_with_the_sender():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "webhook-signatures.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    namespace: dict = {}
    exec(compile(snippet, "webhook-signatures.md", "exec"), namespace)
    verify = namespace["verify"]
    headers = signature_headers(SECRET, BODY, NOW)
    ts, sig = headers["X-Gigbridge-Timestamp"], headers["X-Gigbridge-Signature"]
    assert verify(SECRET, ts, BODY, sig, now=NOW + 299)
    assert not verify(SECRET, ts, BODY, sig, now=NOW + 301)
    assert not verify(b"other", ts, BODY, sig, now=NOW)
    assert not verify(SECRET, ts, BODY + b" ", sig, now=NOW)
    assert verify(SECRET, ts, BODY, f"v1=00, {sig}", now=NOW)
    assert not verify(SECRET, "", BODY, sig, now=NOW)
