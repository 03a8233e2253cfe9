"""What a validation decision depends on besides the message: plain values and pure callables,
built by :func:`streams.context.build_context` (the composition root, which reads the files)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from schemas.catalog import Catalog
from streams.core.cover.rates import RateTable
from streams.core.route import Route, RoutingConfig
from streams.core.validate import DEFAULT_RULES, Rules


def _unchanged(route, record: dict) -> dict:
    return record


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a decision depends on besides the message itself.

    ``level_of`` (division code -> level) and ``routing`` decide the destinations; ``protect``
    returns the copy of a record a destination may see (the privacy policy; identity until
    one is configured); ``emit_validated`` also writes every valid event to
    ``hub.validated.<type>`` (the audit stream of everything accepted). ``rates`` prices orders
    (``deploy/cover-rates.yaml``); without it every order is a ``premium_mismatch``.
    """

    catalog: Catalog
    division_exists: Callable[[str], bool]
    rules: Rules = DEFAULT_RULES
    level_of: Callable[[str], object] = lambda code: None
    routing: RoutingConfig = RoutingConfig()
    protect: Callable[[Route, dict], dict] = _unchanged
    emit_validated: bool = True
    rates: RateTable = RateTable(())
