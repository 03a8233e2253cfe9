"""CPU accounting of the processes that share the machine during a phase: the process under test,
the broker JVM, this benchmark process, and everything else (other users of the 2 cores)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from bench.procs import machine_cpu_seconds, proc_cpu_seconds, proc_runqueue_wait_seconds


@dataclass(frozen=True)
class Snap:
    wall: float
    procs: dict[str, float]  # name -> CPU seconds
    waits: dict[str, float]  # name -> seconds its threads waited for a CPU
    busy: float
    total: float


class Meter:
    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        if os.getpid() not in self.pids.values():
            self.pids["bench"] = os.getpid()
        self.ncpu = os.cpu_count() or 1

    def snap(self) -> Snap:
        busy, total = machine_cpu_seconds()
        return Snap(time.monotonic(), {n: proc_cpu_seconds(p) for n, p in self.pids.items()},
                    {n: proc_runqueue_wait_seconds(p) for n, p in self.pids.items()}, busy, total)

    def usage(self, a: Snap, b: Snap) -> dict:
        """Percent of one core per process, the time its threads waited for a CPU (percent of the
        wall time, summed over threads: 50 = half a thread's worth of starvation), machine busy
        percent (of all cores), and "other": busy time of everything not listed (other users of
        the machine), in percent of one core."""
        wall = max(b.wall - a.wall, 1e-9)
        procs = {n: round(100 * (b.procs[n] - a.procs[n]) / wall, 1) for n in self.pids}
        machine_core_pct = 100 * (b.busy - a.busy) / wall
        return {
            "wall_s": round(wall, 2),
            "core_pct": procs,
            "runqueue_wait_pct": {n: round(100 * (b.waits[n] - a.waits[n]) / wall, 1) for n in self.pids},
            "machine_busy_pct_of_all_cores": round(machine_core_pct / self.ncpu, 1),
            "other_processes_core_pct": round(max(0.0, machine_core_pct - sum(procs.values())), 1),
        }
