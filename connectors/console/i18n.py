"""The console's languages: one message catalogue per language (``catalog_zh``, ``catalog_en``),
Chinese by default, and the formatting of times and durations for a page.

A missing key is a programming error and raises ``KeyError`` (tests render every page in both
languages), except for enum labels, which fall back to the symbol so a new schema symbol still shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from connectors.console import catalog_en, catalog_zh

CATALOGUES = {"zh": catalog_zh.MESSAGES, "en": catalog_en.MESSAGES}
LANGUAGES = tuple(CATALOGUES)
DEFAULT_LANGUAGE = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}
#: the offices are in China: times are shown in China Standard Time
TIME_ZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Translator:
    lang: str

    def __call__(self, key: str, **values: object) -> str:
        text = CATALOGUES[self.lang][key]
        return text.format(**values) if values else text

    def label(self, group: str, symbol: str | None) -> str:
        """The label of an enum symbol (``label("status", "OPEN")``), the symbol itself if unlisted."""
        if symbol is None:
            return ""
        return CATALOGUES[self.lang].get(f"{group}.{symbol}", symbol)

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.lang]

    def duration(self, ms: int) -> str:
        """A positive span as days/hours/minutes, the two largest parts (``2天3小时``, ``5 h 10 min``)."""
        minutes = max(0, ms) // 60_000
        parts = [(minutes // 1440, "duration.d"), (minutes % 1440 // 60, "duration.h"), (minutes % 60, "duration.m")]
        shown = [self(key, n=n) for n, key in parts if n][:2] or [self("duration.m", n=0)]
        return ("" if self.lang == "zh" else " ").join(shown)


def language(value: object) -> str:
    return value if value in CATALOGUES else DEFAULT_LANGUAGE


def local_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone(TIME_ZONE).strftime("%Y-%m-%d %H:%M")


def iso_time(ms: int) -> str:
    """For ``<time datetime=...>``: ISO 8601 with the offset."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone(TIME_ZONE).isoformat(timespec="minutes")
