"""The queries the web layer asks of the read models; answers are plain JSON-ready values.

Reads never touch the event store. ``wait_for`` gives read-your-writes: a caller that knows
the position of its own command waits until every projection has reached it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from domain.errors import ValidationFailed
from domain.image import IMAGE_STATUSES
from projections.database import Cursor, ViewDatabase
from projections.row_set import chunks
from projections.runner import ProjectionRunner

_IMAGE = ("image_id, project_id, file_name, width, height, sha256, content_type, status, "
          "version, position, annotation_count, added_at, updated_at")
_ANNOTATION = ("annotation_id, type, label, geometry, source, model_name, model_version, score, "
               "status, revision, created_by, updated_by, updated_at, attributes")
_IMAGE_WIDTH = 13
GROUP_COLUMNS = {"model": "model", "label": "label", "annotator": "actor",
                 "score_bucket": "bucket"}
_METRICS = ("created", "edited", "deleted", "prelabels_accepted", "prelabels_edited",
            "prelabels_rejected", "images_submitted", "review_approvals", "review_rejections",
            "reviews_given", "assists")


def image_json(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "id": row[0], "project_id": row[1], "file_name": row[2], "width": row[3],
        "height": row[4], "sha256": row[5], "content_type": row[6], "status": row[7],
        "version": row[8], "position": row[9], "annotation_count": row[10],
        "added_at": row[11], "updated_at": row[12],
    }


def annotation_json(row: Sequence[Any]) -> dict[str, Any]:
    """The public annotation JSON, with the same keys as ``Image.public_annotations()``."""
    out = {
        "id": row[0], "type": row[1], "label": row[2], "geometry": orjson.loads(row[3]),
        "source": row[4], "status": row[8], "revision": row[9], "created_by": row[10],
        "updated_by": row[11], "updated_at": row[12],
        "attributes": orjson.loads(row[13]) if row[13] else {},
    }
    if row[4] == "prelabel":
        out["model"] = {"name": row[5], "version": row[6]}
        out["score"] = row[7]
    return out


def _encode_cursor(added_position: int, image_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([added_position, image_id])).decode()


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        position, image_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(position, int) or not isinstance(image_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise ValidationFailed("cursor is not one this API handed out",
                               {"field": "cursor"}) from None
    return position, image_id


class ReadModels:
    """Synchronous queries over the projections' tables (call them from a worker thread)."""

    def __init__(self, db: ViewDatabase, runner: ProjectionRunner) -> None:
        self.db = db
        self.runner = runner

    # -- freshness ------------------------------------------------------------------------------

    def wait_for(self, position: int | None, timeout: float = 5.0) -> bool:
        """True once every read model has reached ``position`` (at once for None)."""
        if position is None:
            return True
        return self.runner.wait_for(position, timeout)

    def status(self) -> dict[str, Any]:
        return self.runner.status()

    # -- images ---------------------------------------------------------------------------------

    def image(self, image_id: str) -> dict[str, Any] | None:
        rows = self.db.query(f"SELECT {_IMAGE} FROM images WHERE image_id = ?", (image_id,))
        return image_json(rows[0]) if rows else None

    def image_review(self, image_id: str) -> dict[str, Any]:
        """``{"review", "reopened"}`` of the image's current review round (since its last
        submission): the verdict ``{"verdict","comment","by","at"}`` and the reopening
        ``{"comment","by","at"}``, each None when there is none. A submission starts a new
        round, so a rejection's comment is shown until the image is submitted again."""
        rows = self.db.query(
            "SELECT type, actor, at, data FROM history WHERE image_id = ? AND type IN "
            "('ImageSubmitted', 'ReviewRecorded', 'ImageReopened') "
            "ORDER BY version DESC LIMIT 3", (image_id,))
        out: dict[str, Any] = {"review": None, "reopened": None}
        for kind, actor, at, data in rows:
            if kind == "ImageSubmitted":
                break
            fields = orjson.loads(data)
            if kind == "ReviewRecorded" and out["review"] is None:
                out["review"] = {"verdict": fields.get("verdict"),
                                 "comment": fields.get("comment"), "by": actor, "at": at}
            elif kind == "ImageReopened" and out["reopened"] is None:
                out["reopened"] = {"comment": fields.get("comment"), "by": actor, "at": at}
        return out

    def image_annotations(self, image_id: str) -> dict[str, Any] | None:
        """``{"image_id","version","position","annotations"}`` in creation order."""
        with self.db.reading() as cur:
            cur.execute("SELECT version, position FROM images WHERE image_id = ?", (image_id,))
            head = cur.fetchone()
            if head is None:
                return None
            cur.execute(f"SELECT {_ANNOTATION} FROM annotations WHERE image_id = ? ORDER BY seq",
                        (image_id,))
            rows = cur.fetchall()
        return {"image_id": image_id, "version": head[0], "position": head[1],
                "annotations": [annotation_json(r) for r in rows]}

    def list_images(self, project_id: str, status: str | None, limit: int,
                    cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the project's images in the order they were added; keyset pagination."""
        if status is not None and status not in IMAGE_STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(IMAGE_STATUSES)}",
                                   {"field": "status", "allowed": list(IMAGE_STATUSES)})
        limit = max(1, limit)
        sql = f"SELECT {_IMAGE}, added_position FROM images WHERE project_id = ?"
        params: list[Any] = [project_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if cursor is not None:
            after_position, after_id = _decode_cursor(cursor)
            sql += " AND (added_position > ? OR (added_position = ? AND image_id > ?))"
            params += [after_position, after_position, after_id]
        sql += " ORDER BY added_position, image_id LIMIT ?"
        params.append(limit + 1)
        rows = self.db.query(sql, params)
        items = [image_json(r) for r in rows[:limit]]
        more = len(rows) > limit
        last = rows[limit - 1] if more else None
        return items, (_encode_cursor(last[_IMAGE_WIDTH], last[0]) if last else None)

    # -- history --------------------------------------------------------------------------------

    def history(self, image_id: str, after: int, limit: int
                ) -> tuple[list[dict[str, Any]], int | None]:
        """Events with version > ``after``, oldest first; ``next_after`` if more follow."""
        limit = max(1, limit)
        rows = self.db.query(
            "SELECT version, position, type, actor, at, data, command_id FROM history "
            "WHERE image_id = ? AND version > ? ORDER BY version LIMIT ?",
            (image_id, after, limit + 1))
        events = [{"version": r[0], "position": r[1], "type": r[2], "actor": r[3], "at": r[4],
                   "data": orjson.loads(r[5]), "command_id": r[6]} for r in rows[:limit]]
        return events, (events[-1]["version"] if len(rows) > limit else None)

    def position_of(self, image_id: str, version: int) -> int | None:
        rows = self.db.query("SELECT position FROM history WHERE image_id = ? AND version = ?",
                             (image_id, version))
        return int(rows[0][0]) if rows else None

    def version_at_position(self, project_id: str, position: int) -> Iterator[tuple[str, int]]:
        """``(image_id, version)`` of each image of the project as of ``position``, in order."""
        rows = self.db.stream(
            "SELECT hi.image_id, (SELECT MAX(h.version) FROM history h "
            "WHERE h.image_id = hi.image_id AND h.position <= ?) FROM history_images hi "
            "WHERE hi.project_id = ? AND hi.added_position <= ? "
            "ORDER BY hi.added_position, hi.image_id",
            (position, project_id, position))
        for image_id, version in rows:
            yield image_id, int(version)

    def current_export_rows(self, project_id: str
                            ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Each image of the project with its current annotations, streamed in added order."""
        columns = ", ".join(f"i.{c.strip()}" for c in _IMAGE.split(",")) + ", " + ", ".join(
            f"a.{c.strip()}" for c in _ANNOTATION.split(","))
        rows = self.db.stream(
            f"SELECT {columns} FROM images i LEFT JOIN annotations a ON a.image_id = i.image_id "
            "WHERE i.project_id = ? ORDER BY i.added_position, i.image_id, a.seq",
            (project_id,))
        image: dict[str, Any] | None = None
        annotations: list[dict[str, Any]] = []
        for row in rows:
            if image is None or row[0] != image["id"]:
                if image is not None:
                    yield image, annotations
                image, annotations = image_json(row), []
            if row[_IMAGE_WIDTH] is not None:
                annotations.append(annotation_json(row[_IMAGE_WIDTH:]))
        if image is not None:
            yield image, annotations

    # -- metrics --------------------------------------------------------------------------------

    def annotator_metrics(self, project_id: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            f"SELECT username, {', '.join(_METRICS)}, iou_sum, iou_count, active_seconds "
            "FROM annotator_metrics WHERE project_id = ? ORDER BY username", (project_id,))
        out = []
        for r in rows:
            item: dict[str, Any] = {"username": r[0]}
            item.update(zip(_METRICS, (int(v) for v in r[1:12]), strict=True))
            iou_sum, iou_count, active = r[12:]
            item["mean_iou_edited"] = iou_sum / iou_count if iou_count else None
            item["active_seconds"] = float(active)
            out.append(item)
        return out

    def prelabel_metrics(self, project_id: str, group_by: str) -> list[dict[str, Any]]:
        """Pre-label outcomes grouped by model, label, annotator (who acted) or score bucket.

        ``proposed`` counts every pre-label of the group; ``accepted``/``edited``/``rejected``
        those whose latest outcome is that; ``mean_iou_edited`` averages the IoU of the edited
        ones. Pending pre-labels group under annotator None.
        """
        column = GROUP_COLUMNS.get(group_by)
        if column is None:
            raise ValidationFailed(f"group_by must be one of {', '.join(GROUP_COLUMNS)}",
                                   {"field": "group_by", "allowed": list(GROUP_COLUMNS)})
        rows = self.db.query(
            f"SELECT {column}, COUNT(*), "
            "SUM(CASE WHEN outcome = 'accepted' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN outcome = 'edited' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN outcome = 'rejected' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN outcome = 'edited' THEN iou END), "
            "SUM(CASE WHEN outcome = 'edited' AND iou IS NOT NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN outcome = 'relabeled' THEN 1 ELSE 0 END) "
            f"FROM prelabel_audit WHERE project_id = ? GROUP BY {column}", (project_id,))
        groups = []
        # NULLs sort first on SQLite and last on PostgreSQL: order in Python for one answer.
        for key, proposed, accepted, edited, rejected, iou_sum, iou_n, relabeled in sorted(
                rows, key=lambda r: (r[0] is not None, r[0] or "")):
            acted = int(accepted) + int(edited) + int(rejected) + int(relabeled)
            groups.append({
                "key": {group_by: key}, "proposed": int(proposed), "accepted": int(accepted),
                "edited": int(edited), "relabeled": int(relabeled), "rejected": int(rejected),
                "acceptance_rate": int(accepted) / acted if acted else None,
                "mean_iou_edited": float(iou_sum) / int(iou_n) if iou_n else None,
            })
        return groups

    def prelabel_confusion(self, project_id: str, model: str | None = None,
                           model_id: str | None = None) -> list[dict[str, Any]]:
        """Proposed class -> the class a person left, over the pre-labels people decided
        on (accepted, edited, relabeled: ``final`` a class; rejected: ``final`` None),
        optionally of one model (``model``: its ``name@version`` key; ``model_id``: a
        registered model). Ordered by proposed class, then final class (None last)."""
        sql = ("SELECT label, CASE WHEN outcome = 'rejected' THEN NULL "
               "ELSE COALESCE(final_label, label) END, COUNT(*) FROM prelabel_audit "
               "WHERE project_id = ? AND outcome <> 'proposed'")
        params: list[Any] = [project_id]
        if model is not None:
            sql += " AND model = ?"
            params.append(model)
        if model_id is not None:
            sql += " AND model_id = ?"
            params.append(model_id)
        rows = self.db.query(sql + " GROUP BY 1, 2", params)
        cells = [{"proposed": p, "final": f, "count": int(n)} for p, f, n in rows]
        cells.sort(key=lambda c: (c["proposed"], c["final"] is None, c["final"] or ""))
        return cells

    def assist_metrics(self, project_id: str) -> list[dict[str, Any]]:
        """Assist proposals grouped by engine (an interactive model's id, or ``built-in``) and
        the mode of their first clicks.

        ``proposals`` counts them; ``accepted``/``edited``/``rejected`` those whose latest
        outcome is that (kept as proposed, corrected, deleted); ``acceptance_rate`` is
        accepted / proposals (as for pre-labels: accepted / acted on, and every assist
        proposal was acted on); ``clicks_per_accepted`` the mean clicks (refinements included)
        of the accepted ones; ``mean_iou_edited`` the mean IoU of the corrections to the
        engine's proposal.
        """
        rows = self.db.query(
            "SELECT engine, mode, COUNT(*), "
            "SUM(CASE WHEN outcome = 'accepted' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN outcome = 'edited' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN outcome = 'rejected' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN outcome = 'accepted' THEN clicks ELSE 0 END), "
            "SUM(CASE WHEN outcome = 'edited' THEN iou END), "
            "SUM(CASE WHEN outcome = 'edited' AND iou IS NOT NULL THEN 1 ELSE 0 END), "
            "SUM(clicks) "
            "FROM assist_audit WHERE project_id = ? GROUP BY engine, mode", (project_id,))
        groups = []
        for (engine, mode, proposals, accepted, edited, rejected, accepted_clicks, iou_sum,
             iou_n, clicks) in sorted(rows, key=lambda r: (r[0], r[1])):
            groups.append({
                "engine": engine, "mode": mode, "proposals": int(proposals),
                "accepted": int(accepted), "edited": int(edited), "rejected": int(rejected),
                "clicks": int(clicks),
                "acceptance_rate": int(accepted) / int(proposals),
                "clicks_per_accepted": (int(accepted_clicks) / int(accepted)
                                        if int(accepted) else None),
                "mean_iou_edited": float(iou_sum) / int(iou_n) if iou_n else None,
            })
        return groups

    # -- image scores (active learning) ---------------------------------------------------------

    def score_summary(self, project_id: str, model_id: str) -> tuple[int, int, list[int]]:
        """``(count, newest position, distinct embedding widths)`` of the model's scores in
        the project (``(0, 0, [])`` when it was never scored)."""
        with self.db.reading() as cur:
            cur.execute("SELECT COUNT(*), MAX(position) FROM image_scores "
                        "WHERE model_id = ? AND project_id = ?", (model_id, project_id))
            count, newest = cur.fetchone()
            if not count:
                return 0, 0, []
            cur.execute("SELECT DISTINCT dims FROM image_scores "
                        "WHERE model_id = ? AND project_id = ?", (model_id, project_id))
            widths = sorted(int(r[0]) for r in cur.fetchall())
        return int(count), int(newest), widths

    def image_scores(self, project_id: str, model_id: str) -> list[Any]:
        """Every score row of the model in the project (``projections.image_scores``):
        ``(image_id, least_confidence, margin, entropy, stability, probabilities,
        embedding, dims, position)``, by image id."""
        return self.db.query(
            "SELECT image_id, least_confidence, margin, entropy, stability, probabilities, "
            "embedding, dims, position FROM image_scores WHERE model_id = ? AND project_id = ? "
            "ORDER BY image_id", (model_id, project_id))

    def labeled_image_ids(self, project_id: str) -> list[str]:
        """The project's images whose status is not ``new`` (someone worked on them)."""
        return [str(r[0]) for r in self.db.query(
            "SELECT image_id FROM images WHERE project_id = ? AND status <> 'new'",
            (project_id,))]

    # -- projects and users ---------------------------------------------------------------------

    def projects_visible_to(self, username: str, is_admin: bool) -> list[dict[str, Any]]:
        """Every project for an admin; the projects one is a member of otherwise."""
        with self.db.reading() as cur:
            if is_admin:
                return self._projects(cur, "", ())
            return self._projects(
                cur, "WHERE project_id IN (SELECT project_id FROM members WHERE username = ?)",
                (username,))

    def project(self, project_id: str) -> dict[str, Any] | None:
        with self.db.reading() as cur:
            found = self._projects(cur, "WHERE project_id = ?", (project_id,))
        return found[0] if found else None

    def roles_of(self, username: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT m.project_id, p.name, m.role FROM members m JOIN projects p "
            "ON p.project_id = m.project_id WHERE m.username = ? ORDER BY p.created_position",
            (username,))
        return [{"project_id": r[0], "project_name": r[1], "role": r[2]} for r in rows]

    def users(self) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT username, is_admin, disabled FROM users ORDER BY username")
        return [{"username": r[0], "is_admin": bool(r[1]), "disabled": bool(r[2])}
                for r in rows]

    def _projects(self, cur: Cursor, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        cur.execute("SELECT project_id, name, classes, annotation_types, created_by, created_at, "
                    f"attributes FROM projects {where} ORDER BY created_position", params)
        projects = {r[0]: {
            "id": r[0], "name": r[1], "classes": orjson.loads(r[2]),
            "annotation_types": orjson.loads(r[3]), "attributes": orjson.loads(r[6]),
            "members": [],
            "counts": dict.fromkeys(IMAGE_STATUSES, 0), "image_count": 0,
            "created_by": r[4], "created_at": r[5],
        } for r in cur.fetchall()}
        for part in chunks(list(projects)):
            marks = ", ".join("?" * len(part))
            cur.execute(f"SELECT project_id, username, role FROM members "
                        f"WHERE project_id IN ({marks}) ORDER BY username", part)
            for project_id, username, role in cur.fetchall():
                projects[project_id]["members"].append({"username": username, "role": role})
            cur.execute(f"SELECT project_id, status, n FROM image_status_counts "
                        f"WHERE project_id IN ({marks})", part)
            for project_id, status, n in cur.fetchall():
                projects[project_id]["counts"][status] = int(n)
                projects[project_id]["image_count"] += int(n)
        return list(projects.values())
