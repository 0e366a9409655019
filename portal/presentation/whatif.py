"""A what-if report (portal.domain.replay.Report.as_dict) in words: the command line's text and
the figures the page shows, from the same data. Pure."""

from __future__ import annotations

from portal.domain.insight import duration_words

OUTCOMES = ("approved", "rejected", "in_review", "changes_requested", "withdrawn")
OUTCOME_WORDS = {
    "approved": "approved",
    "rejected": "rejected",
    "in_review": "still in review",
    "changes_requested": "sent back",
    "withdrawn": "withdrawn",
}


def hours_words(hours: float) -> str:
    """'3.5 hours saved', '1 hour more', 'no change in people's time'."""
    if abs(hours) < 0.05:
        return "no change in people's time"
    shown = f"{abs(hours):,.1f}".removesuffix(".0")
    unit = "hour" if shown == "1" else "hours"
    return f"{shown} {unit} of people's time saved" if hours > 0 else f"{shown} {unit} more"


def hours_figure(hours: float) -> tuple[str, str]:
    """The people's-time figure and what it is: ('0.8 hours', 'saved'), ('2 hours', 'more')."""
    if abs(hours) < 0.05:
        return "no change", ""
    shown = f"{abs(hours):,.1f}".removesuffix(".0")
    return f"{shown} {'hour' if shown == '1' else 'hours'}", "saved" if hours > 0 else "more"


def outcomes(result: dict) -> list[tuple[str, int, int]]:
    """(outcome in words, before, after) for every outcome either side has."""
    before, after = result["outcomes_before"], result["outcomes_after"]
    return [
        (OUTCOME_WORDS[name], before.get(name, 0), after.get(name, 0))
        for name in OUTCOMES
        if before.get(name) or after.get(name)
    ]


def cycle_rows(result: dict) -> list[tuple[str, str, str]]:
    """(figure, before, after) for the cycle time table."""
    cycle = result["cycle_time_seconds"]
    return [
        (
            "Median",
            duration_words(cycle["before"]["median"]),
            duration_words(cycle["after"]["median"]),
        ),
        (
            "90th percentile",
            duration_words(cycle["before"]["p90"]),
            duration_words(cycle["after"]["p90"]),
        ),
        ("Requests decided", f"{cycle['decided_before']:,}", f"{cycle['decided_after']:,}"),
    ]


def lines(result: dict, form_title: str, period_label: str) -> list[str]:
    """The report as the command line prints it."""
    out = [
        f"What if: {form_title}, {period_label}: {result['requests']:,} requests replayed",
        "",
        f"Tasks (answers people gave), before -> after, at {result['minutes_per_task']} "
        "minutes a task:",
    ]
    width = max([len(step["title"]) for step in result["steps"]] + [3])
    for step in result["steps"]:
        note = "" if step["in_draft"] else "  (not in the draft)"
        out.append(
            f"  {step['title']:<{width}}  {step['tasks_before']:>8,} -> {step['tasks_after']:>8,}"
            + note
        )
    out.append(
        f"  {'All':<{width}}  {result['tasks_before']:>8,} -> {result['tasks_after']:>8,}  "
        f"{hours_words(result['hours_saved'])}"
    )
    out += ["", "Cycle time, submission to outcome:   before  ->  after"]
    for name, before, after in cycle_rows(result):
        out.append(f"  {name:<18} {before:>16}  ->  {after}")
    out += ["", "Outcomes: " + "; ".join(f"{w} {b:,} -> {a:,}" for w, b, a in outcomes(result))]
    out += [
        "",
        f"At risk: {result['risky']:,} requests would have got past a step that in fact"
        " rejected or sent them back",
    ]
    for item in result["risks"]:
        for step in item["steps"]:
            did = "rejected" if step["in_fact"] == "rejected" else "sent back"
            draft = f"the draft {step['replay']}"
            out.append(f"  #{item['request']}: {step['title']} {did} it in fact; {draft}")
    out += ["", f"Routes changed: {result['routes_changed']:,} requests"]
    for item in result["changed"]:
        out.append(f"  #{item['request']}: {item['before']}")
        out.append(f"  {' ' * len(str(item['request']))}  now: {item['after']}")
    if result["caveats"]:
        out += ["", "Caveats:"]
        out += [f"  - {caveat}" for caveat in result["caveats"]]
    return out
