"""Uploading a folder of images from the project page, in a real browser.

Starts a real ``labelwright serve`` (benchmarks/harness.py), creates a project, writes N JPEG
photographs-like files (plus one text file) into a folder, opens the project page in Debian's
Chromium through Playwright as the admin, gives the folder to the panel's folder picker and
times it to "Upload finished" (every file added). Prints one JSON line: files, bytes, requests,
seconds, files/s and MB/s; then the same bytes posted straight to the API in the same requests
(50 files each), for comparison.

    .venv/bin/python benchmarks/ui_upload.py [--files 500] [--size 1024x768]

Measured (2026-11-30, shared 2-core CPU, Chromium 156 headless): 1,000 JPEGs of 1024x768
(41 MB) from the page in 20 requests: 13.7 s, 73 files/s, 3.0 MB/s, "1000 added · 1 skipped";
the same requests from httpx: 1.4 s (700 files/s). A bare XHR or fetch of 50 files from the page,
without the panel, takes the same 0.3-1.3 s a request here, so the gap is the browser's path to
the server on this machine (Chromium, Playwright and the server share two cores), not the panel.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import emit, request, server
from ui_canvas import CHROMIUM, CHROMIUM_ARGS


def photo_like(seed: int, width: int, height: int) -> bytes:
    rng = random.Random(seed)
    img = Image.new("RGB", (width // 4, height // 4), (rng.randrange(256), 90, 120))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y, r = rng.randrange(img.width), rng.randrange(img.height), rng.randrange(3, 30)
        draw.ellipse([x - r, y - r, x + r, y + r],
                     fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    img = img.filter(ImageFilter.GaussianBlur(1)).resize((width, height), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def project(port: int, token: str, name: str) -> str:
    status, body = request(port, "POST", "/api/v1/projects",
                           {"name": name, "classes": [{"name": "car"}]}, token=token)
    assert status == 201, body
    return str(body["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--size", default="1024x768")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="lw-upload-")) / "photos"
    folder.mkdir()
    for i in range(args.files):
        (folder / f"img-{i:05d}.jpg").write_bytes(photo_like(i, width, height))
    (folder / "README.txt").write_text("not an image\n")
    total = sum(p.stat().st_size for p in folder.glob("*.jpg"))

    with server() as srv:
        port, token = srv["port"], srv["token"]
        base = f"http://127.0.0.1:{port}"
        pid = project(port, token, "ui-upload-bench")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1440, "height": 900},
                                          bypass_csp=True)
            context.request.post(f"{base}/api/v1/auth/login",
                                 data={"username": "admin", "password": "bench-password"})
            page = context.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url)
                    if r.method == "POST" and r.url.endswith(f"/projects/{pid}/images") else None)
            page.goto(f"{base}/#/projects/{pid}")
            page.wait_for_selector("#upload-folder", state="attached")
            start = time.perf_counter()
            page.set_input_files("#upload-folder", str(folder))
            page.wait_for_function("document.getElementById('upload-live').textContent"
                                   ".startsWith('Upload finished')", timeout=600_000)
            seconds = time.perf_counter() - start
            counts = page.inner_text("#upload-counts")
            browser.close()
        emit(bench="ui_upload.folder", files=args.files, size=args.size, bytes=total,
             requests=len(requests), result=counts, seconds=round(seconds, 2),
             files_per_s=round(args.files / seconds, 1),
             mb_per_s=round(total / seconds / 1e6, 1))

        # The same bytes straight to the API, 50 files a request (what the page sends).
        pid = project(port, token, "api-upload-bench")
        paths = sorted(folder.glob("*.jpg"))
        client = httpx.Client(base_url=f"{base}/api/v1", timeout=600,
                              headers={"Authorization": f"Bearer {token}"})
        start = time.perf_counter()
        for i in range(0, len(paths), 50):
            r = client.post(f"/projects/{pid}/images", files=[
                ("file", (p.name, p.read_bytes(), "image/jpeg")) for p in paths[i:i + 50]])
            assert r.status_code == 201, r.text
        seconds = time.perf_counter() - start
        emit(bench="ui_upload.api_direct", files=args.files, bytes=total,
             seconds=round(seconds, 2), files_per_s=round(args.files / seconds, 1),
             mb_per_s=round(total / seconds / 1e6, 1))


if __name__ == "__main__":
    main()
