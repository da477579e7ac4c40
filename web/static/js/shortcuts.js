// Keyboard shortcuts: one table drives both the key handling and the "?" help overlay, so the
// overlay can never disagree with what the keys do.

import { h, isTyping } from "./dom.js";

const KEY_NAMES = { ArrowLeft: "←", ArrowRight: "→", ArrowUp: "↑", ArrowDown: "↓", Escape: "Esc",
                    Delete: "Del", Backspace: "⌫", Enter: "Enter", Space: "Space" };

/** "Ctrl+Shift+Z" → matcher. Ctrl also matches ⌘ on macOS. Symbols ignore Shift. */
function split(spec) {
  if (spec === "+") return ["+"];
  if (spec.endsWith("++")) return [...spec.slice(0, -2).split("+"), "+"];
  return spec.split("+");
}

function parse(spec) {
  const parts = split(spec);
  const key = parts.pop();
  const mods = new Set(parts.map((p) => p.toLowerCase()));
  return (e) => {
    const ctrl = e.ctrlKey || e.metaKey;
    if (mods.has("ctrl") !== ctrl || mods.has("alt") !== e.altKey) return false;
    const isLetter = /^[a-z]$/i.test(key);
    if (isLetter || key.length > 1) {
      if (mods.has("shift") !== e.shiftKey) return false;
    }
    const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const want = key.length === 1 ? key.toLowerCase() : key;
    return k === want || (key === "Space" && e.key === " ");
  };
}

export class Shortcuts {
  /**
   * ``entries``: [{keys: ["Ctrl+Z"], group, label, run(e), when?(), hidden?, display?}];
   * ``first(e)``, if given, may claim a key before the table (the active drawing tool does).
   */
  constructor(entries, { first = null } = {}) {
    this.entries = entries.map((e) => ({ ...e, matchers: e.keys.map(parse) }));
    this.first = first;
    this.onKey = (e) => this.handle(e);
    document.addEventListener("keydown", this.onKey);
  }

  destroy() { document.removeEventListener("keydown", this.onKey); }

  handle(e) {
    if (isTyping(e) && e.key !== "Escape") return;
    if (document.querySelector("dialog[open]") && e.key !== "?") return;
    if (this.first && this.first(e)) { e.preventDefault(); return; }
    for (const entry of this.entries) {
      if (entry.when && !entry.when()) continue;
      if (entry.matchers.some((m) => m(e))) {
        if (entry.run(e) !== false) e.preventDefault();
        return;
      }
    }
  }

  /** The help overlay (a modal <dialog>: focus stays inside, Esc closes it). */
  helpDialog() {
    const groups = new Map();
    for (const e of this.entries) {
      if (e.hidden) continue;
      if (!groups.has(e.group)) groups.set(e.group, []);
      groups.get(e.group).push(e);
    }
    const close = h("button", { type: "button", class: "btn", autofocus: true }, "Close");
    const dialog = h("dialog", { class: "help", "aria-labelledby": "help-title" },
      h("div", { class: "help-head" }, h("h2", { id: "help-title" }, "Keyboard shortcuts"), close),
      h("div", { class: "help-grid" }, [...groups].map(([group, list]) =>
        h("section", {}, h("h3", {}, group), h("dl", {}, list.map((e) => [
          h("dt", {}, e.display ? h("kbd", {}, e.display)
            : e.keys.map((k, i) => [i ? " " : "", ...split(k).map((p, j) => [j ? "+" : "", h("kbd", {}, KEY_NAMES[p] || p)])])),
          h("dd", {}, e.label)]))))));
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });
    return dialog;
  }
}
