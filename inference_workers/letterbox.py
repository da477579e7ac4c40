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

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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


def _scaled(image: npt.NDArray[np.uint8], box: Letterbox) -> torch.Tensor:
    """``image`` resized to the letterbox's content size: ``(3, new_h, new_w)`` uint8 (a view
    of the image itself when no resize is needed)."""
    # (3, h, w) view of the (h, w, 3) array: channels-last, no copy
    source = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    if box.resized == box.image_size:
        return source
    return F.interpolate(source.unsqueeze(0), size=box.resized, mode="bilinear",
                         align_corners=False, antialias=False)[0]


def letterbox_into(image: npt.NDArray[np.uint8], out: npt.NDArray[np.uint8], *,
                   scaleup: bool = True, center: bool = True) -> Letterbox:
    """Letterbox ``image`` (h, w, 3) into ``out`` (in_h, in_w, 3), which is overwritten (the
    border with 114)."""
    size = check_image(image)
    box = plan(size, (out.shape[0], out.shape[1]), scaleup=scaleup, center=center)
    new_h, new_w = box.resized
    out[...] = PAD_VALUE
    content = torch.from_numpy(out[box.top:box.top + new_h, box.left:box.left + new_w])
    content.permute(2, 0, 1).copy_(_scaled(image, box))  # torch copies strided views fast
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
    batch with grey images up to a fixed batch size (a graph exported for batch 4 takes 4).

    Each resized image is written straight into its slot of the float batch (the uint8 -> float
    conversion happens in that copy), then the batch is divided once: 8 images of 640x480 into
    320x320 take ~3 ms on one thread, against ~7.5 ms through a uint8 canvas first.
    """
    boxes = [plan(check_image(image), input_size) for image in images]
    size = max(len(images), batch or 0)
    tensor = torch.full((size, 3, input_size[0], input_size[1]), float(PAD_VALUE),
                        dtype=torch.float32)
    for slot, (image, box) in enumerate(zip(images, boxes, strict=True)):
        new_h, new_w = box.resized
        tensor[slot, :, box.top:box.top + new_h, box.left:box.left + new_w].copy_(
            _scaled(image, box))
    return tensor.div_(255), boxes


class BatchPreparer:
    """Letterboxes the next batch on a thread of its own while the model runs the current one
    (ONNX Runtime and torch release the GIL while they compute).

    torch's intra-op thread count is left alone here: ``torch.set_num_threads`` called from
    this thread can change it for the whole process (it did whenever the main thread had not
    used torch yet), and the model may be a torch one that needs them."""

    def __init__(self, input_size: tuple[int, int], fixed_batch: int | None = None) -> None:
        self.input_size = input_size
        self.fixed_batch = fixed_batch
        self._executor: ThreadPoolExecutor | None = None

    def _start(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="letterbox")
        return self._executor

    def batches(self, images: Sequence[npt.NDArray[np.uint8]], batch_size: int
                ) -> Iterator[tuple[int, torch.Tensor, list[Letterbox]]]:
        """``(count, input, letterboxes)`` for each run of at most ``batch_size`` images, in
        order; the next one is being prepared while the caller works on this one."""
        chunks = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
        if not chunks:
            return
        executor = self._start()
        pending = executor.submit(letterbox_batch, chunks[0], self.input_size,
                                  self.fixed_batch)
        for index, chunk in enumerate(chunks):
            tensor, boxes = pending.result()
            if index + 1 < len(chunks):
                pending = executor.submit(letterbox_batch, chunks[index + 1], self.input_size,
                                          self.fixed_batch)
            yield len(chunk), tensor, boxes

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
