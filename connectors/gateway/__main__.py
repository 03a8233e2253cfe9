"""``python -m connectors.gateway [--host H] [--port P]``: the gateway without the gigbridge CLI."""

from __future__ import annotations

import argparse
import sys

from gigbridge.logs import configure_logging
from gigbridge.settings import Settings

from .cli import run_ingest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.gateway", description=__doc__)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return run_ingest(settings, args)


if __name__ == "__main__":
    sys.exit(main())
