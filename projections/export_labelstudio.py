"""The Label Studio export: Label Studio's JSON task list, streamed one task at a time.

::

    [{"id": 1, "data": {"image": "<file name>", "labelwright_id", "sha256"},
      "annotations": [{"id": 1, "result": [...], "was_cancelled": false,
                       "ground_truth": false}],
      "predictions": [{"model_version": "name@version", "result": [...]}]},  ...]

* Tasks are numbered 1..N in export order; ``data.image`` is the uploaded file name (made
  unique as a whole name, not by stem, :mod:`projections.export_files`): point Label
  Studio's storage, or a URL prefix, at the image files.
* ``annotations`` holds one annotation with every object in state accepted, edited or manual
  (none when the image has no such object). With ``include_proposed`` the pending pre-labels
  become ``predictions``, one per model version, each result with its ``score``.
* Results use Label Studio's percent coordinates (of ``original_width``/``original_height``)
  and these control names, which the labeling config must have::

      <View>
        <Image name="image" value="$image"/>
        <RectangleLabels name="box" toName="image"> <Label value="..."/> ... </RectangleLabels>
        <PolygonLabels name="polygon" toName="image"> ... </PolygonLabels>
        <KeyPointLabels name="keypoint" toName="image"> ... </KeyPointLabels>
        <Choices name="tags" toName="image" choice="multiple"> <Choice value="..."/> ...
      </View>

  A box is ``rectanglelabels``, a polygon ``polygonlabels``, a point ``keypointlabels``, the
  image's tags one ``choices`` result. A mask is written as ``polygonlabels``, one per outer
  contour (holes filled, :mod:`projections.export_shapes`): Label Studio's brush RLE encodes
  an RGBA canvas of the task's display size, which an exporter cannot reproduce faithfully,
  while polygons load everywhere. Each result's ``id`` is the Labelwright annotation id
  (``-1``, ``-2``, ... for a mask's further pieces).
* Per-object attributes go in the result's ``meta`` as ``{"attributes": {...}}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from projections.export_chunks import ChunkBuffer
from projections.export_files import ImageNames
from projections.export_options import ExportOptions, attributes_of
from projections.export_rows import ExportRows
from projections.export_shapes import ClassNumbers, outlines_of

POINT_SIZE = 0.5
"""The ``width`` (percent) Label Studio draws a keypoint with."""


class LabelStudioResults:
    """Turns one image's annotations into Label Studio result objects."""

    def __init__(self, image: dict[str, Any]) -> None:
        self.width = float(image["width"])
        self.height = float(image["height"])

    def _base(self, result_id: str, kind: str, control: str) -> dict[str, Any]:
        return {"id": result_id, "type": kind, "from_name": control, "to_name": "image",
                "original_width": int(self.width), "original_height": int(self.height),
                "image_rotation": 0}

    def of(self, annotation: dict[str, Any]) -> list[dict[str, Any]]:
        """The results of one shape annotation (tags are gathered separately)."""
        kind = annotation["type"]
        geometry = annotation["geometry"]
        label = annotation["label"]
        results: list[dict[str, Any]] = []
        if kind == "box":
            result = self._base(str(annotation["id"]), "rectanglelabels", "box")
            result["value"] = {"x": 100 * float(geometry["x"]) / self.width,
                               "y": 100 * float(geometry["y"]) / self.height,
                               "width": 100 * float(geometry["w"]) / self.width,
                               "height": 100 * float(geometry["h"]) / self.height,
                               "rotation": 0, "rectanglelabels": [label]}
            results.append(result)
        elif kind in ("polygon", "mask"):
            for n, outline in enumerate(outlines_of(annotation)):
                suffix = f"-{n}" if n else ""
                result = self._base(f"{annotation['id']}{suffix}", "polygonlabels", "polygon")
                result["value"] = {"points": [[100 * x / self.width, 100 * y / self.height]
                                              for x, y in outline],
                                   "closed": True, "polygonlabels": [label]}
                results.append(result)
        elif kind == "point":
            result = self._base(str(annotation["id"]), "keypointlabels", "keypoint")
            result["value"] = {"x": 100 * float(geometry["x"]) / self.width,
                               "y": 100 * float(geometry["y"]) / self.height,
                               "width": POINT_SIZE, "keypointlabels": [label]}
            results.append(result)
        attributes = attributes_of(annotation)
        score = annotation.get("score")
        for result in results:
            if attributes:
                result["meta"] = {"attributes": attributes}
            if annotation.get("status") == "proposed" and score is not None:
                result["score"] = score
        return results

    def tags(self, labels: list[str]) -> list[dict[str, Any]]:
        """The image's tags as one ``choices`` result (none without tags)."""
        if not labels:
            return []
        result = self._base("tags", "choices", "tags")
        result["value"] = {"choices": labels}
        return [result]


def _results(image: dict[str, Any], annotations: list[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    convert = LabelStudioResults(image)
    results: list[dict[str, Any]] = []
    tags: list[str] = []
    for annotation in annotations:
        if annotation["type"] == "tag":
            if annotation["label"] not in tags:
                tags.append(annotation["label"])
        else:
            results += convert.of(annotation)
    return results + convert.tags(tags)


def labelstudio_task(number: int, image: dict[str, Any], name: str,
                     annotations: list[dict[str, Any]], classes: ClassNumbers,
                     options: ExportOptions) -> dict[str, Any]:
    """The task object of one image."""
    done: list[dict[str, Any]] = []
    proposed: dict[str, list[dict[str, Any]]] = {}
    for annotation in annotations:
        if not options.exported(annotation) or classes.number(annotation["label"]) is None:
            continue
        if annotation["status"] == "proposed":
            model = annotation.get("model") or {}
            key = f"{model.get('name', '')}@{model.get('version', '')}"
            proposed.setdefault(key, []).append(annotation)
        else:
            done.append(annotation)
    task: dict[str, Any] = {
        "id": number,
        "data": {"image": name, "labelwright_id": str(image["id"]),
                 "sha256": image.get("sha256")},
        "annotations": ([{"id": number, "result": _results(image, done),
                          "was_cancelled": False, "ground_truth": False}] if done else []),
    }
    if options.include_proposed:
        task["predictions"] = [{"model_version": key, "result": _results(image, group)}
                               for key, group in proposed.items()]
    return task


def labelstudio_chunks(project: dict[str, Any], rows: ExportRows,
                       options: ExportOptions) -> Iterator[bytes]:
    """Stream the Label Studio task list of ``rows`` as ~64 KB chunks."""
    classes = ClassNumbers(project)
    names = ImageNames(unique_stems=False)  # one JSON file: a.png and a.jpg stay as they are
    out = ChunkBuffer()
    out.write(b"[")
    for number, (image, image_annotations) in enumerate(rows, start=1):
        stem, extension = names.of(image)
        out.write(b"\n" if number == 1 else b",\n")
        out.write(orjson.dumps(labelstudio_task(number, image, stem + extension, image_annotations,
                                                classes, options)))
        if out.full:
            yield out.take()
    out.write(b"\n]\n")
    yield out.take()
