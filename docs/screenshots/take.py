"""Take the README's screenshots again, the same way every time, from the demo data.

    .venv/bin/python docs/screenshots/take.py            # writes docs/screenshots/*.png

What it does: builds a throwaway instance (SQLite in a temporary folder), publishes the shipped
forms, creates the demo users and 80 requests with a realistic past through the real engine
(`portal.demo.history`, seed 7, as `seed-demo --submissions` does), serves the app on a free
port of 127.0.0.1 and photographs, at 390 px (a phone) and 1280 px (a laptop):

- inbox:        the inbox of the finance approver with the most requests waiting;
- email-link:   the page an emailed approval link opens, signed out;
- request:      a vendor invoice's page as its submitter sees it, part-way through its chain;
- invoice-form: a new vendor invoice with three lines filled in and its total worked out.

It needs Debian's Chromium (/usr/bin/chromium, or BATON_CHROMIUM) and the test extras
(Playwright). Nothing outside the temporary folder and docs/screenshots/ is touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = os.environ.get("BATON_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
WIDTHS = {"phone": 390, "desktop": 1280}
PASSWORD = "baton-demo"


def build(instance: Path):
    """The app on a fresh database holding the demo users and a realistic history."""
    os.environ["BATON_INSTANCE"] = str(instance)
    sys.path.insert(0, str(ROOT))
    from flask_migrate import upgrade

    from portal import create_app
    from portal.cli import DEMO_USERS
    from portal.demo import history
    from portal.extensions import db
    from portal.services import users

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'baton.db'}",
            "SECRET_KEY": "screenshots",
            "BATON_TIMEZONE": "Europe/Berlin",
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": True,
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "portal" / "migrations"))
        for email, name, groups, manager in DEMO_USERS:
            if users.find_user(email) is None:
                users.save_user(email, name, PASSWORD, groups, manager)
        db.session.commit()
        history.generate(80, password=PASSWORD, days=30, seed=7)
    return app


def subjects(app) -> dict:
    """Which records to photograph: chosen by what they show, not by id."""
    from sqlalchemy import func, select

    from portal import mail
    from portal.domain.chain import TaskState
    from portal.models import Form, Submission, SubmissionStatus, Task, User

    with app.app_context():
        from portal.extensions import db

        invoice = db.session.scalar(select(Form).where(Form.slug == "vendor_invoice"))
        open_tasks = (
            select(Task)
            .join(Submission)
            .where(Task.state == TaskState.OPEN, Submission.form_id == invoice.id)
            .order_by(Task.created_at)
        )
        # The request page: an invoice past its first step, waiting for finance.
        waiting = [
            task
            for task in db.session.scalars(open_tasks)
            if task.step == "finance" and task.round == 1
        ]
        story = (
            waiting[0].submission if waiting else db.session.scalars(open_tasks).first().submission
        )
        # The inbox: the approver with the most requests waiting.
        busiest = db.session.execute(
            select(Task.assignee_id, func.count())
            .where(Task.state == TaskState.OPEN)
            .group_by(Task.assignee_id)
            .order_by(func.count().desc())
        ).first()[0]
        # The emailed link: the oldest open invoice task still at its first step.
        first = next(
            task for task in db.session.scalars(open_tasks) if task.step == "cost_centre_owner"
        )
        return {
            "story": (story.id, story.submitter.email),
            "inbox": db.session.get(User, busiest).email,
            "link": mail.action_token(first.id, first.assignee_id),
            "in_review": SubmissionStatus.IN_REVIEW,
        }


def serve(app) -> tuple[str, object]:
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def fill_invoice(page, base: str) -> None:
    """A new vendor invoice, three lines in, its total worked out by the live form."""
    page.goto(f"{base}/forms/vendor_invoice/new")
    page.get_by_label("Vendor name").fill("Acme Office Supplies GmbH")
    page.get_by_label("Vendor billing email").fill("billing@acme.example")
    page.get_by_label("Invoice number").fill("ACME-1042")
    page.get_by_label("Invoice date").fill("2026-11-30")
    page.get_by_label("Payment due").fill("2026-12-30")
    page.get_by_label("Cost centre").select_option("CC-400")
    lines = [
        ("Ergonomic office chairs", "6", "289.00"),
        ("Height-adjustable desks", "3", "612.50"),
        ("Delivery and assembly", "1", "180.00"),
    ]
    for row, (text, quantity, price) in enumerate(lines):
        if row:
            page.get_by_role("button", name="Add a line").click()
            page.locator(f"#lines-{row}-description").wait_for()
        page.locator(f"#lines-{row}-description").fill(text)
        page.locator(f"#lines-{row}-quantity").fill(quantity)
        page.locator(f"#lines-{row}-unit_price").fill(price)
    page.get_by_label("Invoice number").click()  # leaves the last cell: the total updates
    page.wait_for_timeout(600)


def photograph(app, chosen: dict) -> list[Path]:
    from playwright.sync_api import sync_playwright

    base, server = serve(app)
    taken = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for size, width in WIDTHS.items():
                phone = size == "phone"
                options = {
                    "viewport": {"width": width, "height": 844 if phone else 900},
                    "device_scale_factor": 2 if phone else 1,
                    "locale": "en-GB",
                    "has_touch": phone,
                }

                def shot(page, name: str, full: bool = True, width: int = width) -> None:
                    path = HERE / f"{name}-{width}.png"
                    page.screenshot(path=str(path), full_page=full)
                    taken.append(path)

                # The emailed link, signed out.
                context = browser.new_context(**options)
                page = context.new_page()
                page.goto(f"{base}/act/{chosen['link']}")
                shot(page, "email-link", full=not phone)
                if phone:  # the whole page as well, down to the decision panel
                    shot(page, "email-link-full")
                context.close()

                context = browser.new_context(**options)
                page = context.new_page()
                sign_in(page, base, chosen["inbox"])
                page.goto(f"{base}/inbox")
                shot(page, "inbox", full=not phone)
                context.close()

                context = browser.new_context(**options)
                page = context.new_page()
                submission_id, submitter = chosen["story"]
                sign_in(page, base, submitter)
                page.goto(f"{base}/submissions/{submission_id}")
                shot(page, "request")
                fill_invoice(page, base)
                shot(page, "invoice-form")
                context.close()
            browser.close()
    finally:
        server.shutdown()
    return taken


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="baton-screenshots-") as folder:
        app = build(Path(folder))
        chosen = subjects(app)
        for path in photograph(app, chosen):
            print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
