"""``python -m bench run [--quick]`` | ``orders [--quick]`` | ``cover-scale`` | ``soak [--duration S]`` | ``whatif [--variants ...]`` | ``report TS`` | ``down``."""

from __future__ import annotations

import sys


def main() -> int:
    argv = sys.argv[1:]
    command = argv[0] if argv and not argv[0].startswith("-") else "run"
    rest = argv[1:] if argv and not argv[0].startswith("-") else argv
    if command == "run":
        from bench.run import main as run
        return run(rest)
    if command == "orders":  # the order firehose: passthrough, hub, Faust peer (issue #20)
        from bench.orders import main as orders
        return orders(rest)
    if command == "cover-scale":  # the cover state alone: state machines + RocksDB, no Kafka
        from bench.cover_scale import main as cover_scale
        return cover_scale(rest)
    if command == "soak":
        from bench.soak import main as soak
        return soak(rest)
    if command == "whatif":
        from bench.whatif import main as whatif
        return whatif(rest)
    if command == "report":  # re-render a run's markdown (profile groups re-summarised)
        from bench.report import rerender
        return rerender(rest[0])
    if command == "down":
        from bench.broker import down
        return down()
    print("usage: python -m bench [run|orders|soak|whatif|report|down] [options]  (see --help of each)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
