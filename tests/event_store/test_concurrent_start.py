"""Several processes starting at once on a fresh PostgreSQL database all come up.

eventsourcing's recorder creates its table and insert function at start-up; two sessions doing
that at the same instant can fail ("tuple concurrently updated"). Web nodes and workers of a
scale-out deployment are often started together, so ``labelwright.bootstrap`` serialises the
creation with an advisory lock. Real processes, a real database made for this test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.required_services import unavailable
from tests.web.conftest import PG_ADMIN_URL, _pg_available

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

START = """
import sys
from pathlib import Path
from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings
services = bootstrap(Settings(data_dir=Path(sys.argv[2]), database_url=sys.argv[1]),
                     background=False, live=False)
shutdown(services)
"""


@pytest.fixture
def fresh_database() -> Iterator[str]:
    if not _pg_available():
        unavailable("PostgreSQL is not reachable at " + PG_ADMIN_URL)
    import psycopg

    name = f"lw_start_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN_URL}/{name}"
    with psycopg.connect(PG_ADMIN_URL + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_processes_started_together_on_a_fresh_database_all_start(
        fresh_database: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    procs = [subprocess.Popen([sys.executable, "-c", START, fresh_database,
                               str(tmp_path / f"node{i}")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    failures = [err[-1500:] for p, (_out, err) in zip(procs, results, strict=True)
                if p.returncode != 0]
    assert not failures, failures
