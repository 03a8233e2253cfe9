"""The fenced code blocks of a Markdown guide, for the doc-test (``tests/docs/test_guides.py``).

Every fence names its language. Blocks in :data:`COMMAND_LANGUAGES` are what a reader runs or
compiles; the doc-test runs or checks each of them unless the line right before its fence says
why not::

    <!-- doctest: skip runs until Ctrl-C on fixed ports -->
    ```sh
    make run
    ```

Output, payloads and configuration use other languages (``text``, ``json``, ``yaml``, ``http``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

COMMAND_LANGUAGES = frozenset({"sh", "bash", "console", "python", "java", "go"})

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*doctest:\s*(?P<directive>\S+)\s*(?P<reason>.*?)\s*-->\s*$")


class GuideFormatError(ValueError):
    """A fence without a language, an unknown or misplaced ``doctest`` marker, an open fence."""


@dataclass(frozen=True)
class Block:
    path: Path
    line: int          # 1-based line of the opening fence
    lang: str
    text: str
    skip_reason: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def is_command(self) -> bool:
        return self.lang in COMMAND_LANGUAGES


@dataclass(frozen=True)
class ConsoleCommand:
    command: str
    output: str  # the lines the guide shows after it (empty: none shown)


def parse_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, in order, with its ``<!-- doctest: skip ... -->`` marker."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    marker: tuple[int, str] | None = None  # (line, reason) waiting for its fence
    i = 0
    while i < len(lines):
        line = lines[i]
        found = _MARKER.match(line)
        if found:
            if found["directive"] != "skip" or not found["reason"]:
                raise GuideFormatError(f"{path}:{i + 1}: write <!-- doctest: skip <reason> -->")
            marker = (i + 1, found["reason"])
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence is None:
            if line.strip() and marker is not None:
                raise GuideFormatError(f"{path}:{marker[0]}: a doctest marker must stand right before a fence")
            i += 1
            continue
        lang = fence["info"].strip().split(" ")[0]
        if not lang:
            raise GuideFormatError(f"{path}:{i + 1}: name the fence's language (sh, console, python, text, json, ...)")
        close = re.compile(rf"^ {{0,3}}{re.escape(fence['fence'][0])}{{{len(fence['fence'])},}}\s*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            body.append(lines[j][len(fence["indent"]):] if lines[j].startswith(fence["indent"]) else lines[j])
            j += 1
        if j == len(lines):
            raise GuideFormatError(f"{path}:{i + 1}: the fence is never closed")
        reason = marker[1] if marker else None
        if reason and lang not in COMMAND_LANGUAGES:
            raise GuideFormatError(f"{path}:{i + 1}: only command blocks ({', '.join(sorted(COMMAND_LANGUAGES))}) "
                                   "can be skipped")
        blocks.append(Block(Path(path), i + 1, lang, "\n".join(body) + "\n", reason))
        marker = None
        i = j + 1
    if marker is not None:
        raise GuideFormatError(f"{path}:{marker[0]}: a doctest marker must stand right before a fence")
    return blocks


def console_commands(text: str) -> list[ConsoleCommand]:
    """``$ command`` lines of a console block (a trailing backslash continues one) with the output
    lines shown after each."""
    commands: list[list] = []
    continued = False
    for line in text.splitlines():
        if continued:
            commands[-1][0] += "\n" + line
        elif line.startswith("$ "):
            commands.append([line[2:], []])
        elif commands:
            commands[-1][1].append(line)
        elif line.strip():
            raise GuideFormatError(f"console block: output before the first '$ ' command: {line!r}")
        continued = line.endswith("\\")
    return [ConsoleCommand(cmd, "\n".join(out).strip("\n")) for cmd, out in commands]


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with each placeholder (a key of ``values``) replaced by its value."""
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text
