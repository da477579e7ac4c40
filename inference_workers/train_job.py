"""Running a train job: the project's labels as of a position become a new model version.

A train job is one shard (``service_layer.train_jobs`` fixed its images and their versions
when it was queued). Working on it:

1. if a model whose lineage names this job is registered already (the worker died between
   registering and recording the shard), the job is just finished with it: a train job
   registers one version however often it runs;
2. replay the fixed images to their versions (``training_set.gather``: the same examples as at
   queue time), split them by image id (``TrainingSet.split``), and read the pixels lazily
   (each image is decoded and letterboxed as the trainer reaches it);
3. train (``training.detector_training`` or ``training.classifier_training``) with early
   stopping, recording a ``TrainingProgress`` on the job after each epoch (the UI's loss
   curve, through the project room); before each batch a cancelled job or a stopping worker
   stops it (the shard stays pending: a resumed job trains again from the start, and its
   epochs replace the earlier ones);
4. save the best weights as safetensors (fixed metadata: the same weights are the same bytes)
   and register them through the model registry (inspected like an upload, so the result is
   loadable by the runners) as ``name`` with the next free version, with the lineage;
5. record ``ShardDone`` and ``JobFinished`` (``result``: the new model) in one save.

Training for minutes is safe under both queues: ``EmbeddedJobs`` holds the job's ``flock`` for
as long as the thread works on it, and ``RedisJobs`` keeps the shard's entry claimed from a
separate thread (``_KeepClaimed``, every ``claim_after / 3`` seconds) while torch runs (it
releases the GIL in its kernels).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, overload

from domain.application import Labeling
from domain.errors import DomainError, NotFound
from domain.job import Job
from domain.model import Model
from inference_workers.model_api import RGBImage
from inference_workers.prelabel_job import JobFailure, ShardReport, _JobWatch, decode_image
from service_layer.image_store import ImageStore
from service_layer.training_set import TRAINABLE, Example, TrainingSet, gather

log = logging.getLogger(__name__)

SEED = 0
PATIENCE = 8  # epochs without a better held-out metric before training stops
DETECTOR_INPUT = 256
DETECTOR_BATCH = 16
DETECTOR_LR = 3e-3
CLASSIFIER_BATCH = 32
CLASSIFIER_LR = 3e-3
WIDTH = 16
MAX_TRAINED_MODEL_BYTES = 512 * 1024 * 1024  # far above what the built-in models weigh


class LazyImages(Sequence[RGBImage]):
    """The examples' pixels, decoded when read (the trainers keep only the letterboxed
    copy); an image that cannot be read fails the job: the set must not change silently."""

    def __init__(self, app: Labeling, images: ImageStore, project_id: str,
                 examples: Sequence[Example]) -> None:
        self.app, self.images, self.project_id = app, images, project_id
        self.ids = [e.image_id for e in examples]

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> RGBImage: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[RGBImage]: ...

    def __getitem__(self, index: int | slice) -> RGBImage | Sequence[RGBImage]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        decoded = decode_image(self.app, self.images, self.project_id, self.ids[index])
        if decoded.pixels is None:
            raise JobFailure("image_error", f"image {self.ids[index]} cannot be trained on: "
                             f"{decoded.error}")
        return decoded.pixels


def trained_by(app: Labeling, project_id: str, job_id: str) -> Model | None:
    """The model a train job registered, if it did."""
    for model in app.project_models(project_id):
        if model.lineage is not None and model.lineage.get("job_id") == job_id:
            return model
    return None


class TrainWork:
    """Runs train jobs for one worker thread."""

    def __init__(self, app: Labeling, images: ImageStore, models: ImageStore,
                 worker: str, *, device: str | None = None, threads: int | None = None) -> None:
        self.app = app
        self.images = images
        self.models = models
        self.worker = worker
        self.device = device
        self.threads = threads

    def run_shard(self, job_id: str, index: int,
                  should_stop: Callable[[], bool] = lambda: False,
                  then: int | None = None) -> ShardReport:
        started = time.perf_counter()
        report = ShardReport(job_id, index)
        job = self.app.job(job_id)
        if job.finished or index in job.shards_done or index >= job.shard_count:
            report.stopped = job.state if job.finished else "already done"
            return report
        if job.type != "train":
            raise JobFailure("unsupported", f"{job.type} jobs are not train jobs")
        if job.state == "queued":
            self.app.change_job(job_id, lambda j: j.start(self.worker))
        model = trained_by(self.app, job.project_id, job_id)
        if model is None:
            watch = _JobWatch(self.app, self.app.job(job_id), should_stop)
            stopped: list[str] = []

            def stop() -> bool:
                reason = watch.stopped()
                if reason:
                    stopped.append(reason)
                return reason is not None

            from inference_workers.training.early_stopping import TrainingStopped

            try:
                model = self._train_and_register(job, stop)
            except TrainingStopped:
                report.stopped = stopped[-1] if stopped else "stopped"
                report.seconds = time.perf_counter() - started
                return report
        report.done = len(job.image_ids)
        report.seconds = time.perf_counter() - started
        self._mark_done(job_id, report, model)
        return report

    def close(self) -> None:
        pass

    # -- training --------------------------------------------------------------------------------

    def _train_and_register(self, job: Job, stop: Callable[[], bool]) -> Model:
        import torch

        params = job.params
        architecture = str(params["architecture"])
        project = self.app.project(job.project_id)
        found = gather(self.app, list(zip(job.image_ids, params["image_versions"], strict=True)),
                       architecture, [c["name"] for c in project.classes])
        if [e.image_id for e in found.examples] != list(job.image_ids):
            raise JobFailure("training_set", "the job's images no longer give the training set "
                             "it was queued with")
        train, held_out = found.split(float(params["validation_fraction"]))
        base = self._base_state(params.get("base_model_id"))
        job_id = str(job.id)

        def progress(record: dict[str, Any]) -> None:
            self.app.change_job(job_id, lambda j: j.training_progress(
                epoch=int(record["epoch"]), train_loss=float(record["loss"]),
                val_loss=record["val_loss"], val_metric=record["val_metric"],
                seconds=float(record["seconds"])))

        if self.threads:
            torch.set_num_threads(self.threads)  # torch's pool is per process: the worker's
        state, metrics = self._train(architecture, job.project_id, found, train, held_out,
                                     int(params["epochs"]), base, progress, stop)
        # Registered by another run of this job meanwhile? Then that one stands.
        again = trained_by(self.app, job.project_id, job_id)
        if again is not None:
            return again
        lineage = self._lineage(job, found, train, held_out, metrics)
        return self._register(job, architecture, found.classes, state, lineage)

    def _train(self, architecture: str, project_id: str, found: TrainingSet,
               train: list[Example], held_out: list[Example], epochs: int,
               base: dict[str, Any] | None, progress: Callable[[dict[str, Any]], None],
               stop: Callable[[], bool]) -> tuple[dict[str, Any], dict[str, Any]]:
        train_pixels = LazyImages(self.app, self.images, project_id, train)
        held_pixels = LazyImages(self.app, self.images, project_id, held_out)
        if architecture == "centernet":
            from inference_workers.training.detector_training import train_centernet

            def targets(examples: list[Example]) -> list[dict[str, Any]]:
                return [{"boxes": e.boxes, "labels": e.labels} for e in examples]

            return train_centernet(
                train_pixels, targets(train), found.classes, epochs=epochs,
                batch_size=DETECTOR_BATCH, lr=DETECTOR_LR, seed=SEED, device=self.device,
                input_size=DETECTOR_INPUT, width=WIDTH, initial_state=base, progress=progress,
                held_out=(held_pixels, targets(held_out)), patience=PATIENCE, stop=stop)
        from inference_workers.training.classifier_training import train_classifier

        return train_classifier(
            train_pixels, [e.labels[0] for e in train], found.classes,
            held_out=(held_pixels, [e.labels[0] for e in held_out]), epochs=epochs,
            batch_size=CLASSIFIER_BATCH, lr=CLASSIFIER_LR, seed=SEED, device=self.device,
            width=WIDTH, initial_state=base, progress=progress, patience=PATIENCE, stop=stop)

    def _base_state(self, base_model_id: object) -> dict[str, Any] | None:
        if not base_model_id:
            return None
        from inference_workers.model_files import load_state_dict

        try:
            base = self.app.model(str(base_model_id))
        except NotFound:
            raise JobFailure("model_missing", f"the base model {base_model_id} does not "
                             "exist") from None
        path = self.models.path(base.sha256)
        if not path.is_file():
            raise JobFailure("model_missing", f"the weights of the base model {base.name}@"
                             f"{base.model_version} are missing from the model store")
        return load_state_dict(path)

    @staticmethod
    def _lineage(job: Job, found: TrainingSet, train: list[Example], held_out: list[Example],
                 metrics: dict[str, Any]) -> dict[str, Any]:
        params = job.params
        architecture = str(params["architecture"])
        metric = "map50" if TRAINABLE[architecture].task == "detect" else "accuracy"
        return {
            "job_id": str(job.id), "project_id": job.project_id,
            "position": params["position"], "base_model_id": params.get("base_model_id"),
            "architecture": architecture,
            "hyperparameters": {
                "epochs": params["epochs"], "validation_fraction": params["validation_fraction"],
                "patience": PATIENCE, "seed": SEED, "width": WIDTH,
                "batch_size": DETECTOR_BATCH if metric == "map50" else CLASSIFIER_BATCH,
                "lr": DETECTOR_LR if metric == "map50" else CLASSIFIER_LR,
                "optimizer": "AdamW"},
            "metrics": {"metric": metric, "best": metrics.get(metric),
                        "best_epoch": metrics.get("best_epoch"),
                        "epochs_run": len(metrics["epochs"]),
                        "final_train_loss": metrics["final_loss"],
                        "seconds": metrics["seconds"],
                        "tensors_from_base": metrics.get("tensors_from_base", 0)},
            "training_images": len(train), "validation_images": len(held_out),
            "skipped_images": found.skipped, "classes": list(found.classes),
        }

    def _register(self, job: Job, architecture: str, classes: list[str],
                  state: dict[str, Any], lineage: dict[str, Any]) -> Model:
        from safetensors.torch import save_file

        from inference_workers.model_files import inspect_model
        from service_layer.model_registry import register_model

        name = str(job.params["name"])
        with tempfile.TemporaryDirectory(prefix="labelwright-train-") as folder:
            path = Path(folder) / f"{name}.safetensors"
            save_file({k: v.contiguous() for k, v in state.items()}, str(path),
                      metadata={"architecture": architecture})
            try:
                model, _ = register_model(
                    self.app, self.models, job.project_id, weights=path,
                    file_name=f"{architecture}.safetensors",
                    classes=("classes.txt", ("\n".join(classes) + "\n").encode()), name=name,
                    architecture=architecture, actor=job.created_by,
                    max_bytes=MAX_TRAINED_MODEL_BYTES, inspect=inspect_model, lineage=lineage)
            except DomainError as e:  # retrying would train again for the same refusal
                raise JobFailure("model_error", "the trained model could not be registered: "
                                 f"{e.message}") from e
        log.info("train job %s registered %s@%s (%s)", job.id, model.name, model.model_version,
                 lineage["metrics"])
        return model

    def _mark_done(self, job_id: str, report: ShardReport, model: Model) -> None:
        lineage = model.lineage or {}
        result = {"model_id": str(model.id), "name": model.name,
                  "version": model.model_version, "metrics": lineage.get("metrics"),
                  "training_images": lineage.get("training_images"),
                  "validation_images": lineage.get("validation_images")}

        def change(job: Job) -> None:
            job.shard_done(report.shard, done=report.done, failed=0, recorded=0, errors=[])
            if not job.finished and not job.pending_shards():
                job.finish(result)

        self.app.change_job(job_id, change)
