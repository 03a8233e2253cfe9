"""The alert rules of ``deploy/prometheus/rules/gigbridge.yml`` against real fault scenarios.

:class:`Scraper` reads a worker's ``/metrics`` once a second during a scenario, as Prometheus
with ``scrape_interval: 1s`` would (``up`` 1 when it answers in time, 0 when not; a failed
scrape or a series gone from an answer is marked stale). :func:`alert_states` replays the
scrapes to ``promtool test rules`` and reads back which alerts are pending or firing at the
steps asked for.

The rules wait minutes (``for:`` up to 15 min, range windows up to 15 min), the scenarios last
seconds. The replay therefore **stretches time** :data:`STRETCH`-fold (1 s of the scenario is
30 s of rule time) and multiplies counters (histogram buckets, counts and sums included) by the
same factor: every ``rate`` and ``increase`` over a window is the one measured over the
corresponding stretch of the scenario, every ratio and quantile and every gauge is unchanged.
The replay is the measured state of the hub held 30 times as long, so a scenario of one minute
shows what Prometheus would do if that fault lasted half an hour.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml
from prometheus_client.parser import text_string_to_metric_families

from gigbridge.settings import REPO_ROOT

RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "gigbridge.yml"
STRETCH = 30            # rule seconds per scenario second
INTERVAL_S = 1.0        # scrape interval in the scenario
STEP_S = int(INTERVAL_S * STRETCH)
JOB, INSTANCE = "gigbridge-worker", "worker:6066"
# the labels an alert is told apart by (the rest, e.g. instance, are the same for all here)
ALERT_LABELS = ("alertname", "alertstate", "severity", "cause", "topic", "sink", "platform", "type", "province")
CUMULATIVE = {"counter", "histogram", "summary"}


def rule_metrics(rules: Path = RULES) -> set[str]:
    """Series names the rules read (``up`` and ``gigbridge_*``, histograms by their series)."""
    return set(re.findall(r"\b(gigbridge_[a-z0-9_]+|up)\b", rules.read_text())) - {"gigbridge"}


@dataclass
class Scrape:
    step: int
    up: bool
    samples: dict[tuple, float] = field(default_factory=dict)  # (name, sorted labels) -> value (stretched)


class Scraper:
    """Scrapes ``port()`` (a callable: a restarted worker has a new port) every second in a
    background thread, keeping the series the rules read. ``mark(name)`` notes the current step."""

    def __init__(self, port: Callable[[], int], wanted: set[str] | None = None) -> None:
        self.port = port
        self.wanted = wanted if wanted is not None else rule_metrics()
        self.scrapes: list[Scrape] = []
        self.marks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-scraper", daemon=True)
        self._started = 0.0

    def start(self) -> "Scraper":
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    @property
    def step(self) -> int:
        return int((time.monotonic() - self._started) / INTERVAL_S)

    def mark(self, name: str) -> int:
        self.marks[name] = self.step
        return self.marks[name]

    def _run(self) -> None:
        step = 0
        while not self._stop.is_set():
            self.scrapes.append(self._scrape(step))
            step = max(step + 1, self.step)  # a scrape that overran its slot skips the slots it ate
            self._stop.wait(max(0.0, self._started + step * INTERVAL_S - time.monotonic()))

    def _scrape(self, step: int) -> Scrape:
        try:
            url = f"http://127.0.0.1:{self.port()}/metrics"
            with urllib.request.urlopen(url, timeout=0.9 * INTERVAL_S) as resp:
                text = resp.read().decode()
        except Exception:  # noqa: BLE001 - whatever the reason, the scrape failed: up 0
            return Scrape(step, False)
        scrape = Scrape(step, True)
        for family in text_string_to_metric_families(text):
            factor = STRETCH if family.type in CUMULATIVE else 1
            for s in family.samples:
                if s.name in self.wanted:
                    scrape.samples[(s.name, tuple(sorted(s.labels.items())))] = s.value * factor
        return scrape


def _series_name(name: str, labels: tuple) -> str:
    pairs = [("job", JOB), ("instance", INSTANCE), *labels]
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in pairs) + "}"


def input_series(scrapes: list[Scrape]) -> list[dict]:
    """promtool ``input_series``: one value per step, ``_`` where there was no sample, ``stale``
    where a series went away (failed scrape, or no longer in the answer)."""
    last = max((s.step for s in scrapes), default=0)
    by_step = {s.step: s for s in scrapes}
    keys = sorted({k for s in scrapes for k in s.samples})
    out = [{"series": _series_name("up", ()), "values": " ".join(
        ("1" if by_step[i].up else "0") if i in by_step else "_" for i in range(last + 1))}]
    for key in keys:
        values, present = [], False
        for i in range(last + 1):
            scrape = by_step.get(i)
            if scrape is None:
                values.append("_")
            elif key in scrape.samples:
                values.append(_number(scrape.samples[key]))
                present = True
            else:
                values.append("stale" if present else "_")
                present = False
        out.append({"series": _series_name(*key), "values": " ".join(values)})
    return out


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Inf" if value > 0 else "-Inf"
    return repr(float(value))


def alert_states(scrapes: list[Scrape], steps: list[int], workdir: Path) -> dict[int, set[tuple]]:
    """The alerts pending or firing at each of ``steps``: step -> {(label, value) pairs}."""
    promtool = shutil.which("promtool")
    expr = f"count by ({', '.join(ALERT_LABELS)}) (ALERTS)"
    doc = {"rule_files": [str(RULES)], "evaluation_interval": f"{STEP_S}s",
           "tests": [{"interval": f"{STEP_S}s", "input_series": input_series(scrapes),
                      "promql_expr_test": [{"expr": expr, "eval_time": f"{step * STEP_S}s", "exp_samples": []}
                                           for step in steps]}]}
    path = workdir / "replay_test.yml"
    path.write_text(yaml.safe_dump(doc, width=1 << 20))
    proc = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    states = {step: set() for step in steps}
    if proc.returncode == 0:
        return states
    found = re.findall(r'time: ([0-9hms.]+),\s*exp: nil\s*got: (.*)', proc.stdout + proc.stderr)
    if not found:
        raise AssertionError(f"promtool failed:\n{proc.stdout}\n{proc.stderr}")
    for when, got in found:
        step = round(_seconds(when) / STEP_S)
        states[step] = {tuple(re.findall(r'(\w+)="([^"]*)"', labels)) for labels in re.findall(r"\{([^}]*)\}", got)}
    return states


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)(ms|h|m|s)", duration))


def firing(states: set[tuple]) -> set[tuple]:
    """The firing alerts of a state set, without the ``alertstate`` label."""
    return {tuple(sorted(p for p in a if p[0] != "alertstate")) for a in states if ("alertstate", "firing") in a}


def alert(name: str, **labels: str) -> tuple:
    """An alert as :func:`firing` returns it: its (label, value) pairs, sorted."""
    return tuple(sorted({"alertname": name, **labels}.items()))


def name_of(a: tuple) -> str:
    return dict(a)["alertname"]


def describe(alerts: set[tuple]) -> list[str]:
    return sorted(name_of(a) + "{" + ",".join(f"{k}={v}" for k, v in a if k != "alertname") + "}" for a in alerts)
