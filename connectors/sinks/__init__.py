"""Outbound sinks behind one interface (:class:`connectors.sinks.base.Sink`)."""

from connectors.sinks.base import (
    BufferedSink,
    DeadLetter,
    Delivered,
    DeliveryOutcome,
    PermanentError,
    RetryableError,
    RetryInfo,
    Sink,
    SinkError,
    SinkRecord,
    SinkStopped,
)

__all__ = [
    "BufferedSink", "DeadLetter", "Delivered", "DeliveryOutcome", "PermanentError", "RetryableError",
    "RetryInfo", "Sink", "SinkError", "SinkRecord", "SinkStopped",
]
