"""What changed between two versions of a form schema, in words an admin reads at a glance.

The line diff shows every character; this says "added the field `po_number`", "the step
`cfo` now applies only if `total > 20000`", so a reviewer knows what to look for in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

_TOP_LEVEL = {
    "title": "the title",
    "description": "the description",
    "submit_label": "the submit button's label",
    "amount_field": "the amount field",
    "summary_fields": "the summary fields",
    "rules": "the cross-field rules",
}
_CHAIN_LEVEL = {
    "fallback_group": "the fallback group",
    "after_changes": "what happens after changes are requested",
    "defaults": "the default deadlines and reminders",
    "signature": "the signature rule",
}


@dataclass(frozen=True)
class Change:
    kind: str  # added, removed or changed
    what: str  # "field", "block", "column", "step" or "setting"
    name: str
    detail: str = ""

    def __str__(self) -> str:
        what = "" if self.what == "setting" else f"the {self.what} "
        text = f"{self.kind} {what}{self.name}"
        return f"{text}: {self.detail}" if self.detail else text


def changes(older: dict, newer: dict) -> list[Change]:
    """Fields, columns, steps and settings added, removed or changed from `older` to `newer`."""
    found: list[Change] = []
    for key, words in _TOP_LEVEL.items():
        if older.get(key) != newer.get(key):
            found.append(Change("changed", "setting", words, _before_after(older, newer, key)))
    found += _named(older.get("fields", []), newer.get("fields", []), "field")
    old_chain, new_chain = older.get("approval") or {}, newer.get("approval") or {}
    if bool(old_chain) != bool(new_chain):
        found.append(Change("added" if new_chain else "removed", "setting", "the approval chain"))
    for key, words in _CHAIN_LEVEL.items():
        if old_chain and new_chain and old_chain.get(key) != new_chain.get(key):
            detail = _before_after(old_chain, new_chain, key)
            found.append(Change("changed", "setting", words, detail))
    found += _named(old_chain.get("steps", []), new_chain.get("steps", []), "step")
    old_order = [s.get("name") for s in old_chain.get("steps", []) if isinstance(s, dict)]
    new_order = [s.get("name") for s in new_chain.get("steps", []) if isinstance(s, dict)]
    common = [name for name in new_order if name in old_order]
    if common != [name for name in old_order if name in new_order]:
        found.append(Change("changed", "setting", "the order of the steps", " → ".join(new_order)))
    return found


def _named(old: list, new: list, what: str) -> list[Change]:
    """Compare two lists of objects by their `name` (blocks without one by their text)."""
    old_by, new_by = _by_name(old), _by_name(new)
    found = []
    for name, item in new_by.items():
        if name not in old_by:
            found.append(Change("added", _kind(item, what), name, _describe(item)))
    for name, item in old_by.items():
        if name not in new_by:
            found.append(Change("removed", _kind(item, what), name))
    for name, item in new_by.items():
        before = old_by.get(name)
        if before is None or before == item:
            continue
        if what == "field" and (before.get("fields") or item.get("fields")):
            columns = _named(before.get("fields", []), item.get("fields", []), "column")
            for change in columns:
                found.append(Change(change.kind, "column", f"{name}.{change.name}", change.detail))
            before = {k: v for k, v in before.items() if k != "fields"}
            item = {k: v for k, v in item.items() if k != "fields"}
            if before == item:
                continue
        keys = sorted(set(before) | set(item), key=lambda k: (k not in item, k))
        details = [_key_change(before, item, k) for k in keys if before.get(k) != item.get(k)]
        found.append(Change("changed", what, name, "; ".join(details)))
    return found


def _by_name(items: list) -> dict[str, dict]:
    """Items by name; a block (no name) by its heading or text, so moving it changes nothing."""
    named = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name") or _block_key(item))
        key, copy = name, 2
        while key in named:  # two blocks with the same text
            key, copy = f"{name} ({copy})", copy + 1
        named[key] = item
    return named


def _block_key(item: dict) -> str:
    words = str(item.get("title") or item.get("text") or item.get("type", "block"))
    return f"“{words if len(words) <= 40 else words[:39] + '…'}”"


def _kind(item: dict, what: str) -> str:
    return "block" if what == "field" and not item.get("name") else what


def _describe(item: dict) -> str:
    parts = []
    if item.get("type"):
        parts.append(str(item["type"]))
    if item.get("label") or item.get("title"):
        parts.append(f"“{item.get('label') or item.get('title')}”")
    if item.get("when"):
        parts.append(f"only if {item['when']}")
    if item.get("visible_if"):
        parts.append(f"shown only if {item['visible_if']}")
    return ", ".join(parts)


def _key_change(before: dict, after: dict, key: str) -> str:
    if key not in before:
        return f"{key} set to {_short(after[key])}"
    if key not in after:
        return f"{key} removed (was {_short(before[key])})"
    return f"{key} {_short(before[key])} → {_short(after[key])}"


def _before_after(before: dict, after: dict, key: str) -> str:
    return _key_change(before, after, key).split(" ", 1)[1]


def _short(value: object, limit: int = 60) -> str:
    text = value if isinstance(value, str) else _compact(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
