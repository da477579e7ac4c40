"""The client on a bad line: real TCP servers that drop connections, answer late or not at
all. Reads are retried, writes never are (their first try may have been recorded)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelwright.client import Client, LabelwrightError

PROJECTS = b'{"projects": [{"id": "p1", "name": "one"}]}'


class Flaky:
    """A TCP server on a free port: the first ``drop`` connections are closed at once, later
    ones get ``answer`` (raw HTTP), or nothing at all when ``answer`` is None."""

    def __init__(self, drop: int, answer: bytes | None) -> None:
        self.drop, self.answer = drop, answer
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.open: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.connections <= self.drop:
                conn.close()
                continue
            self.open.append(conn)
            if self.answer is not None:
                conn.recv(65536)
                conn.sendall(self.answer)
                conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.open:
            with contextlib.suppress(OSError):
                conn.close()


def ok(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


@pytest.fixture
def flaky(request: pytest.FixtureRequest) -> Iterator[Flaky]:
    drop, answer = request.param
    server = Flaky(drop, answer)
    yield server
    server.close()


@pytest.mark.parametrize("flaky", [(2, ok(PROJECTS))], indirect=True)
def test_a_read_is_retried_after_dropped_connections(flaky: Flaky) -> None:
    with Client(flaky.url, "t", retries=3, backoff=0.01) as lw:
        assert lw.projects() == [{"id": "p1", "name": "one"}]
    assert flaky.connections == 3


@pytest.mark.parametrize("flaky", [(100, None)], indirect=True)
def test_reads_give_up_after_the_retries_and_writes_never_retry(flaky: Flaky) -> None:
    with Client(flaky.url, "secret-token", retries=2, backoff=0.01) as lw:
        with pytest.raises(LabelwrightError) as caught:
            lw.projects()
        assert caught.value.code == "unreachable" and caught.value.status is None
        assert "secret-token" not in str(caught.value)
        assert flaky.connections == 3
        with pytest.raises(LabelwrightError) as caught:
            lw.create_project("x", ["a"])
        assert caught.value.code == "unreachable"
        assert flaky.connections == 4  # one try only


@pytest.mark.parametrize("flaky", [(0, None)], indirect=True)
def test_a_server_that_never_answers_is_a_timeout(flaky: Flaky) -> None:
    with Client(flaky.url, "t", timeout=0.3, retries=1, backoff=0.01) as lw, \
            pytest.raises(LabelwrightError) as caught:
        lw.projects()
    assert caught.value.code == "timeout"
    assert flaky.connections == 2


@pytest.mark.parametrize("flaky", [(0, ok(b'{"error": {"code": "not_ready", "message": '
                                         b'"catching up", "details": {}}}',
                                         "503 Service Unavailable", "Retry-After: 0\r\n"))],
                         indirect=True)
def test_not_ready_is_retried_then_raised(flaky: Flaky) -> None:
    with Client(flaky.url, "t", retries=2, backoff=0.01) as lw, \
            pytest.raises(LabelwrightError) as caught:
        lw.head()
    assert (caught.value.code, caught.value.status) == ("not_ready", 503)
    assert flaky.connections == 3


@pytest.mark.parametrize("flaky", [(0, b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 7\r\n"
                                         b"Connection: close\r\n\r\n<html/>")], indirect=True)
def test_an_answer_that_is_not_the_api_is_bad_response(flaky: Flaky) -> None:
    with Client(flaky.url, "t") as lw, pytest.raises(LabelwrightError) as caught:
        lw.projects()
    assert (caught.value.code, caught.value.status) == ("bad_response", 502)


def _evil_zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("labels/fine.txt", "0 0.5 0.5 0.1 0.1\n")
        zf.writestr("../escaped.txt", "gotcha")
    return buf.getvalue()


@pytest.mark.parametrize("flaky", [(0, (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nX-Labelwright-Position: 7\r\n"
    b'Content-Disposition: attachment; filename="../../x.zip"\r\n'
    + f"Content-Length: {len(_evil_zip())}\r\nConnection: close\r\n\r\n".encode()
    + _evil_zip()))], indirect=True)
def test_an_export_zip_that_escapes_its_folder_is_refused(flaky: Flaky, tmp_path: Path) -> None:
    dest = tmp_path / "box" / "export"
    with Client(flaky.url, "t") as lw, pytest.raises(LabelwrightError) as caught:
        lw.export("p1", "yolo", dest=dest)
    assert caught.value.code == "unsafe_archive"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "box", "box/export"]  # nothing written, no temporary file left
    # unpack="never" keeps the zip as sent, under a name of its own (never the server's path)
    with Client(flaky.url, "t") as lw:
        kept = lw.export("p1", "yolo", dest=dest, unpack="never")
    assert kept.path == dest / "x.zip" and kept.position == 7
