"""The ledger: after a run, prove that every input offset ended in exactly the outcomes it should.

Producer side (:class:`Traffic`): seeded simulator events (``gigbridge.simulator.generator``,
each ``SimEvent`` says whether it is valid, which reason it must be rejected with, or that it
is garbage for the DLQ) and arbitrary raw cases (fuzzing). Every message carries a
``ledger-seq`` header, so an input found in a topic maps back to what was sent even when a
producer retry wrote it twice, and the expectation for it is known without asking the hub.

Reading side (:func:`check`): reads every input topic of the traffic's platforms and every
output topic (``hub.validated.<type>``, the office and insurance topics the events route to,
``platform.<id>.rejected``, ``hub.dlq``, insurer receipts and DLQ topics, and the simulated
insurer's ``/_received``) and checks per input offset:

* valid → its ``event_id`` in ``hub.validated.<type>`` AND in its office topic (not for orders)
  AND (insured incidents) in ``gov.insurance.<prov>.incidents`` and ``hub.cover.incidents`` AND (insurer endpoint configured for the
  province) exactly one claim at the endpoint and a receipt;
* rejected → one rejection record naming that source topic/partition/offset (right reason);
* undecodable → one DLQ record naming that source offset;
* fuzz cases (``kind="invalid"``) → exactly one of the two.

Events the HTTP gateway accepted (:meth:`Traffic.accepted_elsewhere`) are inputs too: the
gateway writes them without the header, so they are found in the ingest topic by ``event_id``
and must be routed like any valid event.

Missing outcomes make an input *lost*; extra copies are *duplicates* (Kafka outputs may repeat
only inside a crash window; claims per idempotency key must be exactly 1). Outputs that trace
back to no input of this traffic are *unexpected*. :class:`LedgerReport` prints as a table.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
import urllib.request
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from gigbridge.divisions import Level, default_table
from gigbridge.simulator.generator import Simulator
from gigbridge.simulator.run import event_bytes
from schemas.catalog import default_catalog
from schemas.wire import WireFormatError, decode
from streams.core.route import RoutingConfig, insurance_topic, routes_for
from streams.core.cover.keys import feeds_cover_stage
from streams.core.topics import COVER_INCIDENTS_TOPIC, DLQ_TOPIC, ingest_topic, rejected_topic, validated_topic
from streams.core.validate import EVENT_TYPES

SEQ_HEADER = "ledger-seq"
CATALOG = default_catalog()
DIVISIONS = default_table()


# --- producer side ----------------------------------------------------------------------------

@dataclass
class Expectation:
    """What must become of one produced message."""

    seq: int
    topic: str
    platform: str
    event_type: str
    kind: str                      # valid | rejected | dlq | invalid (= rejected or dlq)
    reason: str | None = None      # rejection reason (kind rejected)
    event_id: str | None = None    # kind valid
    office_topic: str | None = None
    insurance_topic: str | None = None
    cover_topic: str | None = None  # hub.cover.incidents, for an insured incident
    province: str | None = None
    label: str = ""                # fuzz category, for the report
    acked: bool = False            # the broker acknowledged the write (acks=all)


class Traffic:
    """Seeded platform traffic with an expectation per message.

    ``platforms``: platform ids to use (the simulator's names are replaced, so scenarios on a
    shared broker never read each other's inputs); ``provinces``: restrict every site to
    townships of these 2-digit province codes (e.g. to exercise one insurer)."""

    def __init__(self, conn, platforms: list[str], seed: int, *, invalid_share: float = 0.1,
                 sites_per_platform: int = 4, provinces: Iterable[str] | None = None,
                 routing: RoutingConfig | None = None, producer_config: dict | None = None) -> None:
        self.conn = conn
        self.platforms = list(platforms)
        self.seed = seed
        self.routing = routing or RoutingConfig()
        # The platform names take part in the seed: the same seed on a broker that keeps data
        # between runs (an exported GIGBRIDGE_KAFKA_BOOTSTRAP) must not repeat event ids.
        self.sim_seed = seed ^ zlib.crc32(",".join(self.platforms).encode())
        sim = Simulator(DIVISIONS, seed=self.sim_seed, platforms=len(self.platforms),
                        sites_per_platform=sites_per_platform, invalid_share=invalid_share)
        rename = dict(zip(sim.platforms, self.platforms))
        sim.platforms = list(self.platforms)
        sim.sites = {rename[p]: sites for p, sites in sim.sites.items()}
        if provinces:
            rng = random.Random(seed)
            towns = sorted(c for c in DIVISIONS.codes(Level.TOWNSHIP) if c[:2] in set(provinces))
            for sites in sim.sites.values():
                for site in sites:
                    site.division_code = rng.choice(towns)
        self.sim = sim
        self.expectations: dict[int, Expectation] = {}
        self.by_event_id: dict[str, Expectation] = {}  # accepted_elsewhere(), by event id
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None
        self._producer_config = {"acks": "all", "linger_ms": 5, "retries": 1_000_000,
                                 "max_request_size": 1_048_576, "request_timeout_ms": 10_000,
                                 "delivery_timeout_ms": 300_000, "max_block_ms": 120_000,
                                 **(producer_config or {})}
        self.send_errors: list[str] = []
        self.started_ms: int | None = None  # first send
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(**self._producer_config, **self.conn.kafka_python_config())
        return self._producer

    # -- what to send ---------------------------------------------------------------------------

    def next_sim(self) -> tuple[Expectation, bytes | None, bytes]:
        event = self.sim.next_event(int(time.time() * 1000))
        topic = ingest_topic(event.platform_id, event.event_type)
        exp = Expectation(next(self._seq), topic, event.platform_id, event.event_type, "valid")
        if event.raw is not None:
            exp.kind, exp.label = "dlq", "garbage"
        elif event.expected_reason is not None:
            exp.kind, exp.reason, exp.label = "rejected", event.expected_reason, event.expected_reason
        else:
            self._expect_routed(exp, event.record, "valid")
        return exp, event.key.encode(), event_bytes(event, CATALOG)

    def _expect_routed(self, exp: Expectation, record: dict, label: str) -> None:
        """``exp`` is a valid event: where its copies must appear."""
        exp.event_id, exp.label = record["event_id"], label
        if feeds_cover_stage(exp.event_type, record):
            exp.cover_topic = COVER_INCIDENTS_TOPIC
        for route in routes_for(exp.event_type, record, self.routing, DIVISIONS.level_of):
            if route.kind == "office":
                exp.office_topic = route.topic
            else:
                exp.insurance_topic, exp.province = route.topic, record["division_code"][:2]

    def accepted_elsewhere(self, platform: str, event_type: str, record: dict, label: str = "gateway") -> Expectation:
        """An event that another writer (the HTTP gateway) reported accepted, i.e. written to
        ``platform.<platform>.<event_type>`` with acks=all. It carries no ``ledger-seq`` header:
        :func:`check` finds it in the ingest topic by its ``event_id`` (``record`` as validated)."""
        exp = Expectation(next(self._seq), ingest_topic(platform, event_type), platform, event_type, "valid",
                          acked=True)
        self._expect_routed(exp, record, label)
        if exp.event_id in self.by_event_id:
            raise ValueError(f"event id {exp.event_id} accepted twice: the ledger needs unique ids")
        with self._lock:
            self.expectations[exp.seq] = exp
            self.by_event_id[exp.event_id] = exp
            self.started_ms = self.started_ms or int(time.time() * 1000)
        return exp

    def raw_case(self, platform: str, event_type: str, value: bytes, *, key: bytes | None = b"fuzz",
                 kind: str = "invalid", reason: str | None = None, label: str = "raw"):
        exp = Expectation(next(self._seq), ingest_topic(platform, event_type), platform, event_type, kind,
                          reason=reason, label=label)
        return exp, key, value

    # -- sending --------------------------------------------------------------------------------

    def send(self, exp: Expectation, key: bytes | None, value: bytes) -> None:
        with self._lock:
            self.expectations[exp.seq] = exp
            self.started_ms = self.started_ms or int(time.time() * 1000)

        def ok(_meta, exp=exp):
            exp.acked = True

        def failed(exc, exp=exp):
            self.send_errors.append(f"seq {exp.seq}: {type(exc).__name__}: {exc}")

        future = self.producer.send(exp.topic, key=key, value=value,
                                    headers=[(SEQ_HEADER, str(exp.seq).encode())])
        future.add_callback(ok)
        future.add_errback(failed)

    def send_sim(self, n: int) -> None:
        for _ in range(n):
            self.send(*self.next_sim())

    def flush(self, timeout: float = 300) -> None:
        if self._producer is not None:
            self._producer.flush(timeout)

    def stream(self, n: int, rate: float) -> "Traffic":
        """Send ``n`` simulator events at about ``rate`` per second in a background thread."""
        def run() -> None:
            started = time.monotonic()
            for i in range(n):
                if self._stop.is_set():
                    break
                ahead = i / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
                self.send(*self.next_sim())
            self.flush()

        self._thread = threading.Thread(target=run, name="ledger-traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End a running :meth:`stream` early (what was sent so far stays the traffic)."""
        self._stop.set()

    def join(self, timeout: float = 600) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "traffic thread did not finish"
        self.flush()

    @property
    def sent(self) -> int:
        return len(self.expectations)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
        if self._producer is not None:
            self._producer.close(30)
            self._producer = None


# --- reading --------------------------------------------------------------------------------

def read_topics(conn, topics: Iterable[str], timeout_s: float = 120, since_ms: int | None = None,
                since_topics: Iterable[str] = ()) -> dict[str, list]:
    """Every record of every existing topic in ``topics``, from the beginning to the current end
    (one consumer for all of them); for ``since_topics`` only records written from ``since_ms``
    on (shared output topics hold every earlier scenario's records too)."""
    # check_crcs=False: without the optional crc32c package kafka-python checks CRC32C in pure
    # Python, ~5x slower than the rest of the read (the broker validated every batch on append)
    consumer = KafkaConsumer(enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024,
                             fetch_max_bytes=64 * 1024 * 1024, check_crcs=False, **conn.kafka_python_config())
    out: dict[str, list] = {t: [] for t in topics}
    try:
        existing = consumer.topics()
        tps = [TopicPartition(t, p) for t in sorted(out) if t in existing
               for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            return out
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        late = [tp for tp in tps if tp.topic in set(since_topics)]
        if since_ms is not None and late:
            for tp, found in consumer.offsets_for_times({tp: since_ms for tp in late}).items():
                consumer.seek(tp, found.offset if found is not None else ends[tp])
        deadline = time.monotonic() + timeout_s
        # done when the last record *returned* is end - 1 (a consumer's position can run ahead
        # of what poll() has handed out, so it is no measure of what was read)
        todo = {tp for tp in tps if ends[tp] > consumer.position(tp)}
        idle_polls = 0
        while todo:
            if time.monotonic() > deadline:
                raise AssertionError(f"reading {len(todo)} partitions did not finish in {timeout_s}s")
            polled = consumer.poll(timeout_ms=1000, max_records=50_000)
            idle_polls = 0 if polled else idle_polls + 1
            for tp, batch in polled.items():
                out[tp.topic].extend(r for r in batch if r.offset < ends[tp])
                if batch and batch[-1].offset >= ends[tp] - 1:
                    todo.discard(tp)
            if idle_polls >= 3:  # nothing more to hand out: gaps (e.g. control records) at the end
                todo = {tp for tp in todo if consumer.position(tp) < ends[tp]}
        return out
    finally:
        consumer.close()


def _decode(value: bytes) -> dict | None:
    try:
        return decode(CATALOG, value).record
    except WireFormatError:
        return None


def _http_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


# --- the report -----------------------------------------------------------------------------

@dataclass
class LedgerReport:
    scenario: str
    inputs: int = 0           # input offsets of this traffic found in the ingest topics
    sent: int = 0             # messages the producer side sent
    acked: int = 0            # ... of which the broker acknowledged
    routed: int = 0           # valid inputs with every outcome they need
    rejected: int = 0         # inputs with their rejection record
    dlq: int = 0              # inputs with their DLQ record
    lost: int = 0             # inputs missing an outcome
    duplicates: int = 0       # extra copies of outcomes (Kafka outputs, receipts)
    misclassified: int = 0    # an outcome of the wrong kind or reason
    unexpected: int = 0       # outputs of these platforms tracing back to no input
    acked_missing: int = 0    # acknowledged by the broker, yet not in the input topic
    input_repeats: int = 0    # the same seq at two offsets (producer retry)
    claims: int = 0           # idempotency keys with a claim at the endpoint
    claims_expected: int = 0
    claim_repeats: int = 0    # keys with more than one accepted claim (must be 0)
    endpoint_duplicates: int = 0  # re-sends the endpoint recognised by key (allowed)
    receipts: int = 0
    sink_dlq: int = 0
    missing: Counter = field(default_factory=Counter)       # outcome kind -> inputs missing it
    lost_partitions: Counter = field(default_factory=Counter)  # "topic/partition" -> lost inputs
    duplicate_kinds: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)       # first few, for the failure message
    elapsed_s: float = 0.0

    def note(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text)

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.misclassified == 0 and self.unexpected == 0
                and self.acked_missing == 0 and self.claim_repeats == 0)

    def row(self) -> dict:
        return {"inputs": self.inputs, "routed": self.routed, "rejected": self.rejected, "dlq": self.dlq,
                "lost": self.lost, "duplicates": self.duplicates, "claims": self.claims,
                "receipts": self.receipts, "misclassified": self.misclassified, "unexpected": self.unexpected}

    def table(self) -> str:
        cols = ["inputs", "sent", "acked", "routed", "rejected", "dlq", "lost", "duplicates",
                "misclassified", "unexpected", "acked_missing", "input_repeats", "claims",
                "claims_expected", "claim_repeats", "endpoint_duplicates", "receipts", "sink_dlq"]
        lines = [f"ledger [{self.scenario}]"]
        lines += [f"  {c:<20} {getattr(self, c)}" for c in cols]
        if self.missing:
            lines.append(f"  missing by outcome   {dict(self.missing)}")
        if self.duplicate_kinds:
            lines.append(f"  duplicates by output {dict(self.duplicate_kinds)}")
        if self.lost_partitions:
            lines.append(f"  lost by partition    {dict(sorted(self.lost_partitions.items()))}")
        lines += [f"  ! {p}" for p in self.problems]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def summary_line(self) -> str:
        return (f"LEDGER {self.scenario}: inputs={self.inputs} routed={self.routed} rejected={self.rejected} "
                f"dlq={self.dlq} lost={self.lost} duplicates={self.duplicates} claims={self.claims}"
                f"/{self.claims_expected} misclassified={self.misclassified} unexpected={self.unexpected}")


# --- the check ------------------------------------------------------------------------------

def check(conn, traffic: Traffic, scenario: str, *, endpoint_url: str | None = None,
          insurer_provinces: Iterable[str] = (), read_timeout_s: float = 120) -> LedgerReport:
    """Read everything (within ``read_timeout_s``) and account for every input offset of ``traffic``."""
    started = time.monotonic()
    report = LedgerReport(scenario, sent=traffic.sent,
                          acked=sum(1 for e in traffic.expectations.values() if e.acked))
    platforms = set(traffic.platforms)
    provinces = set(insurer_provinces)
    exps = traffic.expectations
    ingest = [ingest_topic(p, t) for p in traffic.platforms for t in EVENT_TYPES]
    offices = {e.office_topic for e in exps.values() if e.office_topic}
    insurance = {e.insurance_topic for e in exps.values() if e.insurance_topic}
    insurance |= {e.cover_topic for e in exps.values() if e.cover_topic}  # read and counted alike
    outputs = ([validated_topic(t) for t in EVENT_TYPES] + sorted(offices) + sorted(insurance)
               + [rejected_topic(p) for p in traffic.platforms] + [DLQ_TOPIC])
    for prov in sorted(provinces):
        outputs += [insurance_topic(prov, "receipts"), insurance_topic(prov, "dlq")]
    # outputs are written after their input: what is older than the traffic is someone else's
    since = traffic.started_ms - 60_000 if traffic.started_ms else None
    records = read_topics(conn, ingest + outputs, read_timeout_s, since_ms=since, since_topics=outputs)

    # inputs: (topic, partition, offset) -> expectation
    inputs: dict[tuple[str, int, int], Expectation] = {}
    seen_seq: Counter = Counter()
    for topic in ingest:
        for r in records[topic]:
            seq = dict(r.headers or []).get(SEQ_HEADER)
            if seq is None:  # written by the gateway: known by its event id
                exp = traffic.by_event_id.get((_decode(r.value) or {}).get("event_id"))
                seq = None if exp is None or exp.topic != topic else exp.seq
            if seq is None or int(seq) not in exps:
                report.unexpected += 1
                report.note(f"input {topic}/{r.partition}/{r.offset} without a known {SEQ_HEADER} or event id")
                continue
            inputs[(topic, r.partition, r.offset)] = exps[int(seq)]
            seen_seq[int(seq)] += 1
    report.inputs = len(inputs)
    report.input_repeats = sum(n - 1 for n in seen_seq.values() if n > 1)
    for e in exps.values():
        if e.acked and e.seq not in seen_seq:
            report.acked_missing += 1
            report.note(f"seq {e.seq} acknowledged by the broker but not in {e.topic}")

    # outputs keyed by event id (valid copies) or by source offset (rejections, dead letters)
    def by_event_id(topics: Iterable[str], keep: Callable[[dict], bool] = lambda rec: True) -> Counter:
        found: Counter = Counter()
        for topic in topics:
            for r in records[topic]:
                rec = _decode(r.value)
                if rec is not None and keep(rec):
                    found[(topic, rec.get("event_id"))] += 1
        return found

    validated = by_event_id([validated_topic(t) for t in EVENT_TYPES], lambda rec: rec.get("platform_id") in platforms)
    routed_copies = by_event_id(sorted(offices) + sorted(insurance), lambda rec: rec.get("platform_id") in platforms)
    receipts = by_event_id([insurance_topic(p, "receipts") for p in sorted(provinces)])
    sink_dlq = by_event_id([insurance_topic(p, "dlq") for p in sorted(provinces)])
    ours = {t for t in ingest}
    rejections: Counter = Counter()
    rejection_reason: dict = {}
    for p in traffic.platforms:
        for r in records[rejected_topic(p)]:
            rec = _decode(r.value)
            src = (rec["source_topic"], rec["source_partition"], rec["source_offset"])
            rejections[src] += 1
            rejection_reason[src] = rec["reason"]
    dead: Counter = Counter()
    for r in records[DLQ_TOPIC]:
        rec = _decode(r.value)
        if rec is None or rec["source_topic"] not in ours:
            continue
        dead[(rec["source_topic"], rec["source_partition"], rec["source_offset"])] += 1

    claims: Counter = Counter()
    if endpoint_url:
        for claim in _http_json(f"{endpoint_url}/_received"):
            claims[claim["idempotency_key"]] += 1
        report.endpoint_duplicates = int(_http_json(f"{endpoint_url}/_stats").get("duplicates", 0))

    valid_ids: set[str] = set()
    counted_ids: set[str] = set()
    for src, exp in sorted(inputs.items()):
        in_rejected, in_dlq = rejections.get(src, 0), dead.get(src, 0)
        if exp.kind == "valid":
            valid_ids.add(exp.event_id)
            if in_rejected or in_dlq:
                report.misclassified += 1
                report.note(f"valid {src} was {'rejected ' + rejection_reason.get(src, '') if in_rejected else 'dead-lettered'}")
            if exp.event_id in counted_ids:  # a producer retry: the second copy is a dedupe repeat
                continue
            counted_ids.add(exp.event_id)
            need = {"validated": validated.get((validated_topic(exp.event_type), exp.event_id), 0)}
            if exp.office_topic:  # orders go to no office (docs/cover.md)
                need["office"] = routed_copies.get((exp.office_topic, exp.event_id), 0)
            if exp.cover_topic:
                need["cover"] = routed_copies.get((exp.cover_topic, exp.event_id), 0)
            if exp.insurance_topic:
                need["insurance"] = routed_copies.get((exp.insurance_topic, exp.event_id), 0)
                if exp.province in provinces:
                    report.claims_expected += 1
                    refused = sink_dlq.get((insurance_topic(exp.province, "dlq"), exp.event_id), 0)
                    if refused:
                        report.sink_dlq += 1
                    else:
                        need["claim"] = claims.get(exp.event_id, 0)
                        need["receipt"] = receipts.get((insurance_topic(exp.province, "receipts"), exp.event_id), 0)
            missing = [k for k, n in need.items() if n == 0]
            for k, n in need.items():
                if n > 1:
                    if k == "claim":
                        report.claim_repeats += 1
                        report.note(f"{n} claims for idempotency key {exp.event_id}")
                    else:
                        report.duplicates += n - 1
                        report.duplicate_kinds[k] += n - 1
            if "claim" in need and need["claim"]:
                report.claims += 1
            if "receipt" in need and need["receipt"]:
                report.receipts += 1
            if missing:
                report.lost += 1
                report.lost_partitions[f"{src[0]}/{src[1]}"] += 1
                report.missing.update(missing)
                report.note(f"valid {src} event {exp.event_id} missing {missing}")
            else:
                report.routed += 1
            continue
        # rejected / dlq / invalid
        allowed = {"rejected": (in_rejected,), "dlq": (in_dlq,), "invalid": (in_rejected, in_dlq)}[exp.kind]
        wrong = {"rejected": in_dlq, "dlq": in_rejected, "invalid": 0}[exp.kind]
        if exp.kind == "invalid" and in_rejected and in_dlq:
            wrong = 1
        if wrong:
            report.misclassified += 1
            report.note(f"{exp.kind} {src} ({exp.label}) rejected={in_rejected} dlq={in_dlq}")
        total = sum(allowed)
        if total == 0:
            report.lost += 1
            report.lost_partitions[f"{src[0]}/{src[1]}"] += 1
            report.missing[exp.kind] += 1
            report.note(f"{exp.kind} {src} ({exp.label}) has no outcome")
            continue
        if in_rejected and exp.kind == "rejected" and exp.reason and rejection_reason[src] != exp.reason:
            report.misclassified += 1
            report.note(f"{src} rejected as {rejection_reason[src]}, expected {exp.reason}")
        if in_rejected:
            report.rejected += 1
        else:
            report.dlq += 1
        if total > 1:
            report.duplicates += total - 1
            report.duplicate_kinds["rejected" if in_rejected else "dlq"] += total - 1

    # outputs that trace back to no input of this traffic
    for (topic, event_id), n in validated.items():
        if event_id not in valid_ids:
            report.unexpected += n
            report.note(f"{topic} holds {event_id}, which no valid input of this traffic carries")
    for src, n in itertools.chain(rejections.items(), dead.items()):
        if src not in inputs:
            report.unexpected += n
            report.note(f"an outcome names {src}, which is not an input of this traffic")
    report.elapsed_s = time.monotonic() - started
    return report


def wait_until_accounted(conn, traffic: Traffic, scenario: str, timeout: float, **kwargs) -> LedgerReport:
    """Re-check until nothing is lost (or the deadline passes) and return the last report.

    Reading everything is not free, so the interval grows with the time one check takes."""
    deadline = time.monotonic() + timeout
    while True:
        report = check(conn, traffic, scenario, **kwargs)
        if report.lost == 0 and report.inputs >= report.acked:
            return report
        if time.monotonic() > deadline:
            return report
        time.sleep(max(1.0, 2 * report.elapsed_s))


def delete_platform_topics(conn, platforms: Iterable[str]) -> None:
    """Delete the ingest and rejected topics of ``platforms`` (after a scenario, so workers of
    later scenarios, which read every ``platform.*`` topic from the earliest offset, do not
    re-process them)."""
    from kafka.admin import KafkaAdminClient

    wanted = {ingest_topic(p, t) for p in platforms for t in EVENT_TYPES} | {rejected_topic(p) for p in platforms}
    admin = KafkaAdminClient(client_id="ledger-cleanup", **conn.kafka_python_config())
    try:
        existing = wanted & set(admin.list_topics())
        if existing:
            admin.delete_topics(sorted(existing), timeout_ms=30_000)
    finally:
        admin.close()
