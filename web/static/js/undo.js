// Undo and redo of this user's own actions. Nothing is ever taken back in the log: undoing is a
// new, ordinary command that restores the earlier state (a delete undoes a create, an edit back
// undoes an edit, a create of a copy undoes a delete). Because a deleted id cannot be reused,
// re-creating gives the annotation a new id; ``alias`` follows those renames so later undo
// steps still find their annotation.

export class UndoHistory extends EventTarget {
  constructor() {
    super();
    this.done = [];
    this.undone = [];
    this.alias = new Map();
  }

  /** Record one step: a list of {kind: create|edit|delete|accept, id, before?, after?, prelabel?}. */
  record(changes) {
    if (!changes.length) return;
    this.done.push(changes);
    if (this.done.length > 500) this.done.shift();
    this.undone = [];
    this.changed();
  }

  resolve(id) {
    let cur = id;
    for (let i = 0; i < 100 && this.alias.has(cur); i++) cur = this.alias.get(cur);
    return cur;
  }

  renamed(from, to) { this.alias.set(from, to); }

  get canUndo() { return this.done.length > 0; }
  get canRedo() { return this.undone.length > 0; }

  /** The next step to undo, inverted into changes to apply (newest first), or null. */
  takeUndo() {
    const step = this.done.pop();
    if (!step) return null;
    this.undone.push(step);
    this.changed();
    return [...step].reverse().map(invert);
  }

  takeRedo() {
    const step = this.undone.pop();
    if (!step) return null;
    this.done.push(step);
    this.changed();
    return step;
  }

  changed() { this.dispatchEvent(new CustomEvent("change")); }
}

// A pre-label's verdict (accept, or a delete that rejected it: ``prelabel`` is the status it
// had) is undone by ``restore``: proposed again as the model made it (a recorded event, so the
// model is not charged with it), then accepted or edited again if it was before.
function invert(c) {
  if (c.kind === "create") return { kind: "delete", id: c.id, before: c.after };
  if (c.kind === "delete" && c.prelabel) {
    return { kind: "restore", id: c.id, before: c.before, prelabel: c.prelabel };
  }
  if (c.kind === "delete") return { kind: "create", id: c.id, after: c.before };
  if (c.kind === "accept") return { kind: "restore", id: c.id, prelabel: "proposed" };
  return { kind: "edit", id: c.id, before: c.after, after: c.before };
}
