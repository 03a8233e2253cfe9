"""Sampling profile of a running worker with py-spy, summarised into the costs the docs talk
about (ingest loop and aiokafka consumer, plan_batch and its stages, the Writer and aiokafka
producer, dedupe store and log, metrics, metadata, the event loop...).

py-spy samples every thread that is not idle ``rate`` times a second; a sample is
``1/rate`` s of a thread being busy (running Python or native code, or waiting for the GIL),
so shares are shares of busy thread time. They are turned into CPU µs per event by
multiplying with the worker's CPU time per event over the same window (utime+stime from /proc).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.common import REPO_ROOT

# A frame spec is (function, file): the function is a name or qualified-name suffix (None: any
# function of that file), the file a suffix of the frame's path ("pkg/" at the end: any file of
# that package). A sample counts for a label if any frame of its stack matches any of the
# label's specs (inclusive time). Order = nesting, for the report.
INCLUSIVE = (
    ("BatchLoop.run (consume loop: getmany, step.start, bookkeeping)", (("run", "streams/runtime/loop.py"),)),
    ("  AIOKafkaConsumer.getmany", (("getmany", "aiokafka/consumer/consumer.py"),)),
    ("batch work: ValidationStep.start + _acknowledged", (("start", "streams/runtime/validation_step.py"),
                                                          ("_acknowledged", "streams/runtime/validation_step.py"))),
    ("  list comprehensions in validation_step.py (an InMessage per record)",
     (("<listcomp>", "streams/runtime/validation_step.py"),)),
    ("  plan_batch (pure per-event work)", (("plan_batch", "streams/core/plan.py"),)),
    ("    classify (decode + rules)", (("classify", "streams/core/classify.py"),)),
    ("      wire.decode (header + fastavro reader)", (("decode", "schemas/wire.py"),)),
    ("      check_rules", (("check_rules", "streams/core/validate.py"),)),
    ("        find_identifier (identifier scan)", (("find_identifier", "streams/core/pii.py"),)),
    ("    dedupe lookup (seen_before -> DedupeStore.seen_before, RocksDB get)",
     (("seen_before", "streams/runtime/validation_step.py"), ("seen_before", "streams/runtime/dedupe/"))),
    ("    _deliveries (route + protect + encode)", (("_deliveries", "streams/core/plan.py"),)),
    ("      routes_for", (("routes_for", "streams/core/route.py"),)),
    ("      Protector (privacy policy)", (("__call__", "streams/core/policy.py"),)),
    ("      wire.encode (fastavro writer; also the dedupe log's)", (("encode", "schemas/wire.py"),)),
    ("  Writer.send (topic checks, metadata, one produce batch per topic-partition)", (("send", "streams/runtime/writer.py"),)),
    ("    Writer._learn_metadata (metadata of new topics)", (("_learn_metadata", "streams/runtime/writer.py"),)),
    ("    AIOKafkaProducer.send (per record; the hub uses send_batch since session 3)",
     (("send", "aiokafka/producer/producer.py"),)),
    ("      ClusterMetadata.partitions_for_topic (a new set per call)",
     (("partitions_for_topic", "aiokafka/cluster.py"),)),
    ("      AIOKafkaProducer._partition (murmur2 of the key)", (("_partition", "aiokafka/producer/producer.py"),)),
    ("  Writer.acknowledged (await each partition batch's future)", (("acknowledged", "streams/runtime/writer.py"),)),
    ("  dedupe log: log_record (encode) + Writer.write (send, ack)",
     (("log_record", "streams/runtime/dedupe/log.py"), ("write", "streams/runtime/writer.py"))),
    ("  DedupeStore.apply (RocksDB WriteBatch)", (("apply", "streams/runtime/dedupe/store.py"),)),
    ("  metrics.record_batch (Prometheus + domain)", (("record_batch", "streams/runtime/metrics.py"),)),
    ("  Counts.add (counts line)", (("add", "streams/runtime/counts.py"),)),
    ("Checkpoint._commit_offsets (offset commit per batch)", (("_commit_offsets", "streams/runtime/checkpoint.py"),)),
    ("aiokafka Fetcher (fetch requests, record parsing)", ((None, "aiokafka/consumer/fetcher.py"),)),
    ("aiokafka Sender (produce requests, responses, per-record futures)", ((None, "aiokafka/producer/sender.py"),)),
    ("  MessageBatch.done (a RecordMetadata and a future result per record)",
     (("done", "aiokafka/producer/message_accumulator.py"),)),
    ("aiokafka response decoding (AIOKafkaConnection._handle_frame, all response types)",
     (("_handle_frame", "aiokafka/conn.py"),)),
    ("aiokafka metadata updates (AIOKafkaClient._metadata_update: pattern subscription, new topics)",
     (("_metadata_update", "aiokafka/client.py"),)),
    ("kafka-python (TopicAdmin in a thread, health probe)", ((None, "kafka/"),)),
    ("Faust host (its services, timers, web; not the hub's tasks it runs)", ((None, "faust/"), (None, "mode/"))),
    ("dataclass __init__ (InMessage, Decision, Delivery, outcomes...; frozen: object.__setattr__ per field)",
     (("__init__", "<string>"),)),
)


def _any(frames, names=(), paths=()) -> bool:
    return any(any(n in name for n in names) or any(_in(path, p) for p in paths) for name, path in frames)


def _in(path: str, spec: str) -> bool:
    """``spec`` "pkg/" matches any file of package ``pkg`` (not ``otherpkg/``), else a path suffix
    on a path boundary ("kafka/cluster.py" is not "aiokafka/cluster.py")."""
    if spec.endswith("/"):
        return path.startswith(spec) or ("/" + spec) in path
    return path == spec or path.endswith("/" + spec)


# Exclusive groups: each sample goes to the first group whose test matches its stack (the frames
# inside the event loop, see ``summarise``), so the groups add up to 100 % of the busy samples.
# Order matters: a group owns everything its frames call (plan_batch's dedupe lookup is dedupe,
# the dedupe log's send is dedupe, Writer.send's metadata request is metadata).
GROUPS = (
    ("dedupe store and log: DedupeStore lookups and writes (RocksDB), dedupe_batch records, their send",
     lambda f: _any(f, names=("seen_before", "Writer.write"),
                    paths=("streams/runtime/dedupe/", "rocksdict/"))),
    ("Prometheus and domain metrics, counts line (metrics.record_batch, Counts.add)",
     lambda f: _any(f, names=("record_batch", "Counts.add"), paths=("prometheus_client/",))),
    ("per-event codec work in plan_batch: decode, rules, identifier scan, routing, privacy, encode",
     lambda f: _any(f, names=("plan_batch",))),
    ("metadata: Writer._learn_metadata, aiokafka metadata updates, TopicAdmin (kafka-python) calls",
     lambda f: _any(f, names=("_learn_metadata", "_metadata_update", "force_metadata_update", "TopicAdmin."),
                    paths=("kafka/admin/", "kafka/cluster.py"))),
    ("output producer: Writer.send / acknowledged, partitioner, aiokafka producer (partition batches, "
     "accumulator), Sender and batch futures",
     lambda f: _any(f, names=("Writer.",), paths=("aiokafka/producer/",))),
    ("worker batch glue: ValidationStep own lines (messages, accepted ids, held ids, offsets)",
     lambda f: _any(f, names=("ValidationStep.", "BatchLoop._scoped"))),
    ("ingest loop and aiokafka consumer: getmany, fetcher, record parsing, offset commits",
     lambda f: _any(f, names=("BatchLoop.", "Checkpoint.", "KafkaConsumer."),
                    paths=("streams/runtime/loop.py", "streams/runtime/checkpoint.py", "aiokafka/consumer/"))),
    ("Faust host, health probe and timers (mode services, web, lag, counts line)",
     lambda f: _any(f, names=("_log_counts", "measure_lag", "KafkaProbe", "WorkerHealth"),
                    paths=("faust/", "mode/", "aiohttp/", "streams/runtime/health.py", "kafka/"))),
    ("Kafka response decoding in aiokafka's connection (all response types: produce, fetch, metadata, commit)",
     lambda f: _any(f, names=("_handle_frame",), paths=("aiokafka/protocol/",))),
    ("asyncio event loop and socket I/O not attributable to one of the above",
     lambda f: _any(f, paths=("asyncio/", "selectors.py", "aiokafka/conn.py", "socket.py", "ssl.py"))),
    ("everything else: samples without a Python frame (native work, e.g. GC), stacks cut short by "
     "non-blocking sampling, logging, threads", lambda f: True),
)


def py_spy() -> str | None:
    venv = REPO_ROOT / ".venv" / "bin" / "py-spy"
    return str(venv) if venv.exists() else shutil.which("py-spy")


def record(pid: int, out: Path, duration: int, fmt: str = "raw", rate: int = 100) -> subprocess.CompletedProcess:
    """``py-spy record`` (non-blocking: the worker is never paused) of every thread."""
    cmd = [py_spy(), "record", "--pid", str(pid), "--duration", str(duration), "--rate", str(rate),
           "--nonblocking", "--threads", "--format", fmt, "-o", str(out)]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=duration + 60)


def _parse_frame(frame: str) -> tuple[str, str]:
    """``'HubWorker.handle_batch (streams/runtime/worker.py:140)'`` -> (qualified name, file)."""
    name, _, where = frame.rpartition(" (")
    return name, where.rsplit(":", 1)[0]


def _matches(name: str, path: str, func: str | None, file_spec: str) -> bool:
    if not _in(path, file_spec):
        return False
    return func is None or name == func or name.endswith("." + func) or f".{func}." in name


def summarise(raw: Path, rate: int, events: int, cpu_us_per_event: float | None = None) -> dict:
    """Exclusive groups, inclusive shares of the labelled functions, busy time per thread and the
    top leaf frames. With ``cpu_us_per_event`` (the worker's CPU time per event from /proc), every
    share is also given as CPU µs per event (share x CPU per event)."""
    inclusive: Counter = Counter()
    threads: Counter = Counter()
    leaves: Counter = Counter()
    groups: Counter = Counter()
    main_outside_batch = 0
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[-1]
        parsed = [_parse_frame(f) for f in frames[1:] if " (" in f]
        if any(name.endswith(("HubWorker._run", "IngestMonitor.watch")) for name, _ in parsed):
            # a hub task the Faust host runs: its mode/faust wrapper frames are not Faust's work
            parsed = [(n, p) for n, p in parsed if not _in(p, "mode/") and not _in(p, "faust/")]
        total += count
        threads[thread] += count
        # Only what runs *inside* the event loop counts: the frames below it (cli -> mode Worker
        # -> run_forever) are the same for every sample of the main thread; the mode/faust task
        # wrappers of the hub's own tasks (HubWorker._run) were dropped above.
        loop_at = max((i for i, (name, _) in enumerate(parsed) if name.endswith("_run_once")), default=-1)
        inner = parsed[loop_at + 1:] or parsed[max(loop_at, 0):]
        hit = set()
        for label, specs in INCLUSIVE:
            if any(_matches(name, path, func, spec) for name, path in inner for func, spec in specs):
                hit.add(label)
                inclusive[label] += count
        for label, test in GROUPS:
            if test(inner):
                groups[label] += count
                break
        if parsed:
            name, path = parsed[-1]
            leaves[f"{name} ({_short(path)})"] += count
        if thread == "MainThread" and INCLUSIVE[2][0] not in hit:
            main_outside_batch += count

    def us_per_event(samples: int) -> float | None:
        return round(samples / rate / events * 1e6, 2) if events else None

    def share(samples: int) -> float:
        return round(100 * samples / total, 1) if total else 0.0

    def cpu_us(samples: int) -> float | None:
        return round(samples / total * cpu_us_per_event, 1) if total and cpu_us_per_event else None

    return {
        "samples": total, "rate_hz": rate, "events": events,
        "busy_us_per_event": us_per_event(total),
        "cpu_us_per_event": cpu_us_per_event,
        "groups": {label: {"share_pct": share(groups[label]), "cpu_us_per_event": cpu_us(groups[label])}
                   for label, _ in GROUPS},
        "threads": {t: {"share_pct": share(c), "us_per_event": us_per_event(c)} for t, c in threads.most_common()},
        "main_thread_outside_batch_work": {"share_pct": share(main_outside_batch),
                                             "cpu_us_per_event": cpu_us(main_outside_batch),
                                             "what": "ingest loop, aiokafka consumer and producer tasks, response "
                                                     "decoding, asyncio loop, Faust host, timers"},
        "inclusive": {label: {"share_pct": share(inclusive[label]), "cpu_us_per_event": cpu_us(inclusive[label])}
                      for label, _ in INCLUSIVE},
        "top_leaf_frames": [{"frame": f, "share_pct": share(c), "cpu_us_per_event": cpu_us(c)}
                            for f, c in leaves.most_common(25)],
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.removeprefix(str(REPO_ROOT) + "/")
