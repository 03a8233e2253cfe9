"""One insurer claim-status message, judged against the claim's stored state (pure).

:func:`judge_claim_message` is what the claims agent (``streams.runtime.claims``) does per message:
decode, validate (:func:`streams.core.cover.claims.check_claim_status` plus the record key), apply
the lifecycle (:func:`streams.core.cover.claims.apply_claim_status`) and name the outputs. It never
raises for bad input: undecodable bytes, invalid records and illegal transitions all become one
rejection record to the insurer (``gov.insurance.<province>.claim-rejections``) with a reason code
and no value from the message.

The claim's state is keyed by province and ``claim_ref`` (:func:`claim_state_key`): a claim
reference is the insurer's, so two provinces may reuse one. The insurer must key each message by
its ``claim_ref`` (``claim_key_mismatch`` otherwise) so that every update of one claim lands in one
partition, which is what a partitioned table needs to see them in order.

Updates an insurer posts over HTTP arrive on :data:`GATEWAY_CLAIM_STATUS_TOPIC`, written by the
gateway as the hub (which may not write an insurer's topic): same key, same partition count, and
the province the gateway authenticated in the :data:`PROVINCE_HEADER` header
(:func:`province_of_message`). Only the hub writes ``hub.*``, so that header is trusted.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable, Literal, Mapping

from schemas.catalog import Catalog
from schemas.wire import WireFormatError, decode
from streams.core.cover.claims import ClaimState, apply_claim_status, check_claim_status, claims_topic, \
    determination_overdue
from streams.core.cover.workdays import WorkCalendar
from streams.core.validate import DEFAULT_RULES, Rules

CLAIM_STATUS_TOPIC_RE = re.compile(r"gov\.insurance\.(\d{2})\.claim-status")
VALIDATED_CLAIM_STATUS_TOPIC = "hub.validated.claim-status"
#: The hub-written topic of claim updates the gateway accepted over HTTP (keyed by ``claim_ref``).
GATEWAY_CLAIM_STATUS_TOPIC = "hub.claim-status.gateway"
#: Record header naming the province of a :data:`GATEWAY_CLAIM_STATUS_TOPIC` record: the province
#: of the insurer whose token and signature the gateway verified, never one read from the body.
PROVINCE_HEADER = "gigbridge-province"
CONTRACT = "claim_status"


def claim_status_topic(province: str) -> str:
    """The topic the insurer of ``province`` writes its claim updates to (HTTP path too)."""
    return f"gov.insurance.{province}.claim-status"


def claim_rejections_topic(province: str) -> str:
    """Where the hub tells the insurer of ``province`` which updates it refused, and why."""
    return f"gov.insurance.{province}.claim-rejections"


def province_of_topic(topic: str) -> str | None:
    match = CLAIM_STATUS_TOPIC_RE.fullmatch(topic)
    return match[1] if match else None


def province_of_message(topic: str, headers: Mapping[str, bytes] | None, provinces: Iterable[str]) -> str | None:
    """The insurer province a claim-status message speaks for: from the topic name for an
    insurer's own topic, from :data:`PROVINCE_HEADER` for the gateway's topic; None when the
    gateway record lacks the header or names a province with no declared insurer in ``provinces``."""
    if topic != GATEWAY_CLAIM_STATUS_TOPIC:
        return province_of_topic(topic)
    raw = (headers or {}).get(PROVINCE_HEADER)
    province = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else None
    return province if province in set(provinces) else None


def claim_state_key(province: str, claim_ref: str) -> str:
    return f"{province}:{claim_ref}"


@dataclass(frozen=True, slots=True)
class Output:
    """One record to write: ``contract`` names its schema, ``key`` the record key."""

    topic: str
    key: bytes | None
    contract: str
    record: dict


@dataclass(frozen=True, slots=True)
class ClaimVerdict:
    """``kind``: routed (legal, new), repeat (exact repeat, dropped), illegal (transition refused),
    invalid (undecodable or breaks a rule). ``state_key``/``state``: what to store (``state`` None:
    store nothing). ``outputs``: what to write before the message counts as processed."""

    kind: Literal["routed", "repeat", "illegal", "invalid"]
    reason: str | None
    state_key: str | None
    state: ClaimState | None
    outputs: tuple[Output, ...]
    platform_id: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """Where the message was read (for the rejection record)."""

    topic: str
    partition: int
    offset: int


def judge_claim_message(load_state, source: Source, key: bytes | None, value: bytes | None, *,
                        catalog: Catalog, now_ms: int, rules: Rules = DEFAULT_RULES,
                        emit_validated: bool = True, province: str | None = None) -> ClaimVerdict:
    """The verdict on one message of ``gov.insurance.<province>.claim-status`` (or, with the
    ``province`` it was accepted for, of :data:`GATEWAY_CLAIM_STATUS_TOPIC`: same state, same rules).

    ``load_state(state_key)`` returns the stored :class:`ClaimState` or None (the table lookup is
    injected so only a decodable, valid message costs one). Guarantees: a routed update yields
    the claim's new state, its copy to ``platform.<id>.claims`` keyed by ``incident_id`` and (with
    ``emit_validated``) to ``hub.validated.claim-status`` keyed by ``claim_ref``; a repeat yields
    nothing; anything else yields exactly one rejection record and leaves the state alone."""
    province = province or province_of_topic(source.topic)
    if province is None:
        raise ValueError(f"{source.topic!r} is not an insurer claim-status topic")
    try:
        decoded = decode(catalog, value or b"", expect_contract=CONTRACT)
    except WireFormatError as exc:
        return _refused("invalid", province, source, catalog, now_ms, exc.reason, None, exc.message, None,
                        exc.schema_id)
    record = decoded.record
    rejection = check_claim_status(record, now_ms=now_ms, rules=rules)
    if rejection is None and key != record["claim_ref"].encode("utf-8"):
        rejection_args = ("claim_key_mismatch", None, "the record key must be the claim_ref, so that every update "
                          "of a claim is read in order")
    elif rejection is not None:
        rejection_args = (rejection.reason, rejection.field, rejection.message)
    else:
        rejection_args = None
    if rejection_args is not None:
        return _refused("invalid", province, source, catalog, now_ms, *rejection_args, record, decoded.schema_id)
    state_key = claim_state_key(province, record["claim_ref"])
    outcome = apply_claim_status(load_state(state_key), record)
    if outcome.kind == "illegal":
        return _refused("illegal", province, source, catalog, now_ms, outcome.reason, "status",
                        f"this update is not a legal next step of the claim ({outcome.reason})", record,
                        decoded.schema_id)
    if outcome.kind == "repeat":
        return ClaimVerdict("repeat", None, state_key, None, (), record["platform_id"])
    outputs = [Output(claims_topic(record["platform_id"]), record["incident_id"].encode("utf-8"), CONTRACT, record)]
    if emit_validated:
        outputs.append(Output(VALIDATED_CLAIM_STATUS_TOPIC, record["claim_ref"].encode("utf-8"), CONTRACT, record))
    return ClaimVerdict("routed", None, state_key, outcome.state, tuple(outputs), record["platform_id"])


def _refused(kind, province: str, source: Source, catalog: Catalog, now_ms: int, reason: str, field: str | None,
             message: str, record: dict | None, schema_id: int | None) -> ClaimVerdict:
    event_id = record.get("event_id") if record else None
    platform_id = record.get("platform_id") if record else None
    rejection = {"event_id": event_id if isinstance(event_id, str) and len(event_id) <= 64 else None,
                 "platform_id": platform_id if isinstance(platform_id, str) and len(platform_id) <= 32 else None,
                 "event_type": catalog.contract(CONTRACT).event_type, "reason": reason, "field": field,
                 "message": message, "source_topic": source.topic, "source_partition": source.partition,
                 "source_offset": source.offset, "schema_id": schema_id, "rejected_at": now_ms}
    output = Output(claim_rejections_topic(province), None, "rejection_record", rejection)
    return ClaimVerdict(kind, reason, None, None, (output,), rejection["platform_id"])


def state_to_plain(state: ClaimState) -> dict:
    """JSON form of a claim's state (the table's value)."""
    return asdict(state)


def state_from_plain(plain: dict | None) -> ClaimState | None:
    return None if plain is None else ClaimState(**plain)


def overdue_by_province_platform(states: Iterable[tuple[str, ClaimState]], now_ms: int,
                                 calendar: WorkCalendar) -> Counter:
    """Open claims past their determination deadline, counted by (province, platform_id);
    ``states`` yields (state key, state) pairs as stored."""
    counts: Counter = Counter()
    for state_key, state in states:
        if determination_overdue(state, now_ms, calendar):
            counts[(state_key.partition(":")[0], state.platform_id)] += 1
    return counts
