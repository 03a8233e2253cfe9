"""Reading and parsing an ingest request body: bounded in size and time, strict JSON.

* The body is read chunk by chunk and the read stops as soon as it exceeds the limit (a
  declared ``Content-Length`` over the limit is refused before reading anything), so a huge
  upload costs at most ``limit`` bytes of memory.
* ``application/json``: one JSON array of objects. ``application/x-ndjson``: one JSON object per
  line (blank lines ignored); errors name the 1-based line.
* Strict JSON (RFC 8259): ``NaN``/``Infinity`` are refused.
* An event may nest objects and arrays at most :data:`MAX_EVENT_DEPTH` levels deep (the event
  object is level 1; a JSON array body has one level more, the array). The same verdict on every
  path (JSON array or lines, gzip, chunked), whatever the call stack: a parsed value is walked,
  and a text the parser refused (its recursion limit depends on the stack) has its brackets
  counted, so a text deeper than the limit is always refused as too deep.
"""

from __future__ import annotations

import asyncio
import json
import re
from itertools import accumulate
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from .problems import Problem

__all__ = ["JSON", "MAX_EVENT_DEPTH", "NDJSON", "SUPPORTED_MEDIA_TYPES", "bracket_depth", "media_type_of",
           "parse_events", "read_body"]

JSON = "application/json"
NDJSON = "application/x-ndjson"
SUPPORTED_MEDIA_TYPES = (JSON, NDJSON)
MAX_EVENT_DEPTH = 64  # levels of objects and arrays in one event; the hub's own contracts need 2

_CONTAINERS = (dict, list)
# a JSON string; one left open runs to the end of the text, so the scan never backtracks over it
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^][{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}.__getitem__


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def media_type_of(request: web.Request) -> str:
    """The request's media type if supported, else 415 (a charset other than UTF-8 too)."""
    raw = request.headers.get("Content-Type")
    media = request.content_type.lower()
    if raw is None or media not in SUPPORTED_MEDIA_TYPES:
        raise Problem("unsupported-media-type",
                      f"Content-Type must be {JSON} (a JSON array of events) or {NDJSON} (one event per line)",
                      supported=list(SUPPORTED_MEDIA_TYPES))
    charset = (request.charset or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise Problem("unsupported-media-type", "the body must be UTF-8 encoded",
                      supported=list(SUPPORTED_MEDIA_TYPES))
    return media


def _too_large(limit: int) -> Problem:
    return Problem("body-too-large", f"the request body is limited to {limit} bytes; split the batch",
                   close=True, limit_bytes=limit)


async def read_body(request: web.Request, limit: int, timeout_s: float) -> bytes:
    """Read at most ``limit`` bytes of body within ``timeout_s`` (413 / 408 otherwise)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    buf = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                chunk = await request.content.readany()
                if not chunk:
                    break
                buf += chunk
                if len(buf) > limit:
                    raise _too_large(limit)
    except TimeoutError:
        raise Problem("body-timeout", f"the request body did not arrive within {timeout_s:g} s",
                      close=True) from None
    except (ConnectionError, HttpProcessingError, ClientPayloadError):
        # the client went away or broke the framing mid-body: nobody may read this answer
        raise Problem("incomplete-body", "the request body ended before it was complete", close=True) from None
    return bytes(buf)


def _decode_text(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem("malformed-body", f"the body is not valid UTF-8 (byte offset {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


class _TooDeep(Exception):
    """The text nests objects and arrays deeper than allowed."""


def _loads(text: str, max_depth: int) -> Any:
    """The value of ``text``; ``ValueError`` if it is not strict JSON, :class:`_TooDeep` if it
    nests more than ``max_depth`` levels (checked first, whatever else is wrong with it)."""
    try:
        value, end = _DECODER.raw_decode(text, _skip_ws(text, 0))
        if _skip_ws(text, end) != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    except (ValueError, RecursionError):
        if bracket_depth(text) > max_depth:
            raise _TooDeep from None
        raise  # a RecursionError within the limit would need a stack ~900 frames deep
    # fewer brackets than levels (almost every JSON line) cannot be too deep: no walk needed
    if text.count("[") + text.count("{") > max_depth and _nests_deeper(value, max_depth):
        raise _TooDeep
    return value


def _nests_deeper(value: Any, levels: int) -> bool:
    """Whether parsed JSON ``value`` nests objects and arrays more than ``levels`` deep (an
    object or array is level 1). One pass per level, no recursion, never below ``levels + 1``."""
    containers = [value] if type(value) in _CONTAINERS else []
    for _ in range(levels):
        if not containers:
            return False
        containers = [child for container in containers
                      for child in (container.values() if type(container) is dict else container)
                      if type(child) in _CONTAINERS]
    return bool(containers)


def bracket_depth(text: str) -> int:
    """How deeply ``text`` nests JSON arrays and objects, brackets inside strings not counted:
    for a valid JSON text, the depth :func:`_nests_deeper` finds in its value. Malformed text gets
    a number too (its brackets counted as they come)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP, brackets), initial=0))


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def parse_events(body: bytes, media_type: str, max_events: int) -> list[dict]:
    """The events of a body; 400 (malformed), 400 (empty) or 413 (too many events)."""
    text = _decode_text(body)
    if media_type == NDJSON:
        return _parse_lines(text, max_events)
    try:
        doc = _loads(text, MAX_EVENT_DEPTH + 1)
    except _TooDeep:
        raise _too_deep("the body") from None
    except json.JSONDecodeError as exc:
        raise Problem("malformed-body", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                      f"column {exc.colno}", line=exc.lineno) from None
    except ValueError as exc:
        raise Problem("malformed-body", f"the body is not valid JSON: {_safe(exc)}") from None
    if not isinstance(doc, list):
        raise Problem("malformed-body", "the body must be a JSON array of event objects "
                      f"(use {NDJSON} for one event per line)")
    if len(doc) > max_events:
        raise Problem("too-many-events", f"at most {max_events} events per request; split the batch",
                      max_events=max_events)
    for i, item in enumerate(doc):
        if not isinstance(item, dict):
            raise Problem("malformed-body", f"element {i} of the array is not a JSON object", index=i)
    if not doc:
        raise Problem("empty-batch", "the request contains no events")
    return doc


def _parse_lines(text: str, max_events: int) -> list[dict]:
    events: list[dict] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if len(events) >= max_events:
            raise Problem("too-many-events", f"at most {max_events} events per request; split the batch",
                          max_events=max_events)
        try:
            value = _loads(line, MAX_EVENT_DEPTH)
        except _TooDeep:
            raise _too_deep(f"line {lineno}", line=lineno) from None
        except json.JSONDecodeError as exc:
            raise Problem("malformed-body", f"line {lineno} is not valid JSON: {exc.msg} at column {exc.colno}",
                          line=lineno) from None
        except ValueError as exc:
            raise Problem("malformed-body", f"line {lineno} is not valid JSON: {_safe(exc)}", line=lineno) from None
        if not isinstance(value, dict):
            raise Problem("malformed-body", f"line {lineno} is not a JSON object", line=lineno)
        events.append(value)
    if not events:
        raise Problem("empty-batch", "the request contains no events")
    return events


def _too_deep(where: str, **extensions: Any) -> Problem:
    return Problem("malformed-body", f"{where} nests objects and arrays too deeply (an event may have at most "
                   f"{MAX_EVENT_DEPTH} levels)", max_depth=MAX_EVENT_DEPTH, **extensions)


def _safe(exc: BaseException) -> str:
    """A value-free description of a parse failure."""
    text = str(exc)
    return text if text.endswith("is not valid JSON") else type(exc).__name__
