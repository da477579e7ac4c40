"""Which decoded events belong to image streams (cheap test used by several projections)."""

from __future__ import annotations

from typing import Any

from domain.image import Image

IMAGE_EVENTS = frozenset({
    Image.ImageAdded, Image.AnnotationCreated, Image.AnnotationEdited, Image.AnnotationDeleted,
    Image.PrelabelProposed, Image.PrelabelAccepted, Image.PrelabelEdited,
    Image.PrelabelRejected, Image.AssistClicked, Image.ImageSubmitted, Image.ReviewRecorded,
    Image.ImageReopened, Image.AnnotationAttributesSet,
})


def is_image_event(event: Any) -> bool:
    """Whether ``event`` belongs to an image stream (event types added later included)."""
    # A set lookup first: isinstance against a class tuple is several times slower.
    return type(event) in IMAGE_EVENTS or isinstance(event, (Image.Event, Image.ImageAdded))
