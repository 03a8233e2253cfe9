"""Console sessions (pure but for the session mapping they are given): sign-in, expiry, CSRF.

The session lives in an encrypted cookie (``aiohttp_session`` with Fernet); it holds the unit id,
when it signed in and when it was last seen, the CSRF token and the language. Guarantees: a
session is signed out once it has been idle for ``idle_s`` or signed in for ``absolute_s``
(whichever comes first, by the injected clock); the CSRF token is per session, renewed at sign-in
and sign-out, and compared in constant time; the sign-in check is the hub's own token-digest check
(``connectors.gateway.config.unit_token_store``: the digests of ``GIGBRIDGE_CASE_UNIT_TOKENS``).
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, MutableMapping

from connectors.gateway.config import MAX_TOKEN_CHARS, TokenStore
from connectors.gateway.ratelimit import TokenBucket

UNIT, SIGNED_IN, SEEN, CSRF, LANG = "unit", "signed_in", "seen", "csrf", "lang"
MAX_TRACKED_CLIENTS = 10_000


@dataclass(frozen=True)
class SessionLimits:
    idle_s: float = 15 * 60
    absolute_s: float = 8 * 3600


def unit_for(tokens: TokenStore, token: object) -> str | None:
    """The unit whose token was typed in the sign-in form (the unit token store's check), or None."""
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN_CHARS:
        return None
    return tokens.platform_for(token.strip())


def csrf_token(session: MutableMapping) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF)
    if not token:
        token = session[CSRF] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: MutableMapping, presented: object) -> bool:
    expected = session.get(CSRF)
    return bool(expected) and isinstance(presented, str) and hmac.compare_digest(expected.encode(), presented.encode())


def _reset(session: MutableMapping) -> None:
    """Drop everything but the language; a new CSRF token (no token survives a change of user)."""
    lang = session.get(LANG)
    session.clear()
    if lang:
        session[LANG] = lang
    session[CSRF] = secrets.token_urlsafe(32)


def sign_in(session: MutableMapping, unit_id: str, now_s: float) -> None:
    _reset(session)
    session.update({UNIT: unit_id, SIGNED_IN: now_s, SEEN: now_s})


def sign_out(session: MutableMapping) -> None:
    _reset(session)


def current_unit(session: MutableMapping, now_s: float, limits: SessionLimits) -> tuple[str | None, bool]:
    """``(unit id or None, expired)``; a live session's last-seen time moves to ``now_s``, an
    expired one is signed out."""
    unit = session.get(UNIT)
    if not unit:
        return None, False
    if now_s - session.get(SIGNED_IN, -math.inf) > limits.absolute_s or now_s - session.get(SEEN, -math.inf) > limits.idle_s:
        sign_out(session)
        return None, True
    session[SEEN] = now_s
    return unit, False


class SignInLimiter:
    """Failed sign-ins per client address: a bucket of ``burst`` failures refilled at ``per_minute``;
    an empty bucket refuses further attempts (right or wrong) until it refills. The oldest clients
    are forgotten beyond :data:`MAX_TRACKED_CLIENTS`."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate, self._burst, self._clock = per_minute / 60.0, burst, clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def _bucket(self, client: str) -> TokenBucket:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = TokenBucket(self._rate, self._burst, self._burst, self._clock())
            while len(self._buckets) > MAX_TRACKED_CLIENTS:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(client)
        return bucket

    def blocked(self, client: str) -> bool:
        return self._bucket(client).available(self._clock()) < 1

    def failed(self, client: str) -> None:
        self._bucket(client).take(1, self._clock())
