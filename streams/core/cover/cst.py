"""China Standard Time (UTC+8, no daylight saving since 1991) for service dates.

A fixed offset rather than a tz database: CST has had no DST since 1991, and the pilot's
"day" (按日参保) is the calendar day in Beijing time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")
DAY_MS = 86_400_000
_CST_OFFSET_MS = 8 * 3_600_000


def service_date(epoch_ms: int) -> str:
    """``YYYY-MM-DD`` of an instant in China Standard Time."""
    return date.fromordinal(_EPOCH_ORDINAL + (epoch_ms + _CST_OFFSET_MS) // DAY_MS).isoformat()


def day_start_ms(day: str) -> int:
    """Epoch milliseconds of 00:00 CST on ``day`` (``YYYY-MM-DD``)."""
    return (date.fromisoformat(day).toordinal() - _EPOCH_ORDINAL) * DAY_MS - _CST_OFFSET_MS


def day_end_ms(day: str) -> int:
    """Epoch milliseconds of 24:00 CST on ``day``: the first instant of the next day."""
    return day_start_ms(day) + DAY_MS


def to_cst(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, CST)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
