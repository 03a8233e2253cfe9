"""Edge for the cases core: reads ``deploy/units.yaml`` (the only place that opens it)."""

from __future__ import annotations

from pathlib import Path

import yaml

from gigbridge.divisions import default_table
from streams.core.cases.units import UnitBook, parse_units

DEFAULT_UNITS_PATH = Path(__file__).resolve().parents[2] / "deploy" / "units.yaml"


def load_units(path: Path = DEFAULT_UNITS_PATH) -> UnitBook:
    """The handling units and deadline tiers, checked against the NBS 2023 division table."""
    return parse_units(yaml.safe_load(path.read_text(encoding="utf-8")), default_table().exists)
