"""Topic patterns of the contract catalog: ``platform.{platform}.sites`` style patterns compiled to
regexes, and the lookup of a concrete topic's contract and subject (TopicNameStrategy).

Pure; ``schemas.catalog.Catalog.match_topic`` is the public entry point."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

from .errors import CatalogError

if TYPE_CHECKING:
    from .catalog import Contract

_PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_TOPIC_LITERAL_RE = re.compile(r"^[A-Za-z0-9._-]*$")
_PLACEHOLDER_VALUE = r"[A-Za-z0-9_-]+"  # one topic-name segment (no dots)
_TOPIC_CACHE_MAX = 4096


@dataclass(frozen=True)
class TopicMatch:
    topic: str
    subject: str
    contract: Contract
    pattern: str
    params: Mapping[str, str]  # e.g. {"platform": "swiftdash"}


def compile_topic_pattern(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    pos = 0
    names: set[str] = set()
    for m in _PLACEHOLDER_RE.finditer(pattern):
        parts.append(re.escape(pattern[pos : m.start()]))
        name = m.group(1)
        if name in names:
            raise CatalogError(f"topic pattern {pattern!r} repeats placeholder {{{name}}}")
        names.add(name)
        parts.append(f"(?P<{name}>{_PLACEHOLDER_VALUE})")
        pos = m.end()
    parts.append(re.escape(pattern[pos:]))
    literal = _PLACEHOLDER_RE.sub("x", pattern)
    if not literal or not _TOPIC_LITERAL_RE.fullmatch(literal) or len(literal) > 249:
        raise CatalogError(
            f"topic pattern {pattern!r}: only [A-Za-z0-9._-] and {{placeholder}} segments are allowed"
        )
    return re.compile("".join(parts))


class TopicMatcher:
    """The topic patterns of some contracts, matched in catalog order; results are cached (bounded)."""

    def __init__(self, contracts: Iterable[Contract]):
        """Compile every contract's patterns; raises :class:`CatalogError` if a pattern is invalid
        or listed by two contracts."""
        self._patterns: list[tuple[re.Pattern[str], str, Contract]] = []
        self._cache: dict[str, TopicMatch | None] = {}
        seen_patterns: dict[str, str] = {}
        for c in contracts:
            for pattern in c.topics:
                if pattern in seen_patterns:
                    raise CatalogError(
                        f"topic pattern {pattern!r} listed by both {seen_patterns[pattern]!r} and {c.name!r}"
                    )
                seen_patterns[pattern] = c.name
                self._patterns.append((compile_topic_pattern(pattern), pattern, c))

    def match(self, topic: str) -> TopicMatch | None:
        """The first pattern matching the whole ``topic``, or None."""
        try:
            return self._cache[topic]
        except KeyError:
            pass
        result: TopicMatch | None = None
        for regex, pattern, contract in self._patterns:
            m = regex.fullmatch(topic)
            if m is not None:
                result = TopicMatch(topic, f"{topic}-value", contract, pattern, dict(m.groupdict()))
                break
        if len(self._cache) >= _TOPIC_CACHE_MAX:
            self._cache.clear()
        self._cache[topic] = result
        return result
