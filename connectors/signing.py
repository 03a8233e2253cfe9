"""Request signing for outbound deliveries (insurer claim endpoints, office webhooks).

Wire format (Stripe-like, documented for receivers in ``docs/webhook-signatures.md``)::

    X-Gigbridge-Timestamp: 1718000000
    X-Gigbridge-Signature: v1=<hex HMAC-SHA256(secret, b"1718000000." + body)>

``body`` is the exact bytes sent: compact JSON with sorted keys, UTF-8 (:func:`canonical_json`).
The timestamp is taken fresh for every attempt, so a record retried for longer than the replay
window is still accepted. A receiver may see several ``v1=`` entries separated by commas during
a secret rotation; one match is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

TIMESTAMP_HEADER = "X-Gigbridge-Timestamp"
SIGNATURE_HEADER = "X-Gigbridge-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


def canonical_json(value: Any) -> bytes:
    """The body bytes the hub sends: compact separators, sorted keys, UTF-8 (no ASCII escaping).

    Raises ``TypeError``/``ValueError`` for values JSON cannot represent (NaN included).
    """
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _key(secret: bytes | str) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def compute_signature(secret: bytes | str, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body``."""
    return hmac.new(_key(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign(secret: bytes | str, timestamp: int, body: bytes) -> str:
    """The ``X-Gigbridge-Signature`` header value: ``v1=<hex>``."""
    return f"{SCHEME}={compute_signature(secret, int(timestamp), body)}"


def signature_headers(secret: bytes | str, body: bytes, now: float) -> dict[str, str]:
    """Both signing headers for ``body`` sent at unix time ``now``."""
    ts = int(now)
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}


def verify_signature(secret: bytes | str, timestamp: str | int | None, body: bytes,
                     header: str | None, now: float,
                     tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """True iff ``header`` carries a valid ``v1`` signature of ``body`` at ``timestamp`` and the
    timestamp is within ``tolerance_s`` of ``now`` (either direction: replay protection).

    The comparison is constant-time (:func:`hmac.compare_digest`); malformed input is ``False``,
    never an exception.
    """
    if timestamp is None or header is None:
        return False
    ts_text = str(timestamp).strip()
    if not ts_text.isascii() or not ts_text.isdigit():
        return False
    ts = int(ts_text)
    if abs(now - ts) > tolerance_s:
        return False
    expected = compute_signature(secret, ts, body).encode("ascii")
    ok = False
    for part in header.split(","):
        scheme, sep, value = part.strip().partition("=")
        if not sep or scheme != SCHEME:
            continue
        # Keep checking every entry (no early exit) so timing does not reveal which one matched.
        ok |= hmac.compare_digest(expected, value.strip().encode("ascii", "replace"))
    return ok
