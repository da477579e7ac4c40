"""inference_workers.classes_files: every classes file format, and the refusals (as data, never
as code: no YAML alias expansion, no eval of the ONNX metadata)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError, TooLarge, ValidationFailed
from inference_workers.classes_files import (
    MAX_CLASSES,
    MAX_CLASSES_BYTES,
    names_from_onnx_metadata,
    parse_classes_file,
)

# ------------------------------------------------------------------------------------------
# formats
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", ["coco.names", "classes.txt", "labels.txt", "labels"])
def test_one_name_a_line(file_name: str) -> None:
    data = b"\xef\xbb\xbfperson\r\n\n  traffic light  \n\t\ncar\n"
    assert parse_classes_file(file_name, data) == ["person", "traffic light", "car"]


def test_yolo_data_yaml_with_a_list() -> None:
    data = b"path: ../datasets\ntrain: images/train\nnc: 3\nnames: [person, 'no', 7]\n"
    assert parse_classes_file("data.yaml", data) == ["person", "no", "7"]


def test_yolo_data_yaml_with_an_index_map_in_any_order() -> None:
    data = b"names:\n  1: bicycle\n  0: person\n  2: car\n"
    assert parse_classes_file("data.yml", data) == ["person", "bicycle", "car"]


def test_yaml_recognised_by_content_without_extension() -> None:
    assert parse_classes_file("dataset", b"names:\n- cat\n- dog\n") == ["cat", "dog"]


def test_coco_categories_are_ordered_by_id() -> None:
    doc = {"images": [], "categories": [{"id": 3, "name": "car", "supercategory": "vehicle"},
                                        {"id": 1, "name": "person"},
                                        {"id": 2, "name": "bicycle"}]}
    assert parse_classes_file("instances_val.json", json.dumps(doc).encode()) == [
        "person", "bicycle", "car"]


def test_json_list_of_names() -> None:
    assert parse_classes_file("classes.json", b'["cat", "dog"]') == ["cat", "dog"]
    assert parse_classes_file("classes", b' ["cat", "dog"]') == ["cat", "dog"]


def test_ultralytics_metadata_is_a_python_dict_literal_or_json() -> None:
    assert names_from_onnx_metadata("{0: 'person', 1: 'bicycle'}") == ["person", "bicycle"]
    assert names_from_onnx_metadata('{"1": "dog", "0": "cat"}') == ["cat", "dog"]
    assert names_from_onnx_metadata("['cat', 'dog']") == ["cat", "dog"]


# ------------------------------------------------------------------------------------------
# refusals
# ------------------------------------------------------------------------------------------


def _refusal(file_name: str, data: bytes) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_classes_file(file_name, data)
    assert caught.value.details["field"] == "classes"
    return caught.value


def test_not_utf8() -> None:
    assert "UTF-8" in _refusal("classes.txt", b"cat\n\xff\xfe\n").message


@pytest.mark.parametrize("data", [b"", b"  \n\n\t\n"])
def test_empty(data: bytes) -> None:
    assert "empty" in _refusal("classes.txt", data).message


def test_duplicates_even_ignoring_case() -> None:
    assert "class 0 and class 2" in _refusal("c.names", b"cat\ndog\ncat\n").message
    assert "ignoring case" in _refusal("c.names", b"Car\ncar\n").message


def test_long_names_and_control_characters() -> None:
    assert "101 characters" in _refusal("c.txt", b"a" * 101 + b"\n").message
    assert parse_classes_file("c.txt", b"a" * 100) == ["a" * 100]
    assert "control character" in _refusal("c.json", b'["ca\\u0000t"]').message
    assert "control character" in _refusal("c.names", b"ca\x1bt\n").message


def test_too_many_classes() -> None:
    data = "\n".join(f"c{i}" for i in range(MAX_CLASSES + 1)).encode()
    assert f"{MAX_CLASSES + 1:,} classes" in _refusal("c.txt", data).message
    assert len(parse_classes_file("c.txt", data.rsplit(b"\n", 1)[0])) == MAX_CLASSES


def test_over_a_mebibyte_is_too_large() -> None:
    with pytest.raises(TooLarge) as caught:
        parse_classes_file("c.txt", b"a\n" * (MAX_CLASSES_BYTES // 2 + 1))
    assert caught.value.details["field"] == "classes"


def test_yaml_bomb_is_refused_without_expanding_it() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    lines.append("names: *i")  # 9**9 = 387 million strings if expanded
    start = time.perf_counter()
    refusal = _refusal("data.yaml", "\n".join(lines).encode())
    assert time.perf_counter() - start < 1.0
    assert "aliases" in refusal.message


def test_yaml_python_tags_are_not_constructed() -> None:
    refusal = _refusal("data.yaml", b"names: !!python/object/apply:os.system ['true']\n")
    assert "not valid YAML" in refusal.message


def test_yaml_nc_must_match_names() -> None:
    assert "`nc` is 3" in _refusal("data.yaml", b"nc: 3\nnames: [a, b]\n").message


def test_yaml_non_string_names_ask_for_quotes() -> None:
    assert "quotes" in _refusal("data.yaml", b"names: [cat, no, null]\n").message


def test_yaml_index_map_with_gaps() -> None:
    assert "without gaps" in _refusal("data.yaml", b"names: {0: a, 2: b}\n").message


def test_json_without_names() -> None:
    assert "categories" in _refusal("c.json", b'{"images": []}').message
    assert "valid JSON" in _refusal("c.json", b"[" * 100_000).message


def test_coco_duplicate_ids() -> None:
    data = b'{"categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}'
    assert "id 1" in _refusal("c.json", data).message


def test_metadata_is_never_evaluated() -> None:
    for value in ["__import__('os').system('true')", "{0: 'a', 1: print('x')}", "(" * 10_000]:
        with pytest.raises(ValidationFailed) as caught:
            names_from_onnx_metadata(value)
        assert caught.value.details["field"] == "classes"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000),
       st.sampled_from(["c.txt", "c.names", "data.yaml", "c.json", "classes"]))
def test_random_bytes_are_names_or_a_refusal(data: bytes, file_name: str) -> None:
    try:
        names = parse_classes_file(file_name, data)
    except DomainError as refusal:
        assert isinstance(refusal, (ValidationFailed, TooLarge))
        assert refusal.details["field"] == "classes"
    else:
        assert names and len({n.casefold() for n in names}) == len(names)
        assert all(n == n.strip() and 0 < len(n) <= 100 for n in names)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_random_metadata_is_names_or_a_refusal(value: str) -> None:
    try:
        names_from_onnx_metadata(value)
    except DomainError as refusal:
        assert isinstance(refusal, ValidationFailed)
