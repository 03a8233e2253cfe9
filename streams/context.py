"""The composition root of event judgement: the one place a :class:`streams.core.context.Context`
is built from settings and files.

:class:`~streams.core.context.Context` (pure, in ``streams.core``) holds the contract catalog,
the division table's lookups, the time rules, the routing configuration and the privacy policy.
:func:`build_context` makes it from :class:`gigbridge.settings.Settings`, and every path that
judges events uses it: the worker's batch planning (``streams.runtime.worker``), the HTTP gateway
(``connectors.gateway``) and the CLI (``gigbridge validate`` / ``publish``). So
``GIGBRIDGE_MAX_FUTURE_SKEW_S`` and ``GIGBRIDGE_MAX_EVENT_AGE_DAYS`` give the same verdict on the
same event wherever it is judged (tests/streams/test_context.py checks all three).

Why here, at ``streams/`` top level and not in ``streams.runtime`` or ``streams.core``: it reads
settings and files, so it cannot be core; and the gateway and CLI (connectors, gigbridge) use it
as much as the worker does, so it is not part of the worker runtime either. It sits above all
three layers and only wires them.

No network I/O: building reads the packaged division table, contract schemas and cover rate
table (``streams.loaders.cover``) and, unless ``validate_only``, the privacy policy file (through
``streams.loaders.policy``).
"""

from __future__ import annotations

from typing import Callable

from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from schemas.catalog import Catalog
from streams.core.context import Context
from streams.core.cover.rates import RateTable
from streams.core.route import RoutingConfig
from streams.core.validate import DAY_MS, Rules

log = get_logger("gigbridge.context")

DEV_MASTER_SECRET = "gigbridge-dev-master-secret-not-for-production"


def rules_from(settings: Settings) -> Rules:
    """The business rules' time limits from ``GIGBRIDGE_MAX_FUTURE_SKEW_S`` and
    ``GIGBRIDGE_MAX_EVENT_AGE_DAYS``."""
    return Rules(max_future_skew_ms=int(settings.max_future_skew_s * 1000),
                 max_age_ms=int(settings.max_event_age_days * DAY_MS))


def build_context(settings: Settings, *, validate_only: bool = False, catalog: Catalog | None = None,
                  division_exists: Callable[[str], bool] | None = None, rates: RateTable | None = None) -> Context:
    """The context every path judges events with.

    ``validate_only`` (gateway, CLI): the rules and lookups only; routing and the privacy
    policy stay at their identity defaults, so no policy file is read and no master secret is
    needed (those paths never route). ``catalog`` and ``division_exists`` replace the packaged
    ones (tests inject them), ``rates`` the packaged, lock-checked cover rate table
    (``deploy/cover-rates.yaml``, read on every path: orders are judged everywhere). Without ``GIGBRIDGE_PRIVACY_MASTER_SECRET`` the worker re-keys
    with a development secret and says so in the log.
    """
    from gigbridge.divisions import default_table
    from schemas.catalog import default_catalog
    from streams.loaders.cover import load_rates

    catalog = catalog or default_catalog()
    rules = rules_from(settings)
    rates = rates or load_rates()
    if validate_only:
        return Context(catalog=catalog, division_exists=division_exists or default_table().exists, rules=rules,
                       rates=rates)
    from streams.core.policy import Protector, SecretSource
    from streams.loaders.policy import load_policies

    master = settings.privacy_master_secret
    if master is None:
        log.warning("GIGBRIDGE_PRIVACY_MASTER_SECRET is not set: using the development secret; "
                    "re-keyed refs are NOT private with it")
        master = DEV_MASTER_SECRET
    book = load_policies(settings.privacy_policy_file, secrets=SecretSource(master))
    divisions = default_table()
    return Context(
        catalog=catalog,
        division_exists=division_exists or divisions.exists,
        rules=rules,
        level_of=divisions.level_of,
        routing=RoutingConfig.from_names(settings.office_level, settings.office_level_overrides),
        protect=Protector(book),
        emit_validated=settings.emit_validated,
        rates=rates,
    )
