// When my change to a shape's geometry lost to someone else's (409 conflict: it was made
// against a revision that is no longer current), the drag must not vanish silently. The banner
// names the class and the person whose change won, and offers "Re-apply mine" (my geometry sent
// again, against the revision now current: an ordinary edit, recorded and undoable) or "Keep
// theirs" (nothing is sent). A newer conflict replaces the one shown.

import { h } from "./dom.js";

export class ConflictBanner {
  constructor() {
    this.el = h("div", { class: "conflict-banner", id: "conflict-banner", role: "alert", hidden: true });
  }

  /** Show one lost change: ``label`` and ``user`` of the winning version; ``reapply()`` sends mine. */
  show({ label, user, reapply }) {
    const text = h("p", { class: "conflict-text" }, `Your change to ${label} was overwritten by ${user}.`);
    const mine = h("button", { type: "button", class: "btn btn-small btn-primary", id: "conflict-reapply",
                               title: "Send your shape again, on top of their version" }, "Re-apply mine");
    const theirs = h("button", { type: "button", class: "btn btn-small", id: "conflict-keep" }, "Keep theirs");
    mine.addEventListener("click", () => { this.hide(); reapply(); });
    theirs.addEventListener("click", () => this.hide());
    this.el.replaceChildren(text, h("div", { class: "row wrap" }, mine, theirs));
    this.el.hidden = false;
  }

  hide() {
    this.el.hidden = true;
    this.el.replaceChildren();
  }
}
