"""Edge for the cover core: reads the rate table and the holiday calendar from their files.

``streams.core.cover`` takes text and data; this module is the only place that opens the files.

    python -m streams.loaders.cover lock-rates   # append digests of new rate versions to the lock
"""

from __future__ import annotations

import sys
from pathlib import Path

from gigbridge.paths import packaged_file
from streams.core.cover.rates import RateTable, lock_text, parse_lock, parse_rates
from streams.core.cover.workdays import WorkCalendar, parse_calendar

# Package data (pyproject.toml), so an installed hub finds them too (gigbridge.paths).
DEFAULT_RATES_PATH = packaged_file("deploy", "cover-rates.yaml")
DEFAULT_LOCK_PATH = packaged_file("deploy", "cover-rates.lock")
DEFAULT_HOLIDAYS_PATH = packaged_file("gigbridge", "data/holidays-cn.yaml")


def load_rates(path: Path = DEFAULT_RATES_PATH, lock_path: Path | None = DEFAULT_LOCK_PATH) -> RateTable:
    """The rate table, checked against its lock (pass ``lock_path=None`` to skip the lock)."""
    lock = lock_path.read_text(encoding="utf-8") if lock_path is not None else None
    return parse_rates(path.read_text(encoding="utf-8"), lock)


def load_calendar(path: Path = DEFAULT_HOLIDAYS_PATH) -> WorkCalendar:
    return parse_calendar(path.read_text(encoding="utf-8"))


def lock_new_rate_versions(path: Path = DEFAULT_RATES_PATH, lock_path: Path = DEFAULT_LOCK_PATH) -> list[str]:
    """Append the digests of versions not yet locked (the locked ones must be unchanged)."""
    existing = lock_path.read_text(encoding="utf-8") if lock_path.exists() else ""
    table = parse_rates(path.read_text(encoding="utf-8"), existing)
    locked = parse_lock(existing)
    new_lines = [line for line in lock_text(table).splitlines(keepends=True) if line.split()[0] not in locked]
    with lock_path.open("a", encoding="utf-8") as f:
        f.writelines(new_lines)
    return new_lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["lock-rates"]:
        print("usage: python -m streams.loaders.cover lock-rates", file=sys.stderr)
        return 2
    for line in lock_new_rate_versions():
        print("locked", line.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
