"""What the browser tests share: the demo server, the API as a user, pages and screenshots."""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "labelwright"
CHROMIUM = os.environ.get("LABELWRIGHT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DOC_SHOTS = ROOT / "docs" / "screenshots"
DOC_VIEWPORT = {"width": 1440, "height": 900}
PASSWORDS = {"admin": "admin-demo-pw", "maria": "maria-demo-pw", "ana": "ana-demo-pw",
             "arjun": "arjun-demo-pw", "rui": "rui-demo-pw"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_demo(data: Path, port: int, timeout: float = 120) -> subprocess.Popen[bytes]:
    """``labelwright demo`` on ``port`` with its store in ``data`` (log: ``data/server.log``,
    appended), once it answers ``/readyz``. Started again on the same data dir and port it is
    the same server to a browser (same origin, same data): how a test stops and restarts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    with open(data / "server.log", "ab") as log:
        proc = subprocess.Popen([str(BIN), "demo", "--data-dir", str(data / "store"),
                                 "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc
        if proc.poll() is not None or time.time() > deadline:
            stop_demo(proc)
            raise RuntimeError("labelwright demo did not start:\n"
                               + (data / "server.log").read_text())
        time.sleep(0.3)


def stop_demo(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server ``start_demo`` started (its whole process group), and wait for it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class Api:
    """The HTTP API as one user (bearer token)."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.username = username
        r = httpx.post(f"{base}/api/v1/auth/login",
                       json={"username": username, "password": PASSWORDS[username]})
        r.raise_for_status()
        self.client = httpx.Client(base_url=f"{base}/api/v1", timeout=30,
                                   headers={"Authorization": f"Bearer {r.json()['token']}"})

    def get(self, path: str, **params: Any) -> Any:
        """A read, once every read model has caught up with the log (what the browser just
        did is committed, but the projections answering reads may lag a moment)."""
        if path != "/projections":
            self.settled()
        for attempt in range(3):  # a read is safe to resend after the keep-alive race
            try:
                r = self.client.get(path, params=params)
                break
            except (httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError):
                if attempt == 2:
                    raise
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def post(self, path: str, body: Any, expect: int = 200, *, retry: bool = False) -> Any:
        """A write. With ``retry`` (only for bodies that carry a ``command_id``, so a repeat is
        answered from the first result, never applied twice) a request lost to the keep-alive
        race (the server closing an idle connection as the client reuses it) is sent again."""
        for attempt in range(3 if retry else 1):
            try:
                r = self.client.post(path, json=body)
                break
            except (httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError):
                if attempt == (2 if retry else 0):
                    raise
        assert r.status_code == expect, (path, r.status_code, r.text)
        return r.json()

    def command(self, image_id: str, body: Any) -> Any:
        if "commands" in body:  # a batch: each command carries its own id
            body = {**body, "commands": [{"command_id": str(uuid.uuid4()), **c}
                                         for c in body["commands"]]}
        else:
            body = {"command_id": str(uuid.uuid4()), **body}
        return self.post(f"/images/{image_id}/commands", body, retry=True)

    def labels(self, image_id: str, **params: Any) -> Any:
        return self.get(f"/images/{image_id}/annotations", **params)

    def settled(self) -> int:
        """Wait until every read model has caught up; the head position."""
        for _ in range(300):
            status = self.get("/projections")
            if all(p["lag"] == 0 for p in status["projections"]):
                return int(status["head"])
            time.sleep(0.05)
        raise AssertionError(f"read models did not catch up: {status}")


def sample_png(seed: int, size: tuple[int, int] = (800, 600)) -> bytes:
    """A PNG with a few coloured shapes, distinct per seed (so each is a new image)."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, (rng.randrange(40, 90), rng.randrange(60, 110), 120))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rng.randrange(size[0] - 60), rng.randrange(size[1] - 60)
        draw.rectangle([x, y, x + rng.randrange(20, 160), y + rng.randrange(20, 120)],
                       fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class DemoServer:
    base: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    project_id: str = ""
    apis: dict[str, Api] = field(default_factory=dict)

    def api(self, username: str) -> Api:
        if username not in self.apis:
            self.apis[username] = Api(self.base, username)
        return self.apis[username]

    def new_image(self, prelabels: list[dict[str, Any]] | None = None,
                  size: tuple[int, int] = (800, 600)) -> dict[str, Any]:
        """A fresh image in the demo project (uploaded by admin), with optional pre-labels."""
        admin = self.api("admin")
        r = admin.client.post(f"/projects/{self.project_id}/images", files={
            "file": (f"t-{uuid.uuid4().hex[:8]}.png", sample_png(uuid.uuid4().int, size),
                     "image/png")})
        assert r.status_code == 201, r.text
        image = r.json()["images"][0]
        if prelabels:
            self.api("maria").post(f"/projects/{self.project_id}/predictions", {
                "model": {"name": "test-detector", "version": "7"},
                "predictions": [{"image_id": image["id"], "annotations": prelabels}]})
        admin.settled()
        return image


class PageErrors:
    """Uncaught errors and console errors of a page (a test fails on any unexpected one)."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: self.errors.append(f"console: {m.text}")
                if m.type == "error" and "401" not in m.text and "409" not in m.text else None)

    def check(self, expected: tuple[str, ...] = ()) -> None:
        """No errors, except ones containing an ``expected`` text."""
        unexpected = [e for e in self.errors if not any(x in e for x in expected)]
        assert not unexpected, unexpected


def log_in(page: Any, base: str, username: str, then: str = "#/projects",
           screenshot: str | None = None) -> PageErrors:
    errors = PageErrors(page)
    page.goto(f"{base}/#/login?next={then.replace('#', '%23')}")
    page.wait_for_selector("#login-user")
    if screenshot:
        shot(page, screenshot)
    page.fill("#login-user", username)
    page.fill("#login-pass", PASSWORDS[username])
    page.click("form.login-card button[type=submit]")
    page.wait_for_function("window.__lw && window.__lw.session.me !== null")
    page.wait_for_function("location.hash !== '' && !location.hash.startsWith('#/login')")
    return errors


def expect(target: Any) -> Any:
    """Playwright's retrying assertions (``to_have_text``, ``to_have_value``,
    ``to_have_count``...) with the tests' 15 s timeout. Assert the state the page is to reach
    this way, never with one read of the DOM (``inner_text()``, ``input_value()``,
    ``count()``): the UI renders a frame after its model changes, so a single read right after
    an action may see the frame before (the flake of test_labeling's sidebar)."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=15_000)
    return playwright_expect(target)


def open_image(page: Any, base: str, image_id: str) -> None:
    page.goto(f"{base}/#/images/{image_id}")
    page.wait_for_function(f"window.__lw.editor && window.__lw.editor.imageId === '{image_id}'"
                           " && window.__lw.editor.renderer.imageShown")
    wait_live(page)


def wait_live(page: Any) -> None:
    page.wait_for_function("window.__lw.socket && window.__lw.socket.online")


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def doc_shot(page: Any, name: str, show: str | None = None) -> Path | None:
    """The usual screenshot in test-artifacts, and, only with LABELWRIGHT_UPDATE_DOCS_SCREENSHOTS
    set, ``docs/screenshots/<name>.png`` for docs/ui.md: a 1440x900 viewport at CSS scale (a
    taller page is resized for the shot and back), scrolled to ``show`` when given, toasts
    cleared, saved as an optimised 256-colour PNG to keep the repository small."""
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    shot(page, name)
    if not os.environ.get("LABELWRIGHT_UPDATE_DOCS_SCREENSHOTS"):
        return None
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    path = DOC_SHOTS / f"{name}.png"
    before = page.viewport_size
    if before != DOC_VIEWPORT:
        page.set_viewport_size(DOC_VIEWPORT)
    try:
        if show:
            page.locator(show).first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)  # a resized canvas redraws in its next frame
        png = page.screenshot(scale="css")
    finally:
        if before and before != DOC_VIEWPORT:
            page.set_viewport_size(before)
    picture = Image.open(io.BytesIO(png)).convert("RGB")
    picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


def to_screen(page: Any, x: float, y: float) -> tuple[float, float]:
    """Image pixel (x, y) → page coordinates of the annotation stage."""
    sx, sy = page.evaluate("([x, y]) => window.__lw.editor.renderer.viewport.toScreen(x, y)",
                           [x, y])
    box = page.locator("#stage").bounding_box()
    return box["x"] + sx, box["y"] + sy


def drag(page: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 8
         ) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def pending_settled(page: Any) -> None:
    """Every command of this page reached the server and came back confirmed."""
    page.wait_for_function("window.__lw.outbox.size === 0 && (!window.__lw.editor"
                           " || window.__lw.editor.labels.pending.length === 0)")


def start_job(page: Any) -> Any:
    """Click "Run" and return the row of the job that click queued (other tests' jobs on the
    shared demo project may appear in the table meanwhile and reorder it)."""
    rows = page.locator("#job-table tr.job-row")
    before = set(rows.evaluate_all("rs => rs.map(r => r.dataset.job)"))
    page.click("#run-start")
    page.wait_for_function(
        "before => [...document.querySelectorAll('#job-table tr.job-row')]"
        ".some(r => !before.includes(r.dataset.job))", arg=sorted(before))
    new = [j for j in rows.evaluate_all("rs => rs.map(r => r.dataset.job)") if j not in before]
    return page.locator(f"#job-table tr.job-row[data-job='{new[0]}']")

