"""``python -m connectors.registry [--host H] [--port P]``."""

from __future__ import annotations

import sys

from connectors.entry import serve_main

from .cli import run_registry


def main(argv: list[str] | None = None) -> int:
    return serve_main("python -m connectors.registry", __doc__, run_registry, argv)


if __name__ == "__main__":
    sys.exit(main())
