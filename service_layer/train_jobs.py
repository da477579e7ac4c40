"""Queueing train jobs (``POST /projects/{id}/jobs`` with ``"type": "train"``).

Placeholder of the seam: the active-learning issue fills it in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.errors import ValidationFailed
from domain.job import Job

if TYPE_CHECKING:
    from service_layer.jobs import JobService


class TrainJobs:
    """Checks and queues train jobs."""

    def queue(self, service: JobService, project_id: str, actor: str, raw: object) -> Job:
        raise ValidationFailed("train jobs are not yet supported", {"field": "type"})
