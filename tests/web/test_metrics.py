"""``GET /metrics`` and the request log, against real ``labelwright serve`` processes.

One node (embedded SQLite, seeded users and images) answers the metrics tests: who may scrape,
that the text parses with prometheus-client's own parser, that counters move after requests
and commands (labelled by route *template*, never a raw path), that the WebSocket gauges follow
a connection, and that each read model's position and lag are there. A second node logs JSON
(``LABELWRIGHT_LOG_FORMAT=json``): its stderr must be JSON lines with the request fields and
never contain a token or a password, after a login, token use, a user created with a password
and a WebSocket opened with ``?token=``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tests.realtime.nodes import Deployment, Node, http_json
from tests.realtime.wsclient import LiveClient
from tests.web.conftest import Site, sqlite_settings

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
COMMANDS_ROUTE = "/api/v1/images/{image_id}/commands"


def request(port: int, method: str, path: str, token: str | None = None, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=payload, headers=sent)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def scrape(node: Node, token: str) -> Samples:
    status, headers, body = request(node.port, "GET", "/metrics", token)
    assert status == 200, body[:300]
    assert headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def box(label: str = "cat") -> dict[str, Any]:
    return {"type": "create", "annotation": {"type": "box", "label": label,
                                             "geometry": {"x": 5, "y": 5, "w": 20, "h": 10}}}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("metrics") / "data")
    d.seed(images=3)
    d.start_node()
    yield d
    d.stop_all()


@pytest.fixture(scope="module")
def node(deployment: Deployment) -> Node:
    return deployment.nodes[0]


# -- who may scrape ------------------------------------------------------------------------------


def test_an_admin_scrapes_text_that_prometheus_parses(deployment: Deployment, node: Node
                                                      ) -> None:
    samples = scrape(node, deployment.tokens["admin"])
    names = {name for name, _ in samples}
    for expected in ("labelwright_event_log_head", "labelwright_writer_backlog",
                     "labelwright_websocket_connections", "labelwright_realtime_room_members",
                     "labelwright_realtime_resyncs_total",
                     "labelwright_realtime_dropped_messages_total",
                     "labelwright_jobs_unfinished", "process_resident_memory_bytes"):
        assert expected in names, expected


def test_anyone_else_is_refused(deployment: Deployment, node: Node) -> None:
    status, _, body = request(node.port, "GET", "/metrics")
    assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"
    status, _, body = request(node.port, "GET", "/metrics", "lw_" + "x" * 43)
    assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"
    for user in ("ann1", "manager", "reviewer", "outsider"):
        status, _, body = request(node.port, "GET", "/metrics", deployment.tokens[user])
        assert status == 403, user
        assert json.loads(body)["error"]["code"] == "forbidden"


def test_metrics_turned_off_answer_404(tmp_path: Path) -> None:
    site = Site(sqlite_settings(tmp_path / "data", metrics=False))
    try:
        assert site.services.metrics is None
        assert site.services.pipeline.observer is None
        # (Site.get would put /api/v1 in front of the path.)
        response = site.client.get("/metrics", headers=site.headers("admin"))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert site.client.get("/metrics", headers=site.headers("annotator")).status_code == 403
        assert site.client.get("/metrics").status_code == 401
    finally:
        site.close()


# -- counters ----------------------------------------------------------------------------------


def test_requests_and_commands_are_counted_by_template_and_outcome(
        deployment: Deployment, node: Node) -> None:
    admin = deployment.tokens["admin"]
    image_id = deployment.image_ids[0]
    before = scrape(node, admin)
    path = f"/api/v1/images/{image_id}/commands"
    ok, _, body = request(node.port, "POST", path, deployment.tokens["ann1"], box())
    assert ok == 200, body
    refused, _, body = request(node.port, "POST", path, deployment.tokens["ann1"], box("zebra"))
    assert refused == 422, body
    forbidden, _, _ = request(node.port, "POST", path, deployment.tokens["outsider"], box())
    assert forbidden == 403
    missing, _, _ = request(node.port, "GET", f"/api/v1/nowhere/{uuid.uuid4()}", admin)
    assert missing == 404
    after = scrape(node, admin)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("labelwright_http_requests_total", method="POST", route=COMMANDS_ROUTE,
                 status="200") == 1
    assert moved("labelwright_http_requests_total", method="POST", route=COMMANDS_ROUTE,
                 status="422") == 1
    assert moved("labelwright_http_requests_total", method="POST", route=COMMANDS_ROUTE,
                 status="403") == 1
    assert moved("labelwright_http_requests_total", method="GET", route="unmatched",
                 status="404") == 1
    assert moved("labelwright_http_request_duration_seconds_count", method="POST",
                 route=COMMANDS_ROUTE) == 3
    assert moved("labelwright_commands_total", type="create", outcome="ok") == 1
    assert moved("labelwright_commands_total", type="create", outcome="validation") == 1
    assert moved("labelwright_commands_total", type="create", outcome="forbidden") == 1
    assert moved("labelwright_writer_events_total") >= 1
    assert moved("labelwright_writer_commit_seconds_count") >= 1
    assert moved("labelwright_writer_batch_requests_count") >= 1
    assert moved("labelwright_http_requests_total", method="GET", route="/metrics",
                 status="200") == 1
    # Route labels are templates: no image id (or any other id) in any label value.
    for _, labels in after:
        for _, label in labels:
            assert image_id not in label and "nowhere" not in label


def test_each_read_model_has_a_position_and_a_lag(deployment: Deployment, node: Node) -> None:
    admin = deployment.tokens["admin"]
    status, body = http_json(node.port, "GET", "/api/v1/projections", admin)
    assert status == 200
    names = {p["name"] for p in body["projections"]}
    deadline = time.monotonic() + 10
    while True:
        samples = scrape(node, admin)
        head = value(samples, "labelwright_event_log_head")
        lags = {name: value(samples, "labelwright_projection_lag_events", projection=name)
                for name in names}
        present = {name for name in names
                   if ("labelwright_projection_lag_events",
                       frozenset({("projection", name)})) in samples}
        assert present == names
        if all(lag == 0 for lag in lags.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert head >= 1 and all(lag == 0 for lag in lags.values()), lags
    for name in names:
        assert value(samples, "labelwright_projection_position", projection=name) == head


def test_websocket_gauges_follow_connect_and_disconnect(deployment: Deployment,
                                                        node: Node) -> None:
    admin = deployment.tokens["admin"]

    def gauges() -> tuple[float, float]:
        s = scrape(node, admin)
        return (value(s, "labelwright_websocket_connections"),
                value(s, "labelwright_realtime_room_members"))

    def until(expected: tuple[float, float]) -> tuple[float, float]:
        deadline = time.monotonic() + 10
        seen = gauges()
        while seen != expected and time.monotonic() < deadline:
            time.sleep(0.05)
            seen = gauges()
        return seen

    assert until((0, 0)) == (0, 0)

    async def scenario() -> list[tuple[float, float]]:
        seen = []
        client = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"])
        other = await LiveClient.connect(node.ws_url, deployment.tokens["ann2"])
        seen.append(await asyncio.to_thread(until, (2, 0)))
        await client.send({"op": "join", "room": f"image:{deployment.image_ids[1]}"})
        await client.wait_for(lambda m: m.get("op") == "joined")
        seen.append(await asyncio.to_thread(until, (2, 1)))
        await other.close()
        seen.append(await asyncio.to_thread(until, (1, 1)))
        await client.close()
        return seen

    assert asyncio.run(scenario()) == [(2, 0), (2, 1), (1, 1)]
    assert until((0, 0)) == (0, 0)


# -- request ids --------------------------------------------------------------------------------


def test_a_valid_request_id_is_returned_and_others_are_replaced(node: Node) -> None:
    status, headers, _ = request(node.port, "GET", "/healthz",
                                 headers={"X-Request-ID": "trace-42.a:b_c"})
    assert status == 200 and headers["x-request-id"] == "trace-42.a:b_c"
    status, headers, _ = request(node.port, "GET", "/healthz")
    assert len(headers["x-request-id"]) == 32


def _malformed_on_the_wire(text: str) -> bool:
    """Whether ``text`` is not a valid request id as the server receives it: HTTP drops the
    spaces around a header value, so " 0" arrives as the valid id "0" (hypothesis found it)."""
    value = text.strip()
    return (not value or not value[0].isalnum()
            or any(not (ch.isalnum() or ch in "._:-") for ch in value))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).filter(
        _malformed_on_the_wire),
    st.text(alphabet="abc123", min_size=129, max_size=300)))
def test_a_malformed_request_id_is_never_echoed(node: Node, raw: str) -> None:
    status, headers, _ = request(node.port, "GET", "/healthz", headers={"X-Request-ID": raw})
    assert status == 200
    assert headers["x-request-id"] != raw.strip() or raw.strip() == ""
    assert len(headers["x-request-id"]) == 32


# -- JSON logs without secrets --------------------------------------------------------------------


def test_json_logs_carry_the_request_fields_and_no_secret(tmp_path: Path) -> None:
    d = Deployment(tmp_path / "data")
    d.seed(images=1)
    node = d.start_node(env={"LABELWRIGHT_LOG_FORMAT": "json"})
    secrets: list[str] = ["password123"]
    try:
        status, _, body = request(node.port, "POST", "/api/v1/auth/login",
                                  body={"username": "ann1", "password": "password123"})
        assert status == 200, body
        login = json.loads(body)["token"]
        secrets.append(login)
        new_password = "correct-horse-" + uuid.uuid4().hex
        secrets.append(new_password)
        status, _, body = request(node.port, "POST", "/api/v1/users", d.tokens["admin"],
                                  {"username": "newcomer", "password": new_password})
        assert status == 201, body
        status, _, body = request(node.port, "POST",
                                  f"/api/v1/images/{d.image_ids[0]}/commands", login, box(),
                                  headers={"X-Request-ID": "client-trace-1"})
        assert status == 200, body
        status, _, _ = request(node.port, "POST", "/api/v1/auth/login",
                               body={"username": "ann1", "password": "wrong-" + login[3:12]})
        assert status == 401
        secrets.append("wrong-" + login[3:12])

        async def websocket() -> None:
            client = await LiveClient.connect(node.ws_url, login)
            await client.send({"op": "join", "room": f"image:{d.image_ids[0]}"})
            await client.wait_for(lambda m: m.get("op") == "joined")
            await client.close()

        asyncio.run(websocket())
        secrets += list(d.tokens.values())
    finally:
        node.stop()
    text = node.log()
    for secret in secrets:
        assert secret not in text, "a secret reached the log"
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    commands = [line for line in lines if line.get("route") == COMMANDS_ROUTE]
    assert len(commands) == 1
    (line,) = commands
    assert line["method"] == "POST" and line["status"] == 200
    assert line["request_id"] == "client-trace-1" and line["user"] == "ann1"
    assert line["image_id"] == d.image_ids[0]
    assert isinstance(line["duration_ms"], float | int)
    logins = [line for line in lines if line.get("route") == "/api/v1/auth/login"]
    assert [(x["status"], x["user"]) for x in logins] == [(200, None), (401, None)]
    assert all(len(x["request_id"]) == 32 for x in logins)
    assert any(line["logger"].startswith("uvicorn") for line in lines)
