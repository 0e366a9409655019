"""Adding a line while the form is still recalculating: the click is never lost, and the new row
has the focus the moment it appears, so what a person types goes where they think it goes."""

import threading

from flask import request
from playwright.sync_api import expect

from tests.browser.test_vendor_invoice import sign_in

#: Records document.activeElement at the microtask after the second row is inserted, before any
#: other task (a click, a keystroke, a timer) can run.
RECORD_FOCUS_ON_INSERT = """
new MutationObserver((mutations, observer) => {
  if (document.getElementById('lines-1-description')) {
    window.__focusWhenRowAppeared = document.activeElement && document.activeElement.id;
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""


def test_new_line_has_the_focus_the_moment_it_appears(page, live_server, alice, vendor_invoice):
    page.add_init_script(RECORD_FOCUS_ON_INSERT)
    sign_in(page, live_server, alice.email)
    page.goto(f"{live_server}/forms/vendor_invoice/new")
    page.get_by_role("button", name="+ Add a line").click()
    expect(page.locator("#lines-1-description")).to_be_attached()
    # Not 20 ms later, when htmx settles: typing in that gap went into the wrong cell.
    assert page.evaluate("window.__focusWhenRowAppeared") == "lines-1-description"


def test_add_a_line_while_a_recalculation_is_in_flight_is_not_dropped(
    app, page, live_server, alice, vendor_invoice
):
    """The server holds one recalculation; meanwhile the person clicks "Add a line" and goes on
    typing. Both wait behind the held request, and neither may replace the other."""
    hold_next = threading.Event()
    holding = threading.Event()
    release = threading.Event()

    @app.before_request
    def hold_one_recalculation():
        if request.path.endswith("/live") and hold_next.is_set() and "_action" not in request.form:
            hold_next.clear()
            holding.set()
            release.wait(timeout=20)

    sign_in(page, live_server, alice.email)
    page.goto(f"{live_server}/forms/vendor_invoice/new")
    page.locator("#lines-0-description").fill("Ergonomic chairs")

    hold_next.set()
    page.locator("#lines-0-quantity").fill("2")
    page.keyboard.press("Tab")  # change: a recalculation goes out at once, and is held
    assert holding.wait(timeout=10), "the recalculation never reached the server"
    page.get_by_role("button", name="+ Add a line").click()  # waits behind it
    page.locator("#lines-0-unit_price").fill("450.00")
    page.keyboard.press("Tab")  # another recalculation waits behind it too
    release.set()

    expect(page.locator("#lines-1-description")).to_be_visible()
    expect(page.locator("#lines-0-unit_price")).to_have_value("450.00")
    expect(page.locator("#out-lines-0-amount")).to_have_text("EUR 900.00")
    expect(page.locator("#out-total")).to_have_text("EUR 900.00")
