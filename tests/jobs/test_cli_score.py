"""``labelwright score`` end to end, as subprocesses on an embedded data dir with no server
running: it runs the score job itself (then ``labelwright select`` ranks the scored images),
``--detach`` only queues it with the options asked for, and refusals say what is wrong and
record nothing."""

from __future__ import annotations

import json
from typing import Any

from labelwright.bootstrap import bootstrap, shutdown
from tests.jobs.test_cli_jobs import IMAGES, data, labelwright

__all__ = ["data"]  # the fixture


def jobs_of(data: dict[str, Any]) -> list[Any]:
    services = bootstrap(data["settings"], background=False, live=False)
    try:
        return services.app.project_jobs(data["project_id"])
    finally:
        shutdown(services)


def test_score_runs_the_job_itself_and_select_ranks_the_images(data: dict[str, Any]) -> None:
    done = labelwright(data, "score", data["project_id"], "--model", data["model_id"])
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert f"job {job['id']} queued: {IMAGES} images" in done.stderr
    assert (job["type"], job["state"], job["created_by"]) == ("score", "done", "cli")
    assert job["params"] == {"aggregate": "max", "tta": True, "images": "all"}
    assert (job["total"], job["done"], job["failed"]) == (IMAGES, IMAGES, 0)
    assert job["result"]["images"] == IMAGES and job["result"]["failed"] == 0
    assert job["result"]["embedding_dims"] >= 0

    ranked = labelwright(data, "select", data["project_id"], "--model", data["model_id"],
                         "--strategy", "entropy", "--k", "3", "--json")
    assert ranked.returncode == 0, ranked.stderr
    answer = json.loads(ranked.stdout)
    assert answer["strategy"] == "entropy"
    assert [x["rank"] for x in answer["images"]] == [1, 2, 3]


def test_detach_only_queues_with_the_options_asked_for(data: dict[str, Any]) -> None:
    queued = labelwright(data, "score", data["project_id"], "--model", data["model_id"],
                         "--images", "unlabeled", "--aggregate", "sum", "--no-tta",
                         "--detach", "--quiet")
    assert queued.returncode == 0, queued.stderr
    job = json.loads(queued.stdout)
    assert (job["type"], job["state"], job["total"]) == ("score", "queued", IMAGES)
    assert job["params"] == {"aggregate": "sum", "tta": False, "images": "unlabeled"}


def test_score_refuses_clearly_and_records_nothing(data: dict[str, Any]) -> None:
    wrong = labelwright(data, "score", data["project_id"], "--model", "nope")
    assert wrong.returncode == 2 and "error: no model 'nope' in this project" in wrong.stderr
    bad = labelwright(data, "score", data["project_id"], "--model", data["model_id"],
                      "--aggregate", "median")
    assert bad.returncode == 2 and "invalid choice: 'median'" in bad.stderr
    missing = labelwright(data, "score", data["project_id"])
    assert missing.returncode == 2 and "--model" in missing.stderr
    assert jobs_of(data) == []
