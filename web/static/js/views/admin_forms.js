// What the management screens share: an error box that reads out the API's message and marks
// the field it names, the role names, the "only for managers/admins" notice.

import { h } from "../dom.js";

export const ROLES = ["annotator", "reviewer", "manager"];
export const ANNOTATION_TYPES = ["box", "polygon", "mask", "point", "tag"];
export const TYPE_NAMES = { box: "Boxes", polygon: "Polygons", mask: "Masks", point: "Points", tag: "Tags (whole image)" };

/** A form's error line (role=alert) and how to fill or clear it. ``fields``: a function from the
 * API's ``details.field`` to the input it names (or null). */
export function errorBox(id, fields = () => null) {
  const el = h("p", { class: "form-error", role: "alert", id });
  let marked = [];
  return {
    el,
    clear() {
      el.textContent = "";
      marked.forEach((input) => { input.removeAttribute("aria-invalid"); input.removeAttribute("aria-describedby"); });
      marked = [];
    },
    show(err, prefix = "") {
      this.clear();
      const message = err && err.status === 0 ? "The server cannot be reached; nothing was changed."
        : err && err.status === 403 ? `Not allowed: ${err.message}` : (err && err.message) || String(err);
      el.textContent = prefix ? prefix + message : message.charAt(0).toUpperCase() + message.slice(1);
      const input = err && err.details && err.details.field ? fields(err.details.field) : null;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", id);
        input.focus();
        marked.push(input);
        // Fixing the field takes the complaint away.
        input.addEventListener("input", () => { if (marked.includes(input)) this.clear(); }, { once: true });
      }
    },
  };
}

export function deniedNotice(who, what) {
  return h("div", { class: "page" }, h("h1", {}, what),
    h("div", { class: "notice notice-error", role: "alert", id: "denied" },
      h("strong", {}, `${who} only. `),
      `This screen is for ${who.toLowerCase()}; ask one if something here needs changing.`),
    h("p", {}, h("a", { href: "#/projects" }, "Back to the projects")));
}

/** Checkboxes for the annotation types, in a fieldset with a legend; ``checked``: the set on. */
export function typeChecks(idPrefix, checked) {
  const boxes = ANNOTATION_TYPES.map((t) => h("input", {
    type: "checkbox", id: `${idPrefix}-${t}`, value: t, checked: checked.includes(t) }));
  const fieldset = h("fieldset", { class: "type-checks", id: `${idPrefix}` },
    h("legend", {}, "Annotation types"),
    h("div", { class: "radio-row" }, boxes.map((b) =>
      h("label", { for: b.id, class: "inline-check" }, b, TYPE_NAMES[b.value]))));
  return { fieldset, boxes, selected: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}
