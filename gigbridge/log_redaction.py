"""structlog processor that keeps event payload values out of the logs.

:func:`redact_event_values` rewrites the event dict before rendering:

* the values of keys named ``payload``, ``record``, ``event``, ``value`` or ``raw``, and every
  dict/list/tuple/set value under any key, are replaced by a structure-preserving redaction:
  keys and nesting kept, strings replaced by ``"<redacted len=N>"``, bytes by
  ``"<redacted bytes len=N>"``, numbers, booleans and None kept, other objects replaced by
  ``"<redacted type=Name>"``; keys that themselves contain an identifier are replaced too;
* every other string value (the log message included) is checked with
  :func:`streams.core.pii.contains_identifier` and replaced by
  ``"<redacted kind=KIND len=N>"`` when it contains a resident ID, phone, card number, e-mail
  or vehicle plate. Objects that are neither strings nor numbers are checked through ``str()``,
  and so are ints of 11+ digits (a phone number logged as a number).

``event`` is also structlog's key for the log message. A string there is the message, which is
kept (after the identifier check) so logs stay readable; a dict or list there is a payload and
is redacted. Interpolating payload text into the message (``log.info(f"... {text}")``) defeats
the structure rule; only the identifier check still applies to it. Pass payloads as key-value
pairs instead.

Place the processor last before the renderer, after ``format_exc_info`` /
``dict_tracebacks`` if used (``exc_info`` and ``stack_info`` are passed through untouched for
them; the rendered ``exception`` text is then checked like any string), and in
``ProcessorFormatter``'s ``foreign_pre_chain`` for stdlib loggers (its ``_record`` and
``_from_structlog`` keys are passed through too).
"""

from __future__ import annotations

from typing import Any

from streams.core.pii import contains_identifier

PAYLOAD_KEYS = frozenset({"payload", "record", "event", "value", "raw"})
# structlog's own instructions, consumed by later processors (format_exc_info,
# ProcessorFormatter): left alone. Exception texts are checked once rendered into "exception".
PASSTHROUGH_KEYS = frozenset({"exc_info", "stack_info", "_record", "_from_structlog"})
_SCALARS = (bool, int, float, type(None))
_LONG_NUMBER = 10**10  # an int this large may be a phone or card number written as a number


def _number(value: Any) -> Any:
    if type(value) is int and abs(value) >= _LONG_NUMBER:
        kind = contains_identifier(str(value))
        if kind is not None:
            return f"<redacted kind={kind} len={len(str(value))}>"
    return value


def _key(key: Any) -> Any:
    if isinstance(key, str):
        kind = contains_identifier(key)
        return key if kind is None else f"<redacted key kind={kind} len={len(key)}>"
    if isinstance(key, _SCALARS):
        return _number(key)
    return f"<redacted key type={type(key).__name__}>"


def redact_structure(value: Any) -> Any:
    """Same shape as ``value``: keys kept (unless they hold an identifier), strings replaced by
    ``<redacted len=N>``, numbers/booleans/None kept (unless a long int is an identifier)."""
    if isinstance(value, str):
        return f"<redacted len={len(value)}>"
    if isinstance(value, _SCALARS):
        return _number(value)
    if isinstance(value, dict):
        return {_key(key): redact_structure(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact_structure(item) for item in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<redacted bytes len={len(value)}>"
    return f"<redacted type={type(value).__name__}>"


def _scrub(text: str) -> str:
    kind = contains_identifier(text)
    return text if kind is None else f"<redacted kind={kind} len={len(text)}>"


def redact_event_values(logger: Any, method: str, event_dict: dict) -> dict:
    """structlog processor: see the module docstring. Builds new values, never mutates the
    caller's objects."""
    for key, value in event_dict.items():
        if key in PASSTHROUGH_KEYS:
            continue
        if isinstance(value, str):
            if key in PAYLOAD_KEYS and key != "event":
                event_dict[key] = f"<redacted len={len(value)}>"
            else:
                event_dict[key] = _scrub(value)
        elif isinstance(value, _SCALARS):
            event_dict[key] = _number(value)
        elif key in PAYLOAD_KEYS or isinstance(value, (dict, list, tuple, set, frozenset, bytes, bytearray, memoryview)):
            event_dict[key] = redact_structure(value)
        else:
            text = str(value)
            kind = contains_identifier(text)
            if kind is not None:
                event_dict[key] = f"<redacted kind={kind} len={len(text)}>"
    return event_dict
