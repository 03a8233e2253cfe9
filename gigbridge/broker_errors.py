"""One place that recognises "the Kafka broker cannot be reached" and turns it into a one-line
message and its own exit code (:data:`EXIT_BROKER_UNREACHABLE`), for every CLI command.

kafka-python raises ``KafkaTimeoutError("Unable to bootstrap from [...]")`` (or
``NoBrokersAvailable`` / ``KafkaConnectionError``) when no bootstrap server answers within
``bootstrap_timeout_ms``; aiokafka raises its ``KafkaConnectionError``.  Other Kafka errors
(authorization, a missing topic, a send timeout on a reachable cluster) are *not* matched: they
keep their own handling.
"""

from __future__ import annotations

import sys
from typing import TextIO

#: Exit code of every gigbridge command when the broker cannot be reached (0 ok, 1 rejected,
#: 2 usage/configuration).
EXIT_BROKER_UNREACHABLE = 3


def _unreachable_types() -> tuple[type[BaseException], ...]:
    from kafka import errors as kp

    # NoBrokersAvailable is kafka-python 2's; version 3 raises KafkaTimeoutError (see below)
    types: list[type[BaseException]] = [t for t in (getattr(kp, "NoBrokersAvailable", None),
                                                    kp.KafkaConnectionError) if t is not None]
    try:
        from aiokafka import errors as aio
    except ImportError:  # aiokafka is a dependency; only the worker side needs it
        pass
    else:
        types.append(aio.KafkaConnectionError)
    return tuple(types)


def is_broker_unreachable(exc: BaseException) -> bool:
    """True if ``exc`` (or an exception it was raised from) says no broker could be reached."""
    from kafka.errors import KafkaTimeoutError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _unreachable_types()):
            return True
        if isinstance(current, KafkaTimeoutError) and "bootstrap" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False


def report_unreachable(bootstrap: str, exc: BaseException, stream: TextIO | None = None) -> int:
    """Print the one-line message for ``exc`` and return :data:`EXIT_BROKER_UNREACHABLE`."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    print(f"gigbridge: cannot reach the Kafka broker at {bootstrap} (GIGBRIDGE_KAFKA_BOOTSTRAP): {reason}",
          file=stream or sys.stderr)
    return EXIT_BROKER_UNREACHABLE


def client_config(settings) -> dict:
    """kafka-python keyword arguments for a CLI command's client: the settings' connection, giving
    up on bootstrap after ``GIGBRIDGE_KAFKA_BOOTSTRAP_TIMEOUT_S``."""
    return {**settings.kafka_python_config,
            "bootstrap_timeout_ms": int(settings.kafka_bootstrap_timeout_s * 1000)}
