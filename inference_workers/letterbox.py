"""Letterboxing: fitting an image of any size into a model's fixed input, and the way back.

A detector trained by Ultralytics saw its images letterboxed, so it must be fed the same way or
its boxes drift: the image is scaled by ``r = min(in_h / h, in_w / w)`` (aspect ratio kept;
``scaleup=False`` never enlarges), its unpadded size is ``round(w * r) x round(h * r)``, and the
rest is filled with grey 114, split between both sides (``center=True``) with the ``-0.1`` /
``+0.1`` rounding trick: top ``round(dh/2 - 0.1)``, bottom ``round(dh/2 + 0.1)``, so an odd
padding puts the extra pixel at the bottom/right. Only the fixed-input case is done here
(Ultralytics' ``auto=False``): an exported graph takes exactly its input size.

The way back (:meth:`Letterbox.boxes_to_image`) is Ultralytics' ``scale_boxes``: subtract the
top/left padding, divide by ``r``, clip to the image. Masks and per-pixel maps are not resized
twice (to the input, then to the image) but sampled once at each image pixel's centre
(:meth:`Letterbox.sample_to_image`), which is what the two resizes approximate and lets a caller
sample only the pixels of one box.

Resizing: OpenCV is not a dependency (``opencv-python-headless`` is not installed). Ultralytics
resizes with ``cv2.INTER_LINEAR``: bilinear, half-pixel centres, no antialiasing when shrinking.
``torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)`` is
the same formula (PIL's BILINEAR is not: it antialiases when shrinking, a wider filter), works
on ``uint8`` channels-last tensors directly, and measured 0.3 ms for 640x480 -> 320x240 against
PIL's 1.6 ms. The pixels can differ from cv2's by one grey level (cv2 uses 11-bit fixed-point
weights); the geometry is identical, and that is what the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from domain.errors import ValidationFailed

FloatArray = npt.NDArray[np.floating]

PAD_VALUE = 114
"""Ultralytics' grey for the letterbox border."""


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How one image was fitted into the model input: enough to map outputs back."""

    image_size: tuple[int, int]  # (h, w) of the original image
    input_size: tuple[int, int]  # (h, w) of the model input
    ratio: float  # r: input pixels per image pixel
    resized: tuple[int, int]  # (h, w) of the scaled image before padding
    top: int
    left: int

    def boxes_to_image(self, boxes: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """``(n, 4)`` xyxy boxes in input pixels -> image pixels, clipped to the image."""
        out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.left) / self.ratio
        out[:, [1, 3]] = (out[:, [1, 3]] - self.top) / self.ratio
        h, w = self.image_size
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
        return out

    def boxes_to_input(self, boxes: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """``(n, 4)`` xyxy boxes in image pixels -> input pixels (the forward mapping)."""
        out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
        out[:, [0, 2]] = out[:, [0, 2]] * self.ratio + self.left
        out[:, [1, 3]] = out[:, [1, 3]] * self.ratio + self.top
        return out

    def sample_to_image(self, maps: FloatArray, rows: tuple[int, int] | None = None,
                        cols: tuple[int, int] | None = None) -> npt.NDArray[np.float32]:
        """Bilinearly sample ``maps`` ``(k, mh, mw)`` -- any map covering the whole model input
        (logits at the input size, prototypes at a quarter of it...) -- at the centres of the
        image pixels ``rows x cols`` (end-exclusive; all by default): ``(k, rows, cols)``.

        A pixel centre maps to input coordinates, kept within the centres of the scaled
        image's edge pixels (as a resize of the cut-out content would: the padding is never
        read), then to the map's pixels (half-pixel centres, clamped at the border, as
        ``grid_sample(align_corners=False, padding_mode="border")``). The sampling grid is a
        product of rows and columns, so the interpolation is done one axis after the other
        (numpy, on the calling thread: see :mod:`inference_workers.box_ops` on why not torch).
        """
        h, w = self.image_size
        r0, r1 = rows if rows is not None else (0, h)
        c0, c1 = cols if cols is not None else (0, w)
        maps = np.asarray(maps, dtype=np.float32)
        k, mh, mw = maps.shape
        if r1 <= r0 or c1 <= c0:
            return np.zeros((k, max(0, r1 - r0), max(0, c1 - c0)), dtype=np.float32)
        new_h, new_w = self.resized
        y0, y1, fy = _axis(np.arange(r0, r1), self.ratio, self.top, new_h, self.input_size[0],
                           mh)
        x0, x1, fx = _axis(np.arange(c0, c1), self.ratio, self.left, new_w,
                           self.input_size[1], mw)
        fy = fy[None, :, None]
        by_rows = maps[:, y0, :] * (1 - fy) + maps[:, y1, :] * fy  # (k, rows, mw)
        sampled = by_rows[:, :, x0] * (1 - fx) + by_rows[:, :, x1] * fx
        return sampled.astype(np.float32, copy=False)


def _axis(pixels: npt.NDArray[np.int64], ratio: float, offset: int, content: int, size: int,
          map_size: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp],
                                  npt.NDArray[np.float32]]:
    """For image pixel indices along one axis: the two map cells to blend and the weight of
    the second."""
    at_input = np.clip((pixels + 0.5) * ratio + offset, offset + 0.5, offset + content - 0.5)
    position = np.clip(at_input * (map_size / size) - 0.5, 0, map_size - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, map_size - 1)
    return low, high, (position - low).astype(np.float32)


def plan(image_size: tuple[int, int], input_size: tuple[int, int], *, scaleup: bool = True,
         center: bool = True) -> Letterbox:
    """Where an image of ``image_size`` (h, w) goes in an input of ``input_size`` (h, w)."""
    h, w = image_size
    in_h, in_w = input_size
    if h <= 0 or w <= 0:
        raise ValidationFailed(f"an image of {h}x{w} pixels cannot be run through a model",
                               {"field": "image"})
    ratio = min(in_h / h, in_w / w)
    if not scaleup:
        ratio = min(ratio, 1.0)
    new_w, new_h = round(w * ratio), round(h * ratio)
    dw, dh = in_w - new_w, in_h - new_h
    if center:
        top, left = round(dh / 2 - 0.1), round(dw / 2 - 0.1)
    else:
        top = left = 0
    return Letterbox(image_size=(h, w), input_size=(in_h, in_w), ratio=ratio,
                     resized=(new_h, new_w), top=top, left=left)


def check_image(image: npt.NDArray[np.uint8], field: str = "image") -> tuple[int, int]:
    """The (h, w) of an RGB ``uint8`` image ``(h, w, 3)``, or ``ValidationFailed``."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValidationFailed(f"a model takes RGB images of shape (height, width, 3), "
                               f"not {shape}", {"field": field})
    if image.dtype != np.uint8:
        raise ValidationFailed(f"a model takes 8-bit images, not {image.dtype}",
                               {"field": field})
    return int(image.shape[0]), int(image.shape[1])


def letterbox_into(image: npt.NDArray[np.uint8], out: npt.NDArray[np.uint8], *,
                   scaleup: bool = True, center: bool = True) -> Letterbox:
    """Letterbox ``image`` (h, w, 3) into ``out`` (in_h, in_w, 3), which is overwritten (the
    border with 114): the runners fill one slot of a preallocated batch this way."""
    size = check_image(image)
    box = plan(size, (out.shape[0], out.shape[1]), scaleup=scaleup, center=center)
    new_h, new_w = box.resized
    out[...] = PAD_VALUE
    if (new_h, new_w) == size:
        resized = image
    else:
        # (1, 3, h, w) view of the (h, w, 3) array: channels-last, no copy
        source = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0)
        scaled = F.interpolate(source, size=(new_h, new_w), mode="bilinear",
                               align_corners=False, antialias=False)
        resized = scaled[0].permute(1, 2, 0).numpy()
    out[box.top:box.top + new_h, box.left:box.left + new_w] = resized
    return box


def letterbox(image: npt.NDArray[np.uint8], input_size: tuple[int, int], *,
              scaleup: bool = True, center: bool = True
              ) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """``image`` letterboxed to ``input_size`` (h, w): the new ``uint8`` image and its
    :class:`Letterbox`."""
    out = np.empty((input_size[0], input_size[1], 3), dtype=np.uint8)
    box = letterbox_into(image, out, scaleup=scaleup, center=center)
    return out, box


def letterbox_batch(images: Sequence[npt.NDArray[np.uint8]], input_size: tuple[int, int],
                    batch: int | None = None) -> tuple[torch.Tensor, list[Letterbox]]:
    """The model input for ``images``: float32 ``(B, 3, in_h, in_w)`` RGB in [0, 1] (divided by
    255, as Ultralytics does), NCHW, and each image's :class:`Letterbox`. ``batch`` pads the
    batch with grey images up to a fixed batch size (a graph exported for batch 4 takes 4)."""
    size = max(len(images), batch or 0)
    canvas = np.empty((size, input_size[0], input_size[1], 3), dtype=np.uint8)
    boxes = [letterbox_into(image, canvas[i]) for i, image in enumerate(images)]
    canvas[len(images):] = PAD_VALUE
    # one pass: NHWC uint8 -> NCHW float32 (torch does it on all cores, numpy on one)
    tensor = torch.from_numpy(canvas).permute(0, 3, 1, 2)
    return tensor.to(torch.float32, memory_format=torch.contiguous_format).div_(255), boxes
