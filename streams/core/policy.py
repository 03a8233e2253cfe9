"""Per-destination privacy policy: what each kind of recipient may see of an event.

Pure functions over decoded records plus a small declarative config (``deploy/privacy.yaml``).
Only ``worker_ref``, ``order_ref``, ``location`` and the timestamp fields (``occurred_at``,
``reported_at``, ``period_start``, ``period_end``) are ever changed; everything else is copied.

Defaults by destination kind
----------------------------
``office`` (government offices)
    Platform pseudonyms are *re-keyed* per destination (HMAC-SHA256 with the destination's
    secret): one office can follow a worker across its own records, but two offices cannot join
    their records, nor match them with the platform's or an insurer's. Coordinates are rounded
    to 2 decimals: a grid of 0.01 degrees, ~1.1 km north-south and 1.1 km x cos(latitude)
    east-west (~1.0 km in Shenzhen, ~0.85 km in Beijing). Timestamps untouched.
``insurer`` (occupational-injury insurers)
    The platform's own ``worker_ref``/``order_ref`` are kept: the insurer settles claims with
    the platform, which can resolve its pseudonyms. Coordinates at most 4 decimals (~11 m).
``monitoring`` (dashboards, metrics sinks)
    No refs (``None``), no coordinates (``location`` = ``None``), timestamps rounded down to
    the minute.
``webhook`` (any other subscriber)
    The conservative end: refs re-keyed, no coordinates, minute timestamps.

Caps that no configuration can exceed (checked when a policy is built): coordinates at most
2 decimals for offices and webhooks, 4 for insurers, 1 for monitoring; the platform's refs go
to insurers only; re-keying needs a secret of at least 16 bytes.

Small counts
------------
Aggregate tables (headcounts by division, incident counts by category) leave the hub with
k-suppression: a count of 1..k-1 becomes ``None`` (:func:`suppress_small`,
:func:`suppress_cells`), 0 stays 0, k and above unchanged; default k = 5. Suppressing single
cells does not protect a cell that can be recomputed from a published total and its siblings:
publish totals computed from the suppressed cells, or suppress a second cell.

Secrets
-------
:class:`SecretSource` derives each destination's HMAC key from one master secret
(``GIGBRIDGE_PRIVACY_MASTER_SECRET``): ``HMAC-SHA256(master, b"dest:" + name)``. That is the
expand step of HKDF (RFC 5869) with the master used directly as the pseudorandom key, one
output block and no counter byte, so the master must itself be uniformly random (at least 32
random bytes, e.g. ``openssl rand -hex 32``). Destinations' keys are independent; renaming a
destination changes its key and so all its re-keyed refs.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


from streams.core.route import DESTINATION_KINDS, DestinationKind


REF_FIELDS = ("worker_ref", "order_ref")
TIMESTAMP_FIELDS = ("occurred_at", "reported_at", "period_start", "period_end")
#: Every leaf :func:`apply_policy` may change; the rest of a copy is the record's own values, so
#: the stream splices these into the record's encoding instead of encoding each copy
#: (``schemas.splice``; tests/streams/core/test_policy.py holds apply_policy to it).
POLICY_LEAVES: tuple[tuple[str, ...], ...] = (
    *((name,) for name in REF_FIELDS), ("location",), ("location", "lat"), ("location", "lon"),
    *((name,) for name in TIMESTAMP_FIELDS))
MINUTE_MS = 60_000
DEFAULT_K = 5
MIN_SECRET_BYTES = 16

# The tunable settings of a policy and their defaults per kind (mirrored by deploy/privacy.yaml).
SETTINGS = ("rekey_refs", "keep_platform_refs", "coordinate_decimals", "timestamp_round_ms", "k")
DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "office": MappingProxyType(dict(rekey_refs=True, keep_platform_refs=False, coordinate_decimals=2,
                                    timestamp_round_ms=None, k=DEFAULT_K)),
    "insurer": MappingProxyType(dict(rekey_refs=False, keep_platform_refs=True, coordinate_decimals=4,
                                     timestamp_round_ms=None, k=DEFAULT_K)),
    "monitoring": MappingProxyType(dict(rekey_refs=False, keep_platform_refs=False, coordinate_decimals=None,
                                        timestamp_round_ms=MINUTE_MS, k=DEFAULT_K)),
    "webhook": MappingProxyType(dict(rekey_refs=True, keep_platform_refs=False, coordinate_decimals=None,
                                     timestamp_round_ms=MINUTE_MS, k=DEFAULT_K)),
})
MAX_COORDINATE_DECIMALS: Mapping[str, int] = MappingProxyType(
    {"office": 2, "insurer": 4, "monitoring": 1, "webhook": 2}
)


@dataclass(frozen=True)
class DestinationPolicy:
    """What one destination receives. ``coordinate_decimals=None`` drops coordinates,
    ``timestamp_round_ms=None`` leaves timestamps as they are; ``k`` is the smallest count
    published in aggregate tables. Exactly one of re-keying, keeping or removing the refs
    applies: ``rekey_refs`` > ``keep_platform_refs`` > removed (both False)."""

    name: str
    kind: DestinationKind
    rekey_refs: bool
    keep_platform_refs: bool
    coordinate_decimals: int | None
    timestamp_round_ms: int | None
    secret: bytes = field(repr=False)
    k: int = DEFAULT_K

    def __post_init__(self) -> None:
        where = f"privacy policy of {self.kind} destination {self.name!r}"
        if self.kind not in DESTINATION_KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(DESTINATION_KINDS)}")
        if not self.name:
            raise ValueError(f"{where}: a destination needs a name")
        if self.rekey_refs and self.keep_platform_refs:
            raise ValueError(f"{where}: rekey_refs and keep_platform_refs exclude each other")
        if self.keep_platform_refs and self.kind != "insurer":
            raise ValueError(f"{where}: only insurers may receive the platform's own refs")
        if self.rekey_refs and len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"{where}: re-keying needs a secret of at least {MIN_SECRET_BYTES} bytes "
                             "(is GIGBRIDGE_PRIVACY_MASTER_SECRET set?)")
        decimals, cap = self.coordinate_decimals, MAX_COORDINATE_DECIMALS[self.kind]
        if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int)
                                     or not 0 <= decimals <= cap):
            raise ValueError(f"{where}: coordinate_decimals must be None or 0..{cap}")
        rounding = self.timestamp_round_ms
        if rounding is not None and (isinstance(rounding, bool) or not isinstance(rounding, int) or rounding <= 0):
            raise ValueError(f"{where}: timestamp_round_ms must be None or a positive integer")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"{where}: k must be a positive integer")


class SecretSource:
    """Per-destination HMAC keys derived from one master secret (see the module docstring).

    ``master`` is bytes, str (UTF-8) or anything with ``get_secret_value()`` (pydantic
    ``SecretStr``); nothing is read from the environment here.
    """

    __slots__ = ("_master",)

    def __init__(self, master: bytes | str | Any) -> None:
        if hasattr(master, "get_secret_value"):
            master = master.get_secret_value()
        if isinstance(master, str):
            master = master.encode("utf-8")
        if not isinstance(master, (bytes, bytearray)) or len(master) < MIN_SECRET_BYTES:
            raise ValueError(f"the privacy master secret must be at least {MIN_SECRET_BYTES} bytes")
        self._master = bytes(master)

    @classmethod
    def from_settings(cls, settings: Any) -> "SecretSource":
        """From ``settings.privacy_master_secret`` (``GIGBRIDGE_PRIVACY_MASTER_SECRET``)."""
        master = getattr(settings, "privacy_master_secret", None)
        if master is None:
            raise ValueError("GIGBRIDGE_PRIVACY_MASTER_SECRET is not set")
        return cls(master)

    def for_destination(self, name: str) -> bytes:
        """The destination's 32-byte key: HMAC-SHA256(master, b"dest:" + name)."""
        return hmac.digest(self._master, b"dest:" + name.encode("utf-8"), "sha256")

    def __repr__(self) -> str:
        return "SecretSource(<redacted>)"


def rekey(ref: str, secret: bytes) -> str:
    """HMAC-SHA256(secret, ref) as 64 lowercase hex characters (the contract's ref format)."""
    return hmac.digest(secret, ref.encode("utf-8"), "sha256").hex()


def policy_for(kind: DestinationKind, name: str, secrets: SecretSource) -> DestinationPolicy:
    """The built-in default policy of a destination kind, with the destination's own secret."""
    if kind not in DEFAULTS:
        raise ValueError(f"unknown destination kind {kind!r}; expected one of {', '.join(DESTINATION_KINDS)}")
    return DestinationPolicy(name=name, kind=kind, secret=secrets.for_destination(name), **DEFAULTS[kind])


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def apply_policy(record: dict, policy: DestinationPolicy) -> dict:
    """A new record for ``policy``'s destination; ``record`` (and everything in it) is untouched."""
    out = {k: _copy(v) if isinstance(v, (dict, list)) else v for k, v in record.items()}
    for name in REF_FIELDS:
        if name in out:
            if policy.rekey_refs:
                if out[name] is not None:
                    out[name] = rekey(out[name], policy.secret)
            elif not policy.keep_platform_refs:
                out[name] = None
    location = out.get("location")
    if location is not None:
        decimals = policy.coordinate_decimals
        if decimals is None:
            out["location"] = None
        else:
            for axis in ("lat", "lon"):
                if isinstance(location.get(axis), (int, float)):
                    location[axis] = round(float(location[axis]), decimals)
    step = policy.timestamp_round_ms
    if step is not None:
        for name in TIMESTAMP_FIELDS:
            value = out.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                out[name] = value - value % step
    return out


def suppress_small(count: int, k: int = DEFAULT_K) -> int | None:
    """0 stays 0; 1..k-1 -> None (suppressed); k and more unchanged."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if count < 0:
        raise ValueError("counts are never negative")
    return None if 0 < count < k else count


def suppress_cells(cells: Mapping[Any, int], k: int = DEFAULT_K) -> dict:
    """:func:`suppress_small` on every cell of a table of aggregate counts (keys kept)."""
    return {key: suppress_small(count, k) for key, count in cells.items()}


# --- declarative configuration ------------------------------------------------------------

@dataclass(frozen=True)
class PolicyBook:
    """Defaults per kind and declared destinations with their overrides (from YAML).

    A destination that is not declared gets its kind's defaults. ``secrets`` may be attached
    later with :meth:`with_secrets`; without it only policies that do not re-key can be built.
    """

    defaults: Mapping[str, Mapping[str, Any]]
    destinations: Mapping[str, Mapping[str, Any]]  # name -> {"kind": ..., overrides...}
    secrets: SecretSource | None = field(default=None, repr=False)

    def with_secrets(self, secrets: SecretSource) -> "PolicyBook":
        return PolicyBook(self.defaults, self.destinations, secrets)

    def for_destination(self, kind: DestinationKind, name: str) -> DestinationPolicy:
        if kind not in self.defaults:
            raise ValueError(f"unknown destination kind {kind!r}; expected one of {', '.join(DESTINATION_KINDS)}")
        declared = self.destinations.get(name, {"kind": kind})
        if declared["kind"] != kind:
            raise ValueError(f"destination {name!r} is declared as {declared['kind']}, not {kind}")
        settings = {**self.defaults[kind], **{k: v for k, v in declared.items() if k != "kind"}}
        secret = self.secrets.for_destination(name) if self.secrets is not None else b""
        return DestinationPolicy(name=name, kind=kind, secret=secret, **settings)


def _settings(where: str, raw: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {', '.join(map(str, unknown))}")
    return dict(raw)


def parse_policies(doc: Any, path: str = "<policy>", secrets: SecretSource | None = None) -> PolicyBook:
    """Check a parsed policy document (the mapping of ``deploy/privacy.yaml``) and every policy
    in it; ``path`` only names the source in error messages. :mod:`streams.loaders.policy`
    reads the file.

    YAML defaults override the built-in :data:`DEFAULTS` setting by setting; destinations
    override their kind's defaults. Errors (unknown kinds or settings, a cap exceeded) raise
    ``ValueError`` naming the offending entry.
    """
    doc = doc or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    unknown = sorted(set(doc) - {"version", "defaults", "destinations"})
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {', '.join(unknown)}")
    if doc.get("version", 1) != 1:
        raise ValueError(f"{path}: unsupported version {doc.get('version')!r}")
    yaml_defaults = doc.get("defaults") or {}
    if not isinstance(yaml_defaults, dict):
        raise ValueError(f"{path}: defaults must be a mapping of kind -> settings")
    bad_kinds = sorted(set(yaml_defaults) - set(DESTINATION_KINDS))
    if bad_kinds:
        raise ValueError(f"{path}: unknown destination kind(s) {', '.join(map(str, bad_kinds))}")
    defaults = {
        kind: MappingProxyType({**DEFAULTS[kind], **_settings(f"{path}: defaults.{kind}", yaml_defaults.get(kind), SETTINGS)})
        for kind in DESTINATION_KINDS
    }
    raw_destinations = doc.get("destinations") or {}
    if not isinstance(raw_destinations, dict):
        raise ValueError(f"{path}: destinations must be a mapping of name -> settings")
    destinations = {}
    for name, raw in raw_destinations.items():
        entry = _settings(f"{path}: destinations.{name}", raw, ("kind", *SETTINGS))
        if entry.get("kind") not in DESTINATION_KINDS:
            raise ValueError(f"{path}: destinations.{name}: kind must be one of {', '.join(DESTINATION_KINDS)}")
        destinations[str(name)] = MappingProxyType(entry)
    book = PolicyBook(MappingProxyType(defaults), MappingProxyType(destinations), secrets)
    # Build every policy once so a bad value fails at load time, not at the first event.
    probe = book.with_secrets(SecretSource(b"\0" * 32))
    for kind in DESTINATION_KINDS:
        probe.for_destination(kind, f"<default {kind}>")
    for name, entry in destinations.items():
        probe.for_destination(entry["kind"], name)
    return book


class Protector:
    """``protect(route, record)`` for the stream: applies the route's destination policy,
    building each destination's policy (and HMAC key) once."""

    def __init__(self, book: PolicyBook) -> None:
        self._book = book
        self._policies: dict[str, DestinationPolicy] = {}

    def policy(self, kind: DestinationKind, destination: str) -> DestinationPolicy:
        policy = self._policies.get(destination)
        if policy is None:
            policy = self._book.for_destination(kind, destination)
            self._policies[destination] = policy
        return policy

    def __call__(self, route: Any, record: dict) -> dict:
        return apply_policy(record, self.policy(route.kind, route.destination))
