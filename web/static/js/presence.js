// Other people in an image room: who they are (a colour each), where their cursor is and what
// they have selected. Presence is ephemeral: it is never stored and a silent peer fades out.

import { h, clear } from "./dom.js";
import { outline } from "./selection.js";

// Distinct, readable on the dark stage and on white chips with dark text.
const PALETTE = ["#f97316", "#22c55e", "#06b6d4", "#a855f7", "#eab308", "#ec4899", "#14b8a6",
                 "#84cc16", "#f43f5e", "#3b82f6"];
const STALE_MS = 30000;

/** A user's usual colour (the same on everyone's screen, unless two people would clash). */
export function colorOfUser(name) {
  let hash = 0x811c9dc5; // FNV-1a
  for (const ch of name) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

/** Two letters for an avatar, so that ana and arjun differ: the first letters of the first two
 * parts of a name with separators ("ana.silva" → AS), else its first two letters (AN). */
export function initialsOf(name) {
  const parts = name.split(/[\s._@-]+/u).filter(Boolean);
  const letters = parts.length > 1 ? [...parts[0]].slice(0, 1).concat([...parts[1]].slice(0, 1))
                                   : [...(parts[0] || name)].slice(0, 2);
  return letters.join("").toUpperCase();
}

export class Presence extends EventTarget {
  constructor(me) {
    super();
    this.me = me;
    this.people = new Map(); // username -> {color, cursor, selection, seen}
  }

  setMembers(names) {
    const keep = new Set(names.filter((n) => n !== this.me));
    for (const n of [...this.people.keys()]) if (!keep.has(n)) this.people.delete(n);
    for (const n of keep) this.person(n);
    this.changed(true);
  }

  person(name) {
    let p = this.people.get(name);
    if (!p) {
      // Two people in one room never share a colour on this screen.
      const taken = new Set([colorOfUser(this.me), ...[...this.people.values()].map((q) => q.color)]);
      let color = colorOfUser(name);
      for (let i = PALETTE.indexOf(color); taken.has(color) && taken.size < PALETTE.length; i++) {
        color = PALETTE[(i + 1) % PALETTE.length];
      }
      p = { name, color, cursor: null, selection: [], seen: performance.now() };
      this.people.set(name, p);
    }
    return p;
  }

  joined(name) { if (name !== this.me) { this.person(name); this.changed(true); } }

  left(name) { if (this.people.delete(name)) this.changed(true); }

  update(msg) {
    if (msg.user === this.me) return;
    const p = this.person(msg.user);
    p.cursor = msg.cursor || null;
    p.selection = msg.selection || [];
    p.seen = performance.now();
    this.changed(false);
  }

  changed(membership) {
    this.dispatchEvent(new CustomEvent("change", { detail: { membership } }));
  }

  /** Overlay painter: others' selections (outlined in their colour) and cursors with names. */
  painter(editor) {
    return (ctx, vp) => {
      const now = performance.now();
      let drew = false;
      for (const p of this.people.values()) {
        if (now - p.seen > STALE_MS) continue;
        for (const id of p.selection) {
          const ann = editor.labels.get(id);
          if (ann) { outline(ctx, vp, ann, ann.geometry, p.color, 2.5, editor); drew = true; }
        }
        if (!p.cursor) continue;
        drew = true;
        const [sx, sy] = vp.toScreen(p.cursor.x, p.cursor.y);
        ctx.fillStyle = p.color;
        ctx.strokeStyle = "#111";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(sx, sy);
        ctx.lineTo(sx + 4, sy + 15);
        ctx.lineTo(sx + 7.5, sy + 9.5);
        ctx.lineTo(sx + 14, sy + 9);
        ctx.closePath();
        ctx.fill();
        ctx.stroke();
        ctx.font = "600 11px system-ui, sans-serif";
        const w = ctx.measureText(p.name).width + 10;
        ctx.fillRect(sx + 12, sy + 14, w, 17);
        ctx.fillStyle = "#111";
        ctx.fillText(p.name, sx + 17, sy + 26);
      }
      return drew;
    };
  }

  /** The people chips of the side panel. */
  renderChips(container) {
    clear(container);
    const me = h("li", { class: "person me", title: `${this.me} (you)` },
                 h("span", { class: "avatar", "aria-hidden": "true", dataset: { color: colorOfUser(this.me) } },
                   initialsOf(this.me)), `${this.me} (you)`);
    container.append(me);
    for (const p of this.people.values()) {
      container.append(h("li", { class: "person", dataset: { user: p.name } },
                         h("span", { class: "avatar", "aria-hidden": "true", dataset: { color: p.color } },
                           initialsOf(p.name)), p.name));
    }
    for (const a of container.querySelectorAll(".avatar")) a.style.background = a.dataset.color;
  }
}
