"""Presentation: how rules and figures are shown to people (chart geometry, editor pointers).

Pure Python like the domain, but about pages, not rules: nothing here decides what Baton does.
"""
