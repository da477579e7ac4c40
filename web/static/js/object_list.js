// A virtual list of an image's objects: only the rows in view exist in the DOM, so an image with
// 5,000 objects costs 20 rows, not 5,000. Each row has an eye (hide / show) and a lock toggle:
// the viewer's own state (shape_view_state.js), not recorded.

import { h, clear } from "./dom.js";
import { summary } from "./attribute_panel.js";

const ROW = 30;
const OVERSCAN = 6;

export class ObjectList {
  constructor({ onPick, colorOf, view = null }) {
    this.items = [];
    this.view = view;
    view?.addEventListener("change", () => this.paintSoon());
    this.selected = new Set();
    this.onPick = onPick;
    this.colorOf = colorOf;
    this.inner = h("div", { class: "vlist-inner", role: "list" });
    this.el = h("div", { class: "vlist", tabindex: "-1" }, this.inner);
    // Scroll position and height are remembered from their events, so painting never has to
    // read layout right after changing the DOM (which would force a synchronous layout).
    this.scrollTop = 0;
    this.height = 0;
    this.queued = false;
    this.el.addEventListener("scroll", () => { this.scrollTop = this.el.scrollTop; this.paintSoon(); });
    new ResizeObserver((entries) => {
      this.height = entries[0].contentRect.height;
      this.paintSoon();
    }).observe(this.el);
  }

  setItems(items) { this.items = items; this.paintSoon(); }

  setSelected(ids) { this.selected = new Set(ids); this.paintSoon(); }

  paintSoon() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => { this.queued = false; this.paint(); });
  }

  scrollTo(id) {
    const i = this.items.findIndex((a) => a.id === id);
    if (i < 0) return;
    const top = i * ROW;
    if (top < this.scrollTop || top + ROW > this.scrollTop + this.height) {
      this.el.scrollTop = Math.max(0, top - this.height / 2);
      this.scrollTop = this.el.scrollTop;
      this.paintSoon();
    }
  }

  paint() {
    const n = this.items.length;
    this.inner.style.height = `${n * ROW}px`;
    const first = Math.max(0, Math.floor(this.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(n, Math.ceil((this.scrollTop + this.height) / ROW) + OVERSCAN);
    clear(this.inner);
    for (let i = first; i < last; i++) {
      const a = this.items[i];
      const hidden = this.view?.isHidden(a.id), locked = this.view?.isLocked(a.id);
      const pick = h("button", {
        type: "button", class: "vrow-pick", "aria-pressed": String(this.selected.has(a.id)),
        onclick: (e) => this.onPick(a.id, e),
      },
      h("span", { class: "swatch", "aria-hidden": "true" }),
      h("span", { class: "vrow-label" }, a.label),
      h("span", { class: "vrow-type muted" }, a.type),
      a.attributes && summary(a.attributes)
        ? h("span", { class: "vrow-attrs muted", title: summary(a.attributes) }, summary(a.attributes)) : null,
      a.status === "proposed"
        ? h("span", { class: "vrow-status proposed" }, typeof a.score === "number" ? a.score.toFixed(2) : "proposed")
        : h("span", { class: `vrow-status ${a.status}` }, a.pending ? "pending" : a.status));
      const row = h("div", {
        role: "listitem", dataset: { id: a.id },
        class: `vrow${this.selected.has(a.id) ? " selected" : ""}${hidden ? " is-hidden" : ""}${locked ? " is-locked" : ""}`,
      }, pick, this.view ? [
        h("button", { type: "button", class: "vrow-toggle vrow-eye", "aria-pressed": String(Boolean(hidden)),
                      "aria-label": `${hidden ? "Show" : "Hide"} ${a.label}`, title: `${hidden ? "Show" : "Hide"} (Shift+H)`,
                      onclick: () => this.view.setHidden([a.id], !hidden) }, hidden ? "○" : "◉"),
        h("button", { type: "button", class: "vrow-toggle vrow-lock", "aria-pressed": String(Boolean(locked)),
                      "aria-label": `${locked ? "Unlock" : "Lock"} ${a.label}`, title: `${locked ? "Unlock" : "Lock"} (L)`,
                      onclick: () => this.view.setLocked([a.id], !locked) }, locked ? "▣" : "□"),
      ] : null);
      row.style.top = `${i * ROW}px`;
      pick.firstChild.style.background = this.colorOf(a.label);
      this.inner.append(row);
    }
  }
}
