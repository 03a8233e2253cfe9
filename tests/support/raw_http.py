"""A raw HTTP/1.1 client for hostile-client tests: any bytes on the wire (broken framing, a
10 MB body, headers dribbled a byte at a time), the answer read up to the connection's end.

Unlike a real client it never gives up on the answer because its own upload failed: a server
that answers early (413 before reading a huge body) and closes is read like any other.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    status: int | None                 # None: the connection ended without a status line
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    elapsed_s: float = 0.0
    error: str | None = None           # why there is no whole answer (None: status, headers, full body)

    def json(self):
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def parse_response(data: bytes) -> RawResponse:
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        return RawResponse(None, body=data, error="no HTTP response")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        if len(body) < int(length):
            return RawResponse(int(parts[1]), headers, body, error="answer cut short")
        body = body[: int(length)]
    return RawResponse(int(parts[1]), headers, body)


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes = b"", *,
                  chunked: bool = False, close: bool = True) -> bytes:
    """A request with ``Host`` (and ``Connection: close``) and, unless ``chunked``, a
    ``Content-Length``; header values are sent as latin-1 (so non-ASCII tokens are possible)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway"]
    if close:
        lines.append("Connection: close")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        step = 64 * 1024
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                        for i in range(0, len(body), step)) + b"0\r\n\r\n"
    elif body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Collect(asyncio.Protocol):
    """Keeps every byte received, whatever ends the connection (an asyncio stream would raise
    the reset and drop an answer that arrived just before it)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.error: str | None = None

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: BaseException | None) -> None:
        self.error = type(exc).__name__ if exc else None
        if not self.closed.done():
            self.closed.set_result(None)


async def exchange(port: int, data: bytes, timeout: float = 30.0, host: str = "127.0.0.1") -> RawResponse:
    """Connect, send ``data`` (request bytes, with ``Connection: close``), read the answer until
    the server closes (a reset after a whole answer is no error)."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    try:
        transport, proto = await asyncio.wait_for(loop.create_connection(_Collect, host, port), timeout)
    except (OSError, TimeoutError) as exc:
        return RawResponse(None, error=f"connect: {type(exc).__name__}", elapsed_s=time.monotonic() - started)
    timed_out = False
    try:
        transport.write(data)  # sent as the server reads; an early answer and close just end it
        try:
            await asyncio.wait_for(asyncio.shield(proto.closed), timeout)
        except TimeoutError:
            timed_out = True
    finally:
        transport.abort()
    received = bytes(proto.data)
    resp = parse_response(received) if received else RawResponse(None, error="closed without an answer")
    resp.elapsed_s = time.monotonic() - started
    if resp.error and timed_out:  # a whole answer is an answer, however the connection ended after it
        resp.error = f"{resp.error} (timeout)"
    elif resp.error and proto.error:
        resp.error = f"{resp.error} ({proto.error})"
    return resp


async def open_raw(port: int, head: bytes,
                   host: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection with ``head`` already sent (the rest is up to the test)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head)
    await writer.drain()
    return reader, writer
