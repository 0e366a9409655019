"""The form editor: who may use it, the live preview, publishing, versions, rollback, archive."""

import json
import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Form, FormVersion, Submission
from portal.services import forms as form_service
from tests.fixtures.web import Browser

TRAVEL = {
    "title": "Travel request",
    "amount_field": "cost",
    "fields": [
        {"type": "text", "name": "destination", "label": "Destination", "required": True},
        {
            "type": "money",
            "name": "cost",
            "label": "Estimated cost",
            "currency": "EUR",
            "required": True,
        },
    ],
    "approval": {
        "fallback_group": "finance",
        "steps": [
            {"name": "manager", "title": "Manager approval", "assignees": [{"manager": 1}]},
        ],
    },
}


def with_changes(document: dict, fields=(), steps=()) -> dict:
    """A copy of `document` with fields and steps appended."""
    changed = json.loads(json.dumps(document))
    changed["fields"].extend(fields)
    changed["approval"]["steps"].extend(steps)
    return changed


VISA_FIELD = {
    "type": "boolean",
    "name": "needs_visa",
    "label": "A visa is needed",
}
VISA_STEP = {
    "name": "travel_desk",
    "title": "Travel desk check",
    "when": "needs_visa",
    "assignees": [{"group": "finance"}],
}


@pytest.fixture
def travel(publish):
    return publish("travel", TRAVEL)


@pytest.fixture
def admin(browser, org, ada):
    browser.login("ada@example.com")
    return browser


def editor_post(admin, slug, document, action="publish", based_on="1", **extra):
    text = document if isinstance(document, str) else json.dumps(document, indent=2)
    data = {"schema_text": text, "based_on": based_on, **extra}
    if action == "preview":
        return admin.post(f"/admin/forms/{slug}/preview", data=data, htmx=True)
    return admin.post(f"/admin/forms/{slug}/publish", data=data)


def admin_urls(app) -> list[tuple[str, str]]:
    """Every admin route with its methods, from the URL map, so no new one escapes the test."""
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            url = re.sub(r"<int:[a-z_]+>", "1", rule.rule.replace("<slug>", "travel"))
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                urls.append((method, url))
    assert len(urls) >= 10
    return urls


@pytest.mark.parametrize("email", ["alice@example.com", "cora@example.com", "carol@example.com"])
def test_every_admin_url_is_403_for_everyone_but_admins(app, browser, org, travel, email):
    browser.login(email)
    for method, url in admin_urls(app):
        if method == "GET":
            response = browser.get(url)
        else:
            response = browser.post(url, data={"schema_text": "{}", "archived": "1"})
        assert response.status_code == 403, (method, url)
    assert db.session.scalar(select(func.count()).select_from(FormVersion)) == 1
    assert db.session.scalars(select(Form)).one().archived_at is None


def test_signed_out_visitors_are_sent_to_sign_in(client, travel):
    response = client.get("/admin/forms")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admins_see_forms_nav_and_the_list(admin, travel, org):
    page = admin.get("/admin/forms")
    assert page.status_code == 200
    assert 'href="/admin/forms"' in page.text  # the nav link
    row = re.search(r"<tr>\s*<th scope=\"row\">.*?</tr>", page.text, re.S).group(0)
    assert "Travel request" in row and "travel" in row and "Open" in row
    assert "loaded from files" in row  # version 1 came from the fixtures, not a person


def test_others_do_not_see_the_forms_link(browser, org, travel):
    browser.login("alice@example.com")
    assert 'href="/admin/forms"' not in browser.get("/").text


def test_editor_shows_the_schema_and_a_preview_of_form_and_chain(admin, travel):
    page = admin.get("/admin/forms/travel/edit")
    assert page.status_code == 200
    assert "Estimated cost" in page.text  # the rendered field
    assert "Manager approval" in page.text and "the submitter&#39;s manager" in page.text
    assert "&#34;destination&#34;" in page.text or "&quot;destination&quot;" in page.text
    assert "No problems found: ready to publish." in page.text
    assert 'name="based_on" value="1"' in page.text


def test_preview_follows_the_text_and_shows_a_new_field_and_conditional_step(admin, travel):
    changed = with_changes(TRAVEL, [VISA_FIELD], [VISA_STEP])
    response = editor_post(admin, "travel", changed, action="preview")
    assert response.status_code == 200
    assert "A visa is needed" in response.text
    assert "Travel desk check" in response.text
    assert "Only if <code>needs_visa</code>" in response.text
    assert 'id="publish-state"' in response.text and 'hx-swap-oob="true"' in response.text
    assert db.session.scalar(select(func.count()).select_from(FormVersion)) == 1  # not published


def test_preview_lists_each_fault_by_path_with_its_line(admin, travel):
    broken = json.loads(json.dumps(TRAVEL))
    broken["fields"][1]["type"] = "monee"
    broken["approval"]["steps"][0]["policy"] = "most"
    text = json.dumps(broken, indent=2)
    response = editor_post(admin, "travel", text, action="preview")
    assert response.status_code == 200
    assert "2 problems: this cannot be published yet" in response.text
    type_line = next(n for n, line in enumerate(text.splitlines(), 1) if '"monee"' in line)
    item = re.search(
        r"<code class=\"schema-errors__path\">fields\[1\]\.type</code>.*?</li>", response.text, re.S
    ).group(0)
    assert f'data-line="{type_line}"' in item and "monee" in item
    assert "approval.steps[0].policy" in response.text
    assert "2 problems to fix before publishing." in response.text


def test_preview_of_text_that_is_not_json_points_at_the_line(admin, travel):
    text = json.dumps(TRAVEL, indent=2).replace('"Destination",', '"Destination"', 1)
    response = editor_post(admin, "travel", text, action="preview")
    assert "not valid JSON: line" in response.text
    assert re.search(r'data-line="\d+"', response.text)


def test_publishing_makes_a_new_version_that_new_requests_use(admin, travel, org, ada):
    changed = with_changes(TRAVEL, [VISA_FIELD], [VISA_STEP])
    response = editor_post(admin, "travel", changed, note="Visa check for trips abroad")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/forms/travel/versions")
    form = form_service.find_form("travel")
    assert form.current_version.number == 2
    assert form.current_version.created_by == ada
    assert form.current_version.source == "editor: Visa check for trips abroad"
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "schema_published")
    ).all()[-1]
    assert event.chain == "admin" and event.actor_id == ada.id
    assert event.details["version"] == 2
    history = admin.get("/admin/forms/travel/versions").text
    assert "Published Travel request version 2." in history
    assert "Visa check for trips abroad" in history and "Ada Byrne" in history


def test_an_earlier_request_keeps_its_version_after_publishing(app, admin, travel, org, run_jobs):
    alice = Browser(app.test_client())
    alice.login("alice@example.com")
    first = alice.post(
        "/forms/travel/new",
        data={"destination": "Lyon", "cost": "400", "_action": "submit"},
    )
    assert first.status_code == 302
    old = db.session.scalars(select(Submission)).one()
    changed = with_changes(TRAVEL, [VISA_FIELD], [VISA_STEP])
    assert editor_post(admin, "travel", changed).status_code == 302
    assert "A visa is needed" in alice.get("/forms/travel/new").text
    new = alice.post(
        "/forms/travel/new",
        data={"destination": "Lagos", "cost": "900", "needs_visa": "y", "_action": "submit"},
    )
    assert new.status_code == 302
    run_jobs()
    submitted = db.session.scalars(select(Submission).order_by(Submission.id)).all()
    assert [s.form_version.number for s in submitted] == [1, 2]
    assert submitted[1].data["needs_visa"] is True
    old_page = alice.get(f"/submissions/{old.id}").text
    assert "A visa is needed" not in old_page and "Travel desk check" not in old_page
    new_page = alice.get(f"/submissions/{submitted[1].id}").text
    assert "Travel desk check" in new_page


def test_a_schema_that_fails_validation_is_not_published_and_the_text_is_kept(admin, travel):
    broken = json.loads(json.dumps(TRAVEL))
    broken["fields"][0]["type"] = "txet"
    text = json.dumps(broken, indent=2)
    response = editor_post(admin, "travel", text)
    assert response.status_code == 422
    assert "Not published: fix the problems listed beside the editor first." in response.text
    assert "fields[0].type" in response.text
    assert "&#34;txet&#34;" in response.text or "&quot;txet&quot;" in response.text
    assert form_service.find_form("travel").current_version.number == 1


def test_removing_a_field_a_condition_uses_is_refused_naming_it(admin, publish, org):
    publish("travel", with_changes(TRAVEL, [VISA_FIELD], [VISA_STEP]))
    without = with_changes(TRAVEL, [], [VISA_STEP])
    response = editor_post(admin, "travel", without)
    assert response.status_code == 422
    assert "approval.steps[1].when" in response.text
    assert "uses the field &#39;needs_visa&#39;, which this version removes" in response.text
    assert form_service.find_form("travel").current_version.number == 1


def test_a_step_nobody_could_ever_decide_is_refused(admin, travel, org):
    lonely = with_changes(
        TRAVEL,
        [],
        [{"name": "audit", "title": "Internal audit", "assignees": [{"group": "internal_audit"}]}],
    )
    lonely["approval"]["fallback_group"] = "nobody_here"
    response = editor_post(admin, "travel", lonely)
    assert response.status_code == 422
    assert "nobody could ever decide this step: group internal_audit has no active members" in (
        response.text
    )
    assert form_service.find_form("travel").current_version.number == 1


def test_publishing_over_someone_elses_newer_version_asks_first(admin, travel, publish):
    publish("travel", with_changes(TRAVEL, [VISA_FIELD]))  # someone else: version 2
    mine = with_changes(TRAVEL, [{"type": "text", "name": "hotel", "label": "Hotel"}])
    response = editor_post(admin, "travel", mine, based_on="1")
    assert response.status_code == 409
    assert "published version 2" in response.text and "you started from version 1" in response.text
    assert "&#34;hotel&#34;" in response.text or "&quot;hotel&quot;" in response.text
    assert 'name="based_on" value="2"' in response.text  # publishing again is a choice now
    assert form_service.find_form("travel").current_version.number == 2
    again = editor_post(admin, "travel", mine, based_on="2")
    assert again.status_code == 302
    assert form_service.find_form("travel").current_version.spec.field("hotel") is not None


def test_publishing_the_same_schema_again_changes_nothing(admin, travel):
    response = editor_post(admin, "travel", TRAVEL)
    assert response.status_code == 302
    assert (
        "Nothing to publish: this is already version 1."
        in admin.get(response.headers["Location"]).text
    )
    assert db.session.scalar(select(func.count()).select_from(FormVersion)) == 1


def test_a_schema_too_large_to_check_is_refused(admin, travel):
    huge = json.dumps(TRAVEL) + " " * 600_000
    assert editor_post(admin, "travel", huge, action="preview").status_code == 413
    assert editor_post(admin, "travel", huge).status_code == 413
    assert form_service.find_form("travel").current_version.number == 1


def test_a_new_form_from_blank_is_published_and_offered_to_staff(app, admin, org):
    page = admin.post("/admin/forms/new", data={"slug": "travel", "copy_from": ""})
    assert page.status_code == 302
    editor = admin.get(page.headers["Location"])
    assert editor.status_code == 200 and "Not published yet" in editor.text
    assert "No problems found: ready to publish." in editor.text
    text = form_service.BLANK_SCHEMA.replace("New request", "Travel request")
    response = editor_post(admin, "travel", text, based_on="")
    assert response.status_code == 302
    assert form_service.find_form("travel").current_version.number == 1
    staff = Browser(app.test_client())
    staff.login("alice@example.com")
    assert "Travel request" in staff.get("/").text


def test_a_new_form_can_start_as_a_copy(admin, travel):
    response = admin.post("/admin/forms/new", data={"slug": "travel_abroad", "copy_from": "travel"})
    editor = admin.get(response.headers["Location"])
    assert "Estimated cost" in editor.text and "New form" in editor.text
    published = editor_post(admin, "travel_abroad", TRAVEL, based_on="")
    assert published.status_code == 302
    assert form_service.find_form("travel_abroad").current_version.number == 1


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("Travel Request", "Use lower-case letters, digits and _ only"),
        ("9lives", "Use lower-case letters, digits and _ only"),
        ("travel", "There is already a form called travel."),
    ],
)
def test_a_new_form_needs_a_usable_unused_name(admin, travel, slug, message):
    response = admin.post("/admin/forms/new", data={"slug": slug})
    assert response.status_code == 422
    assert message in response.text
    assert db.session.scalar(select(func.count()).select_from(Form)) == 1


def test_versions_compare_in_words_and_lines(admin, travel, publish):
    publish("travel", with_changes(TRAVEL, [VISA_FIELD], [VISA_STEP]))
    page = admin.get("/admin/forms/travel/compare?from=1&to=2")
    assert page.status_code == 200
    assert "Added</span> the field <code>needs_visa</code>" in page.text
    assert "Added</span> the step <code>travel_desk</code>" in page.text
    assert "only if needs_visa" in page.text
    assert re.search(r'diff__line--add">\+\s+"name": "needs_visa"', page.text.replace("&#34;", '"'))
    assert admin.get("/admin/forms/travel/compare?from=1&to=9").status_code == 404


def test_rollback_publishes_the_old_version_again_as_a_new_one(admin, travel, publish, ada):
    publish("travel", with_changes(TRAVEL, [VISA_FIELD], [VISA_STEP]))
    response = admin.post("/admin/forms/travel/versions/1/rollback")
    assert response.status_code == 302
    form = form_service.find_form("travel")
    assert [v.number for v in form.versions] == [1, 2, 3]
    assert form.current_version.number == 3
    assert form.current_version.schema_hash == form.versions[0].schema_hash
    assert form.current_version.source == "rollback to version 1"
    assert form.current_version.created_by == ada
    page = admin.get("/admin/forms/travel/versions").text
    assert "Rolled back: version 3 is a copy of version 1" in page
    again = admin.post("/admin/forms/travel/versions/3/rollback")
    assert "is the same as the current version" in admin.get(again.headers["Location"]).text
    assert len(form_service.find_form("travel").versions) == 3


def test_rollback_to_a_version_that_no_longer_passes_is_refused_with_why(
    admin, publish, make_user, org
):
    auditor = make_user("audra@example.com", "Audra Kim", groups=["internal_audit"])
    audited = with_changes(
        TRAVEL,
        [],
        [{"name": "audit", "title": "Audit", "assignees": [{"group": "internal_audit"}]}],
    )
    audited["approval"]["fallback_group"] = "internal_audit"
    publish("travel", audited)
    publish("travel", TRAVEL)
    auditor.groups.clear()
    db.session.commit()
    response = admin.post("/admin/forms/travel/versions/1/rollback")
    page = admin.get(response.headers["Location"]).text
    assert "Version 1 cannot be published again" in page
    assert "group internal_audit has no active members" in page
    assert form_service.find_form("travel").current_version.number == 2


def test_a_version_page_shows_its_schema_and_form_as_published(admin, travel, publish):
    publish("travel", with_changes(TRAVEL, [VISA_FIELD], [VISA_STEP]))
    old = admin.get("/admin/forms/travel/versions/1").text
    assert "Estimated cost" in old and "A visa is needed" not in old
    assert admin.get("/admin/forms/travel/versions/7").status_code == 404


def test_archiving_stops_new_requests_and_keeps_records(app, admin, travel, org):
    response = admin.post("/admin/forms/travel/archive", data={"archived": "1"})
    assert response.status_code == 302
    assert "nobody can start a new request" in admin.get("/admin/forms").text
    staff = Browser(app.test_client())
    staff.login("alice@example.com")
    assert staff.get("/forms/travel/new").status_code == 410
    assert "Travel request" not in staff.get("/").text
    refused = editor_post(admin, "travel", with_changes(TRAVEL, [VISA_FIELD]))
    assert refused.status_code == 422 and "archived: restore it before publishing" in refused.text
    restored = admin.post("/admin/forms/travel/archive", data={"archived": "0"})
    assert restored.status_code == 302
    assert form_service.find_form("travel").archived_at is None
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.chain == "admin")).all()
    assert "form_archived" in actions and "form_restored" in actions
