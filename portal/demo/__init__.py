"""Demo and benchmark data: histories made by driving the real services, and copies of them.

This is a command's work, like a job body: it may commit (in batches). Nothing here writes a
row of its own; what the engine writes for an event is written by the engine.
"""
