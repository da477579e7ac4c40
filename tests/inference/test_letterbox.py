"""Letterboxing as Ultralytics does it, and the way back, against the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from inference_workers.letterbox import (
    PAD_VALUE,
    check_image,
    letterbox,
    letterbox_batch,
    plan,
)
from tests.inference import reference

sizes = st.integers(min_value=1, max_value=700)
inputs = st.sampled_from([(64, 64), (320, 320), (640, 640), (384, 640), (65, 97)])


@given(h=sizes, w=sizes, input_size=inputs)
@settings(max_examples=300, deadline=None)
def test_the_plan_is_ultralytics_letterbox(h: int, w: int, input_size: tuple[int, int]) -> None:
    box = plan((h, w), input_size)
    ref = reference.fit(h, w, *input_size)
    assert box.ratio == pytest.approx(ref.ratio)
    assert box.resized == (ref.new_h, ref.new_w)
    assert (box.top, box.left) == (ref.top, ref.left)
    # the padding adds up, the odd pixel goes to the bottom / right
    assert ref.top + ref.new_h + ref.bottom == input_size[0]
    assert ref.left + ref.new_w + ref.right == input_size[1]
    assert 0 <= ref.bottom - ref.top <= 1 and 0 <= ref.right - ref.left <= 1


def test_odd_padding_goes_to_the_bottom_and_right() -> None:
    box = plan((100, 99), (64, 64))  # r = 0.64: 63 x 64, one row of padding
    assert box.resized == (64, 63)
    assert (box.top, box.left) == (0, 0)  # round(0.5 - 0.1) = 0 left, round(0.5 + 0.1) = 1 right
    box = plan((10, 30), (64, 64))  # 21 x 64: 43 rows of padding, 21 above and 22 below
    assert box.resized == (21, 64) and box.top == 21


def test_scaleup_false_never_enlarges() -> None:
    box = plan((20, 40), (64, 64), scaleup=False)
    assert box.ratio == 1.0 and box.resized == (20, 40) and (box.top, box.left) == (22, 12)


@given(h=sizes, w=sizes, input_size=inputs, data=st.data())
@settings(max_examples=200, deadline=None)
def test_a_box_goes_forward_and_back(h: int, w: int, input_size: tuple[int, int],
                                     data: st.DataObject) -> None:
    x0 = data.draw(st.floats(0, w))
    y0 = data.draw(st.floats(0, h))
    x1 = data.draw(st.floats(x0, w))
    y1 = data.draw(st.floats(y0, h))
    box = plan((h, w), input_size)
    original = np.array([[x0, y0, x1, y1]])
    forward = box.boxes_to_input(original)
    ref = reference.fit(h, w, *input_size)
    np.testing.assert_allclose(forward[0, [0, 2]], original[0, [0, 2]] * ref.ratio + ref.left)
    np.testing.assert_allclose(forward[0, [1, 3]], original[0, [1, 3]] * ref.ratio + ref.top)
    np.testing.assert_allclose(box.boxes_to_image(forward), original, atol=1e-9)
    np.testing.assert_allclose(box.boxes_to_image(forward),
                               reference.to_image(forward, ref, h, w), atol=1e-9)


def test_boxes_outside_the_image_are_clipped() -> None:
    box = plan((48, 96), (64, 64))  # r = 2/3, 16 rows of padding on top
    back = box.boxes_to_image(np.array([[-10.0, 0.0, 70.0, 64.0]]))
    np.testing.assert_allclose(back, [[0, 0, 96, 48]])


def test_the_image_lands_in_the_middle_on_grey() -> None:
    image = np.zeros((48, 96, 3), dtype=np.uint8)
    image[:, :48] = (255, 0, 0)  # left half red
    out, box = letterbox(image, (64, 64))
    assert box.top == 16 and box.resized == (32, 64)
    assert (out[:16] == PAD_VALUE).all() and (out[48:] == PAD_VALUE).all()
    assert (out[16:48, :31] == (255, 0, 0)).all()
    assert (out[16:48, 33:] == 0).all()


@given(h=st.integers(2, 150), w=st.integers(2, 150), seed=st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_pixels_match_a_half_pixel_bilinear_resize(h: int, w: int, seed: int) -> None:
    image = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out, _ = letterbox(image, (64, 96))
    ref = reference.fit(h, w, 64, 96)
    expected = reference.resize_bilinear(image, ref.new_h, ref.new_w)
    got = out[ref.top:ref.top + ref.new_h, ref.left:ref.left + ref.new_w].astype(np.float64)
    # torch rounds its uint8 result (so does cv2, from 11-bit fixed-point weights)
    assert np.abs(got - expected).max() <= 1.0 + 1e-6
    assert (out[:ref.top] == PAD_VALUE).all() and (out[ref.top + ref.new_h:] == PAD_VALUE).all()


def test_a_batch_is_nchw_float_in_0_1_and_padded_to_a_fixed_batch() -> None:
    images = [np.full((30, 60, 3), 255, np.uint8), np.zeros((80, 20, 3), np.uint8)]
    batch, boxes = letterbox_batch(images, (32, 32), batch=4)
    assert batch.shape == (4, 3, 32, 32) and batch.dtype == torch.float32
    assert batch.is_contiguous()
    assert float(batch[0, :, 16, 16].min()) == 1.0
    assert float(batch[1, :, 16, 16].max()) == 0.0
    assert torch.allclose(batch[2:], torch.full_like(batch[2:], PAD_VALUE / 255))
    assert [b.image_size for b in boxes] == [(30, 60), (80, 20)]


def test_sampling_a_map_reads_it_at_each_image_pixel_centre() -> None:
    # a map whose value is the input x coordinate: sampled back it gives where each image
    # pixel's centre went in the input (bilinear is exact on a linear ramp)
    box = plan((48, 96), (64, 64))
    ramp = np.broadcast_to(np.arange(64, dtype=np.float32) + 0.5, (1, 64, 64))
    sampled = box.sample_to_image(ramp)
    expected = (np.arange(96) + 0.5) * box.ratio + box.left
    assert sampled.shape == (1, 48, 96)
    np.testing.assert_allclose(sampled[0, 10, 1:-1], expected[1:-1], atol=1e-4)
    # a quarter-resolution map (prototypes) is read in the same input coordinates
    quarter = np.broadcast_to((np.arange(16, dtype=np.float32) + 0.5) * 4, (1, 16, 16))
    part = box.sample_to_image(quarter, rows=(5, 9), cols=(20, 30))
    assert part.shape == (1, 4, 10)
    np.testing.assert_allclose(part[0, 0], expected[20:30], atol=1e-4)


@given(h=st.integers(1, 120), w=st.integers(1, 120), input_size=inputs,
       map_scale=st.sampled_from([1, 4]), seed=st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_sampling_is_grid_sample_at_the_clamped_pixel_centres(
        h: int, w: int, input_size: tuple[int, int], map_scale: int, seed: int) -> None:
    box = plan((h, w), input_size)
    mh, mw = input_size[0] // map_scale, input_size[1] // map_scale
    maps = np.random.default_rng(seed).normal(0, 1, (2, mh, mw)).astype(np.float32)
    ref = reference.fit(h, w, *input_size)
    ys = np.clip((np.arange(h) + 0.5) * ref.ratio + ref.top, ref.top + 0.5,
                 ref.top + ref.new_h - 0.5)
    xs = np.clip((np.arange(w) + 0.5) * ref.ratio + ref.left, ref.left + 0.5,
                 ref.left + ref.new_w - 0.5)
    grid = np.stack(np.broadcast_arrays(xs[None] / input_size[1] * 2 - 1,
                                        ys[:, None] / input_size[0] * 2 - 1), axis=-1)
    expected = torch.nn.functional.grid_sample(
        torch.from_numpy(maps)[None], torch.from_numpy(grid)[None].float(), mode="bilinear",
        padding_mode="border", align_corners=False)[0].numpy()
    # (grid_sample works in float32: its coordinates carry ~1e-4 of rounding at 640 pixels)
    np.testing.assert_allclose(box.sample_to_image(maps), expected, atol=2e-3)


@pytest.mark.parametrize("image", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                                   np.zeros((10, 10, 3), np.float32),
                                   np.zeros((0, 10, 3), np.uint8)])
def test_what_is_not_an_rgb_image_is_refused(image: np.ndarray) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_image(image) if image.size else letterbox(image, (64, 64))
    assert caught.value.details["field"] == "image"
