"""Unit writes that arrive over HTTP (pure): the hub topic they go to and who wrote them.

A handling unit answers on its own ``gov.units.<unit>.case-events`` / ``.incident-acks``, which
only that unit may write (deploy/access.yaml). The gateway (and the office console) run as the
hub principal, which is denied WRITE there so that it can never forge a unit's record. So what a
unit submits over HTTP goes to the one hub topic :data:`UNITS_GATEWAY_TOPIC`, with the unit the
gateway authenticated and the stream in record headers (:func:`unit_headers`). Only the hub
writes ``hub.*``, so the case intake trusts those headers and judges the record exactly as if
that unit had written it on its own topic (:func:`gateway_sender`): same rules, same rejection
topic, same idempotency by ``event_id``. A record there without valid headers is not anyone's
and is dead-lettered by the intake.
"""

from __future__ import annotations

from typing import Iterable

from streams.core.cases.flow import Sender
from streams.core.cases.units import UnitBook

#: The hub-written topic of every case step and incident acknowledgement a unit sent over HTTP.
UNITS_GATEWAY_TOPIC = "hub.units.gateway"
#: Record header: the unit id whose token (or console sign-in) the writer verified.
UNIT_HEADER = "gigbridge-unit"
#: Record header: which of the unit's streams the record belongs to (:data:`UNIT_STREAMS`).
STREAM_HEADER = "gigbridge-stream"
UNIT_STREAMS = ("case-events", "incident-acks")
#: The field the records of each case input stream are keyed by (as the simulator keys them).
KEY_FIELD = {"cases": "case_id", "case-events": "case_id", "incident-acks": "incident_id"}


def unit_headers(unit_id: str, stream: str) -> tuple[tuple[str, bytes], ...]:
    """The headers of a record ``unit_id`` wrote on ``stream`` over HTTP."""
    if stream not in UNIT_STREAMS:
        raise ValueError(f"unit streams are {UNIT_STREAMS}, not {stream!r}")
    return ((UNIT_HEADER, unit_id.encode("utf-8")), (STREAM_HEADER, stream.encode("ascii")))


def _header(headers: Iterable[tuple[str, bytes | None]], name: str) -> str | None:
    values = [v for k, v in headers if k == name]
    if len(values) != 1 or not isinstance(values[0], bytes):  # missing or ambiguous: trust neither
        return None
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        return None


def gateway_stream(headers: Iterable[tuple[str, bytes | None]]) -> str | None:
    """The stream header of a :data:`UNITS_GATEWAY_TOPIC` record if it names a unit stream."""
    stream = _header(headers, STREAM_HEADER)
    return stream if stream in UNIT_STREAMS else None


def gateway_sender(headers: Iterable[tuple[str, bytes | None]], units: UnitBook) -> Sender | None:
    """The unit (of ``units``) and stream a :data:`UNITS_GATEWAY_TOPIC` record speaks for, or None
    when a header is missing, repeated or names no unit / stream."""
    headers = list(headers or ())
    unit_id, stream = _header(headers, UNIT_HEADER), gateway_stream(headers)
    if unit_id is None or stream is None or units.get(unit_id) is None:
        return None
    return Sender("UNIT", unit_id, stream)
