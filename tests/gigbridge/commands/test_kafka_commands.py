"""publish / tail / dlq redrive against the real broker."""

import copy
import json
import time
import uuid

import pytest

from gigbridge.cli import main
from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from schemas.wire import decode, encode
from streams.core.topics import DLQ_TOPIC, ingest_topic, rejected_topic
from tests.support.kafka_io import onboard, producer, read_all

pytestmark = pytest.mark.kafka
CATALOG = default_catalog()


@pytest.fixture
def env(kafka, monkeypatch):
    for name, value in kafka.as_env().items():
        monkeypatch.setenv(name, value)
    return kafka


def headcount(platform):
    record = copy.deepcopy(next(e.payload for e in load_examples(contract="headcount_report", kind="valid")))
    shift = int(time.time() * 1000) - REFERENCE_NOW_MS
    for name in ("occurred_at", "period_start", "period_end"):
        record[name] += shift
    record.update(event_id=str(uuid.uuid4()), platform_id=platform)
    return record


def test_publish_produces_only_accepted_events_and_tail_reads_them(env, tmp_path, capsys):
    platform = f"pub-{uuid.uuid4().hex[:6]}"
    onboard(env, platform)
    good, spoofed = headcount(platform), headcount("someone-else")
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(spoofed) + "\n")
    assert main(["publish", str(path), "--type", "headcounts", "--platform", platform]) == 1
    verdicts = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert {(v["verdict"], v.get("reason")) for v in verdicts} == {("rejected", "platform_mismatch"), ("published", None)}
    records = read_all(env, ingest_topic(platform, "headcounts"))
    assert [decode(CATALOG, r.value).record["event_id"] for r in records] == [good["event_id"]]

    assert main(["tail", ingest_topic(platform, "headcounts"), "--from", "beginning", "--max", "1",
                 "--division", good["division_code"][:6], "--idle-timeout", "10"]) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["record"]["event_id"] == good["event_id"] and line["schema_id"] == 2


def test_redrive_resubmits_rejected_and_dead_lettered_originals(env, capsys):
    platform = f"redrive-{uuid.uuid4().hex[:6]}"
    onboard(env, platform)
    assert main(["topics", "ensure"]) == 0  # hub.dlq
    capsys.readouterr()
    source = ingest_topic(platform, "headcounts")
    p = producer(env)
    original = encode(CATALOG.contract("headcount_report").latest, headcount(platform))
    meta = p.send(source, key=b"site-1", value=original).get(30)
    rejection = {"event_id": None, "platform_id": platform, "event_type": "headcounts", "reason": "unknown_division_code",
                 "field": "division_code", "message": "m", "source_topic": source, "source_partition": meta.partition,
                 "source_offset": meta.offset, "schema_id": 2, "rejected_at": 0}
    p.send(rejected_topic(platform), value=encode(CATALOG.contract("rejection_record").latest, rejection)).get(30)
    dead = {"reason": "bad_magic_byte", "message": "m", "source_topic": source, "source_partition": 0,
            "source_offset": 99, "original_key": b"k", "original_value": b"garbage", "failed_at": 0}
    p.send(DLQ_TOPIC, value=encode(CATALOG.contract("dead_letter").latest, dead)).get(30)
    p.close()

    assert main(["dlq", "redrive", rejected_topic(platform), "--dry-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["would_resubmit"] == 1 and len(read_all(env, source)) == 1

    assert main(["dlq", "redrive", rejected_topic(platform)]) == 0
    values = [(r.key, r.value) for r in read_all(env, source)]
    assert values == [(b"site-1", original), (b"site-1", original)]

    assert main(["dlq", "redrive", DLQ_TOPIC, "--reason", "bad_magic_byte"]) == 0
    assert (b"k", b"garbage") in [(r.key, r.value) for r in read_all(env, source)]
