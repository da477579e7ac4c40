"""Smaller UI defects of issue #12 (item 8), each with a test that failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import DemoServer, doc_shot, expect, log_in, open_image, shot, to_screen

pytestmark = pytest.mark.browser


def test_an_annotator_opening_the_dashboard_by_url_sees_a_managers_only_page(
        server: DemoServer, new_context: Any) -> None:
    pid = server.project_id
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/metrics/" in r.url
            or "/export" in r.url or "/evaluation" in r.url or "/blind_spots" in r.url else None)
    page.goto(f"{server.base}/#/projects/{pid}/dashboard")
    refused = page.locator("#dashboard-refused")
    expect(refused).to_be_visible()
    expect(refused.locator("h1")).to_have_text("Managers only")
    expect(refused).to_contain_text("annotator")
    expect(page.locator("#export, #progress, #acceptance")).to_have_count(0)
    doc_shot(page, "dashboard-managers-only")
    refused.locator("a").click()
    page.wait_for_function(f"location.hash === '#/projects/{pid}'")
    assert asked == []  # the page asked for nothing it would be refused
    errors.check()


def test_history_loads_the_first_snapshot_once(server: DemoServer, new_context: Any) -> None:
    image = server.new_image([{"type": "box", "label": "cup", "score": 0.9,
                               "geometry": {"x": 10, "y": 10, "w": 80, "h": 60}}])
    page = new_context().new_page()
    errors = log_in(page, server.base, "maria")
    # A slow network (as over a VPN): the first snapshot takes longer than the scrubber's
    # debounce, which used to abort it and ask again.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 300, "downloadThroughput": -1, "uploadThroughput": -1})
    snapshots: list[str] = []
    page.on("request", lambda r: snapshots.append(r.url)
            if f"/images/{image['id']}/annotations" in r.url else None)
    page.goto(f"{server.base}/#/images/{image['id']}/history")
    expect(page.locator("#stage")).to_have_attribute("data-version", "2")
    page.wait_for_timeout(1000)  # anything scheduled after the first load has happened by now
    assert len(snapshots) == 1, snapshots
    # Moving the scrubber still loads the version asked for.
    page.locator("#timeline .tl-row").first.click()
    expect(page.locator("#stage")).to_have_attribute("data-version", "1")
    assert len(snapshots) == 2, snapshots
    errors.check()


def test_the_accept_threshold_moves_in_steps_of_0_01_with_a_number_beside_it(
        server: DemoServer, new_context: Any) -> None:
    scores = [0.95, 0.84, 0.83, 0.5]
    iid = server.new_image([{"type": "box", "label": "cup", "score": s,
                             "geometry": {"x": 20 + 150 * i, "y": 40, "w": 100, "h": 80}}
                            for i, s in enumerate(scores)])["id"]
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    slider, number = page.locator("#accept-threshold"), page.locator("#accept-threshold-value")
    expect(slider).to_have_attribute("step", "0.01")
    expect(number).to_have_value("0.80")
    expect(page.locator("#accept-above")).to_have_text("Accept 3 with score ≥ 0.80")
    # Typing 0.84 separates 0.84 from 0.83, which steps of 0.05 could not.
    number.fill("0.84")
    expect(slider).to_have_value("0.84")
    expect(page.locator("#accept-above")).to_have_text("Accept 2 with score ≥ 0.84")
    # The slider's arrow keys move by 0.01 and the number follows.
    slider.focus()
    page.keyboard.press("ArrowRight")
    expect(number).to_have_value("0.85")
    expect(page.locator("#accept-above")).to_have_text("Accept 1 with score ≥ 0.85")
    number.fill("1.5")
    expect(number).to_have_attribute("aria-invalid", "true")
    expect(slider).to_have_value("0.85")
    shot(page, "accept-threshold")
    errors.check()


RECORD_CANVAS_TEXT = """
window.__canvasTexts = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
  window.__canvasTexts.push(String(text));
  return fillText.call(this, text, ...rest);
};
"""


def test_accepted_edited_manual_and_proposed_shapes_look_different(
        server: DemoServer, new_context: Any) -> None:
    image = server.new_image([{"type": "box", "label": label, "score": score,
                               "geometry": {"x": x, "y": 40, "w": 120, "h": 90}}
                              for label, score, x in [("cup", 0.9, 20), ("cat", 0.8, 200),
                                                      ("person", 0.7, 380)]])
    iid = image["id"]
    ana = server.api("ana")
    pre = {a["label"]: a for a in ana.labels(iid)["annotations"]}
    ana.command(iid, {"commands": [
        {"type": "accept", "annotation_id": pre["cup"]["id"], "base_revision": 1},
        {"type": "edit", "annotation_id": pre["cat"]["id"], "base_revision": 1,
         "changes": {"geometry": {"x": 205, "y": 45, "w": 110, "h": 90}}},
        {"type": "create", "annotation": {"type": "box", "label": "coin",
                                          "geometry": {"x": 560, "y": 40, "w": 120, "h": 90}}}]})
    by_label = {a["label"]: a["status"] for a in ana.labels(iid)["annotations"]}
    assert by_label == {"cup": "accepted", "cat": "edited", "person": "proposed",
                        "coin": "manual"}

    context = new_context()
    context.add_init_script(RECORD_CANVAS_TEXT)
    page = context.new_page()
    errors = log_in(page, server.base, "maria")
    open_image(page, server.base, iid)
    page.wait_for_function("window.__canvasTexts.some(t => t.startsWith('coin'))")
    texts = set(page.evaluate("window.__canvasTexts"))
    assert {"✓ cup", "✎ cat", "coin", "person · test-detector 0.70"} <= texts, texts
    styles = page.evaluate("""() => {
        const r = window.__lw.editor.renderer;
        return Object.fromEntries([...r.labels.values()].map(a => [a.status, r.styleOf(a).dashed]));
    }""")
    assert styles == {"accepted": False, "edited": False, "manual": False, "proposed": True}
    shot(page, "shape-styles")
    errors.check()


def test_same_initial_people_get_two_letters_and_their_own_colours(
        server: DemoServer, new_context: Any) -> None:
    iid = server.new_image()["id"]
    ana = new_context().new_page()
    arjun = new_context().new_page()
    errors = log_in(ana, server.base, "ana")
    log_in(arjun, server.base, "arjun")
    open_image(ana, server.base, iid)
    open_image(arjun, server.base, iid)
    ana.wait_for_selector(".people [data-user='arjun']")
    mine = ana.locator(".people .person.me .avatar")
    theirs = ana.locator(".people [data-user='arjun'] .avatar")
    expect(mine).to_have_text("AN")
    expect(theirs).to_have_text("AR")
    colours = [a.evaluate("el => getComputedStyle(el).backgroundColor") for a in (mine, theirs)]
    assert colours[0] != colours[1]
    # The colour comes from the name (the same on every screen): arjun's own chip matches.
    arjun.wait_for_selector(".people [data-user='ana']")
    own = arjun.locator(".people .person.me .avatar")
    expect(own).to_have_text("AR")
    assert own.evaluate("el => getComputedStyle(el).backgroundColor") == colours[1]
    assert ana.evaluate("""async () => {
        const { initialsOf } = await import('/static/' + document.querySelector(
            'script[type=module]').getAttribute('src').split('/static/')[1].replace(
            'js/main.js', 'js/presence.js'));
        return [initialsOf('ana.silva'), initialsOf('Ana Silva'), initialsOf('b'),
                initialsOf('élodie')];
    }""") == ["AS", "AS", "B", "ÉL"]
    shot(ana, "avatars-two-letters")
    errors.check()


SIDE_PANEL_PROBLEMS = """() => {
  const side = document.querySelector('.side');
  const name = (el) => el ? (el.id ? '#' + el.id : el.tagName.toLowerCase()
    + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '')
    + (el.textContent ? ` "${el.textContent.trim().slice(0, 24)}"` : '')) : 'nothing';
  const problems = [];
  if (side.scrollWidth > side.clientWidth + 1) {
    problems.push(`the panel overflows sideways: ${side.scrollWidth} > ${side.clientWidth}`);
  }
  const controls = [...side.querySelectorAll('button, input, select, textarea, a[href]')]
    .filter((el) => el.getClientRects().length && !el.disabled);
  for (const el of controls) {
    el.focus(); // scrolls it into view, as a keyboard user's Tab does
    const r = el.getBoundingClientRect(), s = side.getBoundingClientRect();
    if (r.left < s.left - 1 || r.right > s.right + 1) {
      problems.push(`${name(el)} sticks out of the panel (${r.left}..${r.right})`);
      continue;
    }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    const ok = hit && (hit === el || el.contains(hit)
                       || (hit.tagName === 'LABEL' && hit.control === el));
    if (!ok) problems.push(`${name(el)} is covered by ${name(hit)}`);
  }
  document.activeElement.blur();
  return { problems, checked: controls.length };
}"""


def test_every_side_panel_control_is_reachable_and_uncovered_at_1440x900(
        server: DemoServer, new_context: Any) -> None:
    boxes = [{"type": "box", "label": label, "score": 0.6 + 0.05 * i,
              "geometry": {"x": 20 + 60 * i, "y": 40 + 40 * i, "w": 50, "h": 40}}
             for i, label in enumerate(["cup", "cat", "person", "cup", "flag", "coin"])]
    iid = server.new_image(boxes)["id"]
    ana = server.api("ana")

    page = new_context(viewport={"width": 1440, "height": 900}).new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    first = ana.labels(iid)["annotations"][0]["id"]
    page.evaluate(f"window.__lw.editor.select(['{first}'])")  # the selection panel in full
    expect(page.locator("#selected-label")).to_be_visible()
    found = page.evaluate(SIDE_PANEL_PROBLEMS)
    shot(page, "side-panel-1440x900")
    assert found["checked"] > 15 and found["problems"] == [], found

    # A reviewer's box (comment, approve, reject) on a submitted image, as maria.
    ana.command(iid, {"type": "submit"})
    review = new_context(viewport={"width": 1440, "height": 900}).new_page()
    review_errors = log_in(review, server.base, "maria")
    open_image(review, server.base, iid)
    expect(review.locator("#review-comment")).to_be_visible()
    found = review.evaluate(SIDE_PANEL_PROBLEMS)
    shot(review, "side-panel-review-1440x900")
    assert found["checked"] > 10 and found["problems"] == [], found
    errors.check()
    review_errors.check()


RECORD_TEXT_AT = """
window.__textAt = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, x, y, ...rest) {
  window.__textAt.push([String(text), x, y]);
  return fillText.call(this, text, x, y, ...rest);
};
"""


def test_a_polygons_class_tag_sits_on_its_top_vertex(server: DemoServer,
                                                     new_context: Any) -> None:
    iid = server.new_image()["id"]
    # A slanted triangle: its bounding box's top-left corner (100, 100) is far from any vertex.
    triangle = [[500, 100], [700, 400], [100, 400]]
    server.api("ana").command(iid, {"type": "create", "annotation": {
        "type": "polygon", "label": "flag", "geometry": {"points": triangle}}})
    context = new_context()
    context.add_init_script(RECORD_TEXT_AT)
    page = context.new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    page.wait_for_function("window.__textAt.some(([t]) => t === 'flag')")
    _text, x, y = page.evaluate("window.__textAt.filter(([t]) => t === 'flag').pop()")
    vx, vy = to_screen(page, 500, 100)
    corner_x, _ = to_screen(page, 100, 100)
    # fillText is in CSS pixels of the stage; to_screen in the page's: compare the offsets.
    stage = page.locator("#stage").bounding_box()
    assert abs((stage["x"] + x) - vx) < 80, (x, vx)  # centred on the vertex (tag ~60 px wide)
    assert abs((stage["x"] + x) - corner_x) > 150
    assert abs((stage["y"] + y) - (vy - 14)) < 4
    shot(page, "polygon-tag")
    errors.check()


def test_the_top_bar_stays_when_a_long_screen_is_scrolled_to_its_end(
        server: DemoServer, new_context: Any) -> None:
    """Only a screen's own area scrolls, never the document: a visually hidden label far down
    a long page (a table's "Actions" heading, a colour picker's label) used to stretch the
    document, so scrolling past the page's end (or focusing a field, or a scrollIntoView) moved
    the top bar out of sight and left an empty band below."""
    admin = server.api("admin")
    project = admin.post("/projects", {"name": "long settings",
                                       "classes": [f"class {i}" for i in range(12)]}, expect=201)
    pid = project["id"]
    page = new_context(viewport={"width": 1440, "height": 900}).new_page()
    errors = log_in(page, server.base, "admin")
    for route, ready in ((f"#/projects/{pid}/settings", "#add-member-form"),
                         ("#/users", "#new-user-form"),
                         (f"#/projects/{server.project_id}/dashboard",
                          ".dashboard[data-loaded='true']")):
        page.goto(f"{server.base}/{route}")
        page.wait_for_selector(ready)
        page.mouse.move(720, 500)
        for _ in range(8):
            page.mouse.wheel(0, 1500)
            page.wait_for_timeout(50)
        page.locator("#main input, #main button").last.focus()
        page.wait_for_timeout(300)
        shell = page.evaluate("""() => ({ scroll: document.scrollingElement.scrollTop,
            tall: document.scrollingElement.scrollHeight - innerHeight,
            top: document.getElementById('topbar').getBoundingClientRect().top })""")
        assert shell == {"scroll": 0, "tall": 0, "top": 0}, (route, shell)
    errors.check()
