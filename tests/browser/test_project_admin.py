"""Running a project from the browser: an admin creates a project (classes with colours,
annotation types), adds and disables users and revokes a user's tokens; a manager adds a
member, recolours and retires a class on the settings screen; an annotator then sees the
project, is not offered the retired class, and gets "Managers only" on the settings URL. With
LABELWRIGHT_UPDATE_DOCS_SCREENSHOTS set, each new screen is also photographed into
docs/screenshots/ (``lab.doc_shot``: the pictures docs/ui.md shows); otherwise the tests leave
tracked files alone."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.browser.lab import DemoServer, doc_shot, expect, log_in, open_image, sample_png

pytestmark = pytest.mark.browser


def assert_labelled(page: Any) -> None:
    """Every field and button of the screen has a name a screen reader reads out."""
    unnamed = page.evaluate("""() => [...document.querySelectorAll('#main input, #main select,'
        + ' #main button')].filter(e => !(e.labels && e.labels.length)
        && !e.getAttribute('aria-label') && !e.textContent.trim()).map(e => e.outerHTML)""")
    assert unnamed == []


def accept_dialogs(page: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def settings_project(server: DemoServer, classes: list[str],
                     members: dict[str, str]) -> str:
    admin = server.api("admin")
    project = admin.post("/projects", {"name": f"settings {uuid.uuid4().hex[:6]}",
                                       "classes": classes}, expect=201)
    for name, role in members.items():
        r = admin.client.put(f"/projects/{project['id']}/members/{name}", json={"role": role})
        assert r.status_code == 200, r.text
    admin.settled()
    return str(project["id"])


def test_admin_creates_a_project_with_three_coloured_classes(server: DemoServer,
                                                            new_context: Any) -> None:
    page = new_context(viewport={"width": 1100, "height": 820}).new_page()
    errors = log_in(page, server.base, "admin")
    page.click("#new-project")
    page.wait_for_selector("#new-project-form")
    expect(page.locator("#new-project-name")).to_be_focused()
    name = f"Kitchen {uuid.uuid4().hex[:6]}"
    # A nameless class is refused with the API's message beside the form, the field marked and
    # focused, nothing created.
    page.fill("#new-project-name", name)
    page.click("#create-project")
    expect(page.locator("#new-project-error")).to_have_text(
        "The project was not created: class 1's name must be a non-empty string")
    first_class = page.locator("#new-classes .class-name-input").first
    expect(first_class).to_have_attribute("aria-invalid", "true")
    expect(first_class).to_be_focused()
    # Typing into it takes the complaint away.
    first_class.type("c")
    expect(page.locator("#new-project-error")).to_be_empty()
    expect(first_class).not_to_have_attribute("aria-invalid", "true")
    page.click("#add-class-row")
    page.click("#add-class-row")
    for i, (cls, color) in enumerate((("cup", "#ff0000"), ("plate", "#00aa00"),
                                      ("fork", "#0000ff"))):
        page.locator("#new-classes li").nth(i).locator(".class-name-input").fill(cls)
        page.locator("#new-classes li").nth(i).locator(".class-color-input").fill(color)
    page.uncheck("#new-types-mask")
    assert_labelled(page)
    doc_shot(page, "new-project", show="#main .page > :first-child")
    page.click("#create-project")
    page.wait_for_function("location.hash.includes('/settings')")
    expect(page.locator("#class-rows tr")).to_have_count(3)
    pid = page.evaluate("location.hash.split('/')[2]")
    project = server.api("admin").get(f"/projects/{pid}")
    assert project["name"] == name
    assert [(c["name"], c["color"]) for c in project["classes"]] == [
        ("cup", "#ff0000"), ("plate", "#00aa00"), ("fork", "#0000ff")]
    assert project["annotation_types"] == ["box", "polygon", "point", "tag"]
    assert project["members"] == [{"username": "admin", "role": "manager"}]
    errors.check(expected=("422",))


def test_manager_adds_an_annotator_who_then_sees_the_project(server: DemoServer,
                                                             new_context: Any) -> None:
    pid = settings_project(server, ["cup", "plant"], {"maria": "manager"})
    page = new_context(viewport={"width": 1100, "height": 1240}).new_page()
    accept_dialogs(page)
    errors = log_in(page, server.base, "maria")
    page.locator(f"[data-project='{pid}'] .settings-link").click()
    page.wait_for_selector("#add-member-form")
    # An unknown username: the refusal is shown, in words.
    page.fill("#add-member-name", "nobody-here")
    page.click("#add-member-form button[type=submit]")
    expect(page.locator("#settings-add-member-error")).to_contain_text("no user named")
    page.fill("#add-member-name", "ana")
    page.select_option("#add-member-role", "annotator")
    page.press("#add-member-name", "Enter")
    expect(page.locator("#member-rows tr[data-member='ana'] select")).to_have_value("annotator")
    # arjun too, then changed to reviewer and removed again.
    page.fill("#add-member-name", "arjun")
    page.click("#add-member-form button[type=submit]")
    row = page.locator("#member-rows tr[data-member='arjun']")
    row.locator("select").select_option("reviewer")
    expect(page.locator("#member-rows tr[data-member='arjun'] select")).to_have_value("reviewer")
    assert_labelled(page)
    doc_shot(page, "project-settings", show="#main .page > :first-child")
    page.get_by_role("button", name="Remove arjun").click()
    expect(page.locator("#member-rows tr[data-member='arjun']")).to_have_count(0)
    members = {m["username"]: m["role"]
               for m in server.api("admin").get(f"/projects/{pid}")["members"]}
    assert members == {"admin": "manager", "maria": "manager", "ana": "annotator"}

    ana = new_context().new_page()
    ana_errors = log_in(ana, server.base, "ana")
    card = ana.locator(f"[data-project='{pid}']")
    expect(card).to_have_count(1)
    expect(card.locator(".settings-link")).to_have_count(0)
    errors.check(expected=("404",))
    ana_errors.check()


def test_a_retired_class_is_not_offered_to_the_annotator(server: DemoServer,
                                                         new_context: Any) -> None:
    pid = settings_project(server, ["cup", "plant", "lamp"],
                           {"maria": "manager", "ana": "annotator"})
    admin = server.api("admin")
    r = admin.client.post(f"/projects/{pid}/images", files={
        "file": (f"s-{uuid.uuid4().hex[:8]}.png", sample_png(uuid.uuid4().int, (320, 240)),
                 "image/png")})
    assert r.status_code == 201, r.text
    image_id = r.json()["images"][0]["id"]
    page = new_context().new_page()
    accept_dialogs(page)
    errors = log_in(page, server.base, "maria", then=f"#/projects/{pid}/settings")
    page.wait_for_selector("#class-rows")
    page.get_by_role("button", name="Retire plant").click()
    expect(page.locator("#class-rows tr[data-class='plant']")).to_have_attribute(
        "data-retired", "1")
    expect(page.get_by_role("button", name="Retire plant")).to_have_count(0)
    # Recolour lamp; add a class.
    page.locator("#class-rows tr[data-class='lamp'] input[type=color]").fill("#123456")
    page.fill("#add-class-name", "vase")
    page.click("#add-class-form button[type=submit]")
    expect(page.locator("#class-rows tr")).to_have_count(4)
    page.fill("#add-class-name", "cup")  # a name taken: the API's refusal is shown
    page.click("#add-class-form button[type=submit]")
    expect(page.locator("#settings-add-class-error")).to_contain_text("already exists")
    project = admin.get(f"/projects/{pid}")
    assert [(c["name"], c["retired"]) for c in project["classes"]] == [
        ("cup", False), ("plant", True), ("lamp", False), ("vase", False)]
    assert {c["name"]: c["color"] for c in project["classes"]}["lamp"] == "#123456"
    # The last annotation types can't all be taken away.
    for t in ("box", "polygon", "mask", "point", "tag"):
        page.uncheck(f"#settings-types-{t}")
    page.click("#types-form button[type=submit]")
    expect(page.locator("#settings-types-error")).to_contain_text("at least one")

    ana = new_context().new_page()
    ana_errors = log_in(ana, server.base, "ana")
    open_image(ana, server.base, image_id)
    expect(ana.locator(".class-btn")).to_have_count(3)
    labels = ana.locator(".class-btn").evaluate_all("els => els.map(e => e.dataset.label)")
    assert labels == ["cup", "lamp", "vase"]
    errors.check(expected=("422",))
    ana_errors.check()


def test_admin_adds_and_disables_a_user_who_then_cannot_log_in(server: DemoServer,
                                                               new_context: Any) -> None:
    page = new_context(viewport={"width": 1100, "height": 900}).new_page()
    accept_dialogs(page)
    errors = log_in(page, server.base, "admin")
    page.click("#manage-users")
    page.wait_for_selector("#new-user-form")
    expect(page.locator("#user-rows tr[data-user='ana']")).to_have_count(1)
    name = f"sam{uuid.uuid4().hex[:5]}"
    page.fill("#new-user-name", name)
    page.fill("#new-user-pass", "x")  # too short: the API says so, nobody is added
    page.click("#add-user")
    expect(page.locator("#new-user-error")).not_to_be_empty()
    expect(page.locator("#new-user-pass")).to_have_attribute("aria-invalid", "true")
    page.fill("#new-user-pass", "sam-first-password")
    page.click("#add-user")
    row = page.locator(f"#user-rows tr[data-user='{name}']")
    expect(row).to_have_count(1)
    # A new password, then disabled.
    page.get_by_role("button", name=f"Reset the password of {name}").click()
    expect(page.locator("#user-rows .reset-row input")).to_be_focused()
    page.locator("#user-rows .reset-row input").fill("sam-second-password")
    page.keyboard.press("Enter")
    expect(page.locator("#user-rows .reset-row")).to_have_count(0)
    page.get_by_role("button", name=f"Disable {name}").click()
    expect(row).to_have_attribute("data-disabled", "1")
    expect(page.get_by_role("button", name=f"Enable {name}")).to_have_count(1)
    page.get_by_role("button", name="Reset the password of ana").click()
    assert_labelled(page)
    page.get_by_role("button", name="Cancel").click()
    doc_shot(page, "users", show="#main .page > :first-child")
    users = {u["username"]: u for u in server.api("admin").get("/users")["users"]}
    assert users[name]["disabled"] is True

    sam = new_context().new_page()
    sam.goto(f"{server.base}/#/login")
    sam.fill("#login-user", name)
    sam.fill("#login-pass", "sam-second-password")
    sam.click("form.login-card button[type=submit]")
    expect(sam.locator("#login-error")).to_contain_text("disabled")
    # Enabled again: the new password works.
    page.get_by_role("button", name=f"Enable {name}").click()
    expect(row).to_have_attribute("data-disabled", "0")
    sam.fill("#login-pass", "sam-second-password")
    sam.click("form.login-card button[type=submit]")
    sam.wait_for_function("window.__lw && window.__lw.session.me !== null")
    expect(sam.locator("#new-project")).to_have_count(0)
    errors.check(expected=("422",))


def test_an_annotator_cannot_open_the_management_screens(server: DemoServer,
                                                         new_context: Any) -> None:
    pid = settings_project(server, ["cup"], {"ana": "annotator"})
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    expect(page.locator(f"[data-project='{pid}']")).to_have_count(1)
    expect(page.locator("#new-project")).to_have_count(0)
    expect(page.locator("#manage-users")).to_have_count(0)
    expect(page.locator(".settings-link")).to_have_count(0)
    page.goto(f"{server.base}/#/projects/{pid}/settings")
    expect(page.locator("#denied")).to_contain_text("Managers only")
    expect(page.locator("#member-rows")).to_have_count(0)
    page.goto(f"{server.base}/#/users")
    expect(page.locator("#denied")).to_contain_text("Admins only")
    doc_shot(page, "users-admins-only")
    page.goto(f"{server.base}/#/projects/new")
    expect(page.locator("#denied")).to_contain_text("Admins only")
    errors.check()


def test_admin_revokes_a_users_tokens_which_the_api_then_refuses(server: DemoServer,
                                                                 new_context: Any) -> None:
    admin = server.api("admin")
    name = f"tok{uuid.uuid4().hex[:5]}"
    admin.post("/users", {"username": name, "password": "tok-first-password"}, expect=201)
    other = f"tok{uuid.uuid4().hex[:5]}"
    admin.post("/users", {"username": other, "password": "tok-other-password"}, expect=201)

    def token_of(username: str, password: str) -> str:
        r = httpx.post(f"{server.base}/api/v1/auth/login",
                       json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def me(token: str) -> int:
        return httpx.get(f"{server.base}/api/v1/me",
                         headers={"Authorization": f"Bearer {token}"}).status_code

    tokens = [token_of(name, "tok-first-password") for _ in range(2)]
    bystander = token_of(other, "tok-other-password")
    assert [me(t) for t in tokens] == [200, 200]

    page = new_context().new_page()
    asked: list[str] = []

    def answer(dialog: Any) -> None:  # "End every login session...?": first Cancel, then OK
        asked.append(dialog.message)
        if len(asked) == 1:
            dialog.dismiss()
        else:
            dialog.accept()

    page.on("dialog", answer)
    errors = log_in(page, server.base, "admin", then="#/users")
    page.wait_for_selector("#new-user-form")
    revoke = page.get_by_role("button", name=f"Revoke the tokens of {name}")
    revoke.click()
    assert asked == [f"End every login session and API token of {name}?"]
    assert [me(t) for t in tokens] == [200, 200]  # cancelled: nothing revoked
    revoke.click()
    expect(page.locator(".toast").last).to_contain_text(f"2 tokens of {name} revoked")
    expect(page.locator("#users-row-error")).to_be_empty()
    # Both of the user's tokens are refused now; nobody else's, and the user can log in again.
    assert [me(t) for t in tokens] == [401, 401]
    assert me(bystander) == 200
    assert me(token_of(name, "tok-first-password")) == 200
    expect(page.locator(f"#user-rows tr[data-user='{name}']")).to_have_attribute(
        "data-disabled", "0")
    assert admin.get("/me")["username"] == "admin"  # the admin's own session is untouched
    errors.check()
