"""SAM (Segment Anything) as a built-in architecture: kornia's ``Sam``, rebuilt from its
configuration and filled with a registered state dict.

An ``interactive`` model answers clicks, not images: it pre-labels nothing, so it has no
classes and no ``Runner``; ``inference_workers.assist_sam.SamEngine`` serves it. The network
code is kornia's (``kornia.models.sam``, whose key names are those of Meta's and MobileSAM's
released checkpoints, so ``mobile_sam.pt`` or ``sam_vit_b_01ec64.pth`` register as they are);
the tensors are the uploader's. Nothing is ever fetched: :func:`build` assembles the modules
from the configuration with random initial values, and only then are the tensors loaded.

Which encoder the tensors are is read from their names and shapes (:func:`identify`):

* ``mobile_sam``: MobileSAM, a TinyViT-5M image encoder (10.1 M parameters in all). Its
  tensors do not depend on the input side, so a smaller side than the released 1024 may be
  registered (``input_size``, a multiple of 64 from 256): the image embedding then costs about
  a quarter at 512 (0.23 s vs 1.1 s on this 2-core machine), at some loss of detail.
* ``vit_b``, ``vit_l``, ``vit_h``: Meta's SAM ViT encoders (94 M, 312 M, 641 M parameters),
  told apart by their embedding width and depth; their relative position tables fix the side
  at 1024. A ViT of another width or depth is refused.

Anything else (another network's state dict, a TinyViT of another size, a tensor of another
shape) is refused with the first tensor that does not fit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from kornia.models.sam import Sam, SamConfig

from domain.errors import ValidationFailed
from inference_workers.model_api import ModelInfo, ModelSpec

SAM_INPUT_SIDE = 1024  # the side every released SAM checkpoint was trained at
MIN_MOBILE_SIDE = 256
SIDE_MULTIPLE = 64  # TinyViT halves the side 4 times, then the 16-pixel patch grid
EMBEDDING_STRIDE = 16  # the image embedding is (256, side / 16, side / 16)
MASK_SIDE_FACTOR = 4  # the decoder's low-resolution masks are 4x the embedding's side

_TINY_VIT_KEY = "image_encoder.patch_embed.seq.0.c.weight"
_VIT_KEY = "image_encoder.patch_embed.proj.weight"
_VIT_BLOCK = re.compile(r"image_encoder\.blocks\.(\d+)\.")


@dataclass(frozen=True)
class SamVariant:
    """One SAM encoder kornia builds: its name and whether its input side is fixed."""

    name: str
    description: str
    fixed_side: bool
    vit_shape: tuple[int, int] | None = None  # (embedding width, depth) of a ViT encoder


VARIANTS: dict[str, SamVariant] = {
    "mobile_sam": SamVariant("mobile_sam", "MobileSAM (TinyViT-5M encoder)", fixed_side=False),
    "vit_b": SamVariant("vit_b", "SAM ViT-B", fixed_side=True, vit_shape=(768, 12)),
    "vit_l": SamVariant("vit_l", "SAM ViT-L", fixed_side=True, vit_shape=(1024, 24)),
    "vit_h": SamVariant("vit_h", "SAM ViT-H", fixed_side=True, vit_shape=(1280, 32)),
}


def identify(tensors: Mapping[str, torch.Tensor]) -> SamVariant:
    """The SAM variant whose encoder the tensors' names announce (ValidationFailed, field
    ``weights``, when they are no SAM's, or a ViT of a width and depth kornia does not
    build). Only the encoder is told apart here; every shape is checked afterwards."""
    if _TINY_VIT_KEY in tensors:
        return VARIANTS["mobile_sam"]
    patch = tensors.get(_VIT_KEY)
    if patch is None:
        sample = ", ".join(repr(k) for k in sorted(tensors)[:3])
        raise _bad_weights(
            "these tensors are not a SAM model: a SAM state dict (kornia.models.sam.Sam, or "
            "Meta's / MobileSAM's released checkpoints) has image_encoder.*, prompt_encoder.* "
            f"and mask_decoder.* tensors, with {_TINY_VIT_KEY!r} (MobileSAM) or {_VIT_KEY!r} "
            f"(SAM ViT-B/L/H); these start with {sample}")
    if patch.dim() != 4:
        raise _bad_weights(f"tensor {_VIT_KEY!r} has shape {list(patch.shape)}; a SAM ViT "
                           "encoder's patch embedding is a 4-d convolution weight", key=_VIT_KEY)
    width = int(patch.shape[0])
    depth = len({int(m.group(1)) for k in tensors if (m := _VIT_BLOCK.match(k))})
    for variant in VARIANTS.values():
        if variant.vit_shape == (width, depth):
            return variant
    known = ", ".join(f"{v.name} ({v.vit_shape[0]} wide, {v.vit_shape[1]} blocks)"
                      for v in VARIANTS.values() if v.vit_shape)
    raise _bad_weights(f"a SAM ViT encoder {width} wide with {depth} blocks is none of the "
                       f"variants Labelwright builds: {known}, or mobile_sam", key=_VIT_KEY)


def input_side(variant: SamVariant, asked: list[int] | None) -> int:
    """The square side the image encoder takes: 1024 unless a MobileSAM was registered with
    a smaller ``input_size`` (ValidationFailed, field ``input_size``)."""
    if asked is None:
        return SAM_INPUT_SIDE
    side = asked[0]
    if len(asked) != 2 or asked[0] != asked[1]:
        raise ValidationFailed(f"a SAM model takes a square input; got input_size {asked}",
                               {"field": "input_size"})
    if variant.fixed_side and side != SAM_INPUT_SIDE:
        raise ValidationFailed(f"{variant.description} takes {SAM_INPUT_SIDE}x{SAM_INPUT_SIDE} "
                               f"images only (its position tables are that size); got {side}",
                               {"field": "input_size"})
    if not (MIN_MOBILE_SIDE <= side <= SAM_INPUT_SIDE and side % SIDE_MULTIPLE == 0):
        raise ValidationFailed(f"a MobileSAM input side is a multiple of {SIDE_MULTIPLE} from "
                               f"{MIN_MOBILE_SIDE} to {SAM_INPUT_SIDE}; got {side}",
                               {"field": "input_size"})
    return side


def build(variant: str, side: int = SAM_INPUT_SIDE) -> Sam:
    """kornia's SAM of ``variant`` at ``side`` pixels, randomly initialised (nothing is
    downloaded: ``pretrained`` stays False and no checkpoint is named), in evaluation mode."""
    if variant == "mobile_sam" and side != SAM_INPUT_SIDE:
        return _mobile_sam(side).eval()
    return Sam.from_config(SamConfig(model_type=variant)).eval()


def _mobile_sam(side: int) -> Sam:
    """kornia's MobileSAM configuration (``Sam.from_config``) at another input side."""
    from kornia.models.sam.architecture.mask_decoder import MaskDecoder
    from kornia.models.sam.architecture.prompt_encoder import PromptEncoder
    from kornia.models.sam.architecture.transformer import TwoWayTransformer
    from kornia.models.tiny_vit import TinyViT

    embed_dim, grid = 256, side // EMBEDDING_STRIDE
    return Sam(
        image_encoder=TinyViT.from_config("5m", img_size=side, mobile_sam=True),
        prompt_encoder=PromptEncoder(embed_dim=embed_dim, image_embedding_size=(grid, grid),
                                     input_image_size=(side, side), mask_in_chans=16),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=embed_dim, mlp_dim=2048,
                                          num_heads=8),
            transformer_dim=embed_dim, iou_head_depth=3, iou_head_hidden_dim=256),
    )


@functools.lru_cache(maxsize=8)
def expected_shapes(variant: str, side: int) -> dict[str, tuple[int, ...]]:
    """Every tensor name of ``variant``'s state dict and its shape. A ViT is built on the
    ``meta`` device (shapes only, nothing allocated: ViT-H is 2.5 GB); TinyViT reads a tensor's
    value while it is built, which ``meta`` cannot, but it is small (0.05 s, 40 MB)."""
    if variant == "mobile_sam":
        expected = build(variant, side).state_dict()
    else:
        with torch.device("meta"):
            expected = build(variant, side).state_dict()
    return {key: tuple(value.shape) for key, value in expected.items()}


def inspect_sam_state_dict(tensors: Mapping[str, torch.Tensor], classes: list[str], *,
                           input_size: list[int] | None = None) -> ModelSpec:
    """Check that ``tensors`` are exactly a SAM variant's (every name, every shape, finite
    floats) and describe them as an ``interactive`` model. A classes list is refused: SAM
    segments whatever is clicked, and the annotator names it."""
    from inference_workers.architectures import _check_tensors  # the one shape check

    variant = identify(tensors)  # first: other weights are refused as what they are not
    if classes:
        raise ValidationFailed("a SAM model has no classes (it segments whatever is clicked); "
                               "register it without a classes file", {"field": "classes"})
    side = input_side(variant, input_size)
    _check_tensors(tensors, expected_shapes(variant.name, side))
    parameters = sum(t.numel() for k, t in tensors.items()
                     if not k.endswith("num_batches_tracked"))
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in tensors.values()
                     if t.is_floating_point()})
    return ModelSpec(
        format="state_dict", task="interactive", layout="sam", architecture="sam", classes=[],
        input_size=[side, side],
        details={"variant": variant.name, "parameters": parameters, "dtypes": dtypes,
                 "embedding_stride": EMBEDDING_STRIDE},
    )


def load_sam(info: ModelInfo, weights: Path, *, device: torch.device) -> Sam:
    """A registered SAM's weights, checked again and loaded (float32) on ``device``, in
    evaluation mode (MobileSAM's BatchNorm must use its running statistics)."""
    from inference_workers.model_files import load_state_dict

    tensors = load_state_dict(weights)  # by content: safetensors or weights_only=True
    spec = inspect_sam_state_dict(tensors, [], input_size=info.input_size)
    assert spec.input_size is not None
    model = build(str(spec.details["variant"]), spec.input_size[0])
    floats = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    model.load_state_dict(floats, strict=False)  # every name was checked above
    return model.to(device).eval()


def _bad_weights(message: str, *, key: str | None = None) -> ValidationFailed:
    details: dict[str, object] = {"field": "weights"}
    if key is not None:
        details["key"] = key
    return ValidationFailed(message, details)
