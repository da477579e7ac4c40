"""Settings from the environment (``LABELWRIGHT_*``); CLI flags may override them."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from labelwright.data_dir import make_private_dir

DEFAULT_DATA_DIR = "./labelwright-data"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    return number


def parse_trusted_proxies(value: str) -> tuple[str, ...]:
    """``LABELWRIGHT_TRUSTED_PROXIES``: comma-separated IP addresses and CIDR networks, or
    ``*`` (every peer is a trusted proxy: only when nothing else can reach the port). A value
    that is neither is an error here, where uvicorn would silently never match it."""
    items: list[str] = []
    for item in (part.strip() for part in value.split(",")):
        if item == "*":
            items.append(item)
        if not item or item == "*":
            continue
        try:
            if "/" in item:  # uvicorn wants the network's own address: 10.0.0.0/8
                items.append(str(ipaddress.ip_network(item, strict=False)))
            else:
                items.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise ValueError(f"LABELWRIGHT_TRUSTED_PROXIES: {item!r} is not an IP address or "
                             "a CIDR network") from None
    return tuple(items)


def _job_device(value: str) -> str:
    if value not in ("auto", "cpu", "cuda"):
        raise ValueError(f"LABELWRIGHT_JOB_DEVICE must be auto, cpu or cuda, not {value!r}")
    return value


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
    max_model_bytes: int = 512 * 1024 * 1024  # one weights file (LABELWRIGHT_MAX_MODEL_BYTES)
    # One labeled dataset upload, zipped or not (LABELWRIGHT_MAX_DATASET_BYTES); what a zip
    # may unpack to is service_layer.dataset_archive's.
    max_dataset_bytes: int = 2 * 1024 * 1024 * 1024
    token_idle_days: int = 7
    # Failed logins: per (username, address) per minute, and per username across addresses
    # per login_account_window seconds (web.login_throttle; 0 turns the latter off).
    login_attempts_per_minute: int = 10
    login_attempts_per_account: int = 50
    login_account_window: float = 900.0
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or CIDRs, or "*").
    # Empty: no proxy is trusted, the client address is the socket's peer.
    trusted_proxies: tuple[str, ...] = ()
    # Jobs (docs/design.md, "Jobs"): threads of this process that run jobs (0: none, the
    # process only queues them), each model's CPU threads (0: every core but one), the
    # device (auto: CUDA when torch sees one), images per shard, and the seconds a shard's
    # Redis entry may sit untouched before another worker takes it over (a dead worker's).
    job_workers: int = 1
    job_threads: int = 0
    job_device: str = "auto"
    job_shard_size: int = 64
    job_claim_seconds: float = 60.0
    # Does `labelwright worker` project too? Off for job-only workers beside web nodes (which
    # project anyway): several processes projecting race for the same batches.
    worker_projections: bool = True
    # How long the work queue's lease on an image lasts (renewed by the holder's own work).
    lease_seconds: int = 15 * 60
    # Prometheus metrics and GET /metrics (LABELWRIGHT_METRICS=0 turns them off).
    metrics: bool = True
    # ``labelwright worker``'s own metrics endpoint, "host:port" (None: not served). No auth:
    # bind it to an address only the Prometheus server reaches.
    worker_metrics_bind: str | None = None

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
            login_attempts_per_minute=_int(env, "LABELWRIGHT_LOGIN_ATTEMPTS_PER_MINUTE", 10),
            login_attempts_per_account=_int(env, "LABELWRIGHT_LOGIN_ATTEMPTS_PER_ACCOUNT", 50),
            login_account_window=float(_int(env, "LABELWRIGHT_LOGIN_ACCOUNT_WINDOW_SECONDS",
                                            900)),
            trusted_proxies=parse_trusted_proxies(env.get("LABELWRIGHT_TRUSTED_PROXIES") or ""),
            max_model_bytes=_int(env, "LABELWRIGHT_MAX_MODEL_BYTES", 512 * 1024 * 1024),
            max_dataset_bytes=_int(env, "LABELWRIGHT_MAX_DATASET_BYTES", 2 * 1024 ** 3),
            job_workers=_int(env, "LABELWRIGHT_JOB_WORKERS", 1),
            job_threads=_int(env, "LABELWRIGHT_JOB_THREADS", 0),
            job_device=_job_device(env.get("LABELWRIGHT_JOB_DEVICE") or "auto"),
            job_shard_size=max(1, _int(env, "LABELWRIGHT_JOB_SHARD_SIZE", 64)),
            job_claim_seconds=float(max(1, _int(env, "LABELWRIGHT_JOB_CLAIM_SECONDS", 60))),
            worker_projections=_int(env, "LABELWRIGHT_WORKER_PROJECTIONS", 1) != 0,
            lease_seconds=max(1, _int(env, "LABELWRIGHT_LEASE_SECONDS", 15 * 60)),
            metrics=_int(env, "LABELWRIGHT_METRICS", 1) != 0,
            worker_metrics_bind=env.get("LABELWRIGHT_WORKER_METRICS_BIND") or None,
        )

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    def with_secret(self) -> Settings:
        """Settings with a secret key: the env's, or one generated once into the data dir."""
        if self.secret_key:
            return self
        make_private_dir(self.data_dir)
        path = self.data_dir / "secret_key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.fchmod(fd, 0o600)  # whatever the umask
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return replace(self, secret_key=path.read_text().strip())
