"""Job functions for tests, importable by an RQ worker (as RQ's own test suite does)."""


def add(a: int, b: int) -> int:
    return a + b
