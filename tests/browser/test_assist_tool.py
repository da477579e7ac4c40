"""The assist tool (clicks → a previewed proposal → Enter) and mask editing in the browser:
brush, eraser, moving a mask, mask to polygon, undo/redo, and another person seeing the edits
live. The stored masks are decoded with pycocotools, the browser's RLE encoder and outline
tracer are checked against pycocotools too."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from tests.browser.lab import (
    DemoServer,
    drag,
    expect,
    log_in,
    open_image,
    pending_settled,
    shot,
    to_screen,
)

pytestmark = pytest.mark.browser


def coco_rle(mask: np.ndarray) -> dict[str, Any]:
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode()}


def decode(geometry: dict[str, Any]) -> np.ndarray:
    rle = geometry["rle"]
    return np.asarray(coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()}))


def labels(server: DemoServer, image_id: str) -> dict[str, Any]:
    return {a["id"]: a for a in server.api("admin").labels(image_id)["annotations"]}


def selected(page: Any) -> str:
    page.wait_for_function("window.__lw.editor.selection.length === 1")
    return str(page.evaluate("window.__lw.editor.selection[0]"))


def test_rle_encoder_and_outline_match_pycocotools(server: DemoServer, new_context: Any) -> None:
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    rng = np.random.default_rng(5)
    cases = [np.zeros((7, 5), np.uint8), np.ones((4, 6), np.uint8),
             (rng.random((40, 33)) > 0.6).astype(np.uint8)]
    blob = np.zeros((120, 90), np.uint8)
    blob[20:70, 10:60] = 1
    blob[60:100, 40:80] = 1
    blob[5:8, 85:88] = 1  # a speck: the polygon keeps the largest component only
    cases.append(blob)
    out = page.evaluate("""async (rles) => {
      const { decodeMask, encodeMask } = await import('/static/js/rle.js');
      const { maskToPolygon } = await import('/static/js/mask_outline.js');
      return rles.map((rle) => { const m = decodeMask(rle);
        return { rle: encodeMask(m), polygon: maskToPolygon(m) }; });
    }""", [coco_rle(m) for m in cases])
    for m, got in zip(cases, out, strict=True):
        assert got["rle"] == coco_rle(m)  # byte-identical counts, what pycocotools writes
    # The traced outline of the blob covers its largest component (polygon IoU, pycocotools).
    h, w = blob.shape
    ring = [v for p in out[-1]["polygon"] for v in p]
    poly = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([ring], h, w)))
    main = blob.copy()
    main[5:8, 85:88] = 0
    inter, union = np.logical_and(poly, main).sum(), np.logical_or(poly, main).sum()
    assert inter / union > 0.97
    assert len(out[-1]["polygon"]) <= 12  # two rectangles' outline: a handful of corners
    errors.check()


def test_brush_eraser_move_to_polygon_undo_and_live(server: DemoServer,
                                                     new_context: Any) -> None:
    image = server.new_image()
    iid = image["id"]
    start = np.zeros((image["height"], image["width"]), np.uint8)
    start[100:180, 100:200] = 1  # rows y 100..179, columns x 100..199
    mask_id = str(uuid.uuid4())
    server.api("ana").command(iid, {"type": "create", "annotation": {
        "id": mask_id, "type": "mask", "label": "cup", "geometry": {"rle": coco_rle(start)}}})

    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    other = new_context().new_page()
    other_errors = log_in(other, server.base, "arjun")
    open_image(other, server.base, iid)
    # Arjun zooms out: his masks come from the composited atlas, which must follow edits.
    other.keyboard.press("-")
    other.keyboard.press("-")
    other.wait_for_function("window.__lw.editor.renderer.atlas"
                            " && window.__lw.editor.renderer.atlas.repaints > 0")
    repaints = other.evaluate("window.__lw.editor.renderer.atlas.repaints")

    # Brush: select the mask, take the brush, make it larger with ], paint to the right.
    page.mouse.click(*to_screen(page, 150, 140))
    assert selected(page) == mask_id
    page.keyboard.press("d")
    expect(page.locator("#brush-size")).to_be_visible()
    size = page.evaluate("window.__lw.editor.brushSize")
    page.keyboard.press("]")
    page.wait_for_function(f"window.__lw.editor.brushSize > {size}")
    page.evaluate("window.__lw.editor.tools.brush.setSize(10)")
    drag(page, to_screen(page, 190, 140), to_screen(page, 300, 140), steps=12)
    pending_settled(page)
    shot(page, "40-mask-brush")
    painted = decode(labels(server, iid)[mask_id]["geometry"])
    assert painted[140, 290] == 1 and painted[140, 250] == 1  # the stroke, radius 10
    assert painted[165, 250] == 0 and painted[115, 290] == 0  # not beyond it
    assert painted[100:180, 100:200].all()  # the mask it was painted on is kept
    # Arjun sees the edit live, decoded from the new RLE (his mask cache follows it).
    other.wait_for_function(f"""() => {{ const ed = window.__lw.editor;
      const a = ed.labels.get('{mask_id}'); return a && a.revision === 2
        && ed.masks.mask(a).area === {int(painted.sum())}; }}""")
    shot(other, "41-mask-brush-seen-live")
    # Only the edited mask's rectangle was repainted, and it holds the new stroke.
    other.wait_for_function(f"window.__lw.editor.renderer.atlas.repaints > {repaints}")
    atlas = other.evaluate("""() => { const a = window.__lw.editor.renderer.atlas;
      const px = (x, y) => a.ctx.getImageData(Math.floor(x * a.scale), Math.floor(y * a.scale),
                                              1, 1).data[3];
      return { repaints: a.repaints, stroke: px(290, 140), outside: px(290, 250) }; }""")
    assert atlas["repaints"] <= repaints + 2
    assert atlas["stroke"] > 0 and atlas["outside"] == 0

    # Eraser: a vertical stroke through the middle of the original rectangle.
    page.keyboard.press("x")
    drag(page, to_screen(page, 150, 90), to_screen(page, 150, 190), steps=10)
    pending_settled(page)
    erased = decode(labels(server, iid)[mask_id]["geometry"])
    assert erased[140, 150] == 0 and erased[120, 150] == 0
    assert erased[140, 120] == 1 and erased[140, 180] == 1 and erased[140, 290] == 1

    # Move: drag the mask with the select tool by (+20, +30) pixels.
    page.keyboard.press("v")
    drag(page, to_screen(page, 120, 140), to_screen(page, 140, 170), steps=8)
    pending_settled(page)
    moved = decode(labels(server, iid)[mask_id]["geometry"])
    assert moved.sum() == erased.sum()
    assert (moved[30:, 20:] == erased[:-30, :-20]).all()
    other.wait_for_function(f"window.__lw.editor.labels.get('{mask_id}').revision === 4")

    # Undo the move, then redo it: ordinary edits of the RLE.
    page.keyboard.press("Control+z")
    pending_settled(page)
    assert (decode(labels(server, iid)[mask_id]["geometry"]) == erased).all()
    page.keyboard.press("Control+Shift+z")
    pending_settled(page)
    assert (decode(labels(server, iid)[mask_id]["geometry"]) == moved).all()

    # Mask to polygon: the mask is replaced by the outline of its largest part, same class.
    page.mouse.click(*to_screen(page, 300, 170))
    assert selected(page) == mask_id
    page.click("#mask-to-polygon")
    poly_id = selected(page)
    pending_settled(page)
    now = labels(server, iid)
    assert mask_id not in now
    poly = now[poly_id]
    assert poly["type"] == "polygon" and poly["label"] == "cup"
    h, w = moved.shape
    ring = [v for p in poly["geometry"]["points"] for v in p]
    raster = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([ring], h, w)))
    # The eraser split the mask in two; the polygon is the larger (right-hand) part.
    right = moved.copy()
    right[:, : 150 + 20] = 0
    overlap = np.logical_and(raster, right).sum() / np.logical_or(raster, right).sum()
    assert overlap > 0.9
    shot(page, "42-mask-to-polygon")

    # Undo brings the mask back (a new id: ids are never reused) and removes the polygon.
    page.keyboard.press("Control+z")
    pending_settled(page)
    now = labels(server, iid)
    assert poly_id not in now
    masks = [a for a in now.values() if a["type"] == "mask"]
    assert len(masks) == 1 and (decode(masks[0]["geometry"]) == moved).all()
    other.wait_for_function(f"""() => [...window.__lw.editor.labels.values()]
      .some((a) => a.type === 'mask' && a.id === '{masks[0]['id']}')""")
    errors.check()
    other_errors.check()


def test_assist_tool_preview_commit_and_refine(server: DemoServer, new_context: Any) -> None:
    """Extreme points → a proposal previewed (nothing recorded) → Enter → an assist annotation;
    then a negative click refines it (a new revision)."""
    iid = server.new_image()["id"]
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    version = server.api("admin").labels(iid)["version"]

    page.keyboard.press("3")  # cup
    page.keyboard.press("m")
    expect(page.locator("#assist-mode")).to_be_visible()
    page.select_option("#assist-mode", "extreme_points")
    page.select_option("#assist-output", "mask")
    # The built-in engine (another test may have given the demo project an interactive model).
    page.wait_for_function("window.__lw.editor.tools.assist.models !== null")
    if page.locator("#assist-engine").is_enabled():  # disabled while there is no other
        page.select_option("#assist-engine", "")
    expect(page.locator("#assist-engine")).to_have_value("")
    for x, y in [(200, 260), (300, 180), (420, 270), (310, 380)]:
        page.mouse.click(*to_screen(page, x, y))
    page.wait_for_function("window.__lw.editor.tools.assist.proposal !== null", timeout=20000)
    proposal = page.evaluate("window.__lw.editor.tools.assist.proposal.type")
    assert proposal == "mask"
    shot(page, "43-assist-preview")
    assert server.api("admin").labels(iid)["version"] == version  # a preview records nothing

    page.keyboard.press("Enter")
    made = selected(page)
    pending_settled(page)
    ann = labels(server, iid)[made]
    assert ann["source"] == "assist" and ann["type"] == "mask" and ann["label"] == "cup"
    history = server.api("admin").get(f"/images/{iid}/history", limit=100)["events"]
    clicked = [e for e in history if e["type"] == "AssistClicked"]
    assert len(clicked) == 1 and clicked[0]["data"]["mode"] == "extreme_points"
    assert len(clicked[0]["data"]["points"]) == 4

    # Refine: with the proposal still selected, a negative (right) click inside it.
    page.mouse.click(*to_screen(page, 310, 280), button="right")
    page.wait_for_function("window.__lw.editor.tools.assist.points.length === 1"
                           " && window.__lw.editor.tools.assist.points[0][2] === -1")
    page.keyboard.press("Enter")
    pending_settled(page)
    refined = labels(server, iid)[made]
    assert refined["revision"] == ann["revision"] + 1
    history = server.api("admin").get(f"/images/{iid}/history", limit=100)["events"]
    clicked = [e for e in history if e["type"] == "AssistClicked"]
    assert len(clicked) == 2 and clicked[1]["data"]["points"][0][2] == -1
    shot(page, "44-assist-refined")

    # Undo takes the refinement back, then the proposal itself.
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+z")
    pending_settled(page)
    assert labels(server, iid)[made]["geometry"] == ann["geometry"]
    page.keyboard.press("Control+z")
    pending_settled(page)
    assert made not in labels(server, iid)
    errors.check()


def test_assist_uses_the_projects_interactive_model(server: DemoServer, new_context: Any,
                                                    tmp_path: Any) -> None:
    """A project with an interactive model: the tool picks it, and its previews and commands
    name it (random MobileSAM weights, registered as the manager over the API)."""
    import torch
    from safetensors.torch import save_file

    from inference_workers.architectures import sam

    torch.manual_seed(0)
    weights = tmp_path / "mobile_sam.safetensors"
    save_file({k: v.half() if v.is_floating_point() else v
               for k, v in sam.build("mobile_sam", 256).state_dict().items()}, str(weights))
    r = server.api("maria").client.post(
        f"/projects/{server.project_id}/models",
        files={"weights": ("mobile_sam.safetensors", weights.read_bytes(),
                           "application/octet-stream")},
        data={"name": "mobile-sam-ui", "task": "interactive", "architecture": "sam",
              "input_size": "256"})
    assert r.status_code == 201, r.text
    model_id = r.json()["model"]["id"]
    server.api("admin").settled()

    iid = server.new_image()["id"]
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    sent: list[Any] = []
    page.on("request", lambda q: sent.append(q.post_data_json)
            if q.url.endswith("/assist/preview") else None)
    page.keyboard.press("3")
    page.keyboard.press("m")
    expect(page.locator("#assist-engine")).to_have_value(model_id)
    expect(page.locator("#assist-engine option", has_text="mobile-sam-ui")).to_have_count(1)
    page.mouse.click(*to_screen(page, 300, 250))
    page.wait_for_function("window.__lw.editor.tools.assist.proposal !== null", timeout=30000)
    assert sent and sent[-1]["model_id"] == model_id and sent[-1]["mode"] == "clicks"
    assert page.evaluate("window.__lw.editor.tools.assist.proposal.type") == "mask"
    page.keyboard.press("Enter")
    made = selected(page)
    pending_settled(page)
    assert labels(server, iid)[made]["source"] == "assist"
    history = server.api("admin").get(f"/images/{iid}/history", limit=100)["events"]
    clicked = [e for e in history if e["type"] == "AssistClicked"]
    assert clicked[0]["data"]["model_id"] == model_id
    shot(page, "45-assist-interactive-model")
    errors.check()
