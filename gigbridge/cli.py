"""``gigbridge`` command line. Exit codes: 0 ok, 1 some events rejected, 2 usage/config error."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from pydantic import ValidationError as SettingsError

from gigbridge.logs import configure_logging, get_logger
from gigbridge.settings import Settings

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2
log = get_logger("gigbridge.cli")


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from faust import Worker

    from streams.worker import HubWorker

    hub = HubWorker(settings)
    hub.admin.ensure(hub.static_topics())  # before subscribing: see HubWorker.static_topics
    worker = Worker(hub.app, loglevel=settings.log_level, override_logging=False,
                    redirect_stdouts=False, quiet=True)
    worker.execute_from_commandline()
    return EXIT_OK


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from gigbridge.simulator.run import run_simulation

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run_simulation(settings, rate=args.rate, count=args.count, duration_s=args.duration,
                       platforms=args.platforms, seed=args.seed, invalid_share=args.invalid_share,
                       should_stop=stop.is_set)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    """Worker in the foreground, simulator in a background thread (``make run``)."""
    from gigbridge.simulator.run import run_simulation

    def simulate() -> None:
        try:
            run_simulation(settings, rate=args.rate, platforms=args.platforms, seed=args.seed,
                           invalid_share=args.invalid_share)
        except Exception as exc:  # the demo keeps the worker up; say why traffic stopped
            log.error("simulator stopped", error=str(exc))

    from gigbridge.simulator.run import ensure_platform_topics
    from gigbridge.simulator.generator import PLATFORM_NAMES

    ensure_platform_topics(settings, list(PLATFORM_NAMES[: args.platforms]))
    threading.Thread(target=simulate, name="simulator", daemon=True).start()
    log.info("demo running", metrics=f"http://{settings.worker_web_host}:{settings.worker_web_port}/metrics")
    return _worker(settings, args)


def _validate(settings: Settings, args: argparse.Namespace) -> int:
    """Offline: validate JSON lines (``{"type": ..., "event": {...}}`` or events of --type)."""
    from gigbridge.divisions import default_table
    from schemas.catalog import default_catalog
    from streams.process import Accepted, Context, classify_json

    ctx = Context(default_catalog(), default_table().exists)
    now_ms = time.time_ns() // 1_000_000
    verdicts: Counter = Counter()
    with _open(args.file) as lines:
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                print(json.dumps({"line": lineno, "verdict": "rejected", "reason": "malformed_json",
                                  "message": exc.msg}))
                verdicts["malformed_json"] += 1
                continue
            event_type = args.type or (obj.get("type") if isinstance(obj, dict) else None)
            event = obj.get("event", obj) if isinstance(obj, dict) and not args.type else obj
            if event_type not in ("sites", "headcounts", "incidents"):
                print(json.dumps({"line": lineno, "verdict": "rejected", "reason": "unknown_event_type"}))
                verdicts["unknown_event_type"] += 1
                continue
            outcome = classify_json(event, event_type, ctx, now_ms)
            if isinstance(outcome, Accepted):
                verdicts["accepted"] += 1
                print(json.dumps({"line": lineno, "verdict": "accepted", "event_id": outcome.event_id}))
            else:
                r = outcome.rejection
                verdicts[r.reason] += 1
                print(json.dumps({"line": lineno, "verdict": "rejected", "reason": r.reason,
                                  "field": r.field, "message": r.message}))
    accepted = verdicts.pop("accepted", 0)
    print(json.dumps({"summary": {"accepted": accepted, "rejected": sum(verdicts.values()),
                                  "reasons": dict(verdicts)}}), file=sys.stderr)
    return EXIT_REJECTED if verdicts else EXIT_OK


def _topics_ensure(settings: Settings, args: argparse.Namespace) -> int:
    from gigbridge.topics_admin import TopicAdmin
    from streams.topics import DLQ_TOPIC, ingest_topic, rejected_topic, validated_topics
    from streams.validate import EVENT_TYPES

    wanted = [*validated_topics(), DLQ_TOPIC]
    for platform in args.platform:
        wanted += [ingest_topic(platform, t) for t in EVENT_TYPES] + [rejected_topic(platform)]
    admin = TopicAdmin(settings)
    try:
        created = admin.ensure(wanted)
    finally:
        admin.close()
    print(json.dumps({"created": created, "existing": sorted(set(wanted) - set(created))}))
    return EXIT_OK


def _sim_endpoint(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from connectors.sim_endpoint import serve

    asyncio.run(serve(args))
    return EXIT_OK


def _open(path: str):
    return sys.stdin if path == "-" else Path(path).open(encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gigbridge",
        description="Event hub between gig platforms and government offices. Configuration "
                    "comes from GIGBRIDGE_* environment variables (see README).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("worker", help="run the stream worker: validate, dedupe, route (Faust)")
    p.set_defaults(func=_worker)

    def sim_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rate", type=float, default=None, help="events per second, 0 = flat out")
        p.add_argument("--platforms", type=int, default=None, help="number of simulated platforms")
        p.add_argument("--seed", type=int, default=None, help="random seed (same seed, same events)")
        p.add_argument("--invalid-share", type=float, default=None,
                       help="share of deliberately broken events (0..1)")

    p = sub.add_parser("simulate", help="produce seeded, realistic traffic of simulated platforms")
    sim_options(p)
    p.add_argument("--count", type=int, default=None, help="stop after this many events")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("demo", help="worker + simulator in one process (what `make run` starts)")
    sim_options(p)
    p.set_defaults(func=_demo)

    p = sub.add_parser("validate", help="validate a JSON-lines file offline (no broker); exit 1 if any rejected")
    p.add_argument("file", help='JSON lines: {"type": "sites", "event": {...}} or plain events with --type; - = stdin')
    p.add_argument("--type", choices=("sites", "headcounts", "incidents"), help="all lines are events of this type")
    p.set_defaults(func=_validate)

    from connectors.sim_endpoint import add_cli_arguments as sim_endpoint_arguments

    p = sub.add_parser("sim-endpoint", help="simulated insurer / office webhook endpoint with fault switches "
                                            "(POST /_control {\"mode\": \"down\"|\"slow\"|\"429\"|\"500\"|\"400\"})")
    sim_endpoint_arguments(p)
    p.set_defaults(func=_sim_endpoint)

    from gigbridge.access_cli import add_cli as add_access_cli

    add_access_cli(sub)

    p = sub.add_parser("topics", help="topic administration")
    tsub = p.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    e = tsub.add_parser("ensure", help="create the hub's topics (and a platform's, with --platform) if missing")
    e.add_argument("--platform", action="append", default=[], help="platform id to onboard (repeatable)")
    e.set_defaults(func=_topics_ensure)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except SettingsError as exc:
        print(f"gigbridge: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    for name in ("rate", "platforms", "seed", "invalid_share"):
        if getattr(args, name, None) is None and hasattr(args, name):
            setattr(args, name, getattr(settings, f"sim_{name}"))
    configure_logging(settings.log_level, settings.log_format)
    try:
        return args.func(settings, args)
    except FileNotFoundError as exc:
        print(f"gigbridge: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
