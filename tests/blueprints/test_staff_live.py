"""The htmx path: live totals, conditional fields and line-item rows without a full page load."""

import re

from sqlalchemy import func, select

from portal import clock
from portal.extensions import db
from portal.models import Submission
from tests.fixtures.forms import shipped_schema
from tests.fixtures.web import invoice_post


def oob(html: str, element_id: str) -> str:
    """The out-of-band element with this id in an htmx response (fails if it is not there)."""
    match = re.search(rf'<\w+[^>]*\bid="{re.escape(element_id)}"[^>]*>', html)
    assert match and "hx-swap-oob" in match.group(0), f"no out-of-band swap for #{element_id}"
    rest = html[match.start() :]
    following = rest.find("hx-swap-oob", len(match.group(0)))
    return rest if following == -1 else rest[:following]


def live(browser, version, data):
    data = {key: value for key, value in data.items() if key not in ("invoice_file", "_action")} | {
        k: v for k, v in data.items() if k == "_action" and v.startswith(("add_row", "remove_row"))
    }
    return browser.post(f"/versions/{version.id}/live", data, htmx=True)


def test_total_and_line_amounts_update_as_lines_are_typed(browser, alice, vendor_invoice):
    browser.login(alice.email)
    response = live(browser, vendor_invoice, invoice_post())
    assert response.status_code == 200
    assert "EUR 1,375.00" in oob(response.text, "out-total")
    assert "EUR 900.00" in oob(response.text, "out-lines-0-amount")
    assert "EUR 275.00" in oob(response.text, "out-lines-1-amount")
    # nothing that could replace an input someone is typing in
    assert "<input" not in response.text and "<select" not in response.text


def test_currency_change_relabels_amounts(browser, alice, vendor_invoice):
    browser.login(alice.email)
    response = live(browser, vendor_invoice, invoice_post(currency="CHF"))
    assert "CHF 1,375.00" in oob(response.text, "out-total")
    assert ">CHF<" in oob(response.text, "cur-lines-unit_price")


def test_conditional_field_shows_and_hides_by_htmx(browser, alice, vendor_invoice):
    browser.login(alice.email)
    hidden = live(browser, vendor_invoice, invoice_post())
    assert "vis-off" in oob(hidden.text, "vis-vendor_tax_id")
    shown = live(browser, vendor_invoice, invoice_post(vendor_is_new="y"))
    assert "vis-on" in oob(shown.text, "vis-vendor_tax_id")


def test_required_marker_follows_required_if(browser, alice, vendor_invoice):
    browser.login(alice.email)
    small = live(browser, vendor_invoice, invoice_post())
    assert "(optional)" in oob(small.text, "req-po_number")
    large = live(browser, vendor_invoice, invoice_post(**{"lines-0-unit_price": "9000"}))
    assert "(required)" in oob(large.text, "req-po_number")


def test_add_row_returns_the_table_with_a_new_focused_row(browser, alice, vendor_invoice):
    browser.login(alice.email)
    response = live(browser, vendor_invoice, invoice_post(_action="add_row:lines"))
    assert response.status_code == 200
    table = response.text.split("</fieldset>")[0]
    assert 'id="table-lines"' in table
    assert 'id="lines-3-description"' in table and "autofocus" in table
    assert 'value="Ergonomic chairs"' in table  # the rows already typed are kept
    assert "EUR 1,375.00" in oob(response.text, "out-total")


def test_remove_row_renumbers_and_updates_the_total(browser, alice, vendor_invoice):
    browser.login(alice.email)
    response = live(browser, vendor_invoice, invoice_post(_action="remove_row:lines:0"))
    table = response.text.split("</fieldset>")[0]
    assert "Ergonomic chairs" not in table
    assert 'id="lines-0-description"' in table and 'value="Desk lamps"' in table
    assert 'id="lines-2-description"' not in table
    assert "EUR 475.00" in oob(response.text, "out-total")


def test_row_limit_is_enforced_on_add(browser, alice, publish):
    schema = shipped_schema("vendor_invoice")
    schema["fields"][next(i for i, f in enumerate(schema["fields"]) if f.get("name") == "lines")][
        "max_rows"
    ] = 3
    version = publish("vendor_invoice", schema)
    browser.login(alice.email)
    response = live(browser, version, invoice_post(_action="add_row:lines"))
    assert response.status_code == 400


def test_live_endpoint_never_stores_anything(browser, alice, vendor_invoice):
    browser.login(alice.email)
    live(browser, vendor_invoice, invoice_post())
    assert db.session.scalar(select(func.count()).select_from(Submission)) == 0


def test_live_endpoint_needs_the_csrf_header(client, browser, alice, vendor_invoice):
    browser.login(alice.email)
    response = client.post(
        f"/versions/{vendor_invoice.id}/live", data=invoice_post(), headers={"HX-Request": "true"}
    )
    assert response.status_code == 400


def test_live_endpoint_for_unknown_version_is_404(browser, alice):
    browser.login(alice.email)
    assert browser.post("/versions/99999/live", {}, htmx=True).status_code == 404


def test_visible_if_on_purchase_request_other_category(browser, alice, publish):
    version = publish("purchase_request", shipped_schema("purchase_request"))
    browser.login(alice.email)
    response = browser.post(f"/versions/{version.id}/live", {"category": "other"}, htmx=True)
    assert "vis-on" in oob(response.text, "vis-category_other")
    response = browser.post(f"/versions/{version.id}/live", {"category": "hardware"}, htmx=True)
    assert "vis-off" in oob(response.text, "vis-category_other")


def test_an_archived_forms_version_is_not_evaluated_live(browser, alice, vendor_invoice):
    browser.login(alice.email)
    assert live(browser, vendor_invoice, invoice_post()).status_code == 200
    vendor_invoice.form.archived_at = clock.now()
    db.session.commit()
    response = live(browser, vendor_invoice, invoice_post())
    assert response.status_code == 404
    assert "out-total" not in response.text
