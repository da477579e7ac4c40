"""The classical assist engine: GrabCut proposals from a box, extreme points or clicks on a
picture with a known object (a disk and a rectangle on a textured background)."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import cv2
import numpy as np
import pytest

from domain import geometry as g
from domain import rle
from domain.assist import AssistRequest, ImageFacts
from domain.errors import ValidationFailed
from inference_workers.assist_grabcut import GrabCutEngine

W, H = 320, 240
DISK = (110, 120, 50)  # cx, cy, r
RECT = (200, 60, 290, 200)  # x0, y0, x1, y1


def _picture() -> np.ndarray:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1, (H // 8, W // 8, 3)).astype(np.float32)
    texture = cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC)
    image = 110 + 25 * texture + rng.normal(0, 6, (H, W, 3))  # green-grey mottled ground
    image[..., 1] += 30
    disk = np.zeros((H, W), np.uint8)
    cv2.circle(disk, DISK[:2], DISK[2], 1, -1)
    image[disk > 0] = np.array((40, 60, 200)) + rng.normal(0, 12, (int(disk.sum()), 3))  # red (BGR)
    x0, y0, x1, y1 = RECT
    blue = np.array((200, 120, 30))
    image[y0:y1, x0:x1] = blue + rng.normal(0, 12, (y1 - y0, x1 - x0, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _disk_mask() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, DISK[:2], DISK[2], 1, -1)
    return m.astype(bool)


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("assist") / "picture.png"
    cv2.imwrite(str(path), _picture())
    return path


@pytest.fixture
def engine(picture: Path) -> GrabCutEngine:
    return GrabCutEngine(lambda sha: picture)


def _facts(width: int = W, height: int = H) -> ImageFacts:
    return ImageFacts(uuid4(), "p1", width, height, "ab" * 32)


def _ask(engine: GrabCutEngine, mode: str, points: list[tuple[float, float, int]],
         output: str = "mask", previous: tuple[tuple[float, float, int], ...] = (),
         facts: ImageFacts | None = None) -> g.Geometry:
    return engine.propose(AssistRequest(mode, tuple(points), facts or _facts(), output,
                                        previous=previous))


def _mask_of(geometry: g.Geometry) -> np.ndarray:
    assert isinstance(geometry, g.Mask)
    assert geometry.rle["size"] == [H, W]
    return rle.decode(geometry.rle).astype(bool)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_a_box_around_the_disk_gives_the_disk(engine: GrabCutEngine) -> None:
    cx, cy, r = DISK
    mask = _mask_of(_ask(engine, "box", [(cx - r - 3, cy - r - 3, 1), (cx + r + 4, cy + r + 4, 1)]))
    assert _iou(mask, _disk_mask()) >= 0.9


def test_extreme_points_give_the_disk(engine: GrabCutEngine) -> None:
    cx, cy, r = DISK
    points = [(cx - r, cy, 1), (cx, cy - r, 1), (cx + r, cy, 1), (cx, cy + r, 1)]
    assert _iou(_mask_of(_ask(engine, "extreme_points", points)), _disk_mask()) >= 0.9
    # in any order, and as a box: the tight box through the points, exactly
    box = _ask(engine, "extreme_points", points[::-1], output="box")
    assert box == g.Box(cx - r, cy - r, 2 * r, 2 * r)


def test_a_couple_of_clicks_give_the_disk(engine: GrabCutEngine) -> None:
    cx, cy, _ = DISK
    mask = _mask_of(_ask(engine, "clicks", [(cx, cy, 1), (cx - 20, cy + 25, 1)]))
    assert _iou(mask, _disk_mask()) >= 0.9


def test_a_negative_click_removes_a_region(engine: GrabCutEngine) -> None:
    # a box over both objects takes both; a negative click on the rectangle drops it
    cx, cy, _ = DISK
    first = _mask_of(_ask(engine, "clicks", [(cx, cy, 1), (245, 130, 1)]))
    rect = np.zeros((H, W), bool)
    rect[RECT[1]:RECT[3], RECT[0]:RECT[2]] = True
    assert (first & rect).sum() > 0.8 * rect.sum()
    refined = _mask_of(_ask(engine, "clicks", [(245, 130, -1)], previous=((cx, cy, 1),)))
    assert (refined & rect).sum() < 0.05 * rect.sum()
    assert _iou(refined, _disk_mask()) >= 0.9


def test_outputs_box_polygon_mask(engine: GrabCutEngine) -> None:
    cx, cy, r = DISK
    corners = [(cx - r - 3, cy - r - 3, 1), (cx + r + 4, cy + r + 4, 1)]
    mask = _mask_of(_ask(engine, "box", corners, output="mask"))
    box = _ask(engine, "box", corners, output="box")
    assert isinstance(box, g.Box)
    assert box == g.Box(*(float(v) for v in rle.to_bbox(
        _ask(engine, "box", corners, output="mask").to_json()["rle"])))
    assert box.x == pytest.approx(cx - r, abs=2) and box.w == pytest.approx(2 * r + 1, abs=3)
    polygon = _ask(engine, "box", corners, output="polygon")
    assert isinstance(polygon, g.Polygon)
    assert 3 <= len(polygon.points) <= 200
    assert g.parse_geometry("polygon", polygon.to_json(), W, H) == polygon
    outline = np.zeros((H, W), np.uint8)
    cv2.fillPoly(outline, [np.round(np.array(polygon.points)).astype(np.int32)], 1)
    assert _iou(outline.astype(bool), mask) >= 0.9


def test_same_request_same_answer(engine: GrabCutEngine, picture: Path) -> None:
    cx, cy, _ = DISK
    clicks = [(cx, cy, 1), (200, 100, -1)]
    first = _ask(engine, "clicks", clicks)
    assert _ask(GrabCutEngine(lambda sha: picture), "clicks", clicks) == first
    assert _ask(engine, "clicks", clicks) == first


@pytest.mark.parametrize(("mode", "points", "message"), [
    ("extreme_points", [(10, 10, 1), (20, 5, 1), (30, 10, 1)], "exactly 4"),
    ("box", [(10, 10, 1), (10, 50, 1)], "zero area"),
    ("box", [(10, 10, 1)], "exactly 2"),
    ("clicks", [(W + 2, 10, 1)], "outside"),
    ("clicks", [(-1.5, 10, 1)], "outside"),
    ("clicks", [(10, 10, -1)], "positive"),
    ("clicks", [(10, 10, 1)] * 101, "at most 100"),
    ("clicks", [(10, float("nan"), 1)], "finite"),
    ("clicks", [(10, 10, 0)], "+1"),
    ("clicks", [], "no points"),
])
def test_unusable_points_are_refused(engine: GrabCutEngine, mode: str,
                                     points: list[tuple[float, float, int]],
                                     message: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        _ask(engine, mode, points)
    assert e.value.details["field"] == "points"
    assert message in e.value.message


def test_too_many_clicks_counts_the_earlier_ones(engine: GrabCutEngine) -> None:
    with pytest.raises(ValidationFailed, match="at most 100"):
        _ask(engine, "clicks", [(10, 10, 1)], previous=((10, 10, 1),) * 100)


def test_a_one_pixel_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    cv2.imwrite(str(path), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ValidationFailed, match="too small") as e:
        _ask(GrabCutEngine(lambda sha: path), "clicks", [(0.5, 0.5, 1)], facts=_facts(1, 1))
    assert e.value.details["field"] == "points"


def test_points_a_pixel_outside_are_clipped(engine: GrabCutEngine) -> None:
    geometry = _ask(engine, "box", [(-1, -1, 1), (W + 1, H + 1, 1)], output="box")
    assert isinstance(geometry, g.Box)
    assert geometry.x >= 0 and geometry.x + geometry.w <= W


def test_decoded_images_are_kept_for_the_next_click(picture: Path) -> None:
    opened: list[str] = []

    def path_for(sha: str) -> Path:
        opened.append(sha)
        return picture

    engine = GrabCutEngine(path_for, cache_size=1)
    cx, cy, _ = DISK
    for _ in range(3):
        _ask(engine, "clicks", [(cx, cy, 1)])
    assert len(opened) == 1
    _ask(engine, "clicks", [(cx, cy, 1)], facts=ImageFacts(uuid4(), "p1", W, H, "cd" * 32))
    _ask(engine, "clicks", [(cx, cy, 1)])
    assert len(opened) == 3  # the cache holds one image


def test_a_box_proposal_refined_by_a_negative_click(engine: GrabCutEngine) -> None:
    # the box holds the disk and the rectangle; the refinement's clicks come after its corners
    corners = ((50.0, 50.0, 1), (295.0, 205.0, 1))
    first = _mask_of(_ask(engine, "box", list(corners)))
    rect = np.zeros((H, W), bool)
    rect[RECT[1]:RECT[3], RECT[0]:RECT[2]] = True
    assert (first & rect).sum() > 0.8 * rect.sum()
    refined = _mask_of(engine.propose(AssistRequest(
        "clicks", ((245.0, 130.0, -1),), _facts(), "mask", previous=corners,
        started_with="box")))
    assert (refined & rect).sum() < 0.05 * rect.sum()
    assert _iou(refined, _disk_mask()) >= 0.85


def test_clicks_on_an_object_like_its_surroundings_give_the_clicked_region(
        tmp_path: Path) -> None:
    path = tmp_path / "flat.png"
    cv2.imwrite(str(path), np.full((H, W, 3), 128, np.uint8))
    engine = GrabCutEngine(lambda sha: path)
    mask = _mask_of(_ask(engine, "clicks", [(100, 100, 1)]))
    assert mask[100, 100] and 100 < mask.sum() < W * H / 4
    grown = _mask_of(_ask(engine, "clicks", [(140, 100, 1)], previous=((100, 100, 1),)))
    assert grown.sum() > mask.sum() and grown[100, 140]
