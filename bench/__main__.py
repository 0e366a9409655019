"""`make bench`: every benchmark of this folder, one after the other, on this machine.

    .venv/bin/python -m bench [--quick] [web profile workers pdf scale]

Each script prints its figures and writes its own section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import time

from bench import report
from bench._support import exit_cleanly_on_sigterm, say

SCRIPTS = ("web", "profile", "workers", "pdf", "scale")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Baton's benchmarks.")
    parser.add_argument("--quick", action="store_true", help="the smoke run (under 3 minutes)")
    parser.add_argument("scripts", nargs="*", help=f"some of {', '.join(SCRIPTS)} (default: all)")
    args = parser.parse_args()
    unknown = [name for name in args.scripts if name not in SCRIPTS]
    if unknown:
        parser.error(f"no benchmark called {', '.join(unknown)}; choose from {', '.join(SCRIPTS)}")
    exit_cleanly_on_sigterm()
    started = time.monotonic()
    spent = {}
    for name in args.scripts or SCRIPTS:
        say(f"\n=== bench/{name}.py{' --quick' if args.quick else ''} ===")
        began = time.monotonic()
        importlib.import_module(f"bench.{name}").main(["--quick"] if args.quick else [])
        spent[name] = time.monotonic() - began
    total = time.monotonic() - started
    say(
        "\n"
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in spent.items())
        + f"; all in {total / 60:.1f} min. Figures: docs/benchmarks.md"
    )
    if not args.scripts:
        _write_total(spent, total, args.quick)


def _write_total(spent: dict[str, float], total: float, quick: bool) -> None:
    """How long the whole run took, script by script, against its limit."""
    limit = 3 if quick else 30
    command = "make bench-quick" if quick else "make bench"
    rows = [[f"`bench/{name}.py`", f"{seconds / 60:.1f}"] for name, seconds in spent.items()]
    rows.append([f"**all of `{command}`**", f"**{total / 60:.1f}**"])
    body = (
        report.table(["script", "minutes"], rows)
        + f"\n\nLimit: {limit} minutes, "
        + ("met." if total < limit * 60 else "**not met**.")
        + " Seeding the scale databases is included when the run had to seed them (see the "
        "scale section); later runs reuse them."
    )
    report.write_section("total-quick" if quick else "total", f"How long `{command}` takes", body)


if __name__ == "__main__":
    main()
