"""What the service worker (web/static/sw.js) costs and gives: page loads of the annotation
screen with it and without it, and a reload while offline.

Starts a real ``labelwright serve`` (benchmarks/harness.py), uploads one image with a few
pre-labels, and opens it in Debian's Chromium through Playwright in two browser contexts: one
with service workers allowed (after a first load that installs the worker), one with them
blocked. Loads alternate between the two, so a machine busy with other work slows both alike.

- ``load``: from navigation start to the annotation screen showing the image (``performance.now()``
  when ``renderer.imageShown`` is first true), per mode;
- ``offline_reload``: the same, for a reload with the context offline (only the worker's mode
  can do it: without it the reload fails with ERR_INTERNET_DISCONNECTED).

Prints one JSON line per measurement.

    .venv/bin/python benchmarks/ui_offline_shell.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import emit, seed_project, server

CHROMIUM = os.environ.get("LABELWRIGHT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOWN = ("window.__lw && window.__lw.editor && window.__lw.editor.renderer.imageShown"
         " && (window.__shownAt = window.__shownAt || performance.now())")


def shown_ms(page: Any) -> float:
    page.wait_for_function(SHOWN, timeout=30000, polling=5)
    return float(page.evaluate("window.__shownAt"))


def load(context: Any, url: str) -> float:
    page = context.new_page()
    try:
        page.goto(url)
        return shown_ms(page)
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="page loads per mode")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with server() as srv:
        port, token = srv["port"], srv["token"]
        seeded = seed_project(port, token, images=1)
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/#/images/{seeded['image_ids'][0]}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
            contexts = {}
            for mode in ("allow", "block"):
                ctx = browser.new_context(viewport={"width": 1440, "height": 900},
                                          bypass_csp=True, service_workers=mode)
                ctx.request.post(f"{base}/api/v1/auth/login",
                                 data={"username": "admin", "password": "bench-password"})
                contexts[mode] = ctx
            # First loads: the browser's HTTP cache filled in both, the worker installed in one.
            page = contexts["allow"].new_page()
            page.goto(url)
            page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30000)
            shown_ms(page)
            page.close()
            load(contexts["block"], url)

            loads: dict[str, list[float]] = {"allow": [], "block": []}
            for _ in range(args.runs):
                for mode in ("block", "allow"):
                    loads[mode].append(load(contexts[mode], url))
            for mode, values in loads.items():
                emit(bench="ui_offline_shell.load", service_worker=mode == "allow",
                     ms=[round(v, 1) for v in values],
                     median_ms=round(statistics.median(values), 1),
                     what="navigation start to the annotation screen showing the image")

            offline = []
            ctx = contexts["allow"]
            for _ in range(args.runs):
                page = ctx.new_page()
                page.goto(url)
                shown_ms(page)
                ctx.set_offline(True)
                page.reload()
                offline.append(shown_ms(page))
                ctx.set_offline(False)
                page.close()
            emit(bench="ui_offline_shell.offline_reload", ms=[round(v, 1) for v in offline],
                 median_ms=round(statistics.median(offline), 1),
                 what="reload while offline to the annotation screen showing the image "
                      "(without the worker the reload fails)")
            browser.close()


if __name__ == "__main__":
    main()
