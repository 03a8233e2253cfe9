"""RFC 9457 problem details (``application/problem+json``) of the gateway.

Every error the gateway returns is a :class:`Problem` with a stable ``type`` URI
``https://gigbridge.example/problems/<slug>``; :data:`PROBLEM_TYPES` is the full list (also
published in ``/openapi.json`` and docs/platform-guide.md).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from aiohttp import web

__all__ = ["PROBLEM_BASE", "PROBLEM_CONTENT_TYPE", "PROBLEM_TYPES", "SECURITY_HEADERS", "Problem", "secure"]

PROBLEM_BASE = "https://gigbridge.example/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

# slug -> (status, title)
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "malformed-body": (400, "Malformed request body"),
    "empty-batch": (400, "Empty batch"),
    "incomplete-body": (400, "Incomplete request body"),
    "malformed-request": (400, "Malformed HTTP request"),
    "missing-token": (401, "Missing bearer token"),
    "invalid-token": (401, "Invalid bearer token"),
    "invalid-signature": (401, "Invalid request signature"),
    "wrong-province": (403, "Another province's claim status"),
    "wrong-unit": (403, "Another unit's path"),
    "unknown-unit": (403, "Unit not in the units file"),
    "invalid-claim-status": (400, "Invalid claim status update"),
    "platform-mismatch": (403, "Event of another platform"),
    "unknown-event-type": (404, "Unknown event type"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "body-timeout": (408, "Request body too slow"),
    "body-too-large": (413, "Request body too large"),
    "too-many-events": (413, "Too many events in one request"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "rate-limited": (429, "Rate limit exceeded"),
    "too-many-concurrent-requests": (429, "Too many concurrent requests"),
    "internal-error": (500, "Internal error"),
    "kafka-unavailable": (503, "Event log unavailable"),
    "not-ready": (503, "Not ready"),
    "too-many-connections": (503, "Too many connections"),
}


# on every response: no software versions, no sniffing, no caching
SECURITY_HEADERS = {"Server": "gigbridge", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def secure(headers: Any) -> None:
    """Add :data:`SECURITY_HEADERS` to a response's headers (``Server`` replaced, others kept)."""
    headers["Server"] = SECURITY_HEADERS["Server"]
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)


class Problem(Exception):
    """An error answered as ``application/problem+json``. Raise it from a handler."""

    def __init__(self, slug: str, detail: str, *, headers: Mapping[str, str] | None = None,
                 close: bool = False, **extensions: Any) -> None:
        status, title = PROBLEM_TYPES[slug]
        super().__init__(f"{status} {slug}: {detail}")
        self.slug = slug
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.close = close  # close the connection after answering (unread body)
        self.extensions = extensions

    def body(self, instance: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": PROBLEM_BASE + self.slug, "title": self.title, "status": self.status,
                               "detail": self.detail, "instance": instance}
        doc.update(self.extensions)
        return doc

    def response(self, instance: str) -> web.Response:
        resp = web.Response(status=self.status, text=json.dumps(self.body(instance)),
                            content_type=PROBLEM_CONTENT_TYPE, headers=self.headers)
        if self.close:
            resp.force_close()
        return resp
