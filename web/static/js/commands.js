// The commands of docs/api.md, as the UI makes them: every one has a fresh command_id (so it
// can be resent safely), and every change to an existing annotation names the revision it was
// made against (base_revision), so a concurrent change is a conflict, never a silent overwrite.

export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; plain-HTTP hosts other than localhost lack it.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export const commands = {
  // ``attributes``: per-object attribute values ({name: value}), left out when none.
  create: (type, label, geometry, id = newId(), attributes = null) =>
    ({ type: "create", command_id: newId(), annotation: {
      id, type, label, geometry, ...(attributes && Object.keys(attributes).length ? { attributes } : {}) } }),
  edit: (ann, changes) =>
    ({ type: "edit", command_id: newId(), annotation_id: ann.id, changes,
       base_revision: ann.revision }),
  remove: (ann) =>
    ({ type: "delete", command_id: newId(), annotation_id: ann.id, base_revision: ann.revision }),
  accept: (ann) =>
    ({ type: "accept", command_id: newId(), annotation_id: ann.id, base_revision: ann.revision }),
  // Undo of an accept or a reject: the pre-label is proposed again (a rejected one has no
  // current revision, so ``ann`` may be just {id}).
  restore: (ann) => {
    const c = { type: "restore", command_id: newId(), annotation_id: ann.id };
    if (ann.revision !== undefined) c.base_revision = ann.revision;
    return c;
  },
  // ``extra``: output, model_id, annotation_id (refining that proposal); unset ones are left out.
  assist: (mode, points, label, extra = {}) => {
    const c = { type: "assist", command_id: newId(), mode, points, label };
    for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== null) c[k] = v;
    return c;
  },
  submit: () => ({ type: "submit", command_id: newId() }),
  review: (verdict, comment) =>
    ({ type: "review", command_id: newId(), verdict, ...(comment ? { comment } : {}) }),
  reopen: (comment) => ({ type: "reopen", command_id: newId(), ...(comment ? { comment } : {}) }),
};

/** The annotation a command is about (created or changed), or null for image-level commands. */
export function targetOf(command) {
  if (command.type === "create") return command.annotation.id;
  return command.annotation_id || null;
}
