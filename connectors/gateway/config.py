"""Gateway configuration and platform tokens.

Every knob is a ``gateway_<name>`` field of :class:`gigbridge.settings.Settings`, so the
``GIGBRIDGE_GATEWAY_<NAME>`` environment variable (parsed and checked by pydantic-settings).
Nothing here does network I/O; the token file is read once by :meth:`GatewayConfig.from_settings`.

Tokens are never stored in clear: the configuration maps each platform id to the SHA-256
hex digest of its bearer token (or a list of digests, to rotate a token without downtime)::

    GIGBRIDGE_GATEWAY_TOKENS='{"swiftdash": "9f86d0...", "cityride": ["ab12...", "cd34..."]}'
    GIGBRIDGE_GATEWAY_TOKENS_FILE=/run/secrets/gateway-tokens.json   # same JSON, in a file

Digest of a token: ``printf '%s' "$TOKEN" | sha256sum`` or :func:`hash_token`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

__all__ = ["GatewayConfig", "GatewayConfigError", "TokenStore", "bearer_token", "hash_token", "unit_token_store",
           "unit_tokens"]

PLATFORM_ID_RE = re.compile(r"[a-z][a-z0-9-]{1,31}")
MAX_TOKEN_CHARS = 4096  # a longer bearer token is refused without hashing it
_SHA256_HEX_RE = re.compile(r"[0-9a-f]{64}")


class GatewayConfigError(ValueError):
    """The gateway configuration (tokens, limits) is invalid."""


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a bearer token: what the token configuration stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Platform bearer tokens, stored as SHA-256 digests, checked in constant time.

    ``platform_for(token)`` hashes the presented token and compares the digest with EVERY
    configured digest using :func:`hmac.compare_digest` (no early exit), so the time taken does
    not depend on which platform, if any, matched.
    """

    def __init__(self, hashes: Mapping[str, str | list[str] | tuple[str, ...]], *,
                 id_pattern: re.Pattern[str] = PLATFORM_ID_RE, kind: str = "platform") -> None:
        """``hashes``: owner id -> digest(s); every id must match ``id_pattern`` (a ``kind`` id)."""
        entries: list[tuple[bytes, str]] = []
        seen: dict[str, str] = {}
        for platform, value in hashes.items():
            if not isinstance(platform, str) or not id_pattern.fullmatch(platform):
                raise GatewayConfigError(f"token config: {kind} id {platform!r} must match ^{id_pattern.pattern}$")
            digests = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
            if not digests:
                raise GatewayConfigError(f"token config: {platform}: expected a sha256 hex digest or a list of them")
            for digest in digests:
                if not isinstance(digest, str) or not _SHA256_HEX_RE.fullmatch(digest.lower()):
                    raise GatewayConfigError(
                        f"token config: {platform}: each entry must be the 64-hex SHA-256 digest of a token, "
                        "never the token itself")
                digest = digest.lower()
                if digest in seen and seen[digest] != platform:
                    raise GatewayConfigError(f"token config: one token digest is configured for both "
                                             f"{seen[digest]!r} and {platform!r}")
                seen[digest] = platform
                entries.append((bytes.fromhex(digest), platform))
        self._entries = tuple(entries)

    @classmethod
    def from_tokens(cls, tokens: Mapping[str, str]) -> "TokenStore":
        """Build from CLEAR tokens (tests, local demos): ``{"swiftdash": "s3cret"}``."""
        return cls({platform: hash_token(token) for platform, token in tokens.items()})

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(sorted({p for _, p in self._entries}))

    def __len__(self) -> int:
        return len(self._entries)

    def platform_for(self, token: str) -> str | None:
        """The platform (or, in a store of other owners, the owner) of ``token``, or None."""
        presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        for digest, platform in self._entries:
            if hmac.compare_digest(presented, digest):
                found = platform
        return found


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value; None if there is none or it
    is longer than :data:`MAX_TOKEN_CHARS` (not worth hashing)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return token


def unit_tokens(digests: Mapping[str, Any]) -> TokenStore:
    """A store of handling units' tokens: unit id (``deploy/units.yaml`` form) -> digest(s)."""
    from streams.core.cases.units import UNIT_ID_RE

    return TokenStore(digests, id_pattern=UNIT_ID_RE, kind="unit")


def unit_token_store(settings: Any) -> TokenStore:
    """The handling units' tokens (``GIGBRIDGE_CASE_UNIT_TOKENS``: unit id -> SHA-256 digest(s),
    JSON; unset: none). The one reader of that setting: the gateway's unit routes and the worker's
    case look-ups both authenticate units with it."""
    raw = getattr(settings, "case_unit_tokens", None) if settings is not None else None
    if raw is None:
        return unit_tokens({})
    text = raw.get_secret_value() if hasattr(raw, "get_secret_value") else raw
    return unit_tokens(_parse_token_json(text, "GIGBRIDGE_CASE_UNIT_TOKENS") if isinstance(text, str) else text)


def _parse_token_json(text: str, where: str) -> dict:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GatewayConfigError(f"{where} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise GatewayConfigError(f"{where} must be a JSON object mapping platform id to token sha256 digest")
    return doc


@dataclass(frozen=True)
class GatewayConfig:
    """Limits and switches of the HTTP ingest gateway (see the module docstring for sources)."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1_048_576          # 413 above this (decompressed) body size
    max_events: int = 1000                   # 413 above this many events in one request
    rate_events_per_s: float = 200.0         # per-platform token bucket refill rate
    rate_burst: int = 2000                   # per-platform bucket size (>= max_events)
    max_inflight: int = 8                    # concurrent ingest requests per platform (429 above)
    produce_timeout_s: float = 10.0          # all deliveries of a request must be acked within this
    body_timeout_s: float = 30.0             # the whole body must arrive within this (408)
    keepalive_timeout_s: float = 15.0        # idle / header-less connections are closed after this
    max_connections: int = 512               # open connections; over it the oldest idle one is closed
    lingering_time_s: float = 2.0            # at most this long draining an unread body after an error
    unavailable_retry_after_s: int = 5       # Retry-After on 503
    tokens_file: Path | None = None
    tokens: Mapping[str, Any] = field(default_factory=dict, repr=False)  # platform -> digest(s)

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_events", "rate_burst", "max_inflight", "unavailable_retry_after_s",
                     "max_connections"):
            if getattr(self, name) < 1:
                raise GatewayConfigError(f"gateway {name} must be >= 1")
        for name in ("rate_events_per_s", "produce_timeout_s", "body_timeout_s", "keepalive_timeout_s"):
            if not getattr(self, name) > 0:
                raise GatewayConfigError(f"gateway {name} must be > 0")
        if self.lingering_time_s < 0:
            raise GatewayConfigError("gateway lingering_time_s must be >= 0")
        if self.rate_burst < self.max_events:
            raise GatewayConfigError(
                f"gateway rate_burst ({self.rate_burst}) must be >= max_events ({self.max_events}), "
                "otherwise a full batch could never pass the rate limit")
        if not 0 < self.port < 65536 and self.port != 0:
            raise GatewayConfigError("gateway port must be in 0..65535")

    def token_store(self) -> TokenStore:
        return TokenStore(self.tokens)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> "GatewayConfig":
        """From the ``gateway_*`` fields of :class:`gigbridge.settings.Settings` (so the
        ``GIGBRIDGE_GATEWAY_*`` variables); ``overrides`` win. Reads the token file if set."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "tokens":
                continue
            value = getattr(settings, f"gateway_{f.name}", None)
            if value is not None:
                values[f.name] = value
        values.update({k: v for k, v in overrides.items() if k != "tokens"})
        tokens: dict[str, Any] = {}
        tokens_file = values.get("tokens_file")
        if tokens_file is not None:
            try:
                text = Path(tokens_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise GatewayConfigError(f"cannot read gateway tokens file {tokens_file}: {exc.strerror}") from None
            tokens.update(_parse_token_json(text, f"gateway tokens file {tokens_file}"))
        raw_tokens = getattr(settings, "gateway_tokens", None)
        if raw_tokens is not None:
            if hasattr(raw_tokens, "get_secret_value"):
                raw_tokens = raw_tokens.get_secret_value()
            if isinstance(raw_tokens, str):
                raw_tokens = _parse_token_json(raw_tokens, "GIGBRIDGE_GATEWAY_TOKENS")
            tokens.update(raw_tokens)
        if "tokens" in overrides:
            tokens = dict(overrides["tokens"])
        config = cls(**values, tokens=tokens)
        config.token_store()  # validate now: a bad digest is a start-up error, not a 401 later
        return config
