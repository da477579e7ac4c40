"""Concurrent changes to one project's settings and members: each is applied or refused
cleanly (a clash between writers is retried from a fresh copy), never a 500, never lost."""

from __future__ import annotations

import asyncio

import httpx

from tests.web.served import Served, served_fixture  # noqa: F401 - the fixture


def test_parallel_project_and_member_changes_all_land(served: Served) -> None:
    site = served.site
    pid = site.new_project()
    names = [f"user{i}" for i in range(16)]
    for name in names:
        site.ok(site.post("/users", json={"username": name, "password": "password123"}), 201)

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served.url, timeout=60,
                                     headers=site.headers("admin")) as client:
            patches = [client.patch(f"/projects/{pid}",
                                    json={"add_classes": [{"name": f"class{i}"}]})
                       for i in range(32)]
            members = [client.put(f"/projects/{pid}/members/{name}",
                                  json={"role": "annotator"}) for name in names]
            return list(await asyncio.gather(*patches, *members))

    responses = asyncio.run(scenario())
    statuses = [r.status_code for r in responses]
    assert all(s == 200 for s in statuses), [(r.status_code, r.text[:200]) for r in responses
                                             if r.status_code != 200]
    project = site.ok(site.get(f"/projects/{pid}"))
    classes = {c["name"] for c in project["classes"]}
    assert {f"class{i}" for i in range(32)} <= classes
    roles = {m["username"]: m["role"] for m in project["members"]}
    assert all(roles.get(name) == "annotator" for name in names)
