"""structlog set-up: JSON lines in production, a readable console renderer on a terminal.

Standard-library loggers (Faust, mode, aiokafka) are routed through the same renderer so a
worker's output is one consistent stream.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from gigbridge.log_redaction import redact_event_values


def configure_logging(level: str = "INFO", fmt: Literal["auto", "json", "console"] = "auto") -> None:
    """Configure structlog and stdlib logging once per process (idempotent)."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        # Last: whatever a log call carries, payload values never reach the output.
        redact_event_values,
    ]
    renderer = structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Faust/aiokafka are chatty at INFO about every rebalance step; keep them at WARNING.
    for noisy in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # kafka-python's network layer logs each refused connection and bootstrap retry (6+ lines a
    # second while a broker is down); callers report an unreachable broker once (the CLI's
    # one-line error, gigbridge.broker_errors; the writer's retry warning).
    logging.getLogger("kafka.net").setLevel(logging.CRITICAL)
    # kafka-python warns on every SASL_PLAINTEXT connection; loopback dev brokers use it by design.
    handler.addFilter(
        lambda record: "credentials in the clear" not in record.getMessage())


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
