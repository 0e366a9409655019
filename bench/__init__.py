"""Benchmarks: scripts that measure Baton against a baseline run alongside them.

See docs/benchmarks.md.
"""
