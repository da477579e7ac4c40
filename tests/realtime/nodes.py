"""Real Labelwright nodes for the realtime tests and benchmarks.

A ``Deployment`` is one store (a data dir, and a PostgreSQL database when given) with optional
Redis; ``seed`` fills it in-process through the real composition root (users, tokens, a
project, images); ``start_node`` runs ``labelwright serve`` on a free port as a subprocess of
its own session, so a test can SIGTERM or SIGKILL it like an operator would.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent / "labelwright"
PG_ADMIN_URL = os.environ.get("LABELWRIGHT_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
SHARED_REDIS_URL = os.environ.get("LABELWRIGHT_TEST_REDIS", "redis://127.0.0.1:6379/0")
USERS = {"admin": None, "manager": "manager", "ann1": "annotator", "ann2": "annotator",
         "ann3": "annotator", "reviewer": "reviewer", "outsider": None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(port: int, method: str, path: str, token: str | None = None,
              body: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, (json.loads(data) if data else None)


@dataclass
class Node:
    """One ``labelwright serve`` process."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Deployment:
    """A store shared by any number of nodes, plus what ``seed`` put in it."""

    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = field(default_factory=lambda: f"lwtest-{uuid.uuid4().hex[:10]}")
    tokens: dict[str, str] = field(default_factory=dict)
    project_id: str = ""
    other_project_id: str = ""
    image_ids: list[str] = field(default_factory=list)
    other_image_id: str = ""
    nodes: list[Node] = field(default_factory=list)

    def env(self, redis_url: str | None = None,
            extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
        env["LABELWRIGHT_DATA_DIR"] = str(self.data_dir)
        env["LABELWRIGHT_SECRET_KEY"] = "realtime-tests"
        if self.database_url:
            env["LABELWRIGHT_DATABASE_URL"] = self.database_url
        redis_url = redis_url or self.redis_url
        if redis_url:
            env["LABELWRIGHT_REDIS_URL"] = redis_url
            env["LABELWRIGHT_REDIS_PREFIX"] = self.redis_prefix
        env.update(extra or {})
        return env

    def settings(self) -> Any:
        from labelwright.settings import Settings

        return Settings(data_dir=self.data_dir, database_url=self.database_url,
                        secret_key="realtime-tests")

    @contextlib.contextmanager
    def services(self, background: bool = True) -> Iterator[Any]:
        """The real services on this store, in this process (another writer)."""
        from labelwright.bootstrap import bootstrap, shutdown

        services = bootstrap(self.settings(), background=background)
        try:
            yield services
        finally:
            shutdown(services)

    def seed(self, images: int = 4) -> None:
        """Users (cheap password hashes), a token each, two projects with images."""
        from argon2 import PasswordHasher

        import domain.user

        domain.user._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        with self.services() as s:
            for name in USERS:
                if s.app.find_user(name) is None:
                    s.app.register_user(name, "password123", is_admin=name == "admin")
                self.tokens[name] = s.tokens.issue(name)
            project, _ = s.app.create_project(
                "realtime", [{"name": "cat"}, {"name": "dog"}], None, "manager")
            self.project_id = str(project.id)
            for name, role in USERS.items():
                if role is not None and name != "manager":
                    s.app.set_member(self.project_id, name, role, "manager")
            other, _ = s.app.create_project("elsewhere", [{"name": "cat"}], None, "admin")
            self.other_project_id = str(other.id)
            self.image_ids = self._add_images(s, self.project_id, images)
            self.other_image_id = self._add_images(s, self.other_project_id, 1)[0]
            s.runner.catch_up()

    @staticmethod
    def _add_images(s: Any, project_id: str, n: int) -> list[str]:
        files = []
        for _ in range(n):
            sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
            files.append({"file_name": f"{sha[:8]}.png", "width": 640, "height": 480,
                          "sha256": sha, "content_type": "image/png"})
        added, _ = s.app.add_images(project_id, files, "admin")
        return [str(image.id) for image, _ in added]

    def start_node(self, redis_url: str | None = None, ready_timeout: float = 40.0,
                   env: dict[str, str] | None = None) -> Node:
        port = free_port()
        log_path = self.data_dir.parent / f"node-{port}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), "--data-dir", str(self.data_dir)],
            env=self.env(redis_url, env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        node = Node(port, proc, log_path)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if not node.alive():
                raise RuntimeError(f"node exited at start:\n{node.log()}")
            with contextlib.suppress(OSError):
                if http_json(port, "GET", "/healthz", timeout=2)[0] == 200:
                    self.nodes.append(node)
                    return node
            time.sleep(0.1)
        node.kill()
        raise RuntimeError(f"node did not become ready:\n{node.log()}")

    def stop_all(self) -> None:
        for node in self.nodes:
            node.stop()

    def annotations(self, node: Node, image_id: str, min_position: int = 0,
                    user: str = "admin") -> dict[str, Any]:
        """``GET /images/{id}/annotations`` once the read model reached ``min_position``."""
        status, body = http_json(
            node.port, "GET", f"/api/v1/images/{image_id}/annotations"
            f"?min_position={min_position}", self.tokens[user])
        assert status == 200, (status, body)
        return dict(body)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    import psycopg

    name = f"lw_rt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class RedisServer:
    """A private ``redis-server`` on a free port, which a test may stop and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


def redis_available(url: str = SHARED_REDIS_URL) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL + "/postgres", connect_timeout=2):
            return True
    except Exception:
        return False
