"""``python -m connectors.console [--host H] [--port P]``: the office web console (issue #18)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from gigbridge.logs import configure_logging
from gigbridge.settings import Settings

from .settings import ConsoleSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.console", description=__doc__)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    from .server import serve  # after logging is set up

    try:
        asyncio.run(serve(settings, ConsoleSettings(), host=args.host, port=args.port))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
