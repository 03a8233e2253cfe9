"""``gigbridge access apply|check|export``: Kafka users and ACLs from ``deploy/access.yaml``.

Exit codes: 0 ok (no drift), 1 drift found (``check``), 2 usage/config error (bad file, missing
secret, broker refusing the change), 3 broker unreachable.

Wired into ``gigbridge.cli`` with ``add_cli(sub)``; until then (or without the main CLI) run
``python -m gigbridge.access_cli access check``.  The admin connection comes from
``Settings().kafka_python_config`` and must be a super user.
"""

from __future__ import annotations

import argparse
import sys

from gigbridge.access import (
    DEFAULT_ACCESS_FILE,
    SECRETS_DIR_ENV,
    AccessError,
    AccessFile,
    apply,
    check,
    load_access,
    resolve_secrets,
)
from gigbridge.broker_errors import client_config, is_broker_unreachable, report_unreachable
from gigbridge.settings import Settings

EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2


def add_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``access`` command (with ``apply`` and ``check``) on ``subparsers``.

    Each action sets ``func(settings, args) -> exit code``, like the other gigbridge commands."""
    parser = subparsers.add_parser(
        "access", help="Kafka users and least-privilege ACLs from deploy/access.yaml",
        description="Create SCRAM users and ACLs from the access file (apply) or report the "
                    "effective access matrix and drift (check). Needs a super-user connection.")
    actions = parser.add_subparsers(dest="access_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--file", default=str(DEFAULT_ACCESS_FILE),
                       help="access file (default: %(default)s)")
        p.add_argument("--keep-undeclared", action="store_true",
                       help="do not delete ACLs of User: principals the file does not declare "
                            "(declared users are still pruned to exactly their grants)")

    p = actions.add_parser("apply", help="upsert SCRAM-SHA-512 users, create missing and delete undeclared ACLs")
    common(p)
    p.add_argument("--dev", action="store_true",
                   help="use the public dev-<user>-secret password for users without a configured secret")
    p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    p.set_defaults(func=cmd_apply)

    p = actions.add_parser("check", help="print the effective access matrix; exit 1 on drift")
    common(p)
    p.set_defaults(func=cmd_check)

    p = actions.add_parser("export", help="print the users and ACLs as Strimzi KafkaUser resources (no broker)")
    p.add_argument("--file", default=str(DEFAULT_ACCESS_FILE), help="access file (default: %(default)s)")
    p.add_argument("--format", choices=["strimzi"], default="strimzi", help="output format (default: %(default)s)")
    p.add_argument("--cluster", default="gigbridge", help="the Strimzi Kafka cluster name (default: %(default)s)")
    p.set_defaults(func=cmd_export)
    return parser


def _fail(message: str) -> int:
    print(f"gigbridge access: {message}", file=sys.stderr)
    return EXIT_USAGE


def _warnings(access: AccessFile, settings: Settings) -> None:
    if access.hub.app_id != settings.app_id:
        print(f"gigbridge access: warning: hub.app_id {access.hub.app_id!r} differs from GIGBRIDGE_APP_ID "
              f"{settings.app_id!r}; the worker's internal topics and group would not be covered",
              file=sys.stderr)
    try:
        from gigbridge.divisions import default_table, pad
        table = default_table()
    except Exception:  # noqa: BLE001 - the check is advisory only
        return
    codes = [o.code for o in access.offices] + [i.province for i in access.insurers]
    for code in codes:
        if table.get(pad(code)) is None:
            print(f"gigbridge access: warning: {code} is not a division code in the 2023 table",
                  file=sys.stderr)


def _admin(settings: Settings):
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(client_id="gigbridge-access", **client_config(settings))


def cmd_apply(settings: Settings, args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    try:
        access = load_access(args.file)
        secrets = resolve_secrets(access, dev=args.dev)
    except AccessError as exc:
        return _fail(str(exc))
    _warnings(access, settings)
    try:
        admin = _admin(settings)
    except KafkaError as exc:
        if is_broker_unreachable(exc):
            return report_unreachable(settings.kafka_bootstrap, exc)
        return _fail(f"cannot connect to Kafka at {settings.kafka_bootstrap} as "
                     f"{settings.kafka_username or '(no SASL)'}: {exc!r}")
    try:
        summary = apply(admin, access, secrets, dry_run=args.dry_run,
                        prune_undeclared=not args.keep_undeclared,
                        protected=[settings.kafka_username or ""])
    except (AccessError, KafkaError) as exc:
        return _fail(f"apply failed: {exc}")
    finally:
        admin.close()
    print(summary.format())
    if any(source == "dev" for source in summary.secret_sources.values()):
        print("note: some passwords are the public --dev defaults; never use them outside a dev broker",
              file=sys.stderr)
    return EXIT_OK


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    try:
        access = load_access(args.file)
    except AccessError as exc:
        return _fail(str(exc))
    _warnings(access, settings)
    try:
        admin = _admin(settings)
    except KafkaError as exc:
        if is_broker_unreachable(exc):
            return report_unreachable(settings.kafka_bootstrap, exc)
        return _fail(f"cannot connect to Kafka at {settings.kafka_bootstrap}: {exc!r}")
    try:
        result = check(admin, access, prune_undeclared=not args.keep_undeclared,
                       protected=[settings.kafka_username or ""])
    except (AccessError, KafkaError) as exc:
        return _fail(f"check failed: {exc}")
    finally:
        admin.close()
    print(result.format())
    return EXIT_DRIFT if result.drift else EXIT_OK


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:  # noqa: ARG001 - no connection
    from gigbridge.access_strimzi import export_yaml

    try:
        access = load_access(args.file)
    except AccessError as exc:
        return _fail(str(exc))
    sys.stdout.write(export_yaml(access, args.cluster))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m gigbridge.access_cli access apply --dev``."""
    parser = argparse.ArgumentParser(prog="gigbridge", description=f"secrets: see {SECRETS_DIR_ENV} in docs/access.md")
    add_cli(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:  # noqa: BLE001 - pydantic ValidationError: bad GIGBRIDGE_* value
        return _fail(f"configuration error:\n{exc}")
    return args.func(settings, args)


if __name__ == "__main__":
    sys.exit(main())
