"""The web UI: ``/`` (the single page) and ``/static/...`` (its ES modules, CSS and icons).

The front end has no build step (docs/ui.md): the files under ``web/static`` are served as
they are, from memory, re-read when their modification time changes (editing the front end
needs no restart).

Caching: the page (``/``) is never cached. It refers to its assets under a *release* prefix,
``/static/~<release>/...``, where the release is a hash over every static file; those URLs are
immutable and cached for a year, so opening the app again costs no request for its ~40 modules.
Modules import each other by relative paths, so the whole module graph stays inside the
release prefix without any rewriting. When a file changes, the release changes and the page
names new URLs. Plain ``/static/...`` URLs still work, revalidated by ``ETag`` every time.

Without a bundler, ES modules load as a waterfall (a module's imports are only discovered once
it has arrived). The page therefore lists every module as ``<link rel="modulepreload">``,
added here when ``index.html`` is served, so the browser asks for them all at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}

# Everything the page loads comes from this origin (no CDN, no hosted fonts); images may also
# be blob:/data: URLs the canvas code makes, and the live socket is same-origin ws(s):.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_COMMON_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "no-cache"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    mtime_ns: int


class AssetCache:
    """The files of ``root`` in memory, re-read when their modification time changes."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._assets: dict[Path, Asset] = {}
        self._lock = threading.Lock()

    def get(self, relative: str) -> Asset | None:
        path = self._resolve(relative)
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        with self._lock:
            cached = self._assets.get(path)
        if cached is not None and cached.mtime_ns == stat.st_mtime_ns:
            return cached
        body = path.read_bytes()
        asset = Asset(body, CONTENT_TYPES[path.suffix.lower()],
                      '"' + hashlib.sha256(body).hexdigest()[:32] + '"', stat.st_mtime_ns)
        with self._lock:
            self._assets[path] = asset
        return asset

    def all(self) -> dict[str, Asset]:
        """Every file that may be served, by its path relative to the root."""
        out: dict[str, Asset] = {}
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root).as_posix()
            asset = self.get(relative) if path.is_file() else None
            if asset is not None:
                out[relative] = asset
        return out

    def _resolve(self, relative: str) -> Path | None:
        """The file ``relative`` names inside the root, or None (outside it, hidden, a
        directory, or a type we do not serve)."""
        if not relative or "\\" in relative or "\x00" in relative:
            return None
        parts = relative.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        if path.suffix.lower() not in CONTENT_TYPES:
            return None
        return path


_cache = AssetCache(STATIC_DIR)


def _answer(request: Request, asset: Asset, extra: dict[str, str] | None = None) -> Response:
    headers = {**_COMMON_HEADERS, "etag": asset.etag, **(extra or {})}
    if asset.etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        return Response(status_code=200, headers={**headers, "content-type": asset.content_type,
                                                  "content-length": str(len(asset.body))})
    return Response(asset.body, media_type=asset.content_type, headers=headers)


def _not_found() -> Response:
    return Response("not found\n", status_code=404, media_type="text/plain",
                    headers={"x-content-type-options": "nosniff"})


class IndexPage:
    """``index.html`` pointing at the current release, with a ``modulepreload`` link for
    every module under ``js/``."""

    def __init__(self, cache: AssetCache) -> None:
        self.cache = cache
        self.release = ""
        self._built: tuple[str, Asset] | None = None

    def get(self) -> Asset | None:
        assets = self.cache.all()
        page = assets.get("index.html")
        if page is None:
            return None
        digest = hashlib.sha256()
        for relative, asset in assets.items():
            digest.update(f"{relative}\0{asset.etag}\0".encode())
        release = digest.hexdigest()[:16]
        if self._built is not None and self._built[0] == release:
            return self._built[1]
        prefix = f"/static/~{release}/"
        modules = [r for r in assets if r.startswith("js/") and r.endswith(".js")]
        links = "".join(f'  <link rel="modulepreload" href="{prefix}{m}">\n' for m in modules)
        body = page.body.replace(b'"/static/', f'"{prefix}'.encode())
        body = body.replace(b"</head>", links.encode() + b"</head>", 1)
        asset = Asset(body, page.content_type,
                      '"' + hashlib.sha256(body).hexdigest()[:32] + '"', page.mtime_ns)
        self._built = (release, asset)
        self.release = release
        return asset


_index = IndexPage(_cache)
IMMUTABLE = {"cache-control": "public, max-age=31536000, immutable"}


async def index(request: Request) -> Response:
    asset = _index.get()
    if asset is None:
        return _not_found()
    return _answer(request, asset, {"content-security-policy": CONTENT_SECURITY_POLICY,
                                    "referrer-policy": "same-origin"})


async def static_file(request: Request) -> Response:
    path: str = request.path_params["path"]
    extra = None
    if path.startswith("~"):
        release, _, path = path.partition("/")
        # A page of an older release may still ask for its files: it gets today's, uncached.
        if release[1:] == _index.release:
            extra = IMMUTABLE
    asset = _cache.get(path)
    return _not_found() if asset is None else _answer(request, asset, extra)


class ServiceWorker:
    """``sw.js`` for the current release: the release (which names its cache, so a deploy
    replaces it) and the app shell's URLs written in. Served at ``/sw.js`` so that its scope is
    the whole app; like the page it is never cached (a browser checks it for updates)."""

    def __init__(self, cache: AssetCache, index: IndexPage) -> None:
        self.cache = cache
        self.index = index
        self._built: tuple[str, Asset] | None = None

    def get(self) -> Asset | None:
        worker = self.cache.get("sw.js")
        if worker is None or self.index.get() is None:
            return None
        release = self.index.release
        if self._built is not None and self._built[0] == release:
            return self._built[1]
        prefix = f"/static/~{release}/"
        shell = ["/", *(prefix + r for r in self.cache.all()
                        if r.startswith(("js/", "css/")) or r == "icon.svg")]
        body = (worker.body.replace(b"__RELEASE__", release.encode())
                .replace(b'["__SHELL__"]', json.dumps(shell).encode()))
        asset = Asset(body, worker.content_type,
                      '"' + hashlib.sha256(body).hexdigest()[:32] + '"', worker.mtime_ns)
        self._built = (release, asset)
        return asset


_service_worker = ServiceWorker(_cache, _index)


async def service_worker(request: Request) -> Response:
    asset = _service_worker.get()
    return _not_found() if asset is None else _answer(request, asset)


async def favicon(request: Request) -> Response:
    asset = _cache.get("icon.svg")
    return _not_found() if asset is None else _answer(request, asset)


routes = [
    Route("/", index, methods=["GET", "HEAD"]),
    Route("/favicon.ico", favicon, methods=["GET", "HEAD"]),
    Route("/sw.js", service_worker, methods=["GET", "HEAD"]),
    Route("/static/{path:path}", static_file, methods=["GET", "HEAD"]),
]
