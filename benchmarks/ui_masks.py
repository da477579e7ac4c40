"""The annotation canvas with masks: 200 masks on a 4K image (3840x2160), in a real browser.

Starts a real ``labelwright serve`` (benchmarks/harness.py), creates one 4K image with N masks
(ellipses and blobs of 40 to 500 px, COCO RLE, half of them overlapping others) over the API,
opens it in Debian's Chromium through Playwright (``--disable-gpu``, frame rate uncapped) and
measures, with the same probes as benchmarks/ui_canvas.py:

- ``load``: navigation start to the first frame with the image and all N masks;
- ``pan_zoom_scripted``: wheel-zoom in and out, then drag-pan, one in-page input event per
  animation frame: our drawing work per frame (a pixel read back, so rasterising is included)
  and the intervals between frames;
- ``brush``: a brush stroke on a mask (pointer events in the page), from pointer-up to the
  frame that shows the edited mask, and to the server's confirmation.

Prints one JSON line per measurement. Target (issue #10): smooth, i.e. median frame <= 16 ms.

    .venv/bin/python benchmarks/ui_masks.py [--masks 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import emit, request, server
from ui_canvas import CHROMIUM, CHROMIUM_ARGS, UNCAPPED, measure_load, measure_scripted, summary

from domain import rle

CLASSES = ["car", "person", "bicycle", "dog", "sign", "light", "bus", "truck"]
WIDTH, HEIGHT = 3840, 2160


def photo_like(seed: int) -> bytes:
    rng = random.Random(seed)
    img = Image.new("RGB", (WIDTH // 4, HEIGHT // 4))
    draw = ImageDraw.Draw(img)
    for y in range(img.height):
        draw.line([(0, y), (img.width, y)], fill=(50 + y // 4, 60 + y // 6, 100 + y // 8))
    for _ in range(160):
        x, y, r = rng.randrange(img.width), rng.randrange(img.height), rng.randrange(4, 40)
        draw.ellipse([x - r, y - r, x + r, y + r],
                     fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    img = img.filter(ImageFilter.GaussianBlur(2)).resize((WIDTH, HEIGHT), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def random_masks(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` masks: ellipses, some with a second lobe, 40-500 px across."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w, h = rng.randint(40, 500), rng.randint(40, 400)
        x, y = rng.randint(0, WIDTH - w - 1), rng.randint(0, HEIGHT - h - 1)
        canvas = Image.new("L", (WIDTH, HEIGHT), 0)
        draw = ImageDraw.Draw(canvas)
        draw.ellipse([x, y, x + w, y + h], fill=1)
        if rng.random() < 0.5:
            draw.ellipse([x + w // 3, y + h // 3, x + w, y + h], fill=1)
        out.append({"rle": rle.encode(np.asarray(canvas))})
    return out


def seed_image(port: int, token: str, masks: int) -> dict[str, Any]:
    status, project = request(port, "POST", "/api/v1/projects",
                              {"name": "ui-masks-bench", "classes": [{"name": c} for c in CLASSES]},
                              token)
    assert status == 201, project
    pid = project["id"]
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big4k.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
    body = head.encode() + photo_like(1) + f"\r\n--{boundary}--\r\n".encode()
    status, out = request(port, "POST", f"/api/v1/projects/{pid}/images", raw=body, token=token,
                          content_type=f"multipart/form-data; boundary={boundary}")
    assert status == 201, out
    iid = out["images"][0]["id"]
    t = time.perf_counter()
    geometries = random_masks(masks, 2)
    for start in range(0, masks, 50):
        cmds = [{"type": "create", "annotation": {"type": "mask",
                                                  "label": CLASSES[i % len(CLASSES)],
                                                  "geometry": g}}
                for i, g in enumerate(geometries[start:start + 50], start)]
        status, res = request(port, "POST", f"/api/v1/images/{iid}/commands", {"commands": cmds},
                              token)
        assert status == 200, res
    seed_s = time.perf_counter() - t
    status, labels = request(port, "GET", f"/api/v1/images/{iid}/annotations?min_position="
                             f"{res['position']}", token=token)
    assert status == 200 and len(labels["annotations"]) == masks, labels
    return {"project_id": pid, "image_id": iid, "seed_seconds": seed_s}


BRUSH_STROKE = """
async () => {
  // Select the largest mask, take the brush, paint a stroke across its middle (pointer events
  // in the page), and time pointer-up -> the frame showing the edit -> the server's event.
  const ed = window.__lw.editor;
  const stage = document.getElementById('stage');
  const masks = [...ed.labels.values()].filter((a) => a.type === 'mask');
  const ann = masks.reduce((a, b) => (ed.masks.mask(a).area > ed.masks.mask(b).area ? a : b));
  ed.select([ann.id]);
  ed.setTool('brush');
  const m = ed.masks.mask(ann);
  const r = stage.getBoundingClientRect();
  const at = (x, y) => {
    const [sx, sy] = ed.renderer.viewport.toScreen(x, y);
    return { clientX: r.left + sx, clientY: r.top + sy };
  };
  const send = (type, init) =>
    stage.dispatchEvent(new PointerEvent(type, { ...init, bubbles: true }));
  const frame = () => new Promise((res) => requestAnimationFrame(res));
  const y = m.y + m.h / 2;
  send('pointerdown', { ...at(m.x, y), button: 0, buttons: 1 });
  for (let k = 1; k <= 20; k++) {
    send('pointermove', { ...at(m.x + (m.w * k) / 20, y + 30), buttons: 1 });
    await frame();
  }
  const before = ed.labels.get(ann.id).revision;
  const t0 = performance.now();
  send('pointerup', { ...at(m.x + m.w, y + 30), button: 0 });
  let drawn = null;
  await new Promise((res) => {
    const onFrame = (e) => {
      if (!e.detail.labels) return;
      stage.removeEventListener('frame', onFrame);
      drawn = performance.now() - t0;
      res();
    };
    stage.addEventListener('frame', onFrame);
  });
  for (;;) {
    if (!ed.labels.pending.length && ed.labels.get(ann.id).revision > before) break;
    await frame();
  }
  const confirmed = performance.now() - t0;
  ed.setTool('select');
  return { drawn, confirmed };
}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masks", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--strokes", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with server() as srv:
        port, token = srv["port"], srv["token"]
        seeded = seed_image(port, token, args.masks)
        emit(bench="ui_masks.seed", masks=args.masks, image=f"{WIDTH}x{HEIGHT}",
             seconds=round(seeded["seed_seconds"], 2))
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/#/images/{seeded['image_id']}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS + UNCAPPED)
            context = browser.new_context(viewport={"width": 1600, "height": 1000},
                                          bypass_csp=True)
            context.request.post(f"{base}/api/v1/auth/login",
                                 data={"username": "admin", "password": "bench-password"})
            loads = []
            for _ in range(args.runs):
                page = context.new_page()
                loads.append(measure_load(page, url, args.masks))
                page.close()
            emit(bench="ui_masks.load", masks=args.masks, ms=[round(v, 1) for v in loads],
                 median_ms=round(statistics.median(loads), 1),
                 what="page load to the first frame with the image and all masks",
                 browser=browser.version)
            page = context.new_page()
            measure_load(page, url, args.masks)
            page.wait_for_function("window.__lw.socket && window.__lw.socket.online")
            # Read a pixel back after each layer: the time then includes rasterising it.
            page.evaluate("window.__lwPerf.sync = true")
            runs = []
            for _ in range(args.runs):
                run = measure_scripted(page)
                # The split of a frame's work: the photo, and the labels layer with the masks.
                frames = page.evaluate("window.__lwPerf.frames.filter(f => f.labels)")
                run["image_ms"] = summary([f["image_ms"] for f in frames])
                run["masks_layer_ms"] = summary([f["labels_ms"] for f in frames])
                runs.append(run)
            emit(bench="ui_masks.pan_zoom_scripted", masks=args.masks, target_median_ms=16,
                 driver="in-page events, one per animation frame, frame rate uncapped",
                 runs=runs)
            page.evaluate("window.__lwPerf.sync = true")
            strokes = [page.evaluate(BRUSH_STROKE) for _ in range(args.strokes)]
            emit(bench="ui_masks.brush_stroke", masks=args.masks,
                 stroke_to_drawn_ms=summary([s["drawn"] for s in strokes]),
                 stroke_to_confirmed_ms=summary([s["confirmed"] for s in strokes]))
            browser.close()


if __name__ == "__main__":
    main()
