"""Pascal VOC XML (one ``<annotation>`` file per image, zipped; or a single file) →
``Dataset``.

Each ``<object>`` is a box of class ``<name>``; ``<bndbox>`` corners are VOC's whole pixels
numbered from 1, both ends included: ``x = xmin - 1``, ``w = xmax - xmin + 1`` (the inverse of
the ``voc`` export, so a round trip keeps boxes to the pixel).
``difficult``, ``truncated``, ``occluded`` (when 1) and ``pose`` (when not Unspecified) are kept
as the object's attributes.
The image is ``<filename>`` (else the XML file's own name with the image's extension
unknown: matched by name without extension); ``<size>`` gives its width and height.
"""

from __future__ import annotations

from service_layer.dataset_formats.dataset import (
    Dataset,
    DatasetFiles,
    DatasetImage,
    DatasetLabel,
    base_name,
    dataset_error,
    document,
    label_documents,
    number,
    stem,
)
from service_layer.dataset_formats.xml_documents import XmlDocument, child_text, parse_xml

_FLAGS = ("difficult", "truncated", "occluded", "pose")
_UNSAID = ("0", "", "Unspecified")  # a flag's default, or pose not given


def read(files: DatasetFiles) -> Dataset:
    documents = label_documents(files, ".xml", "Pascal VOC XML")
    dataset = Dataset()
    for name in documents:
        dataset.images.append(_image(parse_xml(name, document(files, name)), dataset))
    return dataset


def _image(doc: XmlDocument, dataset: Dataset) -> DatasetImage:
    root = doc.root
    if root.tag != "annotation":
        raise dataset_error("malformed", f"a VOC file's root is <annotation>, not <{root.tag}>",
                            doc.where(root))
    file_name = child_text(root, "filename")
    image = DatasetImage(file_name=base_name(file_name) if file_name else stem(doc.name),
                         where=doc.where(root), by_stem=not file_name)
    size = root.find("size")
    if size is not None:
        width, height = child_text(size, "width"), child_text(size, "height")
        if width and height:
            image.width = int(number(width, doc.where(size), "width"))
            image.height = int(number(height, doc.where(size), "height"))
            if image.width <= 0 or image.height <= 0:  # VOC files from scrapers say 0 x 0
                image.width = image.height = None
    for obj in root.iter("object"):
        where = doc.where(obj)
        label = child_text(obj, "name")
        if not label:
            raise dataset_error("malformed", "an <object> needs a <name>", where)
        if label not in dataset.classes:
            dataset.classes.append(label)
        box = obj.find("bndbox")
        if box is None:
            raise dataset_error("malformed", "an <object> needs a <bndbox>", where)
        corners = []
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            text = child_text(box, tag)
            if text is None:
                raise dataset_error("malformed", f"<bndbox> needs <{tag}>", doc.where(box))
            corners.append(number(text, doc.where(box), tag))
        x0, y0, x1, y1 = corners
        # VOC writes every flag on every object (0, and pose Unspecified, by default): only
        # what says something becomes an attribute, so a project that defines none of them
        # is warned only when a set flag would be lost.
        attributes = {flag: _flag(value) for flag in _FLAGS
                      if (value := child_text(obj, flag)) is not None
                      and value not in _UNSAID}
        image.labels.append(DatasetLabel("box", label, {"x": x0 - 1, "y": y0 - 1,
                                                        "w": x1 - x0 + 1, "h": y1 - y0 + 1},
                                         where, attributes))
    return image


def _flag(text: str) -> object:
    return text == "1" if text in ("0", "1") else text
