"""Running the HTTP/WebSocket service under uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings

log = logging.getLogger(__name__)


def serve(settings: Settings, host: str, port: int) -> int:
    """Bootstrap (applying pending migrations), serve until SIGINT/SIGTERM, then shut down."""
    from web.app import create_app

    services = bootstrap(settings)
    app = create_app(services)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False,
                            timeout_graceful_shutdown=10, lifespan="auto")
    server = uvicorn.Server(config)
    log.info("labelwright serving on http://%s:%s (%s mode, data in %s)", host, port,
             "embedded" if settings.embedded else "PostgreSQL", settings.data_dir)
    try:
        server.run()
    finally:
        shutdown(services)
    return 0
