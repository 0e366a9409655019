"""The JSON API under /api/v1: bearer tokens, the same services and rules as the web pages."""
