"""`python -m bench.floor init`: the floor app's tables and its one user, in DATABASE_URL."""

import sys

from bench.floor import init

if sys.argv[1:] != ["init"]:
    raise SystemExit("usage: python -m bench.floor init")
init()
