"""Round trips of generated labels (hypothesis): whatever boxes and polygons an image holds,
exporting, importing into a fresh project and exporting again gives the same labels within
the format's precision. Where test_round_trips.py checks one hand-made scene closely, this
looks for the corners rounding hides: boxes at the image's edge, tiny ones, odd image sizes,
coordinates a hair from a rounding boundary."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from labelwright.client import Client
from tests.client.conftest import ADMIN, LiveServer, start_server
from tests.interop.test_round_trips import FORMATS, assert_same_labels

# One server and one scene per module: keep its tests on one xdist worker.
pytestmark = pytest.mark.xdist_group("interop-round-trip-properties")

CLASSES = ["a", "b"]
_names = itertools.count()


@st.composite
def labelled_images(draw: st.DrawFn) -> tuple[tuple[int, int], list[dict[str, Any]]]:
    """An image size and up to 6 boxes and triangles inside it (any float coordinates)."""
    width, height = draw(st.integers(8, 300)), draw(st.integers(8, 300))
    coordinate = st.floats(0, 1, allow_nan=False, allow_infinity=False)
    shapes = []
    for _ in range(draw(st.integers(1, 6))):
        label = draw(st.sampled_from(CLASSES))
        x0, x1 = sorted(draw(coordinate) * width for _ in range(2))
        y0, y1 = sorted(draw(coordinate) * height for _ in range(2))
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        if draw(st.booleans()):
            shapes.append({"type": "box", "label": label,
                           "geometry": {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}})
        else:  # a triangle with a real area: two corners of the box and a point on its far side
            apex = x0 + draw(coordinate) * (x1 - x0)
            shapes.append({"type": "polygon", "label": label,
                           "geometry": {"points": [[x0, y0], [x1, y0], [apex, y1]]}})
    return (width, height), shapes


def _png(size: tuple[int, int], seed: int) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", size, (seed % 256, (seed // 256) % 256, 9)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The embedded store only: test_round_trips.py covers PostgreSQL; this one is about
    rounding, which the store does not touch."""
    server = start_server(tmp_path_factory.mktemp("properties"))
    try:
        yield server
    finally:
        server.deployment.stop_all()


@pytest.fixture(scope="module")
def lw(live: LiveServer) -> Client:
    return Client.login(live.url, *ADMIN)


@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(image=labelled_images())
def test_generated_labels_survive_a_round_trip(lw: Client, tmp_path: Path, fmt: str,
                                               image: tuple[tuple[int, int],
                                                            list[dict[str, Any]]]) -> None:
    size, shapes = image
    spec = FORMATS[fmt]
    n = next(_names)
    folder = tmp_path / f"case-{n}"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / f"img-{n}.png").write_bytes(_png(size, n))

    source = lw.create_project(f"property {fmt} {n}", CLASSES)["id"]
    image_id = lw.upload_images(source, folder / "images").images[0]["id"]
    if shapes:
        lw.request("POST", f"/images/{image_id}/commands", json={"commands": [
            {"type": "create", "annotation": shape} for shape in shapes]})
    position = lw.head()
    first = lw.export(source, fmt, position=position, dest=folder / "first/",
                      images=spec.folder)

    fresh = lw.create_project(f"property {fmt} {n} again", CLASSES)["id"]
    if not spec.folder:
        lw.upload_images(fresh, folder / "images")
    answer = lw.import_dataset(fresh, first.path, fmt)
    second = lw.export(fresh, fmt, position=answer["position"], dest=folder / "second/",
                       images=spec.folder)
    before, after = spec.read(first.path), spec.read(second.path)
    assert_same_labels(before, after, spec.tolerance, spec.globox)
    plain = [items for name, items in before.items() if not name.startswith("globox:")]
    assert sum(map(len, plain)) >= len(shapes)  # every shape is in the export
