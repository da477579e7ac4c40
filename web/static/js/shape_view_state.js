// One person's view of an image's shapes: hidden ones (not drawn, not hit by a click), locked
// ones (drawn, but a click or a drag passes through them) and the z-order (which of two
// overlapping shapes a click picks: the one in front). It is the viewer's, not the image's:
// kept in this tab's sessionStorage per image and never recorded as events.

const KEY = (imageId) => `lw.view.${imageId}`;

export class ShapeViewState extends EventTarget {
  constructor(imageId) {
    super();
    this.imageId = imageId;
    this.hidden = new Set();
    this.locked = new Set();
    this.order = new Map(); // id -> z (0 when unset; higher is in front)
    try {
      const saved = JSON.parse(sessionStorage.getItem(KEY(imageId)) || "null");
      if (saved) {
        for (const id of saved.hidden || []) this.hidden.add(id);
        for (const id of saved.locked || []) this.locked.add(id);
        for (const [id, z] of Object.entries(saved.order || {})) this.order.set(id, Number(z));
      }
    } catch { /* a damaged entry is ignored: everything shown and unlocked */ }
  }

  isHidden(id) { return this.hidden.has(id); }
  isLocked(id) { return this.locked.has(id); }
  /** Whether a click (or a selection) passes through the shape. */
  blocks(id) { return this.hidden.has(id) || this.locked.has(id); }
  z(id) { return this.order.get(id) || 0; }

  setHidden(ids, on) { this.toggle(this.hidden, ids, on); }
  setLocked(ids, on) { this.toggle(this.locked, ids, on); }
  showAll() { this.hidden.clear(); this.changed(); }
  unlockAll() { this.locked.clear(); this.changed(); }

  /** In front of (or behind) every other shape of the image. */
  toFront(ids) { this.restack(ids, Math.max(0, ...this.order.values()) + 1); }
  toBack(ids) { this.restack(ids, Math.min(0, ...this.order.values()) - 1); }

  toggle(set, ids, on) {
    for (const id of ids) { if (on) set.add(id); else set.delete(id); }
    this.changed();
  }

  restack(ids, z) {
    for (const id of ids) this.order.set(id, z);
    this.changed();
  }

  changed() {
    try {
      sessionStorage.setItem(KEY(this.imageId), JSON.stringify({
        hidden: [...this.hidden], locked: [...this.locked], order: Object.fromEntries(this.order) }));
    } catch { /* storage full or off: the state lasts as long as the page */ }
    this.dispatchEvent(new CustomEvent("change"));
  }
}
