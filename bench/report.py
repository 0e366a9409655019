"""Writing figures into docs/benchmarks.md, one section per script, and describing the machine.

Each script owns one section, fenced by HTML comments so a re-run replaces only its own figures::

    <!-- bench:web -->
    ...
    <!-- /bench:web -->
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
_HEADER = """# Benchmarks

Measured by the scripts in `bench/` (run them all with `make bench`, or `make bench-quick` for a
smoke run). Every figure is a ratio against a baseline measured in the same run on the same
machine, so the ratios hold on other machines even where the absolute numbers do not.
"""


def machine() -> str:
    """One line naming the machine the figures came from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    postgres = _version(["psql", "--version"])
    redis = _version(["redis-server", "--version"])
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}; Python {platform.python_version()}; "
        f"{postgres}; {redis}"
    )


def _version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return f"{command[0]} not found"
    return out.strip().split("\n")[0]


def write_section(name: str, title: str, body: str, doc: Path = DOC) -> None:
    """Replace (or append) the section `name` of docs/benchmarks.md with `body` under `title`."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"_Measured {stamp} on {machine()}._\n\n{body.strip()}\n<!-- /bench:{name} -->"
    )
    text = doc.read_text() if doc.exists() else _HEADER
    fence = re.escape(name)
    pattern = re.compile(rf"<!-- bench:{fence} -->.*?<!-- /bench:{fence} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)


def table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
