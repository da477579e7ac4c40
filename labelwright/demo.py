"""``labelwright demo``: a small, realistic project to try the service with.

Real photographs that ship inside scikit-image (no download), a few classes, pre-labels from
an imaginary detector with plausible boxes and scores (some right, some slightly off, some
wrong, as a real model's are), coin masks from a classic segmentation, users for every role,
and a little history (accepted, edited, rejected pre-labels; a submitted and reviewed image)
so the metrics have something to show. A second project, "Demo: shapes", has a registered
detector to run from the Models page (``labelwright.demo_shapes``). Idempotent: a second run
finds the marker files and only makes sure the users exist.
"""

from __future__ import annotations

import io
import json
from typing import Any
from uuid import UUID

from PIL import Image as PILImage

from domain import rle
from domain.command_pipeline import Actor
from domain.commands import parse_command, parse_prelabel
from labelwright.data_dir import create_private_file
from labelwright.demo_shapes import create_shapes_demo
from service_layer.image_file_import import register_images

PROJECT = "Demo: everyday objects"
CLASSES = [
    {"name": "person", "color": "#e6194b"}, {"name": "cat", "color": "#f58231"},
    {"name": "cup", "color": "#4363d8"}, {"name": "rocket", "color": "#3cb44b"},
    {"name": "motorcycle", "color": "#911eb4"}, {"name": "coin", "color": "#bfef45"},
    {"name": "flag", "color": "#42d4f4"},
]
LOGINS = [("admin", "admin-demo-pw", "admin"), ("maria", "maria-demo-pw", "manager"),
          ("ana", "ana-demo-pw", "annotator"), ("arjun", "arjun-demo-pw", "annotator"),
          ("rui", "rui-demo-pw", "reviewer")]
MODEL = ("demo-detector", "2026.11")

# file -> boxes (label, x, y, w, h, score): plausible detector output on these photographs.
BOXES: dict[str, list[tuple[str, float, float, float, float, float]]] = {
    "astronaut.png": [("person", 22, 14, 345, 498, 0.96), ("rocket", 352, 0, 118, 286, 0.71),
                      ("flag", 0, 0, 98, 510, 0.58), ("cup", 280, 345, 230, 167, 0.22)],
    "chelsea.png": [("cat", 4, 0, 440, 300, 0.97)],
    "coffee.png": [("cup", 168, 12, 252, 296, 0.91), ("cup", 322, 66, 104, 258, 0.34)],
    "rocket.jpg": [("rocket", 301, 124, 41, 288, 0.88), ("rocket", 438, 118, 34, 292, 0.41)],
    "motorcycle.png": [("motorcycle", 92, 88, 596, 365, 0.95), ("person", 40, 100, 60, 200,
                                                                  0.12)],
}


def _sample_images() -> list[tuple[str, bytes]]:
    import skimage.data as data

    arrays = {"astronaut.png": data.astronaut(), "chelsea.png": data.chelsea(),
              "coffee.png": data.coffee(), "rocket.jpg": data.rocket(),
              "motorcycle.png": data.stereo_motorcycle()[0], "coins.png": data.coins(),
              "camera.png": data.camera(), "hubble.jpg": data.hubble_deep_field()}
    out = []
    for name, array in arrays.items():
        buf = io.BytesIO()
        PILImage.fromarray(array).save(buf, format="JPEG" if name.endswith(".jpg") else "PNG",
                                       quality=92)
        out.append((name, buf.getvalue()))
    return out


def _coin_masks() -> list[tuple[dict[str, Any], float]]:
    """Coins segmented the textbook way (Otsu threshold, hole filling, labelling)."""
    import skimage.data as data
    from scipy import ndimage
    from skimage import filters, measure, morphology

    coins = data.coins()
    mask = coins > filters.threshold_otsu(coins)
    mask = ndimage.binary_fill_holes(morphology.closing(mask, morphology.disk(2)))
    labels = measure.label(mask)
    out = []
    for region in measure.regionprops(labels):
        if region.area < 300:
            continue
        score = float(min(0.99, 0.5 + 0.5 * region.solidity * region.extent))
        out.append((rle.encode(labels == region.label), round(score, 3)))
    return out


def create_demo(services: Any) -> dict[str, Any]:
    """Create (or find) the demo project; return its id, name and the demo logins."""
    app = services.app
    for name, password, role in LOGINS:
        if app.find_user(name) is None:
            app.register_user(name, password, is_admin=(role == "admin"))
    shapes = create_shapes_demo(
        services, [(name, role) for name, _pw, role in LOGINS if role != "admin"])
    marker = services.settings.data_dir / "demo.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        return {**info, "shapes": shapes, "logins": LOGINS}
    project, _ = app.create_project(PROJECT, CLASSES, None, "admin")
    pid = str(project.id)
    for name, _pw, role in LOGINS:
        if role != "admin":
            app.set_member(pid, name, role, "admin")
    images = {img["file_name"]: img["id"]
              for img in register_images(services, pid, _sample_images(), "admin")}
    pipeline = services.pipeline
    model = Actor("maria", trusted=True)
    proposed: dict[str, list[str]] = {}
    for file_name, boxes in BOXES.items():
        commands = [parse_prelabel({"type": "box", "label": label, "score": score,
                                    "geometry": {"x": x, "y": y, "w": w, "h": h}}, *MODEL)
                    for label, x, y, w, h, score in boxes]
        result = pipeline.execute(UUID(images[file_name]), commands, model)
        proposed[file_name] = [e["data"]["annotation_id"] for e in result.events]
    coins = [parse_prelabel({"type": "mask", "label": "coin", "score": score,
                             "geometry": {"rle": mask}}, "demo-segmenter", "0.3")
             for mask, score in _coin_masks()]
    pipeline.execute(UUID(images["coins.png"]), coins, model)

    def act(file_name: str, user: str, raw: dict[str, Any]) -> None:
        pipeline.execute(UUID(images[file_name]), [parse_command(raw)], Actor(user))

    chelsea, coffee, rocket = proposed["chelsea.png"], proposed["coffee.png"], proposed[
        "rocket.jpg"]
    act("chelsea.png", "ana", {"type": "accept", "annotation_id": chelsea[0]})
    act("chelsea.png", "ana", {"type": "submit"})
    act("chelsea.png", "rui", {"type": "review", "verdict": "approve"})
    act("coffee.png", "ana", {"type": "edit", "annotation_id": coffee[0],
                              "changes": {"geometry": {"x": 172, "y": 14, "w": 240, "h": 292}}})
    act("coffee.png", "ana", {"type": "delete", "annotation_id": coffee[1]})
    act("coffee.png", "ana", {"type": "create", "annotation": {
        "type": "polygon", "label": "cup", "geometry": {"points": [
            [80, 160], [200, 75], [420, 95], [478, 230], [420, 330], [250, 385], [110, 320]]}}})
    act("coffee.png", "ana", {"type": "submit"})
    act("coffee.png", "rui", {"type": "review", "verdict": "reject",
                              "comment": "the polygon is the saucer, not a cup"})
    act("rocket.jpg", "arjun", {"type": "accept", "annotation_id": rocket[0]})
    act("rocket.jpg", "arjun", {"type": "delete", "annotation_id": rocket[1]})
    act("rocket.jpg", "arjun", {"type": "assist", "mode": "extreme_points", "label": "rocket",
                                "points": [[303, 300], [322, 126], [341, 300], [322, 410]]})
    info = {"project_id": pid, "project_name": PROJECT}
    create_private_file(marker)  # the data dir's files are 0600 (labelwright.data_dir)
    marker.write_text(json.dumps(info))
    return {**info, "shapes": shapes, "logins": LOGINS}

