"""``/sw.js``: the service worker of the current release, with the app shell's URLs written in;
a deploy (any static file changed) names a new cache; nothing of the API is in its shell."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.testclient import TestClient

from web.endpoints import ui


def shell_of(body: str) -> list[str]:
    found = re.search(r"const SHELL = (\[.*?\]);", body)
    assert found, body
    return list(json.loads(found.group(1)))


def test_the_worker_names_the_release_and_the_shell() -> None:
    client = TestClient(Starlette(routes=ui.routes))
    page = client.get("/")
    release = re.search(r'src="/static/~([0-9a-f]{16})/js/main\.js"', page.text)
    assert release
    r = client.get("/sw.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert f'const RELEASE = "{release.group(1)}";' in r.text
    shell = shell_of(r.text)
    prefix = f"/static/~{release.group(1)}/"
    assert shell[0] == "/"
    assert {prefix + "js/main.js", prefix + "css/app.css", prefix + "icon.svg"} <= set(shell)
    preloaded = set(re.findall(r'rel="modulepreload" href="([^"]+)"', page.text))
    assert preloaded <= set(shell)
    assert all(u == "/" or u.startswith(prefix) for u in shell)
    assert not any("/api/" in u or u.endswith("sw.js") for u in shell)
    again = client.get("/sw.js", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304


def test_a_deploy_names_a_new_cache(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "index.html").write_text('<html><head><script src="/static/js/main.js">'
                                         "</script></head></html>")
    (tmp_path / "js" / "main.js").write_text("export const v = 1;\n")
    (tmp_path / "sw.js").write_text((ui.STATIC_DIR / "sw.js").read_text())
    cache = ui.AssetCache(tmp_path)
    index = ui.IndexPage(cache)
    worker = ui.ServiceWorker(cache, index)
    first = worker.get()
    assert first is not None
    old = index.release
    main = tmp_path / "js" / "main.js"
    main.write_text("export const v = 2;\n")
    os.utime(main, ns=(main.stat().st_atime_ns, main.stat().st_mtime_ns + 1_000_000))
    second = worker.get()
    assert second is not None and index.release != old
    assert f'"{index.release}"'.encode() in second.body and old.encode() not in second.body
    assert shell_of(second.body.decode()) == ["/", f"/static/~{index.release}/js/main.js"]
