"""Process insight pages: the forms a person may see, each form's dashboard, its CSV tables."""

from __future__ import annotations

import io

from flask import Blueprint, Response, abort, current_app, g, render_template, request
from flask_login import current_user

from portal.domain import insight as rules
from portal.domain import spreadsheet, step_value
from portal.presentation import charts
from portal.services import access, insight, insight_snapshots
from portal.services.access import Action

from . import tables

bp = Blueprint("insight", __name__, url_prefix="/insight")


@bp.app_context_processor
def _menu() -> dict:
    """base.html asks `may_see_insight()` whether to show Insight in the menu."""
    return {"may_see_insight": _may_see_insight}


def _may_see_insight() -> bool:
    if "may_see_insight" not in g:
        g.may_see_insight = insight.may_see_any(current_user)
    return g.may_see_insight


def _period():
    """The period the request asks for, and the problem with it (one of them is None)."""
    try:
        return rules.parse_period(request.args, insight.today()), None
    except rules.PeriodInvalid as problem:
        return None, str(problem)


def _form_and_scope(slug: str):
    form = insight.find_form(slug)
    if form is None:
        abort(404)
    access.require(current_user, Action.SEE_INSIGHT, form)
    return form, access.insight_scope(current_user, form)


@bp.get("/")
def index():
    """The forms whose insight the signed-in person may see, with a line of figures each."""
    period = rules.parse_period({}, insight.today())
    found = insight.summaries(current_user, period)
    if not found:
        abort(403)
    return render_template("insight/index.html", summaries=found, period=period)


@bp.get("/<slug>")
def dashboard(slug: str):
    """One form's dashboard for the period asked for (the last 90 days unless said)."""
    form, scope = _form_and_scope(slug)
    period, problem = _period()
    picker = _picker(period)
    if problem:
        return render_template(
            "insight/dashboard.html", form=form, scope=scope, problem=problem, picker=picker
        ), 422
    found = insight_snapshots.figures(form, period, scope)
    result = found.result
    return render_template(
        "insight/dashboard.html",
        form=form,
        scope=scope,
        problem=None,
        picker=picker,
        figures=found,
        result=result,
        period=period,
        before=rules.previous_words(period),
        volume_chart=_volume_chart(result) if result and scope.whole_form else None,
        trend_chart=_trend_chart(result) if result and scope.whole_form else None,
        process_map=_process_map(result) if result else None,
        shades=range(charts.SHADES),
        words=rules,
        value_thresholds=step_value.thresholds_words(),
        may_try_changes=access.allows(current_user, Action.ADMINISTER),
        live_limit=current_app.config["BATON_INSIGHT_LIVE_REQUESTS"],
        max_age=current_app.config["BATON_INSIGHT_MAX_AGE"],
    )


@bp.get("/<slug>/<table>.csv")
def table_csv(slug: str, table: str):
    """One of the dashboard's tables as CSV, for the same period."""
    form, scope = _form_and_scope(slug)
    if table not in tables.TABLES:
        abort(404)
    rows_of, whole_form_only, admins_only = tables.TABLES[table]
    if (whole_form_only and not scope.whole_form) or (admins_only and not scope.approvers):
        abort(403)
    period, problem = _period()
    if problem:
        return Response(problem + "\n", 422, mimetype="text/plain")
    header, rows = rows_of(insight_snapshots.for_download(form, period, scope))
    out = io.StringIO()
    writer = spreadsheet.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    name = f"{form.slug}-{table}-{period.first_day.isoformat()}-to-{period.last_day.isoformat()}"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


# -- what the templates draw ------------------------------------------------------------------


def _picker(period: rules.Period | None) -> dict:
    """What the period picker shows: the presets, which is chosen, and the dates typed."""
    return {
        "presets": rules.PRESETS,
        "chosen": period.preset if period else None,
        "first": request.args.get("from", period.first_day.isoformat() if period else ""),
        "last": request.args.get("to", period.last_day.isoformat() if period else ""),
    }


def _volume_chart(result: insight.Insight) -> charts.VolumeChart:
    return charts.volume_chart(
        [
            (
                row.bucket.short_label,
                row.bucket.label,
                row.submitted,
                row.approved,
                row.rejected,
                row.withdrawn,
            )
            for row in result.volume
        ]
    )


def _trend_chart(result: insight.Insight) -> charts.TrendChart:
    return charts.trend_chart(
        [
            (bucket.short_label, bucket.label, found.median, found.p90)
            for bucket, found in result.cycle.by_bucket
        ]
    )


def _process_map(result: insight.Insight) -> charts.ProcessMap:
    steps = [
        charts.MapStep(
            step.name,
            step.title,
            step.reached,
            step.taken,
            step.is_conditional,
            step.auto_approved,
            step.decided.median,
            step.waiting_now.count,
            step.share,
            step.sent_back,
            step.rejected,
        )
        for step in result.visible_steps
        if step.in_chain
    ]
    return charts.process_map(steps, result.total("submitted") if result.volume else 0)
