"""``gigbridge`` command line. Exit codes: 0 ok, 1 some events rejected, 2 usage/config error,
3 Kafka broker unreachable (:mod:`gigbridge.broker_errors`)."""

from __future__ import annotations

import argparse
import os
import json
import signal
import sys
import threading
import time

from pydantic import ValidationError as SettingsError

from gigbridge.broker_errors import EXIT_BROKER_UNREACHABLE, is_broker_unreachable, report_unreachable
from gigbridge.kafka_tls import KafkaTlsError, verify_broker_certificates
from gigbridge.logs import configure_logging, get_logger
from gigbridge.settings import Settings

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2
log = get_logger("gigbridge.cli")


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.runtime.worker import HubWorker, serve

    # A broker certificate this worker does not trust is a configuration error (exit 2), not
    # something for the clients to retry until they time out.
    verify_broker_certificates(settings.kafka_bootstrap, settings.kafka_ssl_context)
    # Faust creates only the last level of its datadir; an installed hub's default (.local/worker
    # under the working directory, gigbridge.paths) may have neither level yet.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return serve(HubWorker(settings))


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


DEMO_INSURED_PROVINCES = ("11", "31", "32", "33", "44", "51")  # where most simulated traffic is
DEMO_ORDER_RATE = 20.0  # orders/s while the two days of history go out; then as they happen


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    """Worker in the foreground, simulator in a background thread, and (unless insurer
    endpoints are configured) a simulated insurer for the busiest provinces (``make run``)."""
    import subprocess

    from gigbridge.settings import Endpoint
    from gigbridge.simulator.generator import PLATFORM_NAMES
    from gigbridge.simulator.case_run import run_case_simulation
    from gigbridge.simulator.console_demo import start_console_demo
    from gigbridge.simulator.run import ensure_platform_topics, run_simulation
    from streams.runtime.cases.metrics import case_records_handled

    insurer = console = None
    if not settings.insurer_endpoints:
        port, secret = settings.worker_web_port + 1, "demo-insurer-secret"
        insurer = subprocess.Popen([sys.executable, "-m", "gigbridge.cli", "sim-endpoint", "--port", str(port),
                                    "--secret", secret], stdout=subprocess.DEVNULL)
        endpoint = Endpoint(url=f"http://127.0.0.1:{port}/claims", secret=secret)
        settings = settings.model_copy(update={"insurer_endpoints": {p: endpoint for p in DEMO_INSURED_PROVINCES}})
        log.info("simulated insurer", url=endpoint.url, provinces=",".join(DEMO_INSURED_PROVINCES))

    # A fresh seed per run: the same seed replays the same event ids, which a restarted demo
    # (broker and dedupe store keep their data) would rightly count as duplicates.
    seed = args.seed if args.seed_given else time.time_ns() % 2**32

    def simulate() -> None:
        try:
            run_case_simulation(settings, case_records_handled, seed=seed)  # docs/cases.md
            run_simulation(settings, rate=args.rate, platforms=args.platforms, seed=seed,
                           invalid_share=args.invalid_share)
        except Exception as exc:  # the demo keeps the worker up; say why traffic stopped
            log.error("simulator stopped", error=str(exc))

    def simulate_orders() -> None:  # injury-cover orders and insured incidents (docs/cover.md)
        from gigbridge.simulator.order_feed import run_order_traffic
        try:
            run_order_traffic(settings, rate=DEMO_ORDER_RATE, seed=seed)
        except Exception as exc:
            log.error("order simulator stopped", error=str(exc))

    try:
        ensure_platform_topics(settings, list(PLATFORM_NAMES[: args.platforms]))
        threading.Thread(target=simulate, name="simulator", daemon=True).start()
        threading.Thread(target=simulate_orders, name="order-simulator", daemon=True).start()
        _start_demo_insurers(settings)
        settings = _start_notice_demo(settings, list(PLATFORM_NAMES[: args.platforms]))  # docs/notices.md
        settings, console = start_console_demo(settings, list(PLATFORM_NAMES[: args.platforms]))  # docs/console-data.md
        log.info("demo running", metrics=f"http://{settings.worker_web_host}:{settings.worker_web_port}/metrics")
        return _worker(settings, args)
    finally:
        for child in (insurer, console):
            if child is not None:
                child.terminate()


def _start_demo_insurers(settings: Settings) -> None:
    """Each insurer of deploy/access.yaml answers its insured incidents with claim updates over
    Kafka (gigbridge.simulator.claims_demo), so claim states move in the demo."""
    from gigbridge.access import load_access
    from gigbridge.simulator.claims_demo import run_demo_insurer

    def answer(province: str) -> None:
        try:
            run_demo_insurer(settings, province, should_stop=lambda: False)
        except Exception as exc:  # the demo keeps the worker up; say why claims stopped
            log.error("demo insurer stopped", province=province, error=str(exc))

    for province in sorted({i.province for i in load_access().insurers}):
        threading.Thread(target=answer, args=(province,), name=f"insurer-{province}", daemon=True).start()


def _start_notice_demo(settings: Settings, platforms: list[str]) -> Settings:
    """A heat warning, answers (in time, late, never) and rule changes, in a background thread;
    unless configured, the demo's overdue time is 60 s so an overdue notice shows within minutes."""
    from gigbridge.simulator.notice_demo import run_notice_demo

    if "notice_overdue_after_s" not in settings.model_fields_set:
        settings = settings.model_copy(update={"notice_overdue_after_s": 60.0, "notice_check_interval_s": 5.0})

    def demo() -> None:
        try:
            run_notice_demo(settings, platforms)
        except Exception as exc:  # the demo keeps the worker up; say why
            log.error("notice demo stopped", error=str(exc))

    threading.Thread(target=demo, name="notice-demo", daemon=True).start()
    return settings


def _validate(settings: Settings, args: argparse.Namespace) -> int:
    from gigbridge.commands import publish

    return publish.run(settings, args.file, args.type, None, produce=False)


def _publish(settings: Settings, args: argparse.Namespace) -> int:
    from gigbridge.commands import publish

    return publish.run(settings, args.file, args.type, args.platform, produce=True)


def _tail(settings: Settings, args: argparse.Namespace) -> int:
    from gigbridge.commands import tail

    return tail.run(settings, args.topic, args.start, args.division, args.max, args.idle_timeout)


def _cases(settings: Settings, args: argparse.Namespace) -> int:
    from gigbridge.commands import cases_cmd

    return cases_cmd.run(settings, args.division, args.overdue, args.status)


def _schemas(settings: Settings, args: argparse.Namespace) -> int:
    from gigbridge.commands import schemas_cmd

    if args.schemas_command == "list":
        return schemas_cmd.list_contracts()
    if args.schemas_command == "show":
        return schemas_cmd.show(args.contract, args.version)
    return schemas_cmd.check(args.contract, args.file)


def _redrive(settings: Settings, args: argparse.Namespace) -> int:
    from gigbridge.commands import redrive

    return redrive.run(settings, args.topic, args.reason, args.dry_run)


def _topics_ensure(settings: Settings, args: argparse.Namespace) -> int:
    from gigbridge.topics_admin import TopicAdmin
    from streams.core.topics import DLQ_TOPIC, ingest_topic, rejected_topic, validated_topics
    from streams.core.validate import EVENT_TYPES
    from streams.runtime.cover_topics import COPARTITIONED_TOPICS, ensure_cover_topics

    wanted = [*validated_topics(), *COPARTITIONED_TOPICS, DLQ_TOPIC]
    for platform in args.platform:
        wanted += [ingest_topic(platform, t) for t in EVENT_TYPES] + [rejected_topic(platform)]
    admin = TopicAdmin(settings)
    try:
        created = ensure_cover_topics(admin) + admin.ensure(wanted)
    finally:
        admin.close()
    print(json.dumps({"created": created, "existing": sorted(set(wanted) - set(created))}))
    return EXIT_OK


def _alerts(settings: Settings, args: argparse.Namespace) -> int:
    from gigbridge.commands import alerts

    if args.dry_run:
        return alerts.import_dry_run(args.files)
    return alerts.import_and_publish(settings, args.files)


def _sim_endpoint(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from gigbridge.devtools.sim_endpoint import serve

    asyncio.run(serve(args))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from streams.core.validate import EVENT_TYPES

    parser = argparse.ArgumentParser(
        prog="gigbridge",
        description="Event hub between gig platforms and government offices. Configuration "
                    "comes from GIGBRIDGE_* environment variables (see README).",
        epilog=f"exit codes: 0 ok, 1 some events rejected (or drift, for access check), 2 usage or "
               f"configuration error, {EXIT_BROKER_UNREACHABLE} Kafka broker unreachable")
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
    p.add_argument("--type", choices=EVENT_TYPES, help="all lines are events of this type")
    p.set_defaults(func=_validate)

    from gigbridge.devtools.sim_endpoint import add_cli_arguments as sim_endpoint_arguments

    p = sub.add_parser("sim-endpoint", help="simulated insurer / office webhook endpoint with fault switches "
                                            "(POST /_control {\"mode\": \"down\"|\"slow\"|\"429\"|\"500\"|\"400\"})")
    sim_endpoint_arguments(p)
    p.set_defaults(func=_sim_endpoint)

    from connectors.gateway import add_cli as add_ingest_cli
    from connectors.registry import add_cli as add_registry_cli
    from gigbridge.access_cli import add_cli as add_access_cli

    add_ingest_cli(sub)
    add_registry_cli(sub)
    add_access_cli(sub)

    p = sub.add_parser("publish", help="validate a JSON-lines file and produce the accepted events "
                                       "to platform.<id>.<type>; exit 1 if any rejected")
    p.add_argument("file", help='JSON lines: {"type": "sites", "event": {...}} or plain events with --type; - = stdin')
    p.add_argument("--type", choices=EVENT_TYPES, help="all lines are events of this type")
    p.add_argument("--platform", help="publish as this platform (events claiming another are rejected)")
    p.set_defaults(func=_publish)

    p = sub.add_parser("tail", help="print the records of a topic as decoded JSON")
    p.add_argument("topic")
    p.add_argument("--from", dest="start", default="end",
                   help="beginning, end (default) or an ISO-8601 timestamp such as 2026-11-28T08:00:00Z")
    p.add_argument("--division", help="only records whose division_code starts with this prefix")
    p.add_argument("--max", type=int, help="stop after this many records")
    p.add_argument("--idle-timeout", type=float, help="stop after this many seconds without a record")
    p.set_defaults(func=_tail)

    p = sub.add_parser("cases", help="concern cases (docs/cases.md): `cases list` from hub.cases.state")
    cases = p.add_subparsers(dest="cases_command", required=True, metavar="ACTION")
    p = cases.add_parser("list", help="current cases as JSON lines, filtered; the count on stderr")
    p.add_argument("--division", help="only cases whose division_code starts with this prefix (e.g. 110105)")
    p.add_argument("--overdue", action="store_const", const=True, help="only cases past a deadline now")
    p.add_argument("--on-time", dest="overdue", action="store_const", const=False, help="only cases past no deadline")
    p.add_argument("--status", help="only cases in this status (OPEN, ACCEPTED, RESPONDED, RESOLVED, CLOSED_REJECTED)")
    p.set_defaults(func=_cases)

    p = sub.add_parser("schemas", help="the contract catalog: list, show, check a candidate")
    ssub = p.add_subparsers(dest="schemas_command", required=True, metavar="ACTION")
    ssub.add_parser("list", help="contracts, versions, schema ids and topics")
    s = ssub.add_parser("show", help="print a contract's Avro schema")
    s.add_argument("contract")
    s.add_argument("--version", type=int, help="default: latest")
    s = ssub.add_parser("check", help="is FILE (an .avsc) a compatible next version of CONTRACT? exit 1 if not")
    s.add_argument("contract")
    s.add_argument("file")
    p.set_defaults(func=_schemas)

    p = sub.add_parser("dlq", help="dead letters and rejections")
    dsub = p.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    d = dsub.add_parser("redrive", help="re-submit the records of hub.dlq, platform.<id>.rejected or "
                                         "gov.*.dlq to their source topic after a fix")
    d.add_argument("topic")
    d.add_argument("--reason", action="append", default=[], help="only records with this reason (repeatable)")
    d.add_argument("--dry-run", action="store_true", help="count what would be re-submitted, send nothing")
    d.set_defaults(func=_redrive)

    p = sub.add_parser("alerts", help="weather warnings (CAP 1.2, docs/notices.md)")
    asub = p.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    a = asub.add_parser("import", help="parse and validate CAP 1.2 files, apply them in order and publish (or, "
                                       "with --dry-run, print) their WeatherNotice records; exit 1 if any is refused")
    a.add_argument("files", nargs="+", metavar="FILE.xml")
    a.add_argument("--dry-run", action="store_true",
                   help="apply the files to an empty in-memory registry and print; publish nothing")
    a.set_defaults(func=_alerts)

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
    if hasattr(args, "seed"):
        args.seed_given = args.seed is not None or "GIGBRIDGE_SIM_SEED" in os.environ
    for name in ("rate", "platforms", "seed", "invalid_share"):
        if getattr(args, name, None) is None and hasattr(args, name):
            setattr(args, name, getattr(settings, f"sim_{name}"))
    configure_logging(settings.log_level, settings.log_format)
    try:
        return args.func(settings, args)
    except KafkaTlsError as exc:  # raised before any connection is tried
        print(f"gigbridge: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as exc:
        print(f"gigbridge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if is_broker_unreachable(exc):
            return report_unreachable(settings.kafka_bootstrap, exc)
        raise


if __name__ == "__main__":
    sys.exit(main())
