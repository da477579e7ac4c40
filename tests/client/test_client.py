"""labelwright.client against a real ``labelwright serve``: what a data scientist does in a
notebook, end to end, and the errors they meet."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image as PILImage
from pycocotools.coco import COCO

from inference_workers.synthetic_shapes import make_shapes
from labelwright.client import Client, JobFailed, LabelwrightError
from tests.client.conftest import ADMIN, MANAGER, LiveServer

# One server and one scene per module: keep its tests on one xdist worker.
pytestmark = pytest.mark.xdist_group("client-end-to-end")

SHAPES = ["circle", "rectangle", "triangle"]


def shapes_folder(folder: Path, n: int, seed: int = 7) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, shapes in enumerate(make_shapes(n, (320, 320), seed=seed, max_shapes=3)):
        path = folder / f"shape-{i:02d}.png"
        PILImage.fromarray(shapes.image).save(path)
        paths.append(path)
    return paths


def demo_model() -> tuple[Path, Path]:
    folder = resources.files("inference_workers") / "demo_model"
    return (Path(str(folder / "shapes-centernet.safetensors")),
            Path(str(folder / "classes.txt")))


def test_a_notebook_session_end_to_end(live: LiveServer, tmp_path: Path) -> None:
    lw = Client.login(live.url, *ADMIN)
    assert lw.token not in repr(lw) and "admin" in repr(lw)
    project = lw.create_project("client e2e", SHAPES)
    pid = project["id"]
    assert lw.project(pid)["classes"][0]["name"] == "circle"
    assert pid in [p["id"] for p in lw.projects()]
    lw.set_member(pid, MANAGER[0], "manager")

    # A folder of images, one of them broken: the rest go in, the broken one is reported.
    paths = shapes_folder(tmp_path / "photos", 7)
    broken = tmp_path / "photos" / "shape-03.png"
    broken.write_bytes(broken.read_bytes()[:200])  # truncated
    seen: list[tuple[int, int]] = []
    uploaded = lw.upload_images(pid, tmp_path / "photos", batch_files=3,
                                progress=lambda done, total: seen.append((done, total)))
    assert [e.path.name for e in uploaded.errors] == ["shape-03.png"]
    assert uploaded.errors[0].code == "validation" and uploaded.errors[0].status == 422
    assert [r["file_name"] for r in uploaded.images] == [
        p.name for p in paths if p != broken]
    assert seen[-1] == (7, 7) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    again = lw.upload_images(pid, [paths[0]])  # the same bytes: the same image
    assert again.images[0]["id"] == uploaded.images[0]["id"] and not again.errors
    rows = lw.images(pid)
    assert [r["file_name"] for r in rows] == [r["file_name"] for r in uploaded.images]
    assert len(lw.images(pid, limit=2)) == 2
    ids = {r["file_name"]: r["id"] for r in rows}

    # The shipped demo detector, registered and run as a pre-label job.
    weights, classes = demo_model()
    model = lw.register_model(pid, weights, classes=classes, architecture="centernet",
                              name="shapes-centernet", version="1")
    assert model["classes"] == SHAPES and model["unmapped"] == []
    job = lw.start_job(pid, {"type": "prelabel", "model_id": model["id"], "images": "all"})
    assert job["state"] == "queued"
    finished = lw.wait_for_job(job["id"], timeout=300, poll=0.2)
    assert finished["state"] == "done" and finished["done"] == 6 and finished["recorded"] > 0

    # Predictions from elsewhere: COCO results, as a file.
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"image_id": "shape-00.png", "category_id": 2,
                                    "bbox": [5, 6, 30, 20], "score": 0.5}]))
    imported = lw.import_predictions(pid, "outside@2", results)
    assert (imported["images"], imported["annotations"]) == (1, 1)
    assert lw.last_position == imported["position"]

    # People act: accept the job's pre-labels of the first image, draw a box.
    first = ids["shape-00.png"]
    labels = lw.get(f"/images/{first}/annotations", min_position=imported["position"])
    job_labels = [a for a in labels["annotations"] if a["model"]["name"] == "shapes-centernet"]
    assert job_labels
    for a in job_labels:
        lw.request("POST", f"/images/{first}/commands",
                   json={"type": "accept", "annotation_id": a["id"]})
    drawn = lw.request("POST", f"/images/{first}/commands", json={
        "type": "create", "annotation": {"type": "box", "label": "triangle",
                                         "geometry": {"x": 100, "y": 110, "w": 40, "h": 30}}})
    pinned = drawn["position"]
    assert lw.last_position == pinned and lw.head() >= pinned
    # Later work is not in an export as of the pinned position.
    lw.request("POST", f"/images/{ids['shape-01.png']}/commands", json={
        "type": "create", "annotation": {"type": "box", "label": "circle",
                                         "geometry": {"x": 1, "y": 1, "w": 9, "h": 9}}})

    out = lw.export(pid, "coco", position=pinned, dest=tmp_path / "export")
    assert out.path.parent == tmp_path / "export" and out.path.suffix == ".json"
    assert out.position == pinned and out.media_type == "application/json"
    assert out.sha256 == hashlib.sha256(out.path.read_bytes()).hexdigest()
    coco = COCO(str(out.path))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert [names[i] for i in sorted(names)] == SHAPES
    by_file = {img["file_name"]: img["id"] for img in coco.dataset["images"]}
    anns = coco.loadAnns(coco.getAnnIds())
    assert all(a["image_id"] == by_file["shape-00.png"] for a in anns)
    assert len(anns) == len(job_labels) + 1
    assert [100, 110, 40, 30] in [[round(v) for v in a["bbox"]] for a in anns]
    assert int(coco.annToMask(anns[0]).sum()) > 0
    # The same position again: the same bytes; into a named file this time.
    twice = lw.export(pid, "coco", position=pinned, dest=tmp_path / "again.json")
    assert twice.path == tmp_path / "again.json" and twice.sha256 == out.sha256
    now = lw.export(pid, "coco", dest=tmp_path / "now.json")
    assert now.sha256 != out.sha256 and now.position >= pinned


def test_errors_carry_the_api_code_and_status(live: LiveServer, tmp_path: Path) -> None:
    with Client(live.url, "not-a-token") as bad:
        with pytest.raises(LabelwrightError) as caught:
            bad.projects()
        assert (caught.value.code, caught.value.status) == ("unauthorized", 401)
        assert "not-a-token" not in str(caught.value) and "not-a-token" not in repr(bad)
    with pytest.raises(LabelwrightError) as caught:
        Client.login(live.url, "admin", "wrong password")
    assert caught.value.code == "unauthorized"

    lw = Client.login(live.url + "/api/v1/", *ADMIN)  # the API root works as base URL too
    with pytest.raises(LabelwrightError) as caught:
        lw.project("no-such-project")
    assert (caught.value.code, caught.value.status) == ("not_found", 404)
    with pytest.raises(LabelwrightError) as caught:
        lw.create_project("x", [])
    assert caught.value.code == "validation" and caught.value.details["field"]
    project = lw.create_project("client errors", SHAPES)
    with pytest.raises(LabelwrightError) as caught:
        lw.export(project["id"], "coco", position=10**9, dest=tmp_path)
    assert caught.value.code == "validation" and caught.value.details["field"] == "position"
    assert list(tmp_path.iterdir()) == []  # a refused export leaves no file
    with pytest.raises(LabelwrightError) as caught:
        lw.export(project["id"], "no-such-format", dest=tmp_path)
    assert caught.value.code == "validation" and caught.value.details["field"] == "format"

    manager = Client.login(live.url, *MANAGER)
    with pytest.raises(LabelwrightError) as caught:
        manager.project(project["id"])
    assert (caught.value.code, caught.value.status) == ("forbidden", 403)
    manager.logout()
    with pytest.raises(LabelwrightError) as caught:
        manager.me()
    assert caught.value.code == "unauthorized"


def test_a_cancelled_job_raises(live: LiveServer, tmp_path: Path) -> None:
    lw = Client.login(live.url, *ADMIN)
    pid = lw.create_project("client cancel", SHAPES)["id"]
    lw.upload_images(pid, shapes_folder(tmp_path / "photos", 12, seed=11))
    weights, classes = demo_model()
    model = lw.register_model(pid, weights, classes=classes, architecture="centernet")
    job = lw.start_job(pid, {"type": "prelabel", "model_id": model["id"]})
    try:
        lw.cancel_job(job["id"])
    except LabelwrightError as e:  # it finished first: nothing to see here
        assert e.code == "conflict"
        pytest.skip("the job finished before it could be cancelled")
    with pytest.raises(JobFailed) as caught:
        lw.wait_for_job(job["id"], timeout=60, poll=0.1)
    assert caught.value.code == "job_cancelled" and caught.value.job["state"] == "cancelled"
    with pytest.raises(LabelwrightError) as caught:
        lw.wait_for_job(job["id"], timeout=0)  # already ended: answers at once, no timeout
    assert caught.value.code == "job_cancelled"


def test_waiting_for_a_running_job_times_out(live: LiveServer, tmp_path: Path) -> None:
    lw = Client.login(live.url, *ADMIN)
    pid = lw.create_project("client timeout", SHAPES)["id"]
    lw.upload_images(pid, shapes_folder(tmp_path / "photos", 30, seed=12))
    weights, classes = demo_model()
    model = lw.register_model(pid, weights, classes=classes, architecture="centernet")
    job = lw.start_job(pid, {"type": "prelabel", "model_id": model["id"]})
    with pytest.raises(LabelwrightError) as caught:
        lw.wait_for_job(job["id"], timeout=0.05, poll=0.01)
    assert lw.cancel_job(job["id"])["state"] == "cancelled"
    assert caught.value.code == "timeout" and caught.value.details["job_id"] == job["id"]



def test_a_failed_job_raises_with_its_error_code(live: LiveServer, tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    lw = Client.login(live.url, *ADMIN)
    pid = lw.create_project("client failed job", SHAPES)["id"]
    lw.upload_images(pid, shapes_folder(tmp_path / "photos", 2, seed=13))
    weights, classes = demo_model()
    # The demo weights with other bytes (their own sha256), so removing them from the model
    # store touches no other test's model.
    own = tmp_path / "own.safetensors"
    save_file(load_file(weights), own, metadata={"copy": "client failed job"})
    model = lw.register_model(pid, own, classes=classes, architecture="centernet")
    sha = model["sha256"]
    (live.deployment.data_dir / "models" / sha[:2] / sha[2:4] / sha).unlink()
    job = lw.start_job(pid, {"type": "prelabel", "model_id": model["id"]})
    with pytest.raises(JobFailed) as caught:
        lw.wait_for_job(job["id"], timeout=120, poll=0.1)
    assert caught.value.code == "model_missing" and caught.value.job["state"] == "failed"
    assert "missing" in caught.value.message


def test_a_long_lived_api_token_from_the_cli_works_until_revoked(live: LiveServer) -> None:
    """``labelwright token create NAME`` on the server, then ``Client(url, token=...)``: no
    password in the notebook. The token is checked against the server's stored hash."""
    created = subprocess.run(
        [str(Path(sys.executable).with_name("labelwright")), "token", "create", MANAGER[0],
         "--label", "notebook"],
        env=live.deployment.env(), capture_output=True, text=True, timeout=120, check=True)
    token = created.stdout.strip().splitlines()[-1]
    lw = Client(live.url, token=token)
    assert lw.me()["username"] == MANAGER[0]
    project = Client.login(live.url, *ADMIN).create_project("api token", SHAPES)
    assert isinstance(lw.projects(), list)  # a manager of no project yet: an empty list
    with pytest.raises(LabelwrightError) as refused:
        lw.project(project["id"])
    assert refused.value.status in (403, 404)
    lw.logout()  # revokes the token it holds
    with pytest.raises(LabelwrightError) as gone:
        lw.me()
    assert gone.value.status == 401
