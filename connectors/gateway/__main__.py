"""``python -m connectors.gateway [--host H] [--port P]``: the gateway without the gigbridge CLI."""

from __future__ import annotations

import sys

from connectors.entry import serve_main

from .cli import run_ingest


def main(argv: list[str] | None = None) -> int:
    return serve_main("python -m connectors.gateway", __doc__, run_ingest, argv)


if __name__ == "__main__":
    sys.exit(main())
