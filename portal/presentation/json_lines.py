"""Where each value of a JSON document starts, by JSON path, so an editor can point at a fault.

`json.loads` does not say where a value came from, and a schema fault is reported by its path
(`fields[3].type`). `line_numbers(text)` walks the text once and maps every path it meets to
the line its value starts on; `line_of(lines, path)` falls back to the nearest enclosing path,
so a fault about a missing key points at the object that should hold it.
"""

from __future__ import annotations

import re

_WHITESPACE = re.compile(r"[ \t\r\n]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")
_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


class _Walk:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.lines: dict[str, int] = {}

    def line(self) -> int:
        return self.text.count("\n", 0, self.pos) + 1

    def skip(self) -> None:
        self.pos = _WHITESPACE.match(self.text, self.pos).end()

    def value(self, path: str, depth: int = 0) -> None:
        if depth > 200:
            raise ValueError("nested too deeply")
        self.skip()
        self.lines.setdefault(path, self.line())
        char = self.text[self.pos : self.pos + 1]
        if char == "{":
            self.members(path, depth)
        elif char == "[":
            self.items(path, depth)
        elif char == '"':
            self.string()
        else:
            match = _SCALAR.match(self.text, self.pos)
            if match is None:
                raise ValueError(f"unexpected text at {self.pos}")
            self.pos = match.end()

    def string(self) -> str:
        match = _STRING.match(self.text, self.pos)
        if match is None:
            raise ValueError(f"unterminated string at {self.pos}")
        self.pos = match.end()
        return match.group(0)[1:-1]

    def expect(self, char: str) -> bool:
        self.skip()
        if self.text.startswith(char, self.pos):
            self.pos += 1
            return True
        return False

    def members(self, path: str, depth: int) -> None:
        self.pos += 1
        if self.expect("}"):
            return
        while True:
            self.skip()
            key = self.string()
            if not self.expect(":"):
                raise ValueError(f"expected ':' at {self.pos}")
            self.value(f"{path}.{key}" if path else key, depth + 1)
            if self.expect("}"):
                return
            if not self.expect(","):
                raise ValueError(f"expected ',' at {self.pos}")

    def items(self, path: str, depth: int) -> None:
        self.pos += 1
        if self.expect("]"):
            return
        index = 0
        while True:
            self.value(f"{path}[{index}]", depth + 1)
            index += 1
            if self.expect("]"):
                return
            if not self.expect(","):
                raise ValueError(f"expected ',' at {self.pos}")


def line_numbers(text: str) -> dict[str, int]:
    """Every JSON path in `text` with the line its value starts on ("" is the whole document).

    Text that is not valid JSON gives the paths read before the fault (the decoder names the
    fault's own line).
    """
    walk = _Walk(text)
    try:
        walk.value("")
    except (ValueError, IndexError):
        pass
    return walk.lines


def line_of(lines: dict[str, int], path: str) -> int | None:
    """The line of `path`, or of the nearest path that encloses it; None if nothing does."""
    parts = [m.group(0) for m in _PATH_PART.finditer(path)]
    while parts:
        candidate = "".join(parts)
        if candidate in lines:
            return lines[candidate]
        parts.pop()
    return lines.get("")
