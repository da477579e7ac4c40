"""Jobs over HTTP on a real ``labelwright serve`` (uvicorn, embedded job threads), watched
live through real WebSocket clients: the project room gets ``{"op":"job"}`` progress, the image
room gets the pre-labels as they are recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from labelwright.settings import Settings
from tests.jobs.conftest import make_world
from tests.realtime.nodes import Deployment, Node, http_json
from tests.realtime.wsclient import LiveClient

IMAGES = 9
SHARD = 3


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("jobs-http")
    world = make_world(Settings(data_dir=tmp / "data", secret_key="realtime-tests"), tmp,
                       images=IMAGES)
    s = world.services
    # A second model, retired: no new job may use it.
    from tests.inference.model_factory import yolov8_onnx
    from tests.jobs.conftest import NAMES, PLANTED, register_model

    retired = register_model(s, world.project_id,
                             yolov8_onnx(tmp / "old.onnx", NAMES, (64, 64), PLANTED[:1]),
                             version="0")
    s.app.change_model(str(retired.id), lambda m: m.retire("manager"))
    tokens = {name: s.tokens.issue(name) for name in ("admin", "manager", "annotator")}
    info = {"project_id": world.project_id, "image_ids": world.image_ids,
            "model_id": str(world.model.id), "retired_id": str(retired.id), "tokens": tokens}
    world.close()
    deployment = Deployment(data_dir=tmp / "data")
    node = deployment.start_node(env={"LABELWRIGHT_JOB_THREADS": "1",
                                      "LABELWRIGHT_JOB_SHARD_SIZE": str(SHARD)})
    try:
        yield {**info, "node": node}
    finally:
        deployment.stop_all()


def call(served: dict[str, Any], method: str, path: str, body: Any = None,
         user: str = "manager") -> tuple[int, Any]:
    node: Node = served["node"]
    return http_json(node.port, method, "/api/v1" + path, served["tokens"][user], body)


def test_a_job_over_http_with_live_progress_and_prelabels(served: dict[str, Any]) -> None:
    pid, first_image = served["project_id"], served["image_ids"][0]

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
        url = f"ws://127.0.0.1:{served['node'].port}/api/v1/ws"
        project = await LiveClient.connect(url, served["tokens"]["annotator"], "project")
        image = await LiveClient.connect(url, served["tokens"]["annotator"], "image")
        try:
            assert (await project.join(f"project:{pid}"))["op"] == "joined"
            assert (await image.join(f"image:{first_image}"))["op"] == "joined"
            status, body = await asyncio.to_thread(call, served, "POST", f"/projects/{pid}/jobs",
                                                   {"type": "prelabel", "images": "all",
                                                    "model_id": served["model_id"]})
            assert status == 202, body
            job_id = body["job"]["id"]
            assert body["job"]["state"] == "queued" and body["job"]["total"] == IMAGES
            await project.wait_for(lambda m: m.get("op") == "job" and m["job"]["id"] == job_id
                                   and m["job"]["state"] == "done", timeout=60)
            await image.wait_for(lambda m: m.get("op") == "event"
                                 and m["event"]["type"] == "PrelabelProposed"
                                 and m["event"]["data"]["model"].get("job") == job_id
                                 and m["event"]["data"]["label"] == "dog", timeout=10)
            jobs = [m for m in project.messages if m.get("op") == "job"]
            events = [m for m in image.messages if m.get("op") == "event"]
            return jobs, events, job_id
        finally:
            await project.close()
            await image.close()

    jobs, events, job_id = asyncio.run(scenario())
    states = [m["job"]["state"] for m in jobs]
    assert states[0] == "queued" and states[-1] == "done" and "running" in states
    done = [m["job"]["done"] for m in jobs]
    assert done == sorted(done) and done[-1] == IMAGES
    assert len(set(done)) >= IMAGES // SHARD  # a message per shard
    positions = [m["position"] for m in jobs]
    assert positions == sorted(positions) and all(m["room"] == f"project:{pid}" for m in jobs)
    prelabels = [e["event"]["data"] for e in events if e["event"]["type"] == "PrelabelProposed"]
    assert sorted(p["label"] for p in prelabels) == ["cat", "dog"]
    assert all(p["model"] == {"name": "planted", "version": "1", "id": served["model_id"],
                              "job": job_id} for p in prelabels)

    status, body = call(served, "GET", f"/jobs/{job_id}", user="annotator")
    assert status == 200 and body["job"]["state"] == "done"
    assert (body["job"]["done"], body["job"]["recorded"], body["job"]["dropped"]) == (
        IMAGES, 2 * IMAGES, IMAGES)
    assert body["job"]["result"] == {"images": IMAGES, "failed": 0, "recorded": 2 * IMAGES,
                                     "dropped": IMAGES}
    status, body = call(served, "GET", f"/projects/{pid}/jobs", user="annotator")
    assert status == 200 and body["jobs"][0]["id"] == job_id
    status, body = call(served, "GET", f"/images/{first_image}/annotations", user="annotator")
    assert sorted(a["score"] for a in body["annotations"]) == pytest.approx([0.8, 0.9])
    status, body = call(served, "POST", f"/jobs/{job_id}/cancel")
    assert status == 409 and body["error"]["code"] == "conflict", body


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"type": "score", "model_id": "x"}, 422, "model_id"),
    ({"type": "score", "model_id": "MODEL", "aggregate": "median"}, 422, "aggregate"),
    ({"type": "score", "model_id": "MODEL", "threshold": 0.5}, 422, "threshold"),
    ({"type": "train"}, 422, "architecture"),
    ({"type": "prelabel"}, 422, "model_id"),
    ({"type": "prelabel", "model_id": "nope"}, 422, "model_id"),
    ({"type": "prelabel", "model_id": "MODEL", "iou": -1}, 422, "iou"),
    ({"type": "prelabel", "model_id": "MODEL", "images": ["nope"]}, 422, "images[0]"),
    ({"type": "prelabel", "model_id": "MODEL", "colour": "red"}, 422, "colour"),
    ({"type": "prelabel", "model_id": "RETIRED"}, 409, "model_id"),
    ([], 422, "body"),
])
def test_bad_job_requests_are_clear(served: dict[str, Any], body: Any, status: int,
                                    field: str) -> None:
    if isinstance(body, dict) and body.get("model_id") in ("MODEL", "RETIRED"):
        body = {**body, "model_id": served["model_id" if body["model_id"] == "MODEL"
                                          else "retired_id"]}
    got, answer = call(served, "POST", f"/projects/{served['project_id']}/jobs", body)
    assert got == status, answer
    assert answer["error"]["details"]["field"] == field
    assert answer["error"]["message"]


def test_reading_jobs_needs_a_role(served: dict[str, Any]) -> None:
    status, body = call(served, "GET", "/jobs/00000000-0000-0000-0000-000000000000",
                        user="annotator")
    assert status == 404
    status, body = call(served, "POST", f"/projects/{served['project_id']}/jobs",
                        {"type": "prelabel", "model_id": served["model_id"]}, user="annotator")
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_the_openapi_document_lists_the_job_routes(served: dict[str, Any]) -> None:
    status, doc = http_json(served["node"].port, "GET", "/api/v1/openapi.json")
    assert status == 200
    for path in ("/api/v1/projects/{project_id}/jobs", "/api/v1/jobs/{job_id}",
                 "/api/v1/jobs/{job_id}/cancel"):
        assert path in doc["paths"]
    assert "202" in doc["paths"]["/api/v1/projects/{project_id}/jobs"]["post"]["responses"]
