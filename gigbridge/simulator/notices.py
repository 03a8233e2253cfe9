"""Simulated platforms answering weather notices and announcing algorithm-rule changes.

For a WeatherNotice record, every concerned platform answers with a ProtectionMeasure 10 to 60
minutes after notification, except ``late_platform`` (answers 30 to 90 minutes *after* the
overdue deadline) and ``silent_platform`` (never answers), so the tracker sees all three cases.
The measure suits the warning (heat: allowance or rest stations; rain, typhoon: suspended
dispatch or longer delivery times) and covers a non-empty part of the notice's area. Rule changes
respect the 7-day notice period and carry a consultation where one is required. Deterministic
for a seed; the records pass the hub's validators (tests/gigbridge/test_notice_simulator.py).
"""

from __future__ import annotations

import random
import uuid

from streams.core.notices.rule_changes import CONSULTATION_REQUIRED
from streams.core.notices.tracking import DEFAULT_TRACKING_RULES, HOUR_MS

MINUTE_MS = 60_000
DAY_MS = 24 * HOUR_MS
MEASURES_BY_WARNING = {
    "HEAT": ("HAZARD_ALLOWANCE", "OPEN_REST_STATIONS", "REDUCE_ORDER_LIMIT"),
    "RAINSTORM": ("SUSPEND_DISPATCH", "EXTEND_DELIVERY_TIME"),
    "TYPHOON": ("SUSPEND_DISPATCH",),
}
DEFAULT_MEASURES = ("EXTEND_DELIVERY_TIME", "REDUCE_ORDER_LIMIT")
RULE_AREAS = ("DISPATCH", "PRICING", "PAY_DISTRIBUTION", "TIME_ESTIMATE", "PENALTY", "REST_LIMIT")
SUMMARIES = {
    "DISPATCH": "派单时优先考虑骑手当前位置与已连续在线时长，连续在线超过4小时的骑手不再优先派远单。",
    "PRICING": "高峰时段动态加价上限调整为1.5倍，乘客端和司机端同时显示加价比例。",
    "PAY_DISTRIBUTION": "夜间配送单基础报酬提高10%，每单收入构成在收入页逐项显示。",
    "TIME_ESTIMATE": "雨雪天气下预计送达时间自动延长20%，超时不再扣减报酬。",
    "PENALTY": "超时投诉在核实天气与路况后再计入考核，骑手可在7天内申诉。",
    "REST_LIMIT": "连续接单满4小时后强制休息20分钟，休息期间不派单。",
}


class SimulatedNoticeResponder:
    def __init__(self, seed: int = 17, late_platform: str | None = None, silent_platform: str | None = None,
                 overdue_after_ms: int = DEFAULT_TRACKING_RULES.overdue_after_ms) -> None:
        self.rng = random.Random(seed)
        self.late_platform = late_platform
        self.silent_platform = silent_platform
        self.overdue_after_ms = overdue_after_ms

    def _event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def measures(self, notice: dict, platforms: list[str], notified_at: int) -> list[dict]:
        """One ProtectionMeasure per answering platform, in platform order."""
        out = []
        for platform in platforms:
            if platform == self.silent_platform:
                continue
            if platform == self.late_platform:
                delay = self.overdue_after_ms + self.rng.randint(30, 90) * MINUTE_MS
            else:
                delay = self.rng.randint(10, 60) * MINUTE_MS
            answered = notified_at + delay
            area = notice["division_codes"]
            divisions = sorted(self.rng.sample(area, self.rng.randint(1, len(area))))
            end = notice["expires"] if notice["expires"] and notice["expires"] > answered else answered + 6 * HOUR_MS
            out.append({"event_id": self._event_id(), "platform_id": platform, "occurred_at": answered,
                        "notice_id": notice["notice_id"],
                        "measure": self.rng.choice(MEASURES_BY_WARNING.get(notice["warning_type"], DEFAULT_MEASURES)),
                        "division_codes": divisions, "effective_from": answered, "effective_to": end,
                        "description": None})
        return out

    def rule_change(self, platform: str, division_codes: list[str], published_at: int, number: int) -> dict:
        """An AlgorithmRuleChange announced at ``published_at`` (7 to 21 days of notice)."""
        area = self.rng.choice(RULE_AREAS)
        consultation = None
        if area in CONSULTATION_REQUIRED or self.rng.random() < 0.3:
            consultation = {"parties": self.rng.choice((["TRADE_UNION"], ["WORKER_REPRESENTATIVES"],
                                                        ["TRADE_UNION", "WORKER_REPRESENTATIVES"])),
                            "consulted_at": published_at - self.rng.randint(3, 30) * DAY_MS,
                            "comments_received": self.rng.randint(0, 400), "response": "已逐条答复，采纳意见见公告附件。"}
        return {"event_id": self._event_id(), "platform_id": platform, "occurred_at": published_at,
                "change_id": f"{area.replace('_', '-')}-{number:04d}", "rule_area": area,
                "industries": [self.rng.choice(("RIDE_HAILING", "INSTANT_DELIVERY", "SAME_CITY_FREIGHT"))],
                "division_codes": division_codes, "summary": SUMMARIES[area], "published_at": published_at,
                "effective_at": published_at + self.rng.randint(7, 21) * DAY_MS, "consultation": consultation}
