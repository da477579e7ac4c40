"""Reloading the app while offline (issue 12): the service worker (/sw.js) serves the app shell
from its release's cache, the annotation screen comes back with the offline banner and the work
queued in this tab, and once online the queue is sent, once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import (
    DemoServer,
    doc_shot,
    drag,
    expect,
    log_in,
    open_image,
    pending_settled,
    to_screen,
    wait_live,
)

pytestmark = pytest.mark.browser

SHOWN = "window.__lw.editor && window.__lw.editor.imageId === '{}'"


def test_the_annotation_screen_reloads_offline_with_its_queued_work(server: DemoServer,
                                                                    new_context: Any) -> None:
    iid = server.new_image()["id"]
    context = new_context()
    page = context.new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    release = page.evaluate("document.querySelector('script[type=module]').src"
                            ".match(/~([0-9a-f]+)\\//)[1]")
    cached = page.evaluate("""async () => { const names = await caches.keys(); const urls = [];
        for (const n of names) for (const r of await (await caches.open(n)).keys()) {
          urls.push(r.url); }
        return {names, urls}; }""")
    assert cached["names"] == [f"labelwright-shell-{release}"]
    assert f"{server.base}/" in cached["urls"]
    assert f"{server.base}/static/~{release}/js/main.js" in cached["urls"]
    assert not [u for u in cached["urls"] if "/api/" in u]  # no API answer, image or login

    context.set_offline(True)
    page.wait_for_selector("#conn[data-state='offline']")
    page.keyboard.press("b")
    drag(page, to_screen(page, 100, 60), to_screen(page, 250, 200))
    made = page.evaluate("window.__lw.outbox.entries.map(e => e.body.annotation.id)")
    assert len(made) == 1

    page.reload()
    page.wait_for_function(SHOWN.format(iid))
    banner = page.locator("#offline-banner")
    expect(banner).to_be_visible()
    expect(banner).to_have_text("Offline: 1 change kept in this browser, sent when the connection"
                                " is back.")
    expect(page.locator("#conn .conn-text")).to_have_text("Offline · 1 change queued")
    page.wait_for_function("window.__lw.editor.renderer.imageShown")  # from the HTTP cache
    shown = page.evaluate("[...window.__lw.editor.labels.values()].filter(a => a.pending)"
                          ".map(a => a.id)")
    assert shown == made
    assert server.api("admin").labels(iid)["annotations"] == []
    doc_shot(page, "offline-banner")

    context.set_offline(False)
    wait_live(page)
    pending_settled(page)
    expect(banner).to_be_hidden()
    labels = server.api("admin").labels(iid)["annotations"]
    assert [a["id"] for a in labels] == made
    history = server.api("admin").get(f"/images/{iid}/history")["events"]
    assert [e["type"] for e in history] == ["ImageAdded", "AnnotationCreated"]
    errors.check(expected=("net::ERR_INTERNET_DISCONNECTED", "Failed to load resource"))
