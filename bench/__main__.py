"""`make bench`: every benchmark of this folder, one after the other, on this machine.

    .venv/bin/python -m bench [--quick] [web workers pdf scale]

Each script prints its figures and writes its own section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import time

from bench._support import exit_cleanly_on_sigterm, say

SCRIPTS = ("web", "workers", "pdf", "scale")


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
    say(
        "\n"
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in spent.items())
        + f"; all in {(time.monotonic() - started) / 60:.1f} min. Figures: docs/benchmarks.md"
    )


if __name__ == "__main__":
    main()
