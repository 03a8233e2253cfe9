"""Stock tools read hub topics: kcat over SASL/SCRAM, and the reference `avro` library (not the
hub's fastavro) decodes an office record given the hub's schema."""

import io
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import avro.io
import avro.schema
import pytest

from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from schemas.wire import encode
from tests.support.kafka_io import newer_librdkafka_env, producer

pytestmark = pytest.mark.kafka
CATALOG = default_catalog()


def _office_record(topic: str, kafka) -> bytes:
    from gigbridge.settings import Settings
    from gigbridge.topics_admin import TopicAdmin

    admin = TopicAdmin(Settings(kafka_bootstrap=kafka.bootstrap, kafka_username=kafka.username,
                                kafka_password=kafka.password))
    admin.ensure([topic], partitions=1)
    admin.close()
    record = next(e.payload for e in load_examples(contract="incident_report", kind="valid"))
    record = dict(record, event_id=str(uuid.uuid4()), occurred_at=record["occurred_at"] - REFERENCE_NOW_MS + int(time.time() * 1000))
    value = encode(CATALOG.contract("incident_report").latest, record)
    p = producer(kafka)
    p.send(topic, key=b"site-1", value=value).get(30)
    p.close()
    return value


def test_kcat_consumes_a_hub_topic_with_sasl_scram(kafka, tmp_path):
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.fail("kcat is not installed (make test installs the Debian package kcat: scripts/ensure-tools.sh)")
    topic = f"gov.office.{uuid.uuid4().int % 10**6:06d}.incidents"
    value = _office_record(topic, kafka)
    out = subprocess.run(
        [kcat, "-C", "-b", kafka.bootstrap, "-X", "security.protocol=SASL_PLAINTEXT",
         "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", f"sasl.username={kafka.username}",
         "-X", f"sasl.password={kafka.password}", "-t", topic, "-o", "beginning", "-c", "1", "-e",
         "-f", "%k %S\\n"], capture_output=True, timeout=60, check=True, env={**os.environ, **newer_librdkafka_env(tmp_path)})
    key, size = out.stdout.decode().split()
    assert key == "site-1" and int(size) == len(value)  # the whole wire-format record came through


def test_reference_avro_library_decodes_an_office_record(kafka):
    topic = f"gov.office.{uuid.uuid4().int % 10**6:06d}.incidents"
    value = _office_record(topic, kafka)
    from tests.support.kafka_io import read_all

    [message] = read_all(kafka, topic)
    assert message.value[0] == 0
    schema_id = int.from_bytes(message.value[1:5], "big")
    schema = avro.schema.parse(json.dumps(CATALOG.by_id(schema_id).schema))
    decoded = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(message.value[5:])))
    assert decoded["event_id"] and decoded["division_code"] and message.value == value
