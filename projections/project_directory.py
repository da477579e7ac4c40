"""Projection ``project_directory``: projects (classes, types), their members, and users.

Built from the Project and User events. Password hashes never reach a view. Project and user
events are rare (a handful per project), so this projection simply runs a statement per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from domain.project import Project
from domain.user import User
from event_store.log_reader import LoggedEvent
from projections.database import Cursor
from projections.image_events import IMAGE_EVENTS
from projections.projection import Projection


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class ProjectDirectory(Projection):
    """Projects with their label schema and members; users with their admin flag and
    whether they are disabled."""

    name = "project_directory"
    tables = ("projects", "members", "users")

    def apply(self, cur: Cursor, events: Sequence[LoggedEvent]) -> None:
        for le in events:
            e = le.event
            if type(e) in IMAGE_EVENTS:  # nearly every event: skip them cheaply
                continue
            if isinstance(e, (Project.Event, Project.ProjectCreated)):
                self._project_event(cur, le, e)
            elif isinstance(e, User.UserRegistered):
                cur.execute("INSERT INTO users (username, user_id, is_admin, created_at) "
                            "VALUES (?, ?, ?, ?)",
                            (e.username, le.stream, int(e.is_admin), le.at))
            elif isinstance(e, User.AdminRightsSet):
                cur.execute("UPDATE users SET is_admin = ? WHERE user_id = ?",
                            (int(e.is_admin), le.stream))
            elif isinstance(e, (User.UserDisabled, User.UserEnabled)):
                cur.execute("UPDATE users SET disabled = ? WHERE user_id = ?",
                            (int(isinstance(e, User.UserDisabled)), le.stream))

    def _project_event(self, cur: Cursor, le: LoggedEvent, e: Any) -> None:
        project_id, position = le.stream, le.position
        if isinstance(e, Project.ProjectCreated):
            classes = [{"name": c["name"], "color": c["color"], "retired": False}
                       for c in e.classes]
            cur.execute(
                "INSERT INTO projects (project_id, name, classes, annotation_types, created_by, "
                "created_at, created_position, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (project_id, e.name, _json(classes), _json(list(e.annotation_types)), e.actor,
                 le.at, position, position))
            cur.execute("INSERT INTO members (project_id, username, role) VALUES (?, ?, ?)",
                        (project_id, e.actor, "manager"))
            return
        if isinstance(e, Project.ProjectRenamed):
            cur.execute("UPDATE projects SET name = ? WHERE project_id = ?", (e.name, project_id))
        elif isinstance(e, Project.AttributesDefined):
            cur.execute("UPDATE projects SET attributes = ? WHERE project_id = ?",
                        (_json(list(e.attributes)), project_id))
        elif isinstance(e, Project.AnnotationTypesSet):
            cur.execute("UPDATE projects SET annotation_types = ? WHERE project_id = ?",
                        (_json(list(e.annotation_types)), project_id))
        elif isinstance(e, (Project.ClassesAdded, Project.ClassRetired,
                            Project.ClassColorChanged)):
            cur.execute("SELECT classes FROM projects WHERE project_id = ?", (project_id,))
            row = cur.fetchone()
            if row is None:
                raise LookupError(f"{type(e).__name__} of unknown project {project_id}")
            classes = orjson.loads(row[0])
            if isinstance(e, Project.ClassesAdded):
                classes.extend({"name": c["name"], "color": c["color"], "retired": False}
                               for c in e.classes)
            elif isinstance(e, Project.ClassColorChanged):
                for c in classes:
                    if c["name"] == e.name:
                        c["color"] = e.color
            else:
                for c in classes:
                    if c["name"] == e.name:
                        c["retired"] = True
            cur.execute("UPDATE projects SET classes = ? WHERE project_id = ?",
                        (_json(classes), project_id))
        elif isinstance(e, Project.MemberRoleSet):
            cur.execute("DELETE FROM members WHERE project_id = ? AND username = ?",
                        (project_id, e.username))
            if e.role is not None:
                cur.execute("INSERT INTO members (project_id, username, role) VALUES (?, ?, ?)",
                            (project_id, e.username, e.role))
        cur.execute("UPDATE projects SET position = ? WHERE project_id = ?",
                    (position, project_id))
