"""Settings from the environment (``LABELWRIGHT_*``); CLI flags may override them."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_DATA_DIR = "./labelwright-data"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None = None  # postgresql://...; None = embedded SQLite in data_dir
    redis_url: str | None = None
    redis_prefix: str = "labelwright"  # Redis keys and channels start with this (tests: random)
    # Folders whose files admins may register by path (POST .../images {"paths": [...]}),
    # besides the data dir. LABELWRIGHT_IMPORT_DIRS, separated by os.pathsep.
    import_dirs: tuple[Path, ...] = ()
    ws_outbox_limit: int = 1000  # room messages a WebSocket client may lag before a resync
    secret_key: str | None = None
    max_json_body: int = 16 * 1024 * 1024  # bytes of a JSON request (predictions imports)
    max_command_body: int = 1024 * 1024
    max_upload_bytes: int = 64 * 1024 * 1024  # one image file
    max_upload_request: int = 512 * 1024 * 1024
    max_image_pixels: int = 100_000_000  # decompression-bomb guard
    token_idle_days: int = 7
    login_attempts_per_minute: int = 10

    @classmethod
    def from_env(cls, data_dir: str | None = None, database_url: str | None = None,
                 redis_url: str | None = None) -> Settings:
        env = os.environ
        return cls(
            data_dir=Path(data_dir or env.get("LABELWRIGHT_DATA_DIR") or DEFAULT_DATA_DIR),
            database_url=database_url or env.get("LABELWRIGHT_DATABASE_URL") or None,
            redis_url=redis_url or env.get("LABELWRIGHT_REDIS_URL") or None,
            redis_prefix=env.get("LABELWRIGHT_REDIS_PREFIX") or "labelwright",
            ws_outbox_limit=int(env.get("LABELWRIGHT_WS_OUTBOX_LIMIT") or 1000),
            secret_key=env.get("LABELWRIGHT_SECRET_KEY") or None,
            import_dirs=tuple(Path(p) for p in (env.get("LABELWRIGHT_IMPORT_DIRS") or "").split(
                os.pathsep) if p),
        )

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    def with_secret(self) -> Settings:
        """Settings with a secret key: the env's, or one generated once into the data dir."""
        if self.secret_key:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret_key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return replace(self, secret_key=path.read_text().strip())
