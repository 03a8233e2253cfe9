"""Throughput, latency and resource benchmarks of the hub (``make bench``; not part of ``make test``).

Entry point: ``python -m bench run [--quick]`` and ``python -m bench soak [--duration S]``; see
``bench/README.md`` and ``docs/performance.md``.  Targets are reported by the benchmark, never
asserted by the test-suite.
"""
