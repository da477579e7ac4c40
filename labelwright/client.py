"""A Python client of the HTTP API, for data scientists in a notebook or a script.

    from labelwright.client import Client
    lw = Client.login("http://127.0.0.1:8000", "admin", "admin-demo-pw")
    project = lw.create_project("Street", ["car", "person"])
    lw.upload_images(project["id"], "photos/", progress=True)
    result = lw.export(project["id"], "coco", dest="out/")

Every call is one route of docs/api.md and answers its JSON. An error answer raises
:class:`LabelwrightError` carrying the API's stable ``code``, its message, the HTTP status and
the details. Reads (GET) and other idempotent calls (PUT, DELETE) are retried when the
connection fails or the server says 503 ``not_ready``; a POST never is (its first try may have
been recorded), so its failure surfaces at once. The token is sent as a bearer header and
shown nowhere (reprs, errors). docs/client.md walks through it.

httpx is the only dependency beyond the standard library: the client imports nothing of the
server, so a notebook pays nothing for the service's modules.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import IO, Any, Literal

import httpx

from labelwright.export_download import (
    MAX_UNPACKED_BYTES,
    UnsafeArchive,
    save_stream,
    unpack_zip,
)

API_PREFIX = "/api/v1"
# Picked up from folders; a file named explicitly is sent whatever its suffix (the server
# judges by content). Mirrors service_layer.image_registration.IMAGE_SUFFIXES.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
# A batch stays well under the server's 1,000 files and 512 MiB a request.
UPLOAD_BATCH_FILES = 100
UPLOAD_BATCH_BYTES = 64 * 1024 * 1024
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_FINISHED = frozenset({"done", "failed", "cancelled"})

Progress = Callable[[int, int], None]


class LabelwrightError(Exception):
    """An error answer of the API (``code`` as in docs/api.md "Errors", ``status`` the HTTP
    status), or a failure on the way: ``unreachable`` (no connection, after the retries;
    status None), ``timeout``, ``bad_response`` (an answer that is not the API's JSON),
    ``unsafe_archive`` (an export zip that would write outside its folder, or too much)."""

    def __init__(self, code: str, message: str, status: int | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.code = code
        self.message = message
        self.status = status
        self.details: dict[str, Any] = dict(details or {})


class JobFailed(LabelwrightError):
    """A job ended ``failed`` or ``cancelled``; ``job`` is its last state (``job["error"]``
    says why a failed one failed)."""

    def __init__(self, job: Mapping[str, Any]) -> None:
        error = job.get("error") or {}
        state = str(job.get("state"))
        code = str(error.get("code") or f"job_{state}")
        message = str(error.get("message") or f"job {job.get('id')} was {state}")
        super().__init__(code, message, None, {"job_id": job.get("id"), "state": state})
        self.job = dict(job)


@dataclass
class UploadError:
    """One file the server refused (or that could not be read here); the others went in."""

    path: Path
    code: str
    message: str
    status: int | None = None


@dataclass
class UploadResult:
    """``images``: the server's rows (``id``, ``file_name``, ``sha256``, ``created``...) of
    the files it took, in the order given; ``errors``: one per file it did not."""

    images: list[dict[str, Any]] = field(default_factory=list)
    errors: list[UploadError] = field(default_factory=list)
    position: int | None = None


@dataclass(frozen=True)
class ExportResult:
    """An export on disk: ``path`` is the file, or the folder a zip was unpacked into;
    ``sha256`` is of the bytes the server sent (the same position gives the same bytes);
    ``position`` is the log position the export reflects."""

    path: Path
    sha256: str
    position: int
    format: str
    media_type: str
    files: tuple[Path, ...] = ()


def _api_root(base_url: str) -> str:
    url = base_url.rstrip("/")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
        details = error.get("details") or {}
    except (ValueError, KeyError, TypeError):
        text = response.text[:200]
        raise LabelwrightError("bad_response", f"HTTP {response.status_code}: {text}",
                               response.status_code) from None
    raise LabelwrightError(code, message, response.status_code, details)


def _json(response: httpx.Response) -> Any:
    _raise_for(response)
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise LabelwrightError("bad_response", "the answer is not JSON",
                               response.status_code) from None


def _image_paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
                 ) -> list[Path]:
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(f for f in sorted(p.rglob("*"))
                       if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        else:
            out.append(p)
    return out


def _file_name(response: httpx.Response, fallback: str) -> str:
    disposition = response.headers.get("content-disposition", "")
    msg = Message()
    msg["content-disposition"] = disposition
    name = msg.get_filename() or fallback
    return Path(name).name or fallback  # a name only, never a path the server chose


class Client:
    """A session with one Labelwright server as one user (an API or login token).

    ``timeout`` bounds each request (seconds; exports stream, so it bounds each wait for the
    next bytes, not the whole download); ``retries`` is how many times an idempotent call is
    tried again after a connection failure or a 503, waiting ``backoff`` seconds, doubled each
    time. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.5,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = _api_root(base_url)
        self._token = token
        self.retries = retries
        self.backoff = backoff
        self.last_position: int | None = None  # of this client's last write
        self.username: str | None = None  # known after login
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "labelwright-client"})

    @classmethod
    def login(cls, base_url: str, username: str, password: str, **kwargs: Any) -> Client:
        """Log in with a password (``POST /auth/login``) and return a client holding the
        login token (it expires after 7 days unused; :meth:`logout` revokes it)."""
        root = _api_root(base_url)
        timeout = kwargs.get("timeout", 30.0)
        try:
            # A client of its own: the session cookie the answer sets is not kept (the
            # bearer header is the one credential).
            with httpx.Client(timeout=timeout, transport=kwargs.get("transport")) as http:
                response = http.post(root + "/auth/login",
                                     json={"username": username, "password": password})
        except httpx.TransportError as e:
            raise LabelwrightError("unreachable", f"cannot reach {root}: {e}") from None
        body = _json(response)
        client = cls(base_url, str(body["token"]), **kwargs)
        client.username = str(body["username"])
        return client

    @property
    def token(self) -> str:
        """The bearer token (e.g. for ``GET /api/v1/ws?token=``); never shown in a repr."""
        return self._token

    def __repr__(self) -> str:
        who = f" as {self.username!r}" if self.username else ""
        return f"<labelwright Client {self.base_url}{who}>"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, stream: bool = False, **kwargs: Any
              ) -> httpx.Response:
        """One request; idempotent ones are retried on connection failures and on 503."""
        attempts = 1 + (self.retries if method in _IDEMPOTENT else 0)
        delay = self.backoff
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                request = self._http.build_request(method, path, **kwargs)
                response = self._http.send(request, stream=stream)
            except httpx.TimeoutException as e:
                if last:
                    raise LabelwrightError("timeout", f"{method} {path}: no answer in time "
                                           f"({type(e).__name__})") from None
            except httpx.TransportError as e:
                if last:
                    raise LabelwrightError("unreachable", f"{method} {path}: cannot reach "
                                           f"{self.base_url} ({type(e).__name__})") from None
            else:
                if response.status_code != 503 or last:
                    return response
                retry_after = response.headers.get("retry-after", "")
                response.close()
                if retry_after.isdigit():
                    delay = max(delay, min(float(retry_after), 30.0))
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any route (``path`` below ``/api/v1``), answering its JSON; raises on errors.
        A ``position`` in the answer of a write becomes :attr:`last_position`."""
        body = _json(self._send(method, path, **kwargs))
        if method != "GET":
            position = body.get("position") if isinstance(body, dict) else None
            if isinstance(position, int):
                self.last_position = position
        return body

    def get(self, path: str, **params: Any) -> Any:
        """A read that sees this client's own writes: unless ``min_position`` is given
        (``None`` for no wait), it waits for :attr:`last_position` (read-your-writes; the
        read models follow the log a moment behind it)."""
        if "min_position" not in params:
            params["min_position"] = self.last_position
        return self.request("GET", path, params={k: v for k, v in params.items()
                                                  if v is not None})

    # -- who, where -----------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """``{"username", "is_admin", "projects": [{"project_id","project_name","role"}]}``."""
        return dict(self.get("/me"))

    def logout(self) -> None:
        """Revoke this client's token (a login token; an API token the same)."""
        self.request("POST", "/auth/logout")

    def head(self) -> int:
        """The position of the newest event in the log (``GET /projections``): pass it to
        :meth:`export` to pin what you export."""
        return int(self.get("/projections")["head"])

    # -- projects -------------------------------------------------------------------------

    def projects(self) -> list[dict[str, Any]]:
        """The projects you have a role in (admins: all)."""
        return list(self.get("/projects")["projects"])

    def project(self, project_id: str) -> dict[str, Any]:
        return dict(self.get(f"/projects/{project_id}"))

    def create_project(self, name: str, classes: Sequence[str | Mapping[str, Any]],
                       annotation_types: Sequence[str] | None = None,
                       attributes: Sequence[Mapping[str, Any]] | None = None
                       ) -> dict[str, Any]:
        """A new project (admins); ``classes`` are names or ``{"name", "color"}``;
        ``attributes`` the per-object attributes (``{"name", "type", ...}``, docs/api.md)."""
        body: dict[str, Any] = {"name": name, "classes": [
            {"name": c} if isinstance(c, str) else dict(c) for c in classes]}
        if annotation_types is not None:
            body["annotation_types"] = list(annotation_types)
        if attributes is not None:
            body["attributes"] = [dict(a) for a in attributes]
        return dict(self.request("POST", "/projects", json=body))

    def set_member(self, project_id: str, username: str, role: str | None) -> dict[str, Any]:
        """Give ``username`` a ``role`` in the project (``None`` removes them)."""
        return dict(self.request("PUT", f"/projects/{project_id}/members/{username}",
                                 json={"role": role}))

    # -- images ---------------------------------------------------------------------------

    def images(self, project_id: str, status: str | None = None, limit: int | None = None
               ) -> list[dict[str, Any]]:
        """The project's images in the order they were added (all pages, or the first
        ``limit``); ``status`` ∈ new, in_progress, submitted, approved, rejected."""
        return list(self.iter_images(project_id, status, limit))

    def iter_images(self, project_id: str, status: str | None = None,
                    limit: int | None = None) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        left = limit
        while left is None or left > 0:
            page = min(500, left) if left is not None else 500
            body = self.get(f"/projects/{project_id}/images", status=status, limit=page,
                            cursor=cursor)
            yield from body["images"]
            if left is not None:
                left -= len(body["images"])
            cursor = body.get("next_cursor")
            if not cursor or not body["images"]:
                return

    def upload_images(self, project_id: str,
                      paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
                      progress: bool | Progress = False, *,
                      batch_files: int = UPLOAD_BATCH_FILES,
                      batch_bytes: int = UPLOAD_BATCH_BYTES) -> UploadResult:
        """Upload image files (folders are searched recursively for image suffixes) in
        multipart batches. A file the server refuses (not an image, truncated, too large) is
        reported in ``errors`` and the rest of its batch is sent again without it: nothing of
        a refused request is recorded, so no image is added twice. ``progress``: True for a
        progress bar, or a callable ``(files done, files in all)``."""
        files = _image_paths(paths)
        result = UploadResult()
        report, finish = self._progress(progress, len(files), "upload", "file")
        done = 0
        try:
            for batch in self._batches(files, batch_files, batch_bytes, result):
                while batch:
                    refused = self._upload_batch(project_id, batch, result)
                    if refused is None:
                        break
                    batch = [p for i, p in enumerate(batch) if i != refused]
                    done += 1
                    report(done, len(files))
                done += len(batch)
                report(done, len(files))
        finally:
            finish()
        return result

    def _batches(self, files: list[Path], batch_files: int, batch_bytes: int,
                 result: UploadResult) -> Iterator[list[Path]]:
        batch: list[Path] = []
        size = 0
        for path in files:
            try:
                n = path.stat().st_size
            except OSError as e:
                result.errors.append(UploadError(path, "unreadable", str(e)))
                continue
            if batch and (len(batch) >= batch_files or size + n > batch_bytes):
                yield batch
                batch, size = [], 0
            batch.append(path)
            size += n
        if batch:
            yield batch

    def _upload_batch(self, project_id: str, batch: list[Path], result: UploadResult
                      ) -> int | None:
        """Send one batch; None when it went in, else the index of the file refused (its
        error recorded in ``result``). A refusal that names no file raises."""
        with contextlib.ExitStack() as stack:
            parts = []
            for i, path in enumerate(batch):
                try:
                    fh = stack.enter_context(open(path, "rb"))
                except OSError as e:
                    result.errors.append(UploadError(path, "unreadable", str(e)))
                    return i
                parts.append(("file", (path.name, fh, "application/octet-stream")))
            response = self._send("POST", f"/projects/{project_id}/images", files=parts)
        try:
            body = _json(response)
        except LabelwrightError as e:
            index = self._refused_index(e, batch)
            if index is None:
                raise
            result.errors.append(UploadError(batch[index], e.code, e.message, e.status))
            return index
        result.images.extend(body["images"])
        if isinstance(body.get("position"), int):
            result.position = self.last_position = body["position"]
        return None

    @staticmethod
    def _refused_index(error: LabelwrightError, batch: list[Path]) -> int | None:
        index = error.details.get("index")
        if isinstance(index, int) and 0 <= index < len(batch):
            return index
        name = error.details.get("file_name")
        if isinstance(name, str):
            for i, path in enumerate(batch):
                if path.name == name:
                    return i
        return None

    @staticmethod
    def _progress(progress: bool | Progress, total: int, what: str, unit: str
                  ) -> tuple[Progress, Callable[[], None]]:
        if callable(progress):
            return progress, lambda: None
        if not progress:
            return (lambda done, total: None), lambda: None
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit=unit, desc=what)

        def report(done: int, total: int) -> None:
            bar.update(done - bar.n)

        return report, bar.close

    # -- labels in ------------------------------------------------------------------------

    def import_predictions(self, project_id: str, model: str | Mapping[str, str],
                           predictions: str | os.PathLike[str] | Sequence[Any] | Mapping[str, Any],
                           model_version: str | None = None) -> dict[str, Any]:
        """A model's outputs as pre-labels (``POST /projects/{id}/predictions``).

        ``predictions`` is a file path (COCO results JSON or Labelwright JSON), a list (COCO
        results, or Labelwright ``[{"image_id", "annotations": [...]}]``), or a whole
        Labelwright document. ``model`` is ``"name@version"``, a name (with
        ``model_version``) or ``{"name", "version"}``. Answers ``{"images", "annotations",
        "position"}``."""
        if isinstance(model, Mapping):
            name, version = str(model["name"]), str(model.get("version", model_version or ""))
        elif "@" in model and model_version is None:
            name, version = model.rsplit("@", 1)
        else:
            name, version = model, model_version or ""
        if not isinstance(predictions, str | os.PathLike):
            data: Any = predictions
        else:
            data = json.loads(Path(predictions).read_bytes())
        params: dict[str, str] = {}
        if isinstance(data, Mapping) and "predictions" in data:
            data = {**data, "model": {"name": name, "version": version}}
        elif data and isinstance(data, Sequence) and isinstance(data[0], Mapping) \
                and "annotations" in data[0]:
            data = {"model": {"name": name, "version": version}, "predictions": list(data)}
        else:  # COCO results: the model goes in the query
            params = {"model": name, "model_version": version}
        return dict(self.request("POST", f"/projects/{project_id}/predictions", json=data,
                                 params=params))

    def import_dataset(self, project_id: str, path: str | os.PathLike[str], format: str,
                       create_classes: bool | None = None) -> dict[str, Any]:
        """A labelled dataset (``POST /projects/{id}/datasets``): a zip, a single JSON/XML
        file, or a folder (sent as a zip). Labels become human labels matched to the
        project's images by file name; images inside a zip are added. ``create_classes``
        adds the dataset's classes the project lacks (else they are refused)."""
        form = {"format": format}
        if create_classes is not None:
            form["create_classes"] = "true" if create_classes else "false"
        source = Path(path)
        with tempfile.TemporaryDirectory(prefix="lw-dataset-") as tmp:
            if source.is_dir():
                upload = Path(tmp) / f"{source.name or 'dataset'}.zip"
                with zipfile.ZipFile(upload, "w", zipfile.ZIP_DEFLATED) as zf:
                    for f in sorted(source.rglob("*")):
                        if f.is_file():
                            zf.write(f, f.relative_to(source).as_posix())
            else:
                upload = source
            with open(upload, "rb") as fh:
                return dict(self.request(
                    "POST", f"/projects/{project_id}/datasets", data=form,
                    files={"file": (upload.name, fh, "application/octet-stream")}))

    def register_model(self, project_id: str, weights: str | os.PathLike[str], *,
                       classes: str | os.PathLike[str] | None = None, **fields: Any
                       ) -> dict[str, Any]:
        """Register a weights file (``POST /projects/{id}/models``); ``fields`` are the form
        fields ``name``, ``version``, ``task``, ``architecture``, ``input_size``."""
        form = {k: str(v) for k, v in fields.items() if v is not None}
        with contextlib.ExitStack() as stack:
            files: list[tuple[str, tuple[str, IO[bytes], str]]] = [
                ("weights", (Path(weights).name, stack.enter_context(open(weights, "rb")),
                             "application/octet-stream"))]
            if classes is not None:
                files.append(("classes", (Path(classes).name,
                                          stack.enter_context(open(classes, "rb")),
                                          "application/octet-stream")))
            body = self.request("POST", f"/projects/{project_id}/models", data=form,
                                files=files, timeout=max(self._http.timeout.read or 0, 300))
        return dict(body["model"])

    def models(self, project_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/projects/{project_id}/models")["models"])

    # -- jobs -----------------------------------------------------------------------------

    def start_job(self, project_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Queue a job (``{"type": "prelabel"|"score"|"train", ...}``, docs/api.md "Jobs");
        answers the job (state ``queued``)."""
        return dict(self.request("POST", f"/projects/{project_id}/jobs", json=dict(body))["job"])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.get(f"/jobs/{job_id}")["job"])

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return dict(self.request("POST", f"/jobs/{job_id}/cancel")["job"])

    def wait_for_job(self, job_id: str, timeout: float = 3600.0, poll: float = 1.0,
                     progress: bool | Progress = False) -> dict[str, Any]:
        """Poll the job until it ends; answers it when ``done``. Raises :class:`JobFailed`
        when it ends ``failed`` or ``cancelled``, and ``LabelwrightError("timeout")`` when it
        is still running after ``timeout`` seconds (the job itself goes on)."""
        deadline = time.monotonic() + timeout
        job = self.job(job_id)
        report, finish = self._progress(progress, int(job.get("total") or 0),
                                        str(job.get("type") or "job"), "image")
        try:
            while True:
                report(int(job.get("done") or 0) + int(job.get("failed") or 0),
                       int(job.get("total") or 0))
                if job["state"] in _FINISHED:
                    break
                if time.monotonic() >= deadline:
                    raise LabelwrightError(
                        "timeout", f"job {job_id} is still {job['state']} after {timeout} s",
                        None, {"job_id": job_id, "state": job["state"]})
                time.sleep(max(0.0, min(poll, deadline - time.monotonic())))
                job = self.job(job_id)
        finally:
            finish()
        if job["state"] != "done":
            raise JobFailed(job)
        return job

    # -- labels out -----------------------------------------------------------------------

    def export(self, project_id: str, format: str = "coco", position: int | None = None,
               dest: str | os.PathLike[str] = ".", images: bool = False,
               include_proposed: bool = False,
               unpack: Literal["auto", "never"] = "auto",
               max_unpacked_bytes: int = MAX_UNPACKED_BYTES, **options: Any) -> ExportResult:
        """Stream an export to disk (``GET /projects/{id}/export``); ``position`` pins the
        labels as of that point of the log (:meth:`head` gives the newest).

        ``dest`` is a folder (one that exists, or a path ending in ``/`` or without a
        suffix) or a file name. Into a folder, a single-document format is saved under the
        server's file name and a zip format (yolo, voc, ...) is unpacked, every member checked
        to stay inside it (``unpack="never"`` keeps the zip). The returned ``sha256`` is of the
        bytes sent, so two exports of one position can be compared. Other ``options``
        (e.g. ``split``, ``seed``) go to the route's query as they are (booleans as
        ``true``/``false``)."""
        params: dict[str, Any] = {"format": format}
        for key, value in options.items():
            if value is not None:
                params[key] = str(value).lower() if isinstance(value, bool) else value
        if position is not None:
            params["position"] = position
        if images:
            params["images"] = "true"
        if include_proposed:
            params["include_proposed"] = "true"
        target = Path(dest)
        into_folder = (target.is_dir() or str(dest).endswith(("/", os.sep))
                       or (not target.exists() and not target.suffix))
        response = self._send("GET", f"/projects/{project_id}/export", params=params,
                              stream=True)
        try:
            if not response.is_success:
                response.read()
                _raise_for(response)
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            exported_at = int(response.headers.get("x-labelwright-position", position or 0))
            name = _file_name(response, f"{project_id}-{format}")
            is_zip = media_type == "application/zip"
            if into_folder and is_zip and unpack == "auto":
                target.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(prefix=".lw-export-", dir=target) as tmp:
                    archive = Path(tmp) / name
                    sha = self._download(response, archive)
                    try:
                        files = unpack_zip(archive, target, max_unpacked_bytes)
                    except (UnsafeArchive, zipfile.BadZipFile) as e:
                        raise LabelwrightError("unsafe_archive", f"the export's zip was not "
                                               f"unpacked: {e}") from None
                return ExportResult(target, sha, exported_at, format, media_type, tuple(files))
            path = target / name if into_folder else target
            sha = self._download(response, path)
            return ExportResult(path, sha, exported_at, format, media_type, (path,))
        finally:
            response.close()

    @staticmethod
    def _download(response: httpx.Response, path: Path) -> str:
        try:
            return save_stream(response.iter_bytes(1024 * 1024), path)
        except httpx.TimeoutException:
            raise LabelwrightError("timeout", "the export stopped sending") from None
        except httpx.TransportError as e:
            raise LabelwrightError("unreachable", f"the export was cut off "
                                   f"({type(e).__name__})") from None
