"""Running the HTTP/WebSocket service under uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from labelwright.bootstrap import bootstrap, shutdown
from labelwright.logs import log_format
from labelwright.settings import Settings
from realtime.protocol import HARD_MAX_FRAME_BYTES, PING_INTERVAL, PING_TIMEOUT

log = logging.getLogger(__name__)


def serve(settings: Settings, host: str, port: int) -> int:
    """Bootstrap (applying pending migrations), serve until SIGINT/SIGTERM, then shut down."""
    from web.app import create_app
    from web.endpoints.websocket import redact_tokens_in

    services = bootstrap(settings)
    app = create_app(services)
    # JSON logs: uvicorn's own lines go through the root's JSON handler (labelwright.logs)
    # instead of its text handlers. uvicorn's access log stays off: web.request_log writes
    # one line per request, by route template.
    log_config = None if log_format() == "json" else uvicorn.config.LOGGING_CONFIG
    config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False,
                            log_config=log_config,
                            timeout_graceful_shutdown=10, lifespan="auto",
                            ws="websockets-sansio", ws_max_size=HARD_MAX_FRAME_BYTES,
                            ws_ping_interval=PING_INTERVAL, ws_ping_timeout=PING_TIMEOUT,
                            # Per-connection deflate would compress each room message once
                            # per member and keep a compressor per socket (docs/realtime.md).
                            ws_per_message_deflate=False,
                            # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told
                            # otherwise, which let any local process (or a same-host proxy
                            # that does not overwrite the header) pick its client address
                            # and dodge the login limits: only configured proxies count.
                            proxy_headers=bool(settings.trusted_proxies),
                            forwarded_allow_ips=list(settings.trusted_proxies))
    redact_tokens_in("uvicorn.error")  # after Config: it (re)configures uvicorn's logging
    server = uvicorn.Server(config)
    log.info("labelwright serving on http://%s:%s (%s mode, data in %s)", host, port,
             "embedded" if settings.embedded else "PostgreSQL", settings.data_dir)
    try:
        server.run()
    finally:
        shutdown(services)
    return 0
