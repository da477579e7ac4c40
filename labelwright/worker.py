"""``labelwright worker``: the background work of a scale-out deployment.

Web nodes answer requests; a worker keeps the read models caught up with the event log even
when no web node is running (after a bulk import from the CLI, say). Projections are safe to
run on several processes at once (each batch commits its rows and its tracking position in
one transaction, and the loser of a race rolls back and adopts the winner's position), so a
worker is optional and web nodes keep projecting too. Model inference jobs will run here
when the model registry lands.
"""

from __future__ import annotations

import logging
import signal
import threading

from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> int:
    services = bootstrap(settings, background=False, live=False)  # no rooms, no Redis
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    services.runner.start()
    log.info("worker projecting %s", "PostgreSQL" if settings.database_url else "SQLite")
    try:
        while not stop.wait(5):
            lag = max((p["lag"] for p in services.runner.status()["projections"]), default=0)
            if lag:
                log.info("projection lag: %s events", lag)
    finally:
        shutdown(services)
    return 0
