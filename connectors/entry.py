"""The one ``main`` of the hub's HTTP services run as ``python -m connectors.<service> [--host H]
[--port P]``: parse the two options, read the settings, set up logging, then run the service."""

from __future__ import annotations

import argparse
from typing import Callable

from gigbridge.logs import configure_logging
from gigbridge.settings import Settings

Run = Callable[[Settings, argparse.Namespace], int]


def serve_main(prog: str, description: str | None, run: Run, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return run(settings, args)
