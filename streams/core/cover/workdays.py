"""Working days in mainland China: weekends, public holidays and adjusted working days (调休).

The calendar comes from ``gigbridge/data/holidays-cn.yaml`` (passed in as text). A claim's
determination is due within 5 working days of its receipt: :func:`determination_due` returns
the end (24:00 China Standard Time) of the 5th working day after the day the claim was
received. Years the file does not list are counted with weekends only; :meth:`WorkCalendar.covers`
tells the caller so it can warn instead of trusting a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import yaml

from streams.core.cover.cst import day_end_ms, service_date

DETERMINATION_WORKING_DAYS = 5


class CalendarError(ValueError):
    """The holiday file is malformed."""


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[date]
    adjusted_workdays: frozenset[date]
    years: frozenset[int]

    def covers(self, day: date) -> bool:
        return day.year in self.years

    def is_working_day(self, day: date) -> bool:
        if day in self.adjusted_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (``day`` itself does not count)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        while n:
            day += timedelta(days=1)
            n -= self.is_working_day(day)
        return day


def determination_due(received_at_ms: int, calendar: WorkCalendar,
                      working_days: int = DETERMINATION_WORKING_DAYS) -> int:
    """Epoch ms by which a claim received at ``received_at_ms`` must be determined."""
    received = date.fromisoformat(service_date(received_at_ms))
    return day_end_ms(calendar.add_working_days(received, working_days).isoformat())


def parse_calendar(text: str) -> WorkCalendar:
    """Parse ``holidays-cn.yaml``; a day both off and a working day, or a range out of its year,
    is an error."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or doc.get("format") != 1 or not isinstance(doc.get("years"), dict):
        raise CalendarError("expected a mapping with format: 1 and 'years'")
    holidays: set[date] = set()
    workdays: set[date] = set()
    years: set[int] = set()
    for year_key, entry in doc["years"].items():
        year = int(year_key)
        years.add(year)
        try:
            for item in entry["holidays"]:
                first, last = _day(item["from"]), _day(item["to"])
                if first > last or first.year != year or last.year != year:
                    raise CalendarError(f"{year}: holiday range {item['from']}..{item['to']} "
                                        f"is not in order or not in {year}")
                holidays.update(first + timedelta(days=i) for i in range((last - first).days + 1))
            for raw in entry.get("adjusted_workdays", []):
                day = _day(raw)
                if day.year != year or day.weekday() < 5:
                    raise CalendarError(f"{year}: adjusted working day {raw} must be a weekend day of {year}")
                workdays.add(day)
        except (KeyError, TypeError) as exc:
            raise CalendarError(f"{year}: each holiday needs from and to ({exc})") from exc
    if holidays & workdays:
        raise CalendarError(f"days both holiday and working day: {sorted(holidays & workdays)}")
    return WorkCalendar(frozenset(holidays), frozenset(workdays), frozenset(years))


def _day(value: object) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CalendarError(f"{value!r} is not a YYYY-MM-DD date") from exc
