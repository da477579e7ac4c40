"""Round trips through every dataset format, over HTTP with the Python client: a project's
labels exported as of a position, imported into a fresh project, exported again, give the same
labels within the format's precision; and exporting the same position twice gives the same
bytes.

The source project has what each format may carry: boxes with fractional corners, polygons, a
mask, a point, a tag, on images of different sizes (one without labels), a pending pre-label
(never exported) and work after the exported position (not in it). Each export is read by an
independent reader where one exists (pycocotools for COCO; globox for YOLO, YOLO segmentation,
Pascal VOC and CVAT) and by a small parser of the format's text here; the precision allowed
between the first and the second export is the format's own: YOLO's 6 decimals of normalised
coordinates, VOC's integer pixels, CVAT's 2 decimals, COCO and Label Studio floats.

Label Studio has no independent reader here. Heartex's converter (``label_studio_sdk.converter``
of label-studio-sdk 2.1.2) reads the export offline, but the SDK requires
opencv-python-headless<4.13, whose wheels require numpy<2.3: in the one venv that
``make setup`` builds it would downgrade OpenCV 5.0 and numpy 2.4 under the whole suite, and it
adds ~175 MB (pandas, Faker, datamodel-code-generator, black, nltk, lxml). The deprecated
label-studio-converter 0.0.59 has no such caps but is unmaintained and still adds ~115 MB.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from globox import AnnotationSet
from PIL import Image as PILImage
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from labelwright.client import Client, ExportResult
from tests.client.conftest import ADMIN, LiveServer

# One server and one scene per module: keep its tests on one xdist worker.
pytestmark = pytest.mark.xdist_group("interop-round-trips")

CLASSES = ["car", "person", "dog", "traffic sign"]
ATTRIBUTES = [{"name": "occluded", "type": "checkbox"}, {"name": "truncated", "type": "checkbox"},
              {"name": "colour", "type": "select", "values": ["red", "blue"]}]
SIZES = {"street.png": (64, 48), "park 2.png": (50, 70), "empty.png": (40, 30)}

# (kind, label, values): values are numbers, or a str/tuple compared exactly (masks).
Item = tuple[str, str, tuple[Any, ...]]
Labels = dict[str, list[Item]]


def _mask_rle(width: int, height: int) -> dict[str, Any]:
    """An L-shaped mask (not a box, so contours and RLE runs are not trivial)."""
    m = np.zeros((height, width), np.uint8)
    m[20:30, 5:15] = 1
    m[30:36, 5:8] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    return {"size": [height, width], "counts": rle["counts"].decode()}


SHAPES: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "street.png": [
        ("box", "car", {"x": 2.4, "y": 3.6, "w": 20, "h": 10.2}),
        ("polygon", "person", {"points": [[40, 30], [60, 30.5], [55, 46]]}),
        ("mask", "dog", {"rle": _mask_rle(64, 48)}),
        ("point", "traffic sign", {"x": 10, "y": 11}),
        ("tag", "dog", {}),
    ],
    "park 2.png": [
        ("box", "dog", {"x": 0, "y": 0, "w": 50, "h": 70}),
        ("polygon", "car", {"points": [[1.25, 2.5], [30, 4], [20, 60], [3, 50]]}),
        ("box", "traffic sign", {"x": 33.3333, "y": 12.5, "w": 7.77, "h": 9.1}),
    ],
    "empty.png": [],
}


# Per-object attribute values of some shapes: (image, index in SHAPES) -> values.
VALUES: dict[tuple[str, int], dict[str, Any]] = {
    ("street.png", 0): {"occluded": True, "colour": "red"},
    ("street.png", 1): {"colour": "blue"},
    ("park 2.png", 0): {"truncated": True},
}


@dataclass
class Scene:
    lw: Client
    project_id: str
    position: int
    images: Path


@pytest.fixture(scope="module")
def scene(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Scene:
    lw = Client.login(live.url, *ADMIN)
    pid = lw.create_project("round trips", CLASSES, attributes=ATTRIBUTES)["id"]
    folder = tmp_path_factory.mktemp("images")
    for i, (name, size) in enumerate(SIZES.items()):
        PILImage.new("RGB", size, (40 * i, 90, 200 - 40 * i)).save(folder / name)
    uploaded = lw.upload_images(pid, folder)
    assert not uploaded.errors
    ids = {row["file_name"]: row["id"] for row in uploaded.images}
    for name, shapes in SHAPES.items():
        for index, (kind, label, geometry) in enumerate(shapes):
            annotation = {"type": kind, "label": label, "geometry": geometry}
            if (name, index) in VALUES:
                annotation["attributes"] = VALUES[name, index]
            lw.request("POST", f"/images/{ids[name]}/commands",
                       json={"type": "create", "annotation": annotation})
    # A pending pre-label: never in an export without include_proposed.
    lw.import_predictions(pid, "detector@1", [{"image_id": "empty.png", "category_id": 1,
                                              "bbox": [1, 1, 10, 10], "score": 0.9}])
    position = lw.head()
    # Work after the position: not in an export as of it.
    lw.request("POST", f"/images/{ids['empty.png']}/commands", json={
        "type": "create", "annotation": {"type": "box", "label": "car",
                                         "geometry": {"x": 3, "y": 3, "w": 5, "h": 5}}})
    return Scene(lw, pid, position, folder)


# -- readers of each format's export, to (kind, label, values) per image ----------------------

def read_coco(path: Path) -> Labels:
    """pycocotools' reading: boxes, polygons, masks (decoded), keypoints, and the tags."""
    coco = COCO(str(path))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    out: Labels = {}
    for image in coco.loadImgs(coco.getImgIds()):
        items: list[Item] = [("tag", tag, ()) for tag in image.get("tags", [])]
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]])):
            label = names[ann["category_id"]]
            if isinstance(ann.get("segmentation"), dict):
                pixels = coco.annToMask(ann)
                items.append(("mask", label, (tuple(np.flatnonzero(pixels).tolist()),)))
            elif ann.get("keypoints"):
                items.append(("point", label, tuple(ann["keypoints"][:2])))
            else:
                items.append(("box", label, tuple(ann["bbox"])))
                items.extend(("polygon", label, tuple(ring))
                             for ring in ann.get("segmentation") or [])
        out[image["file_name"]] = items
    return out


def _yolo_lines(folder: Path, names: list[str], kind: str) -> Labels:
    out: Labels = {}
    for txt in sorted((folder / "labels" / "train").glob("*.txt")):
        items: list[Item] = []
        for line in txt.read_text().splitlines():
            fields = line.split()
            items.append((kind, names[int(fields[0])], tuple(float(v) for v in fields[1:])))
        out[txt.stem] = items
    return out


def _data_yaml_names(folder: Path) -> list[str]:
    import yaml

    names = yaml.safe_load((folder / "data.yaml").read_text())["names"]
    return [names[i] for i in range(len(names))] if isinstance(names, dict) else list(names)


def _globox_boxes(annotations: AnnotationSet, names: list[str] | None = None) -> Labels:
    out: Labels = {}
    for annotation in annotations:
        out[Path(annotation.image_id).stem] = [
            ("box", names[int(b.label)] if names else b.label, tuple(b.ltrb))
            for b in annotation.boxes]
    return out


def read_yolo(path: Path) -> Labels:
    names = _data_yaml_names(path)
    found = AnnotationSet.from_yolo_v5(path / "labels" / "train",
                                       image_folder=path / "images" / "train",
                                       image_extension=".png")
    return {**{f"globox:{k}": v for k, v in _globox_boxes(found, names).items()},
            **_yolo_lines(path, names, "box")}


def read_yolo_seg(path: Path) -> Labels:
    names = _data_yaml_names(path)
    found = AnnotationSet.from_yolo_seg(path / "labels" / "train", relative=True,
                                        image_folder=path / "images" / "train",
                                        image_extension=".png")
    return {**{f"globox:{k}": v for k, v in _globox_boxes(found, names).items()},
            **_yolo_lines(path, names, "polygon")}


def read_voc(path: Path) -> Labels:
    return _globox_boxes(AnnotationSet.from_pascal_voc(path / "Annotations"))


def read_cvat(path: Path) -> Labels:
    xml_path = path / "annotations.xml" if path.is_dir() else path
    out: Labels = {f"globox:{k}": v
                   for k, v in _globox_boxes(AnnotationSet.from_cvat(xml_path)).items()}
    for image in ET.parse(xml_path).getroot().iter("image"):
        items: list[Item] = []
        for shape in image:
            label = shape.get("label", "")
            if shape.tag == "box":
                values: tuple[Any, ...] = tuple(float(shape.get(k, "nan"))
                                                for k in ("xtl", "ytl", "xbr", "ybr"))
            elif shape.tag in ("polygon", "points"):
                values = tuple(float(v) for pair in shape.get("points", "").split(";")
                               for v in pair.split(","))
            elif shape.tag == "mask":
                values = (",".join(shape.get(k, "") for k in ("rle", "left", "top", "width",
                                                               "height")),)
            else:
                values = ()
            items.append((shape.tag, label, values))
        out[image.get("name", "")] = items
    return out


def read_labelstudio(path: Path) -> Labels:
    out: Labels = {}
    for task in json.loads(path.read_text()):
        items: list[Item] = []
        for annotation in task["annotations"]:
            for result in annotation["result"]:
                value = result["value"]
                kind = result["type"]
                if kind == "rectanglelabels":
                    items.append(("box", value[kind][0], tuple(
                        value[k] for k in ("x", "y", "width", "height"))))
                elif kind == "polygonlabels":
                    items.append(("polygon", value[kind][0],
                                  tuple(v for point in value["points"] for v in point)))
                elif kind == "keypointlabels":
                    items.append(("point", value[kind][0], (value["x"], value["y"])))
                elif kind == "choices":
                    items.extend(("tag", choice, ()) for choice in value["choices"])
                else:
                    items.append((kind, "?", ()))
        out[task["data"]["image"]] = items
    return out


def _lossless_values(kind: str, g: dict[str, Any]) -> tuple[Any, ...]:
    if kind == "box":
        return (g["x"], g["y"], g["w"], g["h"])
    if kind == "polygon":
        return tuple(v for point in g["points"] for v in point)
    if kind == "mask":
        return (g["rle"]["counts"], *g["rle"]["size"])
    if kind == "point":
        return (g["x"], g["y"])
    return ()


def read_labelwright(path: Path) -> Labels:
    """The lossless document: every label exactly (pending pre-labels are not labels)."""
    out: Labels = {}
    for image in json.loads(path.read_text())["images"]:
        items: list[Item] = []
        for a in image["annotations"]:
            if a["status"] == "proposed":
                continue
            values = _lossless_values(a["type"], a["geometry"])
            attributes = json.dumps(_values(a.get("attributes") or {}, None))
            items.append((a["type"], a["label"], (*values, attributes)))
        out[image["file_name"]] = items
    return out


@dataclass(frozen=True)
class Format:
    read: Callable[[Path], Labels]
    tolerance: float  # between the first and the second export, in the file's own units
    globox: float  # the same for globox's reading, in pixels (images of at most 300 px)
    pixels: float  # between the source's shapes and the imported ones, in pixels
    folder: bool  # a zip (exported with the image files, so the import adds them)
    counts: dict[str, int]  # objects the export holds per image (street, park)
    kinds: frozenset[str]  # what the export carries
    skipped: int = 0  # objects the import leaves out by design, each with a warning


FORMATS = {
    # A box or polygon is a bbox item and a segmentation item each.
    "coco": Format(read_coco, 1e-6, 0.0, 1e-6, False, {"street.png": 7, "park 2.png": 6},
                   frozenset({"box", "polygon", "mask", "point", "tag"})),
    # 6 decimals: the second rounding of a rounded value may move the last digit by one; in
    # pixels (globox) an edge is off by at most 1.5 such steps of the image's size.
    "yolo": Format(read_yolo, 1.01e-6, 5e-4, 1e-4, True, {"street": 3, "park 2": 3},
                   frozenset({"box"})),
    "yolo_seg": Format(read_yolo_seg, 1.01e-6, 5e-4, 1e-4, True, {"street": 3, "park 2": 3},
                       frozenset({"polygon"})),
    "voc": Format(read_voc, 0.0, 0.0, 0.5, True, {"street": 3, "park 2": 3}, frozenset({"box"})),
    "cvat": Format(read_cvat, 0.01 + 1e-9, 0.01 + 1e-9, 0.005 + 1e-9, True,
                   {"street.png": 5, "park 2.png": 3},
                   frozenset({"box", "polygon", "mask", "points", "tag"})),
    "labelstudio": Format(read_labelstudio, 1e-9, 0.0, 1e-9, False,
                          {"street.png": 5, "park 2.png": 3},
                          frozenset({"box", "polygon", "point", "tag"})),
    # Lossless: exact. The pending pre-label is in the document and skipped by the import.
    "labelwright": Format(read_labelwright, 0.0, 0.0, 0.0, False,
                          {"street.png": 5, "park 2.png": 3},
                          frozenset({"box", "polygon", "mask", "point", "tag"}), skipped=1),
}


# What becomes of each kind of shape in a format (kinds not listed are kept as they are);
# the shapes a format cannot carry at all are left out of it.
BECOMES = {
    "yolo": {"polygon": "box", "mask": "box"},
    "voc": {"polygon": "box", "mask": "box"},
    "yolo_seg": {"box": "polygon", "mask": "polygon"},
    "labelstudio": {"mask": "polygon"},
}
CARRIED = {"yolo": {"box", "polygon", "mask"}, "voc": {"box", "polygon", "mask"},
           "yolo_seg": {"box", "polygon", "mask"}}
# The attributes a format has a place for (None: every one).
ATTRIBUTES_CARRIED: dict[str, set[str] | None] = {
    "coco": None, "cvat": None, "labelstudio": None, "voc": {"occluded", "truncated"},
    "yolo": set(), "yolo_seg": set(), "labelwright": None}
# A mask written as its outline (a polygon through the boundary pixels) spans one pixel less
# each way than the mask's pixel box.
OUTLINED_MASK = 1.0


def _carried(fmt: str, kind: str) -> bool:
    return kind in CARRIED.get(fmt, {kind})


def _bbox(kind: str, geometry: dict[str, Any]) -> tuple[float, ...]:
    if kind == "box":
        return (geometry["x"], geometry["y"], geometry["x"] + geometry["w"],
                geometry["y"] + geometry["h"])
    if kind == "polygon":
        xs = [p[0] for p in geometry["points"]]
        ys = [p[1] for p in geometry["points"]]
        return (min(xs), min(ys), max(xs), max(ys))
    if kind == "mask":
        x, y, w, h = mask_utils.toBbox(dict(geometry["rle"], counts=geometry["rle"][
            "counts"].encode())).tolist()
        return (x, y, x + w, y + h)
    if kind == "point":
        return (geometry["x"], geometry["y"], geometry["x"], geometry["y"])
    return ()


# (kind, label, attribute values, bounding box corners, extra pixels of slack)
Outline = tuple[str, str, tuple[tuple[str, Any], ...], tuple[float, ...], float]


def _values(attributes: dict[str, Any], names: set[str] | None) -> tuple[tuple[str, Any], ...]:
    """Attribute values as comparable items; an unticked checkbox is the same as none."""
    return tuple(sorted((k, v) for k, v in attributes.items()
                        if v is not False and (names is None or k in names)))


def _outline(annotation: dict[str, Any]) -> Outline:
    """The outline of an annotation of the lossless export."""
    kind = annotation["type"]
    return (kind, annotation["label"], _values(annotation.get("attributes") or {}, None),
            _bbox(kind, annotation["geometry"]), 0.0)


def _as_carried(fmt: str, kind: str, label: str, geometry: dict[str, Any],
                attributes: dict[str, Any]) -> Outline:
    becomes = BECOMES.get(fmt, {}).get(kind, kind)
    slack = OUTLINED_MASK if kind == "mask" and becomes == "polygon" else 0.0
    return (becomes, label, _values(attributes, ATTRIBUTES_CARRIED[fmt]),
            _bbox(kind, geometry), slack)


def assert_same_outlines(got: dict[str, list[tuple[Any, ...]]],
                         want: dict[str, list[tuple[Any, ...]]], pixels: float) -> None:
    """Outlines without their attribute values: (kind, label, corners, slack)."""
    assert sorted(got) == sorted(want)
    for image in want:
        assert [o[:2] for o in got[image]] == [o[:2] for o in want[image]], image
        for (kind, label, a, _), (_, _, b, slack) in zip(got[image], want[image], strict=True):
            assert np.allclose(a, b, rtol=0, atol=pixels + slack), (image, kind, label, a, b)


def _distance(a: Item, b: Item) -> float:
    """How far apart two items of one image are (inf: not the same kind, label or shape)."""
    if a[:2] != b[:2] or len(a[2]) != len(b[2]):
        return math.inf
    worst = 0.0
    for x, y in zip(a[2], b[2], strict=True):
        if isinstance(x, float | int) and isinstance(y, float | int):
            worst = max(worst, abs(x - y))
        elif x != y:
            return math.inf
    return worst


def assert_same_labels(first: Labels, second: Labels, tolerance: float,
                       globox: float = 0.0) -> None:
    """The same images, and each item of the first paired with its nearest of the second
    (same kind, label and length) within ``tolerance`` (``globox`` for globox's items)."""
    assert sorted(first) == sorted(second)
    for image in first:
        allowed = globox if image.startswith("globox:") else tolerance
        left = list(second[image])
        assert len(first[image]) == len(left), (image, first[image], left)
        for item in first[image]:
            nearest = min(left, key=lambda other: _distance(item, other))
            assert _distance(item, nearest) <= allowed, (image, item, nearest)
            left.remove(nearest)


def export_twice(lw: Client, project_id: str, fmt: str, position: int, folder: bool,
                 dest: Path) -> ExportResult:
    """Export as of ``position`` twice: the same bytes both times."""
    first = lw.export(project_id, fmt, position=position, dest=dest / "a/", images=folder)
    second = lw.export(project_id, fmt, position=position, dest=dest / "b/", images=folder)
    assert first.sha256 == second.sha256, f"{fmt}: two exports of one position differ"
    assert first.position == second.position == position
    return first


@dataclass
class Trip:
    """One format's round trip: the source's export, the import's answer, the fresh
    project's export of the same format and its lossless export."""

    first: Labels
    answer: dict[str, Any]
    second: Labels
    imported: list[dict[str, Any]]  # the fresh project's images, lossless


@pytest.fixture(scope="module")
def trips(scene: Scene, tmp_path_factory: pytest.TempPathFactory
          ) -> Callable[[str], Trip]:
    """``trip(fmt)``: the round trip through ``fmt``, made once for the module."""
    done: dict[str, Trip] = {}

    def trip(fmt: str) -> Trip:
        if fmt not in done:
            done[fmt] = _round_trip(scene, fmt, tmp_path_factory.mktemp(f"trip-{fmt}"))
        return done[fmt]

    return trip


def _round_trip(scene: Scene, fmt: str, tmp: Path) -> Trip:
    spec, lw = FORMATS[fmt], scene.lw
    exported = export_twice(lw, scene.project_id, fmt, scene.position, spec.folder,
                            tmp / "first")
    fresh = lw.create_project(f"round trip {fmt}", CLASSES, attributes=ATTRIBUTES)["id"]
    if not spec.folder:  # a single document: the images must be in the project first
        assert not lw.upload_images(fresh, scene.images).errors
    answer = lw.import_dataset(fresh, exported.path, fmt)
    again = export_twice(lw, fresh, fmt, answer["position"], spec.folder, tmp / "second")
    lossless = lw.export(fresh, "labelwright", position=answer["position"],
                         dest=tmp / "lossless.json")
    return Trip(spec.read(exported.path), answer, spec.read(again.path),
                json.loads(lossless.path.read_text())["images"])


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_export_holds_what_the_format_carries(trips: Callable[[str], Trip],
                                                  fmt: str) -> None:
    spec = FORMATS[fmt]
    trip = trips(fmt)
    plain = {k: v for k, v in trip.first.items() if not k.startswith("globox:")}
    counts = {image: len(items) for image, items in plain.items() if items}
    assert counts == spec.counts, f"{fmt}: the export holds {counts}"
    assert {kind for items in plain.values() for kind, _, _ in items} == spec.kinds
    # Every image of the export, with labels or not, found its image; nothing was left out.
    assert trip.answer["images"] == len(SIZES)
    assert trip.answer["annotations"] == sum(
        len(shapes) for shapes in _expected(fmt).values())
    assert trip.answer.get("skipped", 0) == spec.skipped, trip.answer


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_formats_own_export_imports_without_warnings(trips: Callable[[str], Trip],
                                                       fmt: str) -> None:
    warnings = trips(fmt).answer.get("warnings") or []
    assert len(warnings) == FORMATS[fmt].skipped, warnings  # one for each object left out


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_import_export_keeps_the_labels(trips: Callable[[str], Trip], fmt: str) -> None:
    trip = trips(fmt)
    spec = FORMATS[fmt]
    assert_same_labels(trip.first, trip.second, spec.tolerance, spec.globox)


def _expected(fmt: str) -> dict[str, list[Outline]]:
    return {name: sorted(_as_carried(fmt, kind, label, geometry, VALUES.get((name, i), {}))
                         for i, (kind, label, geometry) in enumerate(shapes)
                         if _carried(fmt, kind))
            for name, shapes in SHAPES.items()}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_imported_shapes_sit_where_the_source_had_them(trips: Callable[[str], Trip],
                                                       fmt: str) -> None:
    trip = trips(fmt)
    assert all(a["source"] == "import" and a["status"] == "manual"
               for image in trip.imported for a in image["annotations"])
    imported = {image["file_name"]: sorted(_outline(a)[:2] + _outline(a)[3:]
                                           for a in image["annotations"])
                for image in trip.imported}
    expected = {name: sorted(o[:2] + o[3:] for o in outlines)
                for name, outlines in _expected(fmt).items()}
    assert_same_outlines(imported, expected, FORMATS[fmt].pixels)


@pytest.mark.parametrize("fmt", ["coco", "cvat", "voc", "labelstudio", "labelwright"])
def test_attributes_survive_the_round_trip(trips: Callable[[str], Trip], fmt: str) -> None:
    trip = trips(fmt)
    imported = {image["file_name"]: sorted(o[:3] for o in map(_outline, image["annotations"]))
                for image in trip.imported}
    expected = {name: sorted(o[:3] for o in outlines)
                for name, outlines in _expected(fmt).items()}
    assert imported == expected


def test_the_client_zips_a_folder_dataset_on_the_way(scene: Scene, tmp_path: Path) -> None:
    """``import_dataset`` of an unpacked folder (the YOLO export above) and of the zip as the
    server sent it record the same labels."""
    lw = scene.lw
    folder = lw.export(scene.project_id, "yolo", position=scene.position,
                       dest=tmp_path / "unpacked/", images=True)
    archive = lw.export(scene.project_id, "yolo", position=scene.position,
                        dest=tmp_path / "kept/", images=True, unpack="never")
    assert archive.path.suffix == ".zip" and archive.sha256 == folder.sha256
    results = []
    for source in (folder.path, archive.path):
        fresh = lw.create_project("zipped on the way", CLASSES)["id"]
        answer = lw.import_dataset(fresh, source, "yolo")
        again = lw.export(fresh, "yolo", position=answer["position"],
                          dest=tmp_path / f"again-{len(results)}", images=True)
        results.append(read_yolo(again.path))
    assert results[0] == results[1]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_images_sharing_a_stem_keep_their_own_labels(live: LiveServer, tmp_path: Path,
                                                     fmt: str) -> None:
    """``a.png`` and ``a.jpg`` in one project: each image's labels come back on that image
    (matched by content: the folder formats may rename a file to keep stems unique)."""
    spec = FORMATS[fmt]
    lw = Client.login(live.url, *ADMIN)
    folder = tmp_path / "images"
    folder.mkdir()
    PILImage.new("RGB", (64, 48), (200, 10, 10)).save(folder / "a.png")
    PILImage.new("RGB", (50, 70), (10, 200, 10)).save(folder / "a.jpg")
    source = lw.create_project(f"stems {fmt}", ["car", "dog"])["id"]
    boxes = {"a.png": ("car", {"x": 1, "y": 2, "w": 10, "h": 12}),
             "a.jpg": ("dog", {"x": 20, "y": 30, "w": 15, "h": 25})}
    for row in lw.upload_images(source, folder).images:
        label, geometry = boxes[row["file_name"]]
        lw.request("POST", f"/images/{row['id']}/commands", json={
            "type": "create", "annotation": {"type": "box", "label": label,
                                             "geometry": geometry}})
    exported = lw.export(source, fmt, position=lw.head(), dest=tmp_path / "export/",
                         images=spec.folder)
    fresh = lw.create_project(f"stems {fmt} again", ["car", "dog"])["id"]
    if not spec.folder:
        lw.upload_images(fresh, folder)
    answer = lw.import_dataset(fresh, exported.path, fmt)

    def by_content(project_id: str, position: int, name: str) -> dict[str, list[Outline]]:
        doc = lw.export(project_id, "labelwright", position=position, dest=tmp_path / name)
        return {image["sha256"]: sorted(_outline(a)[:2] + _outline(a)[3:4]
                                        for a in image["annotations"])
                for image in json.loads(doc.path.read_text())["images"]}

    want = by_content(source, lw.head(), "source.json")
    got = by_content(fresh, answer["position"], "fresh.json")
    assert got.keys() == want.keys()
    becomes = BECOMES.get(fmt, {})
    for sha, outlines in want.items():
        assert [o[:2] for o in got[sha]] == [(becomes.get(k, k), label)
                                             for k, label, _ in outlines]
        for (_, _, a), (_, _, b) in zip(got[sha], outlines, strict=True):
            assert np.allclose(a, b, rtol=0, atol=FORMATS[fmt].pixels), (fmt, a, b)
