"""The OpenAPI 3.1 document of ``/api/v1``, written by hand.

Hand-written so that it says exactly what the API promises (docs/api.md), including the
per-type annotation and command shapes, rather than what a framework infers. The tests
validate real responses against these schemas and the document itself with
openapi-spec-validator, so it cannot drift silently.
"""

from __future__ import annotations

import copy
from typing import Any

from domain.attributes import (
    ATTRIBUTE_TYPES,
    MAX_ATTRIBUTE_NAME,
    MAX_ATTRIBUTES,
    MAX_SELECT_VALUE,
    MAX_SELECT_VALUES,
)
from domain.commands import (
    ASSIST_MODES,
    ASSIST_OUTPUTS,
    COMMAND_TYPES,
    MAX_ASSIST_POINTS,
    MAX_COMMENT,
    MAX_ID,
    MAX_INT,
    MAX_LABEL,
    VERDICTS,
)
from domain.geometry import ANNOTATION_TYPES, MAX_POLYGON_POINTS
from domain.image import ANNOTATION_SOURCES, ANNOTATION_STATUSES, IMAGE_STATUSES
from domain.job import JOB_STATES, JOB_TYPES
from domain.model import MAX_MODEL_NAME, MAX_MODEL_VERSION, MODEL_FORMATS, MODEL_TASKS
from domain.project import COLOR_PATTERN, MAX_CLASS_NAME, MAX_CLASSES, MAX_PROJECT_NAME
from domain.roles import ROLES
from domain.user import MAX_PASSWORD, MIN_PASSWORD, USERNAME_PATTERN
from projections.exports import DEFAULT_EXPORT_FORMAT, EXPORTERS
from service_layer.dataset_formats import READERS
from service_layer.work_queue import ORDERS, QUEUES, STRATEGIES
from web.endpoints.commands import MAX_BATCH
from web.endpoints.images import DEFAULT_PAGE, MAX_PAGE
from web.endpoints.reads import DEFAULT_GROUP_BY, DEFAULT_HISTORY_PAGE, GROUP_BY, MAX_HISTORY_PAGE
from web.errors import STATUS_OF_CODE

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], required: list[str] | None = None, *,
        extra: bool = True, description: str | None = None) -> Schema:
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    if not extra:
        out["additionalProperties"] = False
    if description:
        out["description"] = description
    return out


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}
POSITION: Schema = {"type": "integer", "minimum": 0, "maximum": MAX_INT,
                    "description": "global position in the event log"}
# Every integer a request carries is a 64-bit one: larger numbers are 422 validation.
COUNT: Schema = {"type": "integer", "minimum": 0, "maximum": MAX_INT}
# A name the server trims: it must not start with white space (nor be empty).
NAME = {"type": "string", "minLength": 1, "pattern": r"^\S"}
LABEL: Schema = {**NAME, "maxLength": MAX_LABEL, "description": "a class name of the project"}
ID: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_ID}
CLASS_NAME: Schema = {**NAME, "maxLength": MAX_CLASS_NAME}
PROJECT_NAME: Schema = {**NAME, "maxLength": MAX_PROJECT_NAME}
USERNAME: Schema = {"type": "string", "pattern": USERNAME_PATTERN}
PASSWORD: Schema = {"type": "string", "minLength": MIN_PASSWORD, "maxLength": MAX_PASSWORD}
COLOR: Schema = {"type": "string", "pattern": COLOR_PATTERN}

_GEOMETRY: dict[str, Schema] = {
    "box": obj({"x": NUM, "y": NUM, "w": {"type": "number", "exclusiveMinimum": 0},
                "h": {"type": "number", "exclusiveMinimum": 0}}, ["x", "y", "w", "h"],
               extra=False, description="top-left corner and size, in image pixels"),
    "polygon": obj({"points": {"type": "array", "minItems": 3, "maxItems": MAX_POLYGON_POINTS,
                               "items": {"type": "array", "prefixItems": [NUM, NUM],
                                         "minItems": 2, "maxItems": 2}}},
                   ["points"], extra=False),
    "mask": obj({"rle": obj({"size": {"type": "array", "items": INT, "minItems": 2,
                                      "maxItems": 2, "description": "[height, width]"},
                             "counts": {"description": "COCO compressed RLE (a string); "
                                        "uncompressed run lists are accepted on input",
                                        "anyOf": [STR, {"type": "array", "items": INT}]}},
                            ["size", "counts"], extra=False)}, ["rle"], extra=False),
    "point": obj({"x": NUM, "y": NUM}, ["x", "y"], extra=False),
    "tag": obj({}, extra=False, description="a whole-image label: no geometry"),
}


def _geometry_name(kind: str) -> str:
    return kind.capitalize() + "Geometry"


def _annotation_schemas() -> dict[str, Schema]:
    out: dict[str, Schema] = {}
    base = obj({
        "id": STR,
        "label": STR,
        "source": {"enum": list(ANNOTATION_SOURCES)},
        "model": obj({"name": STR, "version": STR}, ["name", "version"]),
        "score": nullable(NUM),
        "status": {"enum": list(ANNOTATION_STATUSES)},
        "revision": {"type": "integer", "minimum": 1},
        "created_by": STR,
        "updated_by": STR,
        "updated_at": TIME,
        "attributes": {"type": "object", "description": "per-object attribute values "
                       "{name: value} ({} when none)"},
    }, ["id", "type", "label", "geometry", "source", "status", "revision", "created_by",
        "updated_by", "updated_at"])
    out["AnnotationBase"] = base
    variants = []
    for kind in ANNOTATION_TYPES:
        name = kind.capitalize() + "Annotation"
        out[name] = {"allOf": [ref("AnnotationBase"), obj(
            {"type": {"const": kind}, "geometry": ref(_geometry_name(kind))})]}
        variants.append(ref(name))
    out["Annotation"] = {"oneOf": variants, "description": "an annotation; its geometry "
                         "depends on its type"}
    new_variants = []
    for kind in ANNOTATION_TYPES:
        name = kind.capitalize() + "NewAnnotation"
        out[name] = obj({"type": {"const": kind}, "label": LABEL,
                         "geometry": ref(_geometry_name(kind)), "id": nullable(ID),
                         "attributes": nullable(ref("AttributeValues"))},
                        ["type", "label", "geometry"], extra=False)
        new_variants.append(ref(name))
    out["NewAnnotation"] = {"oneOf": new_variants}
    return out


def _command_schemas() -> dict[str, Schema]:
    # null stands for "not given" wherever a field is optional.
    common = {"command_id": nullable({**ID, "description": "client-made idempotency key, "
                                      "unique per image"}),
              "base_version": nullable(COUNT)}
    revision = {"base_revision": nullable(COUNT)}
    fields: dict[str, tuple[dict[str, Schema], list[str]]] = {
        "create": ({"annotation": ref("NewAnnotation")}, ["annotation"]),
        "edit": ({"annotation_id": ID,
                  "changes": {**obj({"label": nullable(LABEL), "geometry": {"type": "object"},
                                     "attributes": nullable(ref("AttributeValues"))},
                                    extra=False,
                                    description="label, geometry and/or attribute values "
                                    "(a null value removes that attribute)"),
                              "minProperties": 1},
                  **revision}, ["annotation_id", "changes"]),
        "delete": ({"annotation_id": ID, **revision}, ["annotation_id"]),
        "accept": ({"annotation_id": ID, **revision}, ["annotation_id"]),
        "restore": ({"annotation_id": ID, **revision}, ["annotation_id"]),
        "assist": ({"mode": {"enum": list(ASSIST_MODES)},
                    "points": {"type": "array", "minItems": 1, "maxItems": MAX_ASSIST_POINTS,
                               "items": {"type": "array", "minItems": 2, "maxItems": 3,
                                         "prefixItems": [NUM, NUM, {"enum": [1, -1]}]}},
                    "label": LABEL,
                    "output": nullable({"enum": list(ASSIST_OUTPUTS), "description":
                                        "the geometry wanted (default box; a refinement "
                                        "keeps its proposal's)"}),
                    "model_id": nullable({**ID, "description": "an interactive model of the "
                                          "project (default: the built-in engine)"}),
                    "annotation_id": nullable({**ID, "description": "an assist proposal to "
                                               "refine with these clicks (mode clicks)"})},
                   ["mode", "points", "label"]),
        "submit": ({}, []),
        "review": ({"verdict": {"enum": list(VERDICTS)},
                    "comment": nullable({"type": "string", "maxLength": MAX_COMMENT})},
                   ["verdict"]),
        "reopen": ({"comment": nullable({"type": "string", "maxLength": MAX_COMMENT})}, []),
    }
    out: dict[str, Schema] = {}
    variants = []
    for kind in COMMAND_TYPES:
        props, required = fields[kind]
        name = kind.capitalize() + "Command"
        out[name] = obj({"type": {"const": kind}, **common, **props}, ["type", *required],
                        extra=False)
        variants.append(ref(name))
    out["Command"] = {"oneOf": variants}
    preview = copy.deepcopy(out["AssistCommand"])
    preview["required"] = [f for f in preview["required"] if f != "type"]
    out["AssistPreviewRequest"] = preview
    out["AssistPreview"] = obj({
        "type": {"enum": list(ASSIST_OUTPUTS)},
        "geometry": {"type": "object", "description": "the proposal, as the output asked"},
        "score": {**NUM, "description": "the engine's confidence, when it gives one"},
        "ms": {**NUM, "description": "server time spent on the proposal"},
    }, ["type", "geometry", "ms"], extra=False)
    out["CommandBatch"] = obj({"commands": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                                            "items": ref("Command")},
                               "base_version": nullable(COUNT)},
                              ["commands"], extra=False,
                              description="applied atomically: one failure fails the batch")
    out["HistoryEvent"] = obj({
        "version": {"type": "integer", "minimum": 1}, "position": POSITION, "type": STR,
        "actor": nullable(STR), "at": TIME, "command_id": nullable(STR),
        "data": {"type": "object", "description": "the event's fields, full geometry"},
    }, ["version", "position", "type", "actor", "at", "data"])
    out["CommandResult"] = obj({
        "image_id": STR, "version": {"type": "integer", "minimum": 1}, "position": POSITION,
        "events": {"type": "array", "items": ref("HistoryEvent")},
    }, ["image_id", "version", "position", "events"], extra=False)
    return out


def _schemas() -> dict[str, Schema]:
    schemas: dict[str, Schema] = {
        "Error": obj({"error": obj({
            "code": {"type": "string", "examples": list(STATUS_OF_CODE)},
            "message": STR,
            "details": {"type": "object"},
        }, ["code", "message", "details"], extra=False)}, ["error"], extra=False),
        "Conflict": {"allOf": [ref("Error"), obj({"error": obj({"details": obj({
            "current": nullable(ref("Annotation")), "version": INT},
            ["current", "version"])})})]},
        "LoginRequest": obj({"username": {"type": "string", "minLength": 1},
                             "password": STR}, ["username", "password"]),
        "LoginResult": obj({"token": STR, "username": STR, "is_admin": BOOL}, ["token"]),
        "Me": obj({"username": STR, "is_admin": BOOL, "projects": {
            "type": "array", "items": obj({"project_id": STR, "project_name": STR,
                                           "role": {"enum": list(ROLES)}},
                                          ["project_id", "role"])}},
            ["username", "is_admin", "projects"]),
        "NewUser": obj({"username": USERNAME, "password": PASSWORD, "is_admin": BOOL},
                       ["username", "password"], extra=False),
        "User": obj({"username": STR, "is_admin": BOOL,
                     "disabled": {"type": "boolean",
                                  "description": "a disabled user cannot log in and none of "
                                  "their tokens works; their project roles stay"},
                     "position": {**POSITION, "description": "global position of the event "
                                  "recorded (account actions that changed something)"},
                     "revoked_tokens": {"type": "integer", "minimum": 0,
                                        "description": "revoke_tokens: how many live "
                                        "tokens were revoked"}},
                    ["username", "is_admin", "disabled"]),
        "UserList": obj({"users": {"type": "array", "items": ref("User")}}, ["users"]),
        "NewPassword": obj({"password": PASSWORD}, ["password"], extra=False),
        "PasswordChange": obj({"current_password": STR, "password": PASSWORD},
                              ["current_password", "password"], extra=False),
        "Class": obj({"name": STR, "color": COLOR, "retired": BOOL},
                     ["name", "color", "retired"]),
        "NewClass": {"anyOf": [CLASS_NAME, obj({
            "name": CLASS_NAME,
            "color": {"anyOf": [COLOR, {"enum": ["", None]}],
                      "description": "absent, null or empty: the next colour of a palette"}},
            ["name"], extra=False)],
            "description": "a class name, or {name, color}; names are unique in a project"},
        "NewProject": obj({"name": PROJECT_NAME,
                           "classes": {"type": "array", "minItems": 1, "maxItems": MAX_CLASSES,
                                       "uniqueItems": True, "items": ref("NewClass")},
                           "annotation_types": nullable({
                               "type": "array", "minItems": 1,
                               "items": {"enum": list(ANNOTATION_TYPES)},
                               "description": "absent or null: every type"}),
                           "attributes": nullable(ref("AttributeDefinitions"))},
                          ["name", "classes"], extra=False),
        "AttributeDefinition": obj({
            "name": {"type": "string", "minLength": 1, "maxLength": MAX_ATTRIBUTE_NAME},
            "type": {"enum": list(ATTRIBUTE_TYPES)},
            "values": {"type": "array", "minItems": 1, "maxItems": MAX_SELECT_VALUES,
                       "uniqueItems": True, "items": {"type": "string", "minLength": 1,
                                                      "maxLength": MAX_SELECT_VALUE},
                       "description": "select only, and required there"},
            "default": {"description": "a value of the attribute's type"},
            "classes": {"type": "array", "minItems": 1, "items": {"type": "string"},
                        "description": "the classes it is for (absent: every class)"}},
            ["name", "type"], extra=False),
        "AttributeDefinitions": {"type": "array", "maxItems": MAX_ATTRIBUTES,
                                 "items": ref("AttributeDefinition"),
                                 "description": "per-object attributes; names unique"},
        "AttributeValues": {"type": "object", "maxProperties": MAX_ATTRIBUTES,
                            "description": "{attribute name: value}, checked against the "
                            "project's attribute definitions"},
        "ProjectChanges": obj({"name": PROJECT_NAME,
                               "add_classes": {"type": "array", "maxItems": MAX_CLASSES,
                                               "uniqueItems": True, "items": ref("NewClass")},
                               "retire_classes": {"type": "array",
                                                  "items": {"type": "string"},
                                                  "description": "names of active classes"},
                               "class_colors": {"type": "object",
                                                "additionalProperties": {
                                                    "type": "string",
                                                    "pattern": "^#[0-9a-fA-F]{6}$"},
                                                "description": "class name → new colour"},
                               "annotation_types": {
                                   "type": "array", "minItems": 1,
                                   "items": {"enum": list(ANNOTATION_TYPES)},
                                   "description": "the types new annotations may have"},
                               "attributes": {**ref("AttributeDefinitions"), "description":
                                              "the whole new list of attributes"}},
                              extra=False),
        "MemberRole": obj({"role": nullable({"enum": list(ROLES)})}, ["role"], extra=False),
        "Project": obj({
            "id": STR, "name": STR, "classes": {"type": "array", "items": ref("Class")},
            "annotation_types": {"type": "array", "items": {"enum": list(ANNOTATION_TYPES)}},
            "attributes": ref("AttributeDefinitions"),
            "members": {"type": "array", "items": obj({"username": STR,
                                                       "role": {"enum": list(ROLES)}},
                                                      ["username", "role"])},
            "created_by": STR, "created_at": TIME, "version": INT,
            "counts": obj({s: INT for s in IMAGE_STATUSES}, list(IMAGE_STATUSES)),
            "image_count": INT, "position": POSITION,
        }, ["id", "name", "classes", "annotation_types", "members", "counts"]),
        "ProjectList": obj({"projects": {"type": "array", "items": ref("Project")}},
                           ["projects"]),
        "Image": obj({
            "id": STR, "project_id": STR, "file_name": STR,
            "width": {"type": "integer", "minimum": 1},
            "height": {"type": "integer", "minimum": 1},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "content_type": STR,
            "status": {"enum": list(IMAGE_STATUSES)}, "version": INT,
            "position": nullable(POSITION), "annotation_count": INT,
            "added_at": TIME, "updated_at": TIME,
            "review": nullable(obj({"verdict": {"enum": list(VERDICTS)},
                                    "comment": nullable(STR), "by": STR, "at": TIME},
                                   ["verdict", "comment", "by", "at"], description=(
                                       "GET /images/{id} only: the latest verdict since the "
                                       "image was last submitted"))),
            "reopened": nullable(obj({"comment": nullable(STR), "by": STR, "at": TIME},
                                     ["comment", "by", "at"], description=(
                                         "GET /images/{id} only: who reopened the image "
                                         "since it was last submitted"))),
        }, ["id", "project_id", "file_name", "width", "height", "sha256", "status",
            "version"]),
        "ImagePage": obj({"images": {"type": "array", "items": ref("Image")},
                          "next_cursor": nullable(STR)}, ["images", "next_cursor"]),
        "ImagePaths": obj({"paths": {"type": "array", "minItems": 1,
                                     "items": {"type": "string", "minLength": 1},
                                     "description": "files or folders under the server's "
                                     "allowed import folders (admin)"}},
                          ["paths"], extra=False),
        "UploadedImage": obj({"id": STR, "file_name": STR, "width": INT, "height": INT,
                              "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                              "content_type": STR,
                              "created": {"type": "boolean",
                                          "description": "false: the same bytes were "
                                          "already in the project"}},
                             ["id", "file_name", "width", "height", "sha256"]),
        "UploadResult": obj({"images": {"type": "array", "items": ref("UploadedImage")},
                             "position": nullable(POSITION)}, ["images"]),
        "ImageLabels": obj({"image_id": STR, "version": INT, "position": nullable(POSITION),
                            "annotations": {"type": "array", "items": ref("Annotation")}},
                           ["image_id", "version", "position", "annotations"]),
        "History": obj({"events": {"type": "array", "items": ref("HistoryEvent")},
                        "next_after": nullable(INT)}, ["events", "next_after"]),
        "AnnotatorMetrics": obj({"annotators": {"type": "array", "items": obj(
            {"username": STR, "created": INT, "edited": INT, "deleted": INT,
             "prelabels_accepted": INT, "prelabels_edited": INT, "prelabels_rejected": INT,
             "mean_iou_edited": nullable(NUM), "images_submitted": INT,
             "review_approvals": INT, "review_rejections": INT, "reviews_given": INT,
             "assists": INT, "active_seconds": NUM},
            ["username", "created", "edited", "deleted", "prelabels_accepted",
             "prelabels_edited", "prelabels_rejected", "mean_iou_edited", "images_submitted",
             "review_approvals", "review_rejections", "active_seconds"])}},
            ["annotators"]),
        "PrelabelMetrics": obj({"group_by": {"enum": list(GROUP_BY)},
                                "groups": {"type": "array", "items": obj({
                                    "key": {"type": "object"}, "proposed": INT,
                                    "accepted": INT, "edited": INT, "rejected": INT,
                                    "relabeled": INT, "acceptance_rate": nullable(NUM),
                                    "mean_iou_edited": nullable(NUM)},
                                    ["key", "proposed", "accepted", "edited", "rejected",
                                     "acceptance_rate", "mean_iou_edited"])}},
                               ["groups"]),
        "PrelabelConfusion": obj({"model": nullable(STR), "model_id": nullable(STR),
                                  "confusion": {"type": "array", "items": obj({
                                      "proposed": STR, "final": nullable(STR),
                                      "count": INT}, ["proposed", "final", "count"])}},
                                 ["confusion"]),
        "AssistMetrics": obj({"groups": {"type": "array", "items": obj({
            "engine": {**STR, "description": "an interactive model's id, or built-in"},
            "mode": {"enum": list(ASSIST_MODES)}, "proposals": INT, "accepted": INT,
            "edited": INT, "rejected": INT, "clicks": INT, "acceptance_rate": NUM,
            "clicks_per_accepted": nullable(NUM), "mean_iou_edited": nullable(NUM)},
            ["engine", "mode", "proposals", "accepted", "edited", "rejected", "clicks",
             "acceptance_rate", "clicks_per_accepted", "mean_iou_edited"])}}, ["groups"]),
        "ProjectionStatus": obj({"head": POSITION, "projections": {"type": "array", "items": obj(
            {"name": STR, "position": POSITION, "lag": {"type": "integer", "minimum": 0}},
            ["name", "position", "lag"])}}, ["head", "projections"]),
        "CocoResult": obj({"image_id": {"anyOf": [INT, STR]}, "category_id": {
            "type": "integer", "minimum": 1}, "bbox": {"type": "array", "items": NUM,
                                                       "minItems": 4, "maxItems": 4},
            "score": NUM, "segmentation": {"anyOf": [
                {"type": "array", "items": {"type": "array", "items": NUM}},
                obj({"size": {"type": "array", "items": INT}, "counts": {}},
                    ["size", "counts"])]}},
            ["image_id", "category_id", "score"]),
        "LabelwrightPredictions": obj({
            "model": obj({"name": STR, "version": STR}, ["name", "version"]),
            "predictions": {"type": "array", "items": obj({
                "image_id": {"anyOf": [INT, STR]},
                "annotations": {"type": "array", "items": obj({
                    "type": {"enum": list(ANNOTATION_TYPES)}, "label": STR,
                    "geometry": {"type": "object"},
                    "score": {"type": "number", "minimum": 0, "maximum": 1}},
                    ["type", "label", "geometry"])}}, ["image_id", "annotations"])}},
            ["predictions"]),
        "PredictionImport": obj({"images": INT, "annotations": INT,
                                 "position": nullable(POSITION)},
                                ["images", "annotations", "position"]),
        "DatasetImport": obj({
            "images": {**INT, "description": "images of the dataset (matched or added)"},
            "annotations": {**INT, "description": "labels recorded (source import)"},
            "position": nullable(POSITION),
            "images_added": {**INT, "description": "images of the zip new to the project"},
            "classes_added": {"type": "array", "items": STR},
            "warnings": {"type": "array", "items": STR, "description": "the first 20"},
            "skipped": {**INT, "description": "objects left out (e.g. CVAT polylines)"}},
            ["images", "annotations", "position"]),
        "Health": obj({"status": {"const": "ok"}, "checks": {"type": "object"}}, ["status"]),
    }
    for kind, schema in _GEOMETRY.items():
        schemas[_geometry_name(kind)] = schema
    schemas.update(_annotation_schemas())
    schemas.update(_command_schemas())
    schemas.update(_evaluation_schemas())
    schemas.update(_blind_spot_schemas())
    schemas.update(_selection_schemas())
    schemas.update(_work_queue_schemas())
    schemas.update(_model_schemas())
    schemas.update(_job_schemas())
    return schemas


# -- paths ------------------------------------------------------------------------------------

_ERRORS = {
    "401": "no, unknown, revoked or expired token",
    "403": "the caller's role does not allow this",
    "404": "no such resource",
    "409": "stale base_revision / base_version",
    "413": "body or file too large",
    "415": "the body's content type is not accepted",
    "422": "validation failed",
    "429": "too many failed logins",
    "503": "the read models have not reached min_position in time",
}


def _json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _response(description: str, schema: Schema | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = _json_content(schema)
    return out


def _errors(*codes: str) -> dict[str, Any]:
    out = {}
    for code in codes:
        schema = ref("Conflict") if code == "409" else ref("Error")
        out[code] = _response(_ERRORS[code], schema)
    return out


def _param(name: str, where: str, schema: Schema, description: str = "",
           required: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": where, "schema": schema,
                           "required": required or where == "path"}
    if description:
        out["description"] = description
    return out


_MIN_POSITION = _param("min_position", "query", COUNT,
                       "answer once the read models reached this global position (422 if "
                       "it is beyond the head of the log, 503 not_ready if they do not "
                       "reach it after a short wait)")
_PROJECT_ID = _param("project_id", "path", STR)
_IMAGE_ID = _param("image_id", "path", STR)
_SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
_AUTH_ERRORS = ("401", "403", "404")


def _op(summary: str, ok: str, schema: Schema | None, *, status: str = "200",
        params: list[dict[str, Any]] | None = None, body: Schema | dict[str, Any] | None = None,
        errors: tuple[str, ...] = _AUTH_ERRORS, public: bool = False,
        tag: str = "api") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag],
                          "responses": {status: _response(ok, schema), **_errors(*errors)}}
    if params:
        op["parameters"] = params
    if body is not None:
        content = body if "content" in body else {"content": _json_content(body)}
        op["requestBody"] = {"required": True, **content}
    if public:
        op["security"] = []
    return op


def _answers(op: dict[str, Any], code: str, description: str) -> dict[str, Any]:
    """``op`` with the error response ``code`` described as ``description`` (plain Error)."""
    op["responses"][code] = _response(description, ref("Error"))
    return op


def _evaluation_schemas() -> dict[str, Schema]:
    """A model against the labels (web.endpoints.evaluation, service_layer.model_evaluation)."""
    share = nullable({"type": "number", "minimum": 0, "maximum": 1})
    class_name = nullable({"type": "string"})
    return {
        "Evaluation": obj({
            "model": obj({"id": STR, "name": STR, "version": STR, "task": STR},
                         ["id", "name", "version", "task"]),
            "position": {**POSITION, "description": "the labels are those as of this global "
                         "position"},
            "images": {**COUNT, "description": "evaluated images: with the model's "
                       "predictions, and in_progress, submitted or approved as of position"},
            "map50": {**share, "description": "COCO AP at IoU 0.5, mean over the classes "
                      "with ground truth (null for classifiers or without ground truth)"},
            "map50_95": {**share, "description": "COCO AP over IoU 0.5:0.95"},
            "per_class": {"type": "array", "items": obj({
                "label": STR, "ap50": share, "ap50_95": share, "precision": share,
                "recall": share, "tp": COUNT, "fp": COUNT, "fn": COUNT},
                ["label", "ap50", "precision", "recall", "tp", "fp", "fn"])},
            "confusion": {"type": "array", "items": obj({
                "label": {**class_name, "description": "the true class (null: background, "
                          "a false alarm)"},
                "predicted": {**class_name, "description": "the predicted class (null: "
                              "missed)"},
                "count": COUNT}, ["label", "predicted", "count"])},
            "job": {**nullable(STR), "description": "the pre-label job whose predictions "
                    "were evaluated (null: the model's imported pre-labels)"},
            "kind": {"enum": ["bbox", "segm", "tags"]},
            "threshold": {"type": "number", "minimum": 0, "maximum": 1,
                          "description": "least score counted in tp/fp/fn and confusion"},
            "iou": {"type": "number", "description": "the IoU a match needs (0.5)"},
            "images_excluded": {**COUNT, "description": "images with predictions left out: "
                                "nobody had worked on them, or rejected in review"}},
            ["model", "position", "images", "map50", "map50_95", "per_class", "confusion"]),
    }


def _evaluation_paths() -> dict[str, Any]:
    return {
        "/projects/{project_id}/evaluation": {"get": _answers(_op(
            "A model's predictions (its last pre-label job's) against the labels (accepted, "
            "edited, manual) as of a global position (manager): COCO mAP, per-class "
            "precision/recall/AP, class confusions", "the evaluation", ref("Evaluation"),
            params=[_PROJECT_ID,
                    _param("model_id", "query", STR, "a model registered in the project",
                           required=True),
                    _param("position", "query", COUNT,
                           "at most the head of the log (default: the head)"),
                    _param("threshold", "query", {"type": "number", "minimum": 0,
                                                  "maximum": 1},
                           "least score counted in tp/fp/fn and confusion (default: the "
                           "job's threshold, else 0)"),
                    _MIN_POSITION],
            errors=(*_AUTH_ERRORS, "422", "503"), tag="models"),
            "404", "no such project, or no such model in it")},
    }


def _blind_spot_schemas() -> dict[str, Schema]:
    """Where a model and the labels disagree (web.endpoints.blind_spots,
    service_layer.blind_spots, inference_workers.blind_spots)."""
    model = obj({"id": STR, "name": STR, "version": STR, "task": STR},
                ["id", "name", "version", "task"])
    header = {
        "model": model,
        "position": {**POSITION, "description": "the labels are those as of this position"},
        "job": {**nullable(STR), "description": "the pre-label job whose predictions were "
                "judged (null: the model's imported pre-labels)"},
        "kind": {"enum": ["bbox", "segm", "tags"]},
        "threshold": {"type": "number", "minimum": 0, "maximum": 1,
                      "description": "least score a counted prediction needs"},
        "images_judged": COUNT, "images_excluded": COUNT}
    share = {"type": "number", "minimum": 0, "maximum": 1}
    return {
        "BlindSpots": obj({
            **header,
            "disagreeing": {**COUNT, "description": "judged images with any disagreement"},
            "images": {"type": "array", "items": obj({
                "image_id": STR,
                "missed": {**COUNT, "description": "labels no prediction of any class "
                           "overlaps (IoU 0.5)"},
                "false_positives": {**COUNT, "description": "counted predictions "
                                    "overlapping no label"},
                "confused": {**COUNT, "description": "labels found as another class"},
                "score": {"type": "number", "minimum": 0, "description": "missed + the "
                          "scores of the false positives and confusions; worst first"},
                "suspects": {**COUNT, "description": "label suspects on the image"},
                "thumbnail": {**STR, "description": "the image's bytes (GET "
                              "/images/{id}/content)"}},
                ["image_id", "missed", "false_positives", "confused", "score"])}},
            ["images"]),
        "LabelSuspects": obj({
            **header,
            "total": COUNT,
            "suspects": {"type": "array", "items": obj({
                "image_id": STR, "annotation_id": nullable(STR), "label": STR,
                "predicted": {**nullable(STR), "description": "the class the model sees "
                              "there (null: it finds nothing there)"},
                "confidence": share,
                "reason": {"enum": ["other_class", "nothing_found"]},
                "threshold": {**share, "description": "what confidence had to reach: the "
                              "predicted class's self-confidence, or the least recall"}},
                ["image_id", "annotation_id", "label", "predicted", "confidence",
                 "reason"])}},
            ["suspects"]),
    }


def _blind_spot_paths() -> dict[str, Any]:
    params = [_PROJECT_ID,
              _param("model_id", "query", STR, "a model registered in the project",
                     required=True),
              _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000},
                     "how many (default 50)"),
              _param("position", "query", COUNT,
                     "at most the head of the log (default: the head)"),
              _param("threshold", "query", {"type": "number", "minimum": 0, "maximum": 1},
                     "least score a prediction needs to count (default: the job's, else 0)"),
              _MIN_POSITION]
    errors = (*_AUTH_ERRORS, "422", "503")
    return {
        "/projects/{project_id}/blind_spots": {"get": _answers(_op(
            "The images where a model's predictions (its last pre-label job's) and the "
            "labels as of a position disagree most, worst first (reviewer): missed objects, "
            "false positives, class confusions; 422 when the model never predicted anything "
            "here", "the images", ref("BlindSpots"), params=params, errors=errors,
            tag="models"), "404", "no such project, or no such model in it")},
        "/projects/{project_id}/label_suspects": {"get": _answers(_op(
            "Labels the model strongly disagrees with (confident learning), most confident "
            "first (reviewer): another class above that class's self-confidence, or nothing "
            "where a reliable model finds nothing", "the suspect labels",
            ref("LabelSuspects"), params=params, errors=errors, tag="models"),
            "404", "no such project, or no such model in it")},
    }


def _selection_schemas() -> dict[str, Schema]:
    """What to label next, and "more like this" (web.endpoints.selection,
    service_layer.selection)."""
    model = obj({"id": STR, "name": STR, "version": STR, "task": STR},
                ["id", "name", "version", "task"])
    return {
        "Selection": obj({
            "model": model,
            "strategy": {"enum": ["least_confidence", "margin", "entropy", "coreset", "badge",
                                  "random"]},
            "status": {"enum": ["new", "all"]},
            "pool": {**COUNT, "description": "how many scored images were ranked (status new: "
                     "those nobody has worked on)"},
            "images": {"type": "array", "items": obj({
                "image_id": STR,
                "score": {**nullable(NUM), "description": "higher = picked sooner; the "
                          "uncertainty for least_confidence/margin/entropy, the pick's "
                          "distance for coreset/badge, the random key for random"},
                "rank": {"type": "integer", "minimum": 1}}, ["image_id", "score", "rank"])}},
            ["model", "strategy", "images"]),
        "SimilarImages": obj({
            "model": model,
            "image_id": STR,
            "images": {"type": "array", "items": obj({
                "image_id": STR,
                "similarity": {**nullable(NUM), "description": "cosine similarity of the "
                               "embeddings, -1..1"},
                "rank": {"type": "integer", "minimum": 1}}, ["image_id", "similarity", "rank"])}},
            ["model", "images"]),
    }


def _selection_paths() -> dict[str, Any]:
    model_id = _param("model_id", "query", STR, "a model of the project that a score job ran",
                      required=True)
    k = {"type": "integer", "minimum": 1, "maximum": 1000}
    return {
        "/projects/{project_id}/selection": {"get": _op(
            "The images to label next by a selection strategy over a model's scores (any "
            "member); 422 when the model was never scored, k is more than the pool, or "
            "coreset/badge lack embeddings of one width", "the ranked images",
            ref("Selection"),
            params=[_PROJECT_ID, model_id,
                    _param("strategy", "query", {"enum": [
                        "least_confidence", "margin", "entropy", "coreset", "badge",
                        "random"]}, "default margin"),
                    _param("k", "query", k, "how many (default 50)"),
                    _param("status", "query", {"enum": ["new", "all"]},
                           "new (default): only images nobody has worked on"),
                    _param("seed", "query", {"type": "integer", "minimum": 0,
                                             "maximum": 2**32 - 1},
                           "badge and random draw from it (default 0)"),
                    _MIN_POSITION],
            errors=(*_AUTH_ERRORS, "422", "503"), tag="models")},
        "/projects/{project_id}/similar": {"get": _op(
            "More like this: the images whose embeddings (a model's scores) are nearest to "
            "one image's, by cosine similarity, the image itself left out (any member)",
            "the nearest images", ref("SimilarImages"),
            params=[_PROJECT_ID, model_id,
                    _param("image_id", "query", STR, "an image the model scored",
                           required=True),
                    _param("k", "query", k, "at most this many (default 12)"),
                    _param("status", "query", {"enum": ["all", "new"]},
                           "all (default), or only images nobody has worked on"),
                    _MIN_POSITION],
            errors=(*_AUTH_ERRORS, "422", "503"), tag="models")},
    }


def _work_queue_schemas() -> dict[str, Schema]:
    """The team's work queue (web.endpoints.work_queue, service_layer.work_queue)."""
    ids = {"type": "array", "items": STR, "maxItems": 10_000}
    return {
        "QueueNext": obj({
            "order": {"enum": list(ORDERS), "description": "default: assignments, the "
                      "caller's rejected images, priority, then project order; selection: "
                      "the same, new images ranked by a strategy over model_id's scores"},
            "model_id": {**STR, "description": "needed by (and only for) order selection"},
            "strategy": {"enum": list(STRATEGIES), "description": "margin by default"},
            "queue": {"enum": list(QUEUES), "description": "label (new work) or review "
                      "(submitted images); reviewers get review by default"},
            "skip": {**STR, "description": "give back the lease on this image first; it "
                     "is not handed to the caller again for a lease period"}},
            extra=False),
        "QueueLease": obj({
            "image": {"type": "object", "description": "the image, as GET /images/{id}"},
            "queue": {"enum": list(QUEUES)},
            "lease": obj({"expires_at": TIME, "position": nullable(COUNT)},
                         ["expires_at"])}, ["image", "lease"]),
        "Assignment": obj({"username": STR, "image_ids": ids}, ["username", "image_ids"],
                          extra=False),
        "AssignmentResult": obj({"username": STR, "image_ids": ids,
                                 "position": nullable(COUNT)}, ["username", "image_ids"]),
        "PriorityImages": obj({"image_ids": {**ids, "minItems": 1}}, ["image_ids"],
                              extra=False),
        "PriorityList": obj({"priority": {"type": "array", "items": STR},
                             "position": nullable(COUNT)}, ["priority"]),
        "QueueOverview": obj({
            "leases": {"type": "array", "items": obj(
                {"image_id": STR, "username": STR, "expires_at": TIME},
                ["image_id", "username", "expires_at"]),
                "description": "active leases, soonest expiry first"},
            "assignments": {"type": "array", "items": obj(
                {"username": STR, "image_ids": {"type": "array", "items": STR}},
                ["username", "image_ids"])},
            "priority": {"type": "array", "items": STR}},
            ["leases", "assignments", "priority"]),
    }


def _work_queue_paths() -> dict[str, Any]:
    write_errors = (*_AUTH_ERRORS, "413", "415", "422")
    handed = {
        "/projects/{project_id}/queue": {"get": _op(
            "Who holds what (manager): active leases, assignments per member, priority list",
            "the overview", ref("QueueOverview"), params=[_PROJECT_ID], tag="queue")},
        "/projects/{project_id}/queue/next": {"post": _op(
            "Hand the caller an image under a lease (recorded as an event); asking again "
            "while it holds renews it and answers the same image", "the image and its lease",
            ref("QueueLease"), params=[_PROJECT_ID], body=ref("QueueNext"),
            errors=write_errors, tag="queue")},
        "/projects/{project_id}/assignments": {"put": _op(
            "Assign images to a member (manager): they open that person's queue, in this "
            "order; the list replaces the previous one (empty: none)", "the assignment",
            ref("AssignmentResult"), params=[_PROJECT_ID], body=ref("Assignment"),
            errors=write_errors, tag="queue")},
        "/projects/{project_id}/queue/priority": {
            "post": _op("Put images at the end of the priority list (manager): they go first "
                        "in everyone's queue", "the priority list", ref("PriorityList"),
                        params=[_PROJECT_ID], body=ref("PriorityImages"),
                        errors=write_errors, tag="queue"),
            "delete": _op("Clear the priority list (manager)", "the empty list",
                          ref("PriorityList"), params=[_PROJECT_ID], tag="queue")},
    }
    handed["/projects/{project_id}/queue/next"]["post"]["responses"]["204"] = {
        "description": "nothing is left in this queue (no body)"}
    return handed


def _account_paths() -> dict[str, Any]:
    """Admins acting on an account (events on the User aggregate), and one's own password."""
    user = [_param("username", "path", STR, "any case; the answer has it as registered")]
    unknown = "no user of that name"
    return {
        "/users/{username}/disable": {"post": _answers(_answers(_op(
            "Disable a user (admin): no login, every token of theirs stops working (also "
            "after enabling); project roles stay", "the user (position: of the event; absent "
            "if already disabled)", ref("User"), params=user,
            errors=("401", "403", "404"), tag="users"), "404", unknown),
            "409", "an admin cannot disable their own account")},
        "/users/{username}/enable": {"post": _answers(_op(
            "Enable a disabled user (admin); tokens from before stay revoked",
            "the user (position absent if they were not disabled)", ref("User"),
            params=user, errors=("401", "403", "404"), tag="users"), "404", unknown)},
        "/users/{username}/revoke_tokens": {"post": _answers(_op(
            "Revoke every token of a user (admin): login sessions and API tokens",
            "the user, with revoked_tokens", ref("User"), params=user,
            errors=("401", "403", "404"), tag="users"), "404", unknown)},
        "/users/{username}/password": {"put": _answers(_op(
            "Set a user's password (admin); their login sessions end, API tokens stay",
            "the user", ref("User"), params=user, body=ref("NewPassword"),
            errors=("401", "403", "404", "413", "415", "422"), tag="users"), "404", unknown)},
        "/me/password": {"put": _answers(_answers(_op(
            "Change one's own password (current_password proves it; failures count like "
            "failed logins). Every login session of the caller ends; the answer is a new "
            "login token (the session cookie is renewed when the call came with it)",
            "a new login token", ref("LoginResult"), body=ref("PasswordChange"),
            errors=("401", "403", "413", "415", "422", "429"), tag="session"),
            "403", "a cookie-authenticated call from another origin"),
            "422", "validation failed, or the current password is wrong "
                   "(details.field = current_password)")},
    }


def _model_schemas() -> dict[str, Schema]:
    """The model registry (web.endpoints.models, service_layer.model_registry)."""
    text = {"type": "string", "maxLength": MAX_MODEL_NAME}
    file = {"type": "string", "contentMediaType": "application/octet-stream"}
    return {
        "Model": obj({
            "id": STR, "project_id": STR, "name": STR,
            "version": {"type": "string", "description": "the model version (a string)"},
            "task": {"enum": list(MODEL_TASKS)}, "format": {"enum": list(MODEL_FORMATS)},
            "architecture": nullable(STR),
            "layout": {"type": "string", "description": "the output layout found: yolov5, "
                       "yolov8, yolov8_seg, semantic, classifier, centernet, sam..."},
            "classes": {"type": "array", "items": STR,
                        "description": "the model's class names, in its output order"},
            "class_map": {"type": "object", "additionalProperties": nullable(STR),
                          "description": "model class -> project class (null: dropped from "
                                         "pre-labels until mapped)"},
            "unmapped": {"type": "array", "items": STR},
            "input_size": nullable({"type": "array", "items": INT, "minItems": 2,
                                    "maxItems": 2, "description": "[height, width]"}),
            "sha256": STR, "size_bytes": COUNT, "file_name": STR, "details": {"type": "object"},
            "lineage": nullable({"type": "object", "description": "a model trained by a train "
                                 "job: job_id, project_id, position, base_model_id, "
                                 "architecture, hyperparameters, metrics, training_images, "
                                 "validation_images, skipped_images, classes"}),
            "retired": BOOL, "created_by": STR, "created_at": TIME},
            ["id", "name", "version", "task", "format", "architecture", "classes",
             "class_map", "unmapped", "input_size", "sha256", "size_bytes", "created_by",
             "created_at"]),
        "ModelResult": obj({"model": ref("Model"), "position": nullable(POSITION)}, ["model"]),
        "ModelList": obj({"models": {"type": "array", "items": ref("Model")}}, ["models"]),
        "ModelUpload": obj({
            "weights": {**file, "description": ".onnx; TorchScript .torchscript/.pt; "
                        ".safetensors or a state_dict .pt/.pth of a built-in architecture"},
            "classes": {**file, "description": ".names/classes.txt (one a line), YOLO "
                        "data.yaml (names:), COCO JSON (categories) or a JSON list"},
            "name": {**text, "description": "default: the weights file's stem"},
            "version": {"type": "string", "maxLength": MAX_MODEL_VERSION,
                        "description": "default: the next free whole number for the name"},
            "task": {"enum": list(MODEL_TASKS), "description": "default: found in the file"},
            "architecture": {**text, "description": "a built-in architecture (state dicts)"},
            "input_size": {"type": "string", "pattern": r"^[0-9]+(,[0-9]+)?$",
                           "description": '"H,W" or "S" pixels (default: from the graph)'}},
            ["weights"], extra=False),
        "ModelChanges": obj({
            "class_map": {"type": "object", "minProperties": 1,
                          "additionalProperties": nullable(STR),
                          "description": "model class -> an active project class, or null "
                                         "(both case-insensitive)"},
            "retired": {"type": "boolean", "description": "true retires the model (final: "
                        "false on a retired model is 422; on an active one it changes "
                        "nothing)"}},
            extra=False),
    }


def _model_paths() -> dict[str, Any]:
    write_errors = (*_AUTH_ERRORS, "413", "415", "422")
    read_errors = (*_AUTH_ERRORS, "422", "503")
    model_id = _param("model_id", "path", STR)
    return {
        "/projects/{project_id}/models": {
            "post": _answers(_op(
                "Register a model (manager): multipart part 'weights', optional 'classes', "
                "form fields; the weights are inspected, stored content-addressed and "
                "recorded (ModelRegistered)", "registered", ref("ModelResult"),
                status="201", params=[_PROJECT_ID],
                body={"content": {"multipart/form-data": {"schema": ref("ModelUpload")}}},
                errors=write_errors, tag="models"),
                "409", "this name and version are already registered in the project"),
            "get": _op("The project's models, in registration order", "the models",
                       ref("ModelList"), params=[_PROJECT_ID, _MIN_POSITION],
                       errors=read_errors, tag="models"),
        },
        "/models/{model_id}": {
            "get": _op("A model", "the model", ref("ModelResult"),
                       params=[model_id, _MIN_POSITION], errors=read_errors, tag="models"),
            "patch": _answers(_op(
                "Re-map classes and/or retire a model (manager); events ClassMapChanged, "
                "ModelRetired", "the model (position: of the last event, null if nothing "
                "changed)", ref("ModelResult"), params=[model_id], body=ref("ModelChanges"),
                errors=write_errors, tag="models"),
                "409", "someone else kept changing this model at the same time (retry)"),
        },
    }


def _job_schemas() -> dict[str, Schema]:
    """Jobs (web.endpoints.jobs, service_layer.jobs, inference_workers.prelabel_job)."""
    share = {"type": "number", "minimum": 0, "maximum": 1}
    return {
        "Job": obj({
            "id": STR, "project_id": STR, "type": {"enum": list(JOB_TYPES)},
            "state": {"enum": list(JOB_STATES)}, "model_id": nullable(STR),
            "params": {"type": "object", "description": "threshold, iou, max_per_image, "
                       "images (all, unlabeled or list)"},
            "total": {**COUNT, "description": "images in the job (fixed when queued)"},
            "done": {**COUNT, "description": "images whose pre-labels are recorded"},
            "failed": {**COUNT, "description": "images that could not be decoded or "
                       "recorded"},
            "recorded": {**COUNT, "description": "pre-labels recorded"},
            "dropped": {**COUNT, "description": "predictions not recorded: class not mapped, "
                        "annotation type not used by the project, geometry invalid"},
            "errors": {"type": "array", "items": obj({"image_id": STR, "message": STR})},
            "result": nullable({"type": "object"}),
            "error": nullable(obj({"code": STR, "message": STR})),
            "created_by": STR, "created_at": TIME, "started_at": nullable(TIME),
            "finished_at": nullable(TIME),
            "progress": {"type": "array", "description": "a train job's epochs so far",
                         "items": obj({"epoch": INT, "train_loss": NUM,
                                       "val_loss": nullable(NUM), "val_metric": nullable(NUM),
                                       "seconds": NUM})}},
            ["id", "type", "state", "total", "done", "failed", "model_id", "created_by",
             "created_at", "started_at", "finished_at"]),
        "JobResult": obj({"job": ref("Job")}, ["job"]),
        "JobList": obj({"jobs": {"type": "array", "items": ref("Job")}}, ["jobs"]),
        "NewJob": obj({
            "type": {"enum": list(JOB_TYPES), "description": "prelabel and score: model_id "
                     "and images...; train: architecture, name, base_model_id, position, "
                     "epochs, validation_fraction"},
            "model_id": STR,
            "images": {"anyOf": [{"enum": ["all", "unlabeled"]},
                                 {"type": "array", "items": STR, "minItems": 1}],
                       "description": "unlabeled (default): images whose status is new"},
            "threshold": {**share, "description": "least score (default 0.25)"},
            "iou": {**share, "description": "class-aware NMS IoU (default 0.45)"},
            "max_per_image": {"type": "integer", "minimum": 1, "maximum": 1000,
                              "description": "default 300"},
            "architecture": {"enum": ["centernet", "classifier"],
                             "description": "train: the built-in model to train"},
            "name": {**STR, "description": "train: the name the model is registered under "
                     "(its version: the next free number)"},
            "base_model_id": {**STR, "description": "train: start from this model's weights"},
            "position": {**POSITION, "description": "train: the labels as of this global "
                         "position (default: the head when queued)"},
            "epochs": {"type": "integer", "minimum": 1, "maximum": 500,
                       "description": "train: at most this many (default 30; early stopping)"},
            "validation_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5,
                                    "description": "train: share held out (default 0.2)"}},
            ["type"], extra=False),
    }


def _job_paths() -> dict[str, Any]:
    job_id = _param("job_id", "path", STR)
    return {
        "/projects/{project_id}/jobs": {
            "post": _answers(_op(
                "Queue a job (manager): its images are chosen and fixed now; workers run it "
                "and progress reaches the project room ({op: job})", "queued",
                ref("JobResult"), status="202", params=[_PROJECT_ID], body=ref("NewJob"),
                errors=(*_AUTH_ERRORS, "413", "415", "422"), tag="jobs"),
                "409", "the model is retired"),
            "get": _op("The project's jobs, newest first", "the jobs", ref("JobList"),
                       params=[_PROJECT_ID, _param("limit", "query",
                                                   {"type": "integer", "minimum": 1,
                                                    "maximum": 200}),
                               _MIN_POSITION],
                       errors=(*_AUTH_ERRORS, "422", "503"), tag="jobs"),
        },
        "/jobs/{job_id}": {"get": _op(
            "A job and its progress", "the job", ref("JobResult"),
            params=[job_id, _MIN_POSITION], errors=(*_AUTH_ERRORS, "422", "503"),
            tag="jobs")},
        "/jobs/{job_id}/cancel": {"post": _answers(_op(
            "Cancel a job (manager): workers stop before their next batch; what was recorded "
            "stays", "the job", ref("JobResult"), params=[job_id], tag="jobs"),
            "409", "the job is already done or failed")},
    }


def _paths() -> dict[str, Any]:
    read_errors = (*_AUTH_ERRORS, "422", "503")
    write_errors = (*_AUTH_ERRORS, "413", "415", "422")
    image_params = [_IMAGE_ID, _MIN_POSITION]
    return {
        "/auth/login": {"post": _answers(_op(
            "Log in; also sets the HttpOnly session cookie lw_session", "a new login token",
            ref("LoginResult"), body=ref("LoginRequest"), public=True, tag="session",
            errors=("401", "413", "415", "422", "429")),
            "403", "the password is right but the account is disabled (details.reason = "
                   "disabled); a wrong password for it is the usual 401")},
        "/auth/logout": {"post": _op("Revoke the token (or session) used for this call",
                                     "revoked", obj({"revoked": BOOL}), errors=("401", "403"),
                                     tag="session")},
        "/me": {"get": _op("The current user and their project roles", "the user",
                           ref("Me"), params=[_MIN_POSITION],
                           errors=("401", "422", "503"), tag="session")},
        "/users": {
            "post": _op("Create a user (admin)", "created", ref("User"), status="201",
                        body=ref("NewUser"), errors=("401", "403", "413", "415", "422"),
                        tag="users"),
            "get": _op("List users (admin)", "the users", ref("UserList"),
                       params=[_MIN_POSITION], errors=("401", "403", "422", "503"),
                       tag="users"),
        },
        **_account_paths(),
        "/projects": {
            "post": _op("Create a project (admin); the creator becomes its manager",
                        "created", ref("Project"), status="201", body=ref("NewProject"),
                        errors=("401", "403", "413", "415", "422"), tag="projects"),
            "get": _op("Projects visible to the caller", "the projects", ref("ProjectList"),
                       params=[_MIN_POSITION], errors=("401", "422", "503"),
                       tag="projects"),
        },
        "/projects/{project_id}": {
            "get": _op("A project with classes, members and image counts by status",
                       "the project", ref("Project"), params=[_PROJECT_ID, _MIN_POSITION],
                       errors=read_errors, tag="projects"),
            "patch": _op("Rename, add classes, retire classes (manager)", "the project",
                         ref("Project"), params=[_PROJECT_ID], body=ref("ProjectChanges"),
                         errors=write_errors, tag="projects"),
        },
        "/projects/{project_id}/members/{username}": {
            "put": _answers(_op(
                "Set a member's role; null removes them (manager). The name may be in any "
                "case; the member is recorded under the name as registered", "the project",
                ref("Project"), params=[_PROJECT_ID, _param("username", "path", STR)],
                body=ref("MemberRole"), errors=write_errors, tag="projects"),
                "404", "no such project or user (or, removing, not a member)"),
            "delete": _answers(_op(
                "Remove a member (manager); the name may be in any case", "the project",
                ref("Project"), params=[_PROJECT_ID, _param("username", "path", STR)],
                errors=write_errors, tag="projects"),
                "404", "no such project or user, or the user is not a member"),
        },
        "/projects/{project_id}/images": {
            "post": _op(
                "Add images (manager): multipart parts named 'file', or {\"paths\"} of "
                "server files (admin, under the allowed import folders)", "the images, in "
                "the order of the parts", ref("UploadResult"), status="201",
                params=[_PROJECT_ID],
                body={"content": {
                    "multipart/form-data": {"schema": obj({"file": {
                        "type": "array", "minItems": 1, "items": {"type": "string",
                                                   "contentMediaType": "image/*"}}},
                        ["file"])},
                    "application/json": {"schema": ref("ImagePaths")}}},
                errors=write_errors, tag="images"),
            "get": _op("A page of the project's images", "the page", ref("ImagePage"),
                       params=[_PROJECT_ID,
                               _param("status", "query", {"enum": list(IMAGE_STATUSES)}),
                               _param("limit", "query", {"type": "integer", "minimum": 1,
                                                         "maximum": MAX_PAGE,
                                                         "default": DEFAULT_PAGE}),
                               _param("cursor", "query", STR), _MIN_POSITION],
                       errors=read_errors, tag="images"),
        },
        "/images/{image_id}": {"get": _op("Image metadata", "the image", ref("Image"),
                                          params=image_params, errors=read_errors,
                                          tag="images")},
        "/images/{image_id}/content": {"get": {
            "summary": "The image bytes (ETag = sha256, immutable)", "tags": ["images"],
            "parameters": [_IMAGE_ID, _MIN_POSITION],
            "responses": {"200": {"description": "the bytes", "content": {
                "image/*": {"schema": {"type": "string", "contentMediaType": "image/*"}}}},
                "304": {"description": "not modified (If-None-Match)"},
                **_errors(*read_errors)}}},
        "/images/{image_id}/commands": {"post": _op(
            "Apply one command, or a batch atomically", "committed", ref("CommandResult"),
            params=[_IMAGE_ID],
            body={"anyOf": [ref("Command"), ref("CommandBatch")]},
            errors=(*_AUTH_ERRORS, "409", "413", "415", "422"), tag="annotations")},
        "/images/{image_id}/assist/preview": {"post": _op(
            "An assist proposal for these clicks, recorded nowhere (annotate role)",
            "the proposal", ref("AssistPreview"), params=[_IMAGE_ID],
            body=ref("AssistPreviewRequest"),
            errors=(*_AUTH_ERRORS, "413", "415", "422"), tag="annotations")},
        "/images/{image_id}/annotations": {"get": _op(
            "Current labels, or (version=N) the labels right after the image's N-th event",
            "the labels", ref("ImageLabels"),
            params=[*image_params, _param("version", "query", {**COUNT, "minimum": 1},
                                          "at most the image's current version")],
            errors=read_errors, tag="annotations")},
        "/images/{image_id}/history": {"get": _op(
            "The image's events, oldest first", "a page of history", ref("History"),
            params=[*image_params,
                    _param("after", "query", COUNT, "a version"),
                    _param("limit", "query", {"type": "integer", "minimum": 1,
                                              "maximum": MAX_HISTORY_PAGE,
                                              "default": DEFAULT_HISTORY_PAGE})],
            errors=read_errors, tag="annotations")},
        "/projects/{project_id}/predictions": {"post": _op(
            "Import model outputs as pre-labels (manager). COCO results need model and "
            "model_version; category ids are the project's classes 1..K",
            "recorded", ref("PredictionImport"),
            params=[_PROJECT_ID, _param("model", "query", STR),
                    _param("model_version", "query", STR), _MIN_POSITION],
            body={"anyOf": [{"type": "array", "items": ref("CocoResult")},
                            ref("LabelwrightPredictions")]},
            errors=(*write_errors, "503"), tag="predictions")},
        "/projects/{project_id}/datasets": {"post": _op(
            "Import a labeled dataset (manager): multipart part 'file' (a zip, or one "
            "JSON/XML file) and the field 'format'; labels become human labels (source "
            "import) matched to the project's images by file name, a zip's images are added; "
            "all or nothing (details.reason says why not)",
            "recorded", ref("DatasetImport"), params=[_PROJECT_ID, _MIN_POSITION],
            body={"content": {"multipart/form-data": {"schema": obj({
                "file": {"type": "string", "contentMediaType": "application/octet-stream"},
                "format": {"enum": list(READERS)},
                "create_classes": {"enum": ["true", "false"], "default": "false"}},
                ["file", "format"])}}},
            errors=(*write_errors, "503"), tag="datasets")},
        "/projects/{project_id}/metrics/annotators": {"get": _op(
            "Per-annotator metrics (manager)", "the metrics", ref("AnnotatorMetrics"),
            params=[_PROJECT_ID, _MIN_POSITION], errors=read_errors, tag="metrics")},
        "/projects/{project_id}/metrics/prelabels": {"get": _op(
            "Pre-label acceptance (manager)", "the metrics", ref("PrelabelMetrics"),
            params=[_PROJECT_ID, _param("group_by", "query", {
                "enum": list(GROUP_BY), "default": DEFAULT_GROUP_BY}),
                _MIN_POSITION],
            errors=read_errors, tag="metrics")},
        "/projects/{project_id}/metrics/prelabels/confusion": {"get": _op(
            "Pre-labels' proposed class -> the class people left (final null: rejected; "
            "manager)", "the confusion", ref("PrelabelConfusion"),
            params=[_PROJECT_ID, _param("model", "query", STR, "a model's name@version key"),
                    _param("model_id", "query", STR, "a registered model's id"),
                    _MIN_POSITION],
            errors=read_errors, tag="metrics")},
        "/projects/{project_id}/metrics/assist": {"get": _op(
            "Assist proposals by engine and mode: clicks per accepted one, acceptance rate, "
            "mean IoU of corrections (manager)", "the metrics", ref("AssistMetrics"),
            params=[_PROJECT_ID, _MIN_POSITION], errors=read_errors, tag="metrics")},
        **_evaluation_paths(),
        **_blind_spot_paths(),
        **_selection_paths(),
        **_work_queue_paths(),
        "/projects/{project_id}/export": {"get": {
            "summary": "A streamed export (manager), current or as of a global position",
            "tags": ["exports"],
            "parameters": [_PROJECT_ID,
                           _param("format", "query", {"enum": sorted(EXPORTERS),
                                                      "default": DEFAULT_EXPORT_FORMAT},
                                  "; ".join(f"{name}: {e.summary}"
                                            for name, e in EXPORTERS.items())),
                           _param("position", "query", COUNT,
                                  "at most the head of the log"),
                           _param("include_proposed", "query", BOOL,
                                  "add pending pre-labels (" + ", ".join(
                                      name for name, e in EXPORTERS.items()
                                      if e.optional_proposals) + ")"),
                           {**_param("images", "query", BOOL,
                                     "put the image files in the zip (" + ", ".join(
                                         name for name, e in EXPORTERS.items()
                                         if e.with_images) + ")"),
                            "x-formats": [name for name, e in EXPORTERS.items()
                                          if e.with_images]},
                           {**_param("split", "query", {"type": "string", "maxLength": 400},
                                     "name:fraction,... e.g. train:0.8,val:0.1,test:0.1; an "
                                     "image's split depends only on seed and its content "
                                     "hash (" + ", ".join(name for name, e in EXPORTERS.items()
                                                          if e.uses_split) + ")"),
                            "x-formats": [name for name, e in EXPORTERS.items()
                                          if e.uses_split]},
                           _param("seed", "query", COUNT, "seed of the split (default 0)"),
                           _MIN_POSITION],
            "responses": {"200": {"description": "the export document", "content": {
                media_type: {"schema": {"type": "object"} if media_type.endswith("json")
                             else {"type": "string", "format": "binary"}}
                for media_type in sorted({e.media_type for e in EXPORTERS.values()}
                                         | {"application/zip"})}},
                          **_errors(*read_errors)}}},
        **_model_paths(),
        **_job_paths(),
        "/projections": {"get": _op("Each read model's position and lag", "the status",
                                    ref("ProjectionStatus"), params=[_MIN_POSITION],
                                    errors=("401", "422", "503"), tag="operations")},
        "/openapi.json": {"get": _op("This document", "the OpenAPI document",
                                     {"type": "object"}, public=True, errors=(),
                                     tag="operations")},
    }


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document (callers may not mutate a shared one)."""
    return copy.deepcopy(_DOCUMENT)


API_PREFIX = "/api/v1"

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Labelwright API", "version": "1",
             "description": "Event-sourced collaborative labeling. Errors always answer "
                            "{\"error\": {\"code\", \"message\", \"details\"}}. Probes "
                            "GET /healthz and GET /readyz live at the server root, and so "
                            "does GET /metrics (Prometheus text format, admins only). Every "
                            "response carries X-Request-ID (the client's, if valid). Live "
                            "collaboration is the WebSocket GET /api/v1/ws (?token= or the "
                            "session cookie); docs/realtime.md describes its messages."},
    # Full paths (the contract's names) with the server at the root.
    "servers": [{"url": "/"}],
    "security": _SECURED,
    "paths": {API_PREFIX + path: item for path, item in _paths().items()},
    "components": {
        "schemas": _schemas(),
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "lw_session"},
        },
    },
}
