"""Blank form pages: the fields of a new request, rendered once per form version and day.

A blank form depends on nothing but its version (published versions never change) and today's
date (fields that default to today). Rendering its fields through WTForms widgets and Jinja
macros is most of the form page's time, so the rendered grid is kept per app and process, a few
hundred at most; the page around it (menu, CSRF token, the client token that makes a retried
submission count once) is still rendered for each request.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from flask import current_app, render_template
from markupsafe import Markup

from portal import forms
from portal.domain.values import Evaluation
from portal.models import FormVersion
from portal.services import submissions

#: Grids kept per app; the oldest goes first (versions of other days, superseded versions).
LIMIT = 256
_EXTENSION = "baton.blank_form_grids"


@dataclass(frozen=True)
class BlankForm:
    grid: Markup
    evaluation: Evaluation


def blank_form(version: FormVersion, today: dt.date) -> BlankForm:
    """The rendered fields of a new request on `version`, and their evaluation."""
    kept, lock = current_app.extensions.setdefault(_EXTENSION, ({}, threading.Lock()))
    key = (version.id, today)
    found = kept.get(key)
    if found is None:
        found = _render(version, today)
        with lock:
            if len(kept) >= LIMIT:
                del kept[next(iter(kept))]
            kept[key] = found
    return found


def _render(version: FormVersion, today: dt.date) -> BlankForm:
    spec = version.spec
    raw = forms.blank_input(spec, today)
    evaluation = submissions.evaluate(spec, raw, submissions.Files())
    evaluation.errors.clear()
    grid = render_template(
        "staff/_form_grid.html",
        spec=spec,
        form=forms.build(spec, raw, evaluation),
        version=version,
        evaluation=evaluation,
        kept={},
        keep_suffix=forms.KEEP_SUFFIX,
    )
    return BlankForm(Markup(grid), evaluation)
