"""``?min_position=P`` (read-your-writes) cannot be used to stall the server.

The waits run against a real uvicorn server in this process (so requests really overlap),
with the projection runner paused to make the read models lag on purpose.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.web.conftest import Site, assert_error
from tests.web.served import Served, served_fixture  # noqa: F401 - the fixture
from web.min_position import WAITS_PER_USER


def test_a_position_beyond_the_head_is_refused_at_once(site: Site) -> None:
    head = site.head()
    for path in ("/me", "/projects", "/projections"):
        started = time.perf_counter()
        error = assert_error(site.get(f"{path}?min_position={head + 1000}"), 422,
                             "validation")
        assert time.perf_counter() - started < 1.0
        assert error["details"]["field"] == "min_position"
        assert error["details"]["head"] >= head


def test_a_non_member_is_refused_before_any_wait(site: Site) -> None:
    pid = site.new_project()
    iid = site.new_image(pid)
    site.settle()
    site.services.runner.stop()  # the read models now lag behind every new write
    try:
        site.create(iid)
        head = site.head()
        for path in (f"/images/{iid}", f"/images/{iid}/annotations",
                     f"/images/{iid}/history", f"/images/{iid}/content", f"/projects/{pid}"):
            started = time.perf_counter()
            assert_error(site.get(f"{path}?min_position={head}", "outsider"), 403, "forbidden")
            assert time.perf_counter() - started < 1.0, path
    finally:
        site.services.runner.start()


def test_waiting_reads_hold_no_thread_and_are_bounded_per_user(served: Served) -> None:
    site = served.site
    pid = site.new_project()
    iid = site.new_image(pid)
    site.settle()
    site.services.runner.stop()
    site.create(iid)
    head = site.head()
    users = ["annotator", "reviewer", "manager", "admin"]

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            def get(path: str, user: str) -> asyncio.Task[httpx.Response]:
                return asyncio.ensure_future(client.get(path, headers=site.headers(user)))

            # Every user but one parks as many waits as they may; the annotator tries 12.
            waiting = [get(f"/images/{iid}/annotations?min_position={head}", user)
                       for user in users[1:] for _ in range(WAITS_PER_USER)]
            mine = [get(f"/images/{iid}/annotations?min_position={head}", "annotator")
                    for _ in range(WAITS_PER_USER + 4)]
            await asyncio.sleep(0.5)
            # The extra waits are refused at once, 503 with Retry-After.
            refused = [t for t in mine if t.done()]
            assert len(refused) == 4, [t.result().status_code for t in refused]
            for t in refused:
                assert_error(t.result(), 503, "not_ready")
                assert t.result().headers["retry-after"] == "1"
            # Meanwhile the server answers everyone else at once.
            for _ in range(5):
                started = time.perf_counter()
                me = await client.get("/me", headers=site.headers("outsider"))
                assert me.status_code == 200
                assert time.perf_counter() - started < 0.5
            assert not any(t.done() for t in waiting)
            # The read models catch up: every parked wait answers with the new label.
            site.services.runner.start()
            for t in [*waiting, *[t for t in mine if t not in refused]]:
                response = await t
                assert response.status_code == 200, response.text
                assert response.json()["position"] >= head

    asyncio.run(scenario())
