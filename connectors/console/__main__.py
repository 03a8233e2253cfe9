"""``python -m connectors.console [--host H] [--port P]``: the office web console (issue #18)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from connectors.entry import serve_main
from gigbridge.settings import Settings

from .settings import ConsoleSettings


def run_console(settings: Settings, args: argparse.Namespace) -> int:
    from .server import serve  # after logging is set up

    try:
        asyncio.run(serve(settings, ConsoleSettings(), host=args.host, port=args.port))
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    return serve_main("python -m connectors.console", __doc__, run_console, argv)


if __name__ == "__main__":
    sys.exit(main())
