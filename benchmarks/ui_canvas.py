"""The annotation canvas in a real browser: an image with 5,000 boxes.

Starts a real ``labelwright serve`` (benchmarks/harness.py), creates one large image with N
boxes over the API (half drawn by a person, half pre-labels of a model, so both the solid and
the dashed style are drawn), opens it in Debian's Chromium through Playwright and measures:

- ``load``: from navigation start to the end of the first frame that shows the image with all
  N boxes (module loading, the API calls, decoding, indexing and drawing included);
- ``pan_zoom``: frames while wheel-zooming and drag-panning: the time to draw the base layer
  (with a pixel read back after each frame, so rasterising is inside the measurement) and the
  intervals between animation frames;
- ``edit``: from the key press (ArrowRight on a selected box: an ``edit`` command) to the end
  of the frame that shows the moved box, and to the server's confirmation.

Prints one JSON line per measurement. Targets (docs/ui.md): load <= 1 s, median frame time
<= 16 ms, edit visible <= 50 ms.

    .venv/bin/python benchmarks/ui_canvas.py [--boxes 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import emit, request, server

CHROMIUM = os.environ.get("LABELWRIGHT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Frame rate uncapped: an interval between animation frames then says what a frame costs,
# instead of always saying "one display refresh".
UNCAPPED = ["--disable-gpu-vsync", "--disable-frame-rate-limit"]
CLASSES = ["car", "person", "bicycle", "dog", "sign", "light", "bus", "truck"]
WIDTH, HEIGHT = 3000, 2000


def photo_like(seed: int) -> bytes:
    """A large synthetic photo (JPEG, as camera images are), so the canvas has pixels to draw."""
    rng = random.Random(seed)
    img = Image.new("RGB", (WIDTH // 4, HEIGHT // 4))
    draw = ImageDraw.Draw(img)
    for y in range(img.height):
        draw.line([(0, y), (img.width, y)], fill=(40 + y // 4, 70 + y // 6, 110 + y // 8))
    for _ in range(120):
        x, y = rng.randrange(img.width), rng.randrange(img.height)
        r = rng.randrange(4, 40)
        draw.ellipse([x - r, y - r, x + r, y + r],
                     fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    img = img.filter(ImageFilter.GaussianBlur(2)).resize((WIDTH, HEIGHT), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def random_boxes(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w, h = rng.uniform(12, 110), rng.uniform(12, 110)
        out.append({"x": round(rng.uniform(0, WIDTH - w), 1),
                    "y": round(rng.uniform(0, HEIGHT - h), 1), "w": round(w, 1), "h": round(h, 1)})
    return out


def seed_image(port: int, token: str, boxes: int) -> dict[str, Any]:
    status, project = request(port, "POST", "/api/v1/projects",
                              {"name": "ui-bench", "classes": [{"name": c} for c in CLASSES]},
                              token)
    assert status == 201, project
    pid = project["id"]
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
    body = head.encode() + photo_like(1) + f"\r\n--{boundary}--\r\n".encode()
    ctype = f"multipart/form-data; boundary={boundary}"
    status, out = request(port, "POST", f"/api/v1/projects/{pid}/images", raw=body, token=token,
                          content_type=ctype)
    assert status == 201, out
    iid = out["images"][0]["id"]
    geometries = random_boxes(boxes, 2)
    manual, proposed = geometries[: boxes // 2], geometries[boxes // 2:]
    t = time.perf_counter()
    for start in range(0, len(manual), 1000):
        cmds = [{"type": "create", "annotation": {"type": "box", "label": CLASSES[i % len(CLASSES)],
                                                  "geometry": g}}
                for i, g in enumerate(manual[start:start + 1000], start)]
        status, res = request(port, "POST", f"/api/v1/images/{iid}/commands", {"commands": cmds},
                              token)
        assert status == 200, res
    rng = random.Random(3)
    status, res = request(port, "POST", f"/api/v1/projects/{pid}/predictions", {
        "model": {"name": "bench-detector", "version": "1"},
        "predictions": [{"image_id": iid, "annotations": [
            {"type": "box", "label": CLASSES[i % len(CLASSES)], "geometry": g,
             "score": round(rng.uniform(0.05, 0.99), 3)} for i, g in enumerate(proposed)]}]},
        token)
    assert status == 200, res
    seed_s = time.perf_counter() - t
    # Measure the steady state: every read model has caught up with the seeding.
    for _ in range(600):
        _, status_body = request(port, "GET", "/api/v1/projections", token=token)
        if all(p["lag"] == 0 for p in status_body["projections"]):
            break
        time.sleep(0.1)
    status, labels = request(port, "GET", f"/api/v1/images/{iid}/annotations?min_position="
                             f"{res['position']}", token=token)
    assert status == 200 and len(labels["annotations"]) == boxes, labels
    return {"project_id": pid, "image_id": iid, "seed_seconds": seed_s}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "median": round(statistics.median(values), 2),
            "p95": round(pct(values, 0.95), 2), "max": round(max(values), 2)}


def measure_load(page: Any, url: str, boxes: int) -> float:
    page.goto(url)
    page.wait_for_function(
        f"(window.__lwPerf?.frames || []).some(f => f.hasImage && f.visible >= {boxes})",
        timeout=30000)
    return float(page.evaluate(
        f"window.__lwPerf.frames.find(f => f.hasImage && f.visible >= {boxes}).end"))


def measure_pan_zoom(page: Any) -> dict[str, Any]:
    box = page.locator("#stage").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate("window.__lwPerf.sync = true; window.__lwPerf.frames.length = 0")
    page.mouse.move(cx, cy)
    for step in range(60):  # zoom in, then back out
        page.mouse.wheel(0, -120 if step < 30 else 120)
        page.wait_for_timeout(16)
    page.mouse.move(cx - 200, cy - 100)
    page.mouse.down(button="right")  # right-drag pans with any tool
    for step in range(60):
        page.mouse.move(cx - 200 + step * 6, cy - 100 + step * 3)
        page.wait_for_timeout(16)
    page.mouse.up(button="right")
    page.wait_for_timeout(100)
    frames = page.evaluate("window.__lwPerf.frames.filter(f => f.labels)")
    page.evaluate("window.__lwPerf.sync = false")
    draws = [f["image_ms"] + f["labels_ms"] + f["overlay_ms"] for f in frames]
    intervals = [b["t"] - a["t"] for a, b in itertools.pairwise(frames)
                 if 0 < b["t"] - a["t"] < 200]
    visible = [f["visible"] for f in frames]
    return {"frame_draw_ms": summary(draws),
            "frame_interval_ms": summary(intervals) if intervals else None,
            "visible_boxes": {"min": min(visible), "max": max(visible)}}


SCRIPTED_GESTURE = """
async (n) => {
  // Wheel-zoom (in, then out) and then drag-pan, one input event per animation frame,
  // dispatched in the page so that the intervals measure the frames, not the driver.
  const target = document.querySelector('#stage');
  const r = target.getBoundingClientRect();
  const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
  const intervals = [];
  let last = null;
  let i = 0;
  await new Promise((resolve) => {
    const step = (t) => {
      if (last !== null) intervals.push(t - last);
      last = t;
      if (i >= 2 * n) {
        target.dispatchEvent(new PointerEvent('pointerup',
          { clientX: cx, clientY: cy, button: 2, bubbles: true }));
        resolve();
        return;
      }
      if (i < n) {
        const delta = i < n / 2 ? -40 : 40;
        target.dispatchEvent(new WheelEvent('wheel', { deltaY: delta, clientX: cx + (i % 9) * 8,
          clientY: cy, bubbles: true, cancelable: true }));
      } else if (i === n) {
        target.dispatchEvent(new PointerEvent('pointerdown',
          { clientX: cx, clientY: cy, button: 2, buttons: 2, bubbles: true }));
      } else {
        const k = i - n;
        target.dispatchEvent(new PointerEvent('pointermove',
          { clientX: cx + 4 * k, clientY: cy + 2 * k, buttons: 2, bubbles: true }));
      }
      i += 1;
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
  return intervals;
}
"""


def measure_scripted(page: Any, n: int = 120) -> dict[str, Any]:
    page.evaluate("window.__lw.editor.fit()")  # every run starts from the whole image in view
    page.wait_for_timeout(300)
    page.evaluate("window.__lwPerf.frames.length = 0")
    intervals = page.evaluate(SCRIPTED_GESTURE, n)
    frames = page.evaluate("window.__lwPerf.frames.filter(f => f.labels)")
    work = [f["image_ms"] + f["labels_ms"] + f["overlay_ms"] for f in frames]
    return {"frame_interval_ms": summary(intervals[1:]), "frame_js_ms": summary(work),
            "frames_drawn": len(frames)}


def measure_navigation(page: Any, base: str, project_id: str, image_id: str, boxes: int) -> float:
    """In the app: from the work queue to the image (no page load, no module loading)."""
    page.goto(f"{base}/#/projects/{project_id}")
    page.wait_for_selector(".image-card")
    return float(page.evaluate("""async ([id, boxes]) => {
      const start = performance.now();
      const from = window.__lwPerf ? window.__lwPerf.frames.length : 0;
      location.hash = `#/images/${id}`;
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        const f = (window.__lwPerf?.frames || []).slice(from)
          .find((x) => x.hasImage && x.visible >= boxes);
        if (f) return f.end - start;
      }
    }""", [image_id, boxes]))


EDIT_PROBE = """
() => {
  window.__edits = [];
  const stage = document.getElementById('stage');
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight') return;
    const t0 = e.timeStamp;
    const rec = { drawn: null, confirmed: null };
    window.__edits.push(rec);
    const onFrame = (ev) => {
      if (!ev.detail.labels) return;
      stage.removeEventListener('frame', onFrame);
      rec.drawn = performance.now() - t0;
    };
    stage.addEventListener('frame', onFrame);
    const labels = window.__lw.editor.labels;
    const onPending = () => {
      if (labels.pending.length) return;
      labels.removeEventListener('pending', onPending);
      rec.confirmed = performance.now() - t0;
    };
    labels.addEventListener('pending', onPending);
  }, true);
}
"""


def measure_edits(page: Any, count: int) -> dict[str, Any]:
    page.evaluate("window.__lwPerf.sync = true")
    page.evaluate(EDIT_PROBE)
    page.evaluate("""() => {
      const ed = window.__lw.editor;
      const id = [...ed.labels.values()].find(a => a.type === 'box' && a.status === 'manual').id;
      ed.select([id]); ed.reveal(id);
    }""")
    page.locator("#stage").focus()
    for _ in range(count):
        page.keyboard.press("ArrowRight")
        page.wait_for_function("window.__edits.at(-1).confirmed !== null", timeout=10000)
    edits = page.evaluate("window.__edits")
    page.evaluate("window.__lwPerf.sync = false")
    return {"edit_to_drawn_ms": summary([e["drawn"] for e in edits]),
            "edit_to_confirmed_ms": summary([e["confirmed"] for e in edits])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3, help="page loads to time")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--headed", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with server() as srv:
        port, token = srv["port"], srv["token"]
        seeded = seed_image(port, token, args.boxes)
        emit(bench="ui_canvas.seed", boxes=args.boxes, image=f"{WIDTH}x{HEIGHT}",
             seconds=round(seeded["seed_seconds"], 2))
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/#/images/{seeded['image_id']}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=not args.headed,
                                         args=CHROMIUM_ARGS + UNCAPPED)
            context = browser.new_context(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
            context.request.post(f"{base}/api/v1/auth/login",
                                 data={"username": "admin", "password": "bench-password"})
            loads = []
            for _ in range(args.runs):
                page = context.new_page()
                loads.append(measure_load(page, url, args.boxes))
                page.close()
            emit(bench="ui_canvas.load", boxes=args.boxes, ms=[round(v, 1) for v in loads],
                 median_ms=round(statistics.median(loads), 1), target_ms=1000,
                 what="page load to the first frame with the image and all boxes "
                      "(the first run with an empty browser cache)",
                 browser=browser.version)
            page = context.new_page()
            navs = [measure_navigation(page, base, seeded["project_id"], seeded["image_id"],
                                       args.boxes) for _ in range(args.runs)]
            emit(bench="ui_canvas.open_from_queue", boxes=args.boxes,
                 ms=[round(v, 1) for v in navs], median_ms=round(statistics.median(navs), 1),
                 target_ms=1000, what="in-app navigation from the work queue to the image")
            emit(bench="ui_canvas.pan_zoom", boxes=args.boxes, target_median_ms=16,
                 driver="playwright mouse (input paced by the driver)",
                 **measure_pan_zoom(page))
            emit(bench="ui_canvas.pan_zoom_scripted", boxes=args.boxes, target_median_ms=16,
                 driver="in-page events, one per animation frame, frame rate uncapped",
                 **measure_scripted(page))
            emit(bench="ui_canvas.edit", boxes=args.boxes, target_ms=50,
                 **measure_edits(page, args.edits))
            browser.close()


if __name__ == "__main__":
    main()
