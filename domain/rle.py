"""COCO run-length encoding (RLE) of binary masks, byte-compatible with pycocotools.

A mask of height ``h`` and width ``w`` is read in column-major (Fortran) order and cut into
alternating runs of 0s and 1s, always starting with a (possibly empty) run of 0s. The runs
are stored as ``{"size": [h, w], "counts": "<string>"}`` where the string is pycocotools'
compact codec: each value is written as little-endian groups of 5 bits, one printable
character per group (``chr(48 + group)``), bit ``0x20`` meaning "another group follows" and
bit ``0x10`` of the last group giving the sign. From the fourth run on (index ``i > 2``) the
value written is the difference ``runs[i] - runs[i - 2]``, which keeps long, similar runs
short.

Everything here is pure numpy: pycocotools is only used by the tests, to prove that
:func:`encode` produces the very same bytes and that :func:`area`, :func:`to_bbox` and
:func:`iou` agree with ``pycocotools.mask.area``, ``toBbox`` and ``iou``.

Invalid input raises :class:`~domain.errors.ValidationFailed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.errors import ValidationFailed

Runs = npt.NDArray[np.int64]
"""A 1-d array of run lengths: 0s, 1s, 0s, ... (column-major)."""

MAX_RUN = 2**32 - 1
"""pycocotools stores runs as ``uint32``; longer runs cannot be represented."""

_MAX_CHARS_PER_VALUE = 7  # 35 bits: enough for any difference of two uint32 runs
# A value needs n characters when it does not fit in 5*(n-1) signed bits.
_CHAR_THRESHOLDS = np.array([1 << (5 * k - 1) for k in range(1, _MAX_CHARS_PER_VALUE)], np.int64)
# by the number of characters L of a value: 2**(5 L), subtracted when its sign bit is set, and
# the smallest magnitude that needs L characters (so no shorter form exists)
_SIGN_WEIGHT = np.array([1 << (5 * n) for n in range(_MAX_CHARS_PER_VALUE + 1)], np.int64)
_SHORTEST_FROM = np.array([0, 0] + [1 << (5 * n - 6) for n in range(2, _MAX_CHARS_PER_VALUE + 1)],
                          np.int64)


def _fail(message: str, field: str = "rle.counts") -> ValidationFailed:
    return ValidationFailed(message, {"field": field})


# --------------------------------------------------------------------------------------------
# the character codec
# --------------------------------------------------------------------------------------------


def runs_from_counts(counts: str) -> Runs:
    """Decode a pycocotools counts string into its run lengths.

    Rejects (``ValidationFailed``) characters outside ``'0'..'o'`` (48..111), a string that
    ends in the middle of a value (continuation bit set on the last character), values longer
    than 7 characters, and runs that are negative or larger than ``2**32 - 1``. The runs are
    not checked against a mask size; see :func:`validate`.
    """
    return _decode(counts)[0]


def _decode(counts: object) -> tuple[Runs, bool]:
    """The runs of a counts string, and whether every value in it is written with as few
    characters as :func:`counts_from_runs` would use.

    Linear in the length of the string (~12 ms per million characters here): a string of
    one-character values is read in one vectorised step; any other in slices of
    ``_DECODE_SLICE`` characters, so that the temporaries stay in the CPU cache."""
    if not isinstance(counts, str):
        raise _fail("mask counts must be a string")
    try:
        raw = counts.encode("ascii")
    except UnicodeEncodeError:
        raise _fail("mask counts contain a character outside '0'..'o'") from None
    n = len(raw)
    if n == 0:
        return np.zeros(0, dtype=np.int64), True
    c = np.frombuffer(raw, dtype=np.uint8)
    if int(c.min()) < 48 or int(c.max()) > 111:
        raise _fail("mask counts contain a character outside '0'..'o'")
    c = c - np.uint8(48)
    more = c >= 0x20  # the continuation bit
    if more[-1]:
        raise _fail("mask counts are truncated (the last value is incomplete)")
    minimal = True
    if not more.any():
        # one character per value: 5 bits, two's complement (bit 0x10 is the sign)
        values: Runs = c.astype(np.int64)
        values ^= 0x10
        values -= 0x10
    else:
        digits = c & np.uint8(0x1F)
        values = np.empty(n - int(np.count_nonzero(more)), dtype=np.int64)
        done = 0
        start = 0
        while start < n:
            stop = min(start + _DECODE_SLICE, n)
            while more[stop - 1]:  # end the slice with the last character of a value
                stop -= 1
                if stop == start:
                    raise _fail("mask counts contain a value that is too long")
            count, shortest = _decode_slice(digits[start:stop], more[start:stop],
                                            values[done:])
            minimal = minimal and shortest
            done += count
            start = stop
    # undo the delta coding: runs[i] = values[i] + runs[i - 2] for i > 2
    runs = values
    np.cumsum(runs[1::2], out=runs[1::2])
    np.cumsum(runs[2::2], out=runs[2::2])
    if int(runs.min()) < 0 or int(runs.max()) > MAX_RUN:
        raise _fail("mask counts decode to a negative or oversized run")
    return runs, minimal


_DECODE_SLICE = 1 << 15


def _decode_slice(digits: npt.NDArray[np.uint8], more: npt.NDArray[np.bool_], out: Runs
                  ) -> tuple[int, bool]:
    """Decode the values of a slice that ends with the last character of a value into
    ``out``; returns how many, and whether each is in its shortest form."""
    ends = np.flatnonzero(~more)  # the last character of each value
    lengths = np.diff(ends, prepend=-1)
    longest = int(lengths.max())
    if longest > _MAX_CHARS_PER_VALUE:
        raise _fail("mask counts contain a value that is too long")
    padded = np.concatenate((digits, np.zeros(_MAX_CHARS_PER_VALUE, np.uint8)))
    starts = ends - lengths
    starts += 1
    values = padded[starts].astype(np.int64)
    at = starts.copy()
    for k in range(1, longest):  # digit k (5 bits each, little-endian) where there is one
        has = lengths > k
        if np.count_nonzero(has) * 8 > has.size:  # many: whole-array steps
            at += 1
            digit = padded[at].astype(np.int64)
            digit *= has
            digit <<= 5 * k
            values |= digit
        else:
            some = np.flatnonzero(has)
            values[some] |= padded[starts[some] + k].astype(np.int64) << (5 * k)
    # two's complement over the value's 5 * L bits: the sign is bit 0x10 of its last digit
    values -= _SIGN_WEIGHT[lengths] * (padded[ends] >= 0x10)
    # shortest form: a value of L > 1 characters does not fit in L - 1 of them
    magnitude = values >> 63
    magnitude ^= values
    shortest = bool((magnitude >= _SHORTEST_FROM[lengths]).all())
    out[: values.size] = values
    return int(values.size), shortest


def _as_runs(runs: Sequence[int] | npt.NDArray[Any]) -> Runs:
    array = np.asarray(runs)
    if array.ndim != 1:
        raise _fail("mask runs must be a flat sequence of integers")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise _fail("mask runs must be integers")
    if int(array.min()) < 0 or int(array.max()) > MAX_RUN:
        raise _fail(f"mask runs must be between 0 and {MAX_RUN}")
    return array.astype(np.int64, copy=False)


def counts_from_runs(runs: Sequence[int] | npt.NDArray[Any]) -> str:
    """Encode run lengths as a pycocotools counts string (the inverse of
    :func:`runs_from_counts`); identical to what pycocotools writes for the same runs.

    Linear in the number of runs, in slices that keep the temporaries in the CPU cache."""
    r = _as_runs(runs)
    m = r.size
    if m == 0:
        return ""
    values = r.copy()
    values[3:] -= r[1:-2]
    return b"".join(
        _encode_slice(values[start : start + _DECODE_SLICE])
        for start in range(0, m, _DECODE_SLICE)
    ).decode("ascii")


def _encode_slice(values: Runs) -> bytes:
    magnitude = values >> 63
    magnitude ^= values  # v for v >= 0, ~v below: the shortest form needs its bit length + 1
    nchars = np.searchsorted(_CHAR_THRESHOLDS, magnitude, side="right") + 1
    offsets = np.cumsum(nchars) - nchars
    out = np.empty(int(nchars.sum()), dtype=np.uint8)
    # character k of a value: its bits 5k..5k+4, plus 0x20 when another character follows
    first = values & 0x1F
    first |= (nchars > 1) << 5
    first += 48
    out[offsets] = first
    for k in range(1, int(nchars.max())):
        selected = np.flatnonzero(nchars > k)
        digit = (values[selected] >> (5 * k)) & 0x1F
        digit |= (nchars[selected] > k + 1) << 5
        digit += 48
        out[offsets[selected] + k] = digit
    return out.tobytes()


# --------------------------------------------------------------------------------------------
# masks <-> rle
# --------------------------------------------------------------------------------------------


def encode(mask: npt.ArrayLike) -> dict[str, Any]:
    """Encode an ``HxW`` mask (bool, or integers where non-zero is foreground) as compressed
    RLE, exactly like ``pycocotools.mask.encode(np.asfortranarray(mask))`` but with
    ``counts`` as ``str``."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValidationFailed(
            f"a mask must be a 2-d array, got {array.ndim} dimension(s)", {"field": "mask"}
        )
    height, width = (int(v) for v in array.shape)
    flat = array.astype(np.bool_, copy=False).ravel(order="F")
    n = flat.size
    if n == 0:
        runs: Runs = np.zeros(1, dtype=np.int64)
    else:
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        bounds = np.concatenate(([0], change, [n])).astype(np.int64)
        runs = np.diff(bounds)
        if flat[0]:
            runs = np.concatenate((np.zeros(1, dtype=np.int64), runs))
    return {"size": [height, width], "counts": counts_from_runs(runs)}


def _size_of(rle: object) -> tuple[int, int]:
    if not isinstance(rle, dict):
        raise _fail("mask rle must be an object with 'size' and 'counts'", "rle")
    size = rle.get("size")
    if (
        not isinstance(size, list | tuple)
        or len(size) != 2
        or not all(type(v) is int or isinstance(v, np.integer) for v in size)
    ):
        raise _fail("mask size must be a [height, width] pair of integers", "rle.size")
    height, width = int(size[0]), int(size[1])
    if height <= 0 or width <= 0:
        raise _fail(f"mask size {height}x{width} must be positive", "rle.size")
    return height, width


def _runs_of_counts(counts: object, height: int, width: int) -> Runs:
    return _checked_runs(counts, height, width)[0]


def _checked_runs(counts: object, height: int, width: int) -> tuple[Runs, bool]:
    """The runs of compressed or uncompressed counts, checked against the mask size, and
    whether ``counts`` is a string in the shortest form (see :func:`_decode`)."""
    # Canonical counts have at most h*w + 1 runs; allow empty runs but not without bound.
    max_runs = 4 * (height * width + 1)
    shortest = False
    if isinstance(counts, str):
        if len(counts) > _MAX_CHARS_PER_VALUE * max_runs:
            raise _fail("mask counts are far longer than any mask of this size needs")
        runs, shortest = _decode(counts)
    elif isinstance(counts, list | tuple):
        if len(counts) > max_runs:
            raise _fail("mask counts list far more runs than the mask has pixels")
        if not set(map(type, counts)) <= {int}:
            raise _fail("uncompressed mask counts must be a list of integers")
        try:
            runs = _as_runs(np.fromiter(counts, np.int64, len(counts)))
        except OverflowError:
            raise _fail(f"mask runs must be between 0 and {MAX_RUN}") from None
    else:
        raise _fail("mask counts must be a string (or a list of run lengths)")
    total = int(runs.sum())
    if total != height * width:
        raise _fail(
            f"mask counts cover {total} pixels but a {height}x{width} mask has {height * width}"
        )
    return runs, shortest


def _parse(rle: object) -> tuple[int, int, Runs]:
    height, width = _size_of(rle)
    assert isinstance(rle, dict)
    return height, width, _runs_of_counts(rle.get("counts"), height, width)


def runs_of(rle: dict[str, Any]) -> Runs:
    """The checked runs of an RLE dict (compressed or uncompressed counts)."""
    return _parse(rle)[2]


def _canonical(runs: Runs) -> Runs:
    """The runs :func:`encode` would produce for the same pixels: no empty runs except
    a leading empty run of 0s."""
    if runs.size > 1 and int(runs[1:].min()) > 0:
        return runs  # already canonical (the usual case): no copy
    keep = runs > 0
    value = (np.arange(runs.size) & 1)[keep]
    length = runs[keep]
    if length.size == 0:
        return np.zeros(1, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], value[1:] != value[:-1])))
    merged: Runs = np.add.reduceat(length, starts)
    if value[0] == 1:
        merged = np.concatenate((np.zeros(1, dtype=np.int64), merged))
    return merged


def decode(rle: dict[str, Any]) -> npt.NDArray[np.uint8]:
    """Decode an RLE dict (compressed or uncompressed counts) into an ``HxW`` uint8 mask of
    0s and 1s (Fortran-ordered, like ``pycocotools.mask.decode``)."""
    height, width, runs = _parse(rle)
    values = (np.arange(runs.size) & 1).astype(np.uint8)
    flat = np.repeat(values, runs)
    return flat.reshape((height, width), order="F")


def _ones(runs: Runs) -> tuple[Runs, Runs]:
    """Non-empty runs of 1s as half-open ``[start, end)`` intervals of column-major index."""
    ends = np.cumsum(runs)
    starts = ends - runs
    s, e = starts[1::2], ends[1::2]
    nonempty = e > s
    return s[nonempty], e[nonempty]


def area(rle: dict[str, Any]) -> int:
    """Number of foreground pixels (``pycocotools.mask.area``)."""
    _, _, runs = _parse(rle)
    return int(runs[1::2].sum())


def to_bbox(rle: dict[str, Any]) -> tuple[float, float, float, float]:
    """Tight ``(x, y, w, h)`` box around the foreground pixels, like
    ``pycocotools.mask.toBbox``; ``(0, 0, 0, 0)`` for an empty mask."""
    height, _, runs = _parse(rle)
    s, e = _ones(runs)
    if s.size == 0:
        return (0.0, 0.0, 0.0, 0.0)
    last = e - 1
    first_col, last_col = s // height, last // height
    x0, x1 = int(first_col.min()), int(last_col.max())
    if bool((last_col > first_col).any()):
        # a run that wraps into the next column touches both the bottom and the top row
        y0, y1 = 0, height - 1
    else:
        y0, y1 = int((s % height).min()), int((last % height).max())
    return (float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1))


def _intersection(runs_a: Runs, runs_b: Runs, area_a: int, area_b: int, pixels: int) -> int:
    """How many pixels are foreground in both masks.

    ``a & b = (a + b - (a ^ b)) / 2`` pixel by pixel, and ``a ^ b`` needs no tags: it flips
    wherever either mask flips, so after merging both masks' flip positions (one linear merge
    of two sorted arrays) it is 1 exactly between the 1st and 2nd, 3rd and 4th ... of them."""
    dtype = np.int32 if pixels < 2**31 else np.int64  # int32 for any image up to 2 gigapixels
    flips = np.empty(runs_a.size + runs_b.size - 2, dtype=dtype)
    np.cumsum(runs_a[:-1], out=flips[: runs_a.size - 1])  # where a run ends (but the last)
    np.cumsum(runs_b[:-1], out=flips[runs_a.size - 1 :])
    flips.sort(kind="stable")  # two sorted runs: timsort merges them in linear time
    xor = int(flips[1::2].sum(dtype=np.int64)) - int(flips[0::2].sum(dtype=np.int64))
    if flips.size % 2:
        xor += pixels
    return (area_a + area_b - xor) // 2


def iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Intersection over union of two masks of the same size (``pycocotools.mask.iou`` with
    ``iscrowd=0``), computed on the runs without decoding; 0.0 when either is empty.

    Linear in the length of the counts (~12 ms per million characters to read them, ~13 ms
    for the overlap of two masks of a million runs each here).

    Raises ``ValueError`` when the sizes differ.
    """
    ha, wa, runs_a = _parse(a)
    hb, wb, runs_b = _parse(b)
    if (ha, wa) != (hb, wb):
        raise ValueError(f"cannot compare a {ha}x{wa} mask with a {hb}x{wb} mask")
    return iou_of_runs(runs_a, runs_b, ha * wa)


def iou_of_runs(runs_a: Runs, runs_b: Runs, pixels: int) -> float:
    """:func:`iou` of two masks of ``pixels`` pixels given as their (checked) runs."""
    area_a = int(runs_a[1::2].sum())
    area_b = int(runs_b[1::2].sum())
    if area_a == 0 or area_b == 0:
        return 0.0
    intersection = _intersection(runs_a, runs_b, area_a, area_b, pixels)
    union = area_a + area_b - intersection
    return intersection / union


def validate(rle: object, height: int, width: int) -> dict[str, Any]:
    """Check an untrusted RLE for an image of ``height`` x ``width`` and return it normalized.

    The RLE must be ``{"size": [height, width], "counts": ...}`` with no other key; counts is
    a compressed string or an uncompressed list of run lengths, and the runs must cover
    exactly ``height * width`` pixels. The result always has compressed, canonical counts
    (what :func:`encode` would produce for the same pixels), so equal masks compare equal.
    An empty mask (no foreground pixel) is rejected.
    """
    return validate_with_runs(rle, height, width)[0]


def validate_with_runs(rle: object, height: int, width: int) -> tuple[dict[str, Any], Runs]:
    """:func:`validate`, and the (read-only) runs of the normalized mask, so that a caller
    that goes on to measure it need not decode the counts again."""
    if not isinstance(rle, dict):
        raise _fail("mask rle must be an object with 'size' and 'counts'", "rle")
    extra = sorted(str(k) for k in rle if k not in ("size", "counts"))
    if extra:
        raise _fail(f"mask rle has unexpected key(s): {', '.join(extra)}", f"rle.{extra[0]}")
    if "counts" not in rle:
        raise _fail("mask rle is missing 'counts'", "rle.counts")
    if "size" not in rle:
        raise _fail("mask rle is missing 'size'", "rle.size")
    h, w = _size_of(rle)
    if (h, w) != (height, width):
        raise _fail(f"mask size {h}x{w} does not match the image {height}x{width}", "rle.size")
    counts = rle["counts"]
    given, shortest = _checked_runs(counts, h, w)
    runs = _canonical(given)
    if int(runs[1::2].sum()) == 0:
        raise _fail("mask is empty (it has no foreground pixel)", "rle.counts")
    runs.flags.writeable = False
    if shortest and runs is given:
        # already the canonical string (the usual case): encoding it again would give the
        # very same characters
        assert isinstance(counts, str)
        return {"size": [h, w], "counts": counts}, runs
    return {"size": [h, w], "counts": counts_from_runs(runs)}, runs
