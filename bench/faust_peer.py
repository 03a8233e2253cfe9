"""The peer a user of this stack would write instead of the hub's batch loop: one idiomatic Faust
agent with Faust tables doing the same order validation and per-worker-day aggregation.

Per record: decode (the hub's fastavro codec), ``check_order_cover`` with the same rate table,
exact event_id dedupe in a table, the worker-day totals (orders, premium, first and last
``accepted_at``) in a table, and one output per input: the accepted bytes keyed
``"<platform>:<province>"`` to ``--target``, or a small JSON rejection to ``--rejected``.

Simplification in the peer's favour: the tables are updated on the source partition (no
``group_by`` repartition by worker-day), which is correct only because one worker runs alone.

    python -m bench.faust_peer --app-id A --target T --rejected R SOURCE [SOURCE ...]

Connection from ``GIGBRIDGE_KAFKA_*`` (as ``bench/passthrough.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import MutableMapping

from schemas.catalog import default_catalog
from schemas.wire import WireFormatError, decode
from streams.core.cover.cst import service_date
from streams.core.cover.orders import check_order_cover, province_of
from streams.core.topics import parse_ingest_topic

PEER_PARTITIONS = 6  # bench.common.PARTITIONS: the tables' changelogs match the source topics


class OrderPeer:
    """The per-record work of the peer, over any mutable mappings (Faust tables in the agent,
    dicts in tests): ``handle`` returns ``("accepted", key, value)`` or ``("rejected", key, value)``
    or None for a repeat of an accepted event_id."""

    def __init__(self, seen: MutableMapping, days: MutableMapping, rates=None, division_exists=None) -> None:
        from gigbridge.divisions import default_table
        from streams.loaders.cover import load_rates

        self.catalog = default_catalog()
        self.rates = rates or load_rates()
        self.division_exists = division_exists or default_table().exists
        self.seen, self.days = seen, days

    def handle(self, topic: str, value: bytes, now_ms: int) -> tuple[str, bytes, bytes] | None:
        platform = parse_ingest_topic(topic).platform_id
        try:
            record = decode(self.catalog, value, expect_contract="order_cover").record
        except WireFormatError as exc:
            return "rejected", platform.encode(), json.dumps({"reason": exc.reason}).encode()
        rejection = check_order_cover(record, now_ms=now_ms, division_exists=self.division_exists,
                                      rates=self.rates, topic_platform=platform)
        if rejection is not None:
            return "rejected", platform.encode(), json.dumps(
                {"event_id": record["event_id"], "reason": rejection.reason, "field": rejection.field}).encode()
        if self.seen.get(record["event_id"]):
            return None
        self.seen[record["event_id"]] = True
        province = province_of(record["division_code"])
        day_key = f"{platform}:{province}:{record['worker_ref']}:{service_date(record['accepted_at'])}"
        orders, premium, first, last = self.days.get(day_key) or (0, 0, record["accepted_at"], record["accepted_at"])
        self.days[day_key] = (orders + 1, premium + record["premium_fen"], min(first, record["accepted_at"]),
                              max(last, record["accepted_at"]))
        return "accepted", f"{platform}:{province}".encode(), value


def build_app(app_id: str, sources: list[str], target: str, rejected: str):
    import faust

    from gigbridge.settings import Settings

    settings = Settings(_env_file=None)
    app = faust.App(app_id, broker=[f"kafka://{h}" for h in settings.kafka_bootstrap.split(",")],
                    broker_credentials=settings.kafka_security.faust_credentials(settings.kafka_ssl_context),
                    store="memory://", processing_guarantee="at_least_once", producer_acks=-1,
                    producer_linger_ms=5, topic_partitions=PEER_PARTITIONS, consumer_auto_offset_reset="earliest",
                    web_enabled=False, autodiscover=False, datadir=f".local/bench/{app_id}")
    source = app.topic(*sources, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    outputs = {"accepted": app.topic(target, key_serializer="raw", value_serializer="raw"),
               "rejected": app.topic(rejected, key_serializer="raw", value_serializer="raw")}
    seen = app.Table("seen-events", default=bool, partitions=PEER_PARTITIONS)
    days = app.Table("worker-days", default=None, partitions=PEER_PARTITIONS)
    peer = OrderPeer(seen, days)

    @app.agent(source)
    async def validate_and_aggregate(stream):
        async for event in stream.events():
            out = peer.handle(event.message.topic, event.value, time.time_ns() // 1_000_000)
            if out is not None:
                kind, key, value = out
                await outputs[kind].send(key=key, value=value)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.faust_peer")
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--rejected", required=True)
    parser.add_argument("sources", nargs="+")
    args = parser.parse_args()
    app = build_app(args.app_id, args.sources, args.target, args.rejected)
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main()
