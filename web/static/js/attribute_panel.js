// Per-object attributes on the annotation screen: one form control per attribute of the
// project that applies to the selected shape's class (checkbox, select, text, number), and the
// compact summary the object list shows. A change calls ``onChange({name: value})`` (null: the
// value is removed), which the editor sends as an ``edit`` with ``attributes``, so undo,
// offline and live updates work as for any other edit.

import { h } from "./dom.js";

export function appliesTo(definition, label) {
  return !definition.classes || definition.classes.includes(label);
}

/** The value shown for ``definition`` on a shape: its own, else the attribute's default. */
function shownValue(definition, attributes) {
  if (attributes && definition.name in attributes) return attributes[definition.name];
  return definition.default ?? null;
}

function control(definition, i, value, disabled, onChange) {
  const id = `attr-${i}`;
  const send = (v) => onChange({ [definition.name]: v });
  const label = h("label", { for: id }, definition.name);
  let input;
  if (definition.type === "checkbox") {
    input = h("input", { type: "checkbox", id, checked: value === true, disabled });
    input.addEventListener("change", () => send(input.checked));
    return h("div", { class: "row attr-row attr-checkbox", dataset: { attribute: definition.name } }, input, label);
  }
  if (definition.type === "select") {
    input = h("select", { id, disabled },
      h("option", { value: "", selected: value === null }, "(not set)"),
      definition.values.map((v) => h("option", { value: v, selected: v === value }, v)));
    input.addEventListener("change", () => send(input.value === "" ? null : input.value));
  } else if (definition.type === "number") {
    input = h("input", { type: "number", id, step: "any", value: value === null ? "" : String(value), disabled,
                         class: "attr-number" });
    input.addEventListener("change", () => {
      if (input.value === "") { send(null); return; }
      const n = Number(input.value);
      if (Number.isFinite(n)) send(n);
    });
  } else {
    input = h("input", { type: "text", id, maxlength: 1000, value: value === null ? "" : String(value), disabled,
                         autocomplete: "off" });
    input.addEventListener("change", () => send(input.value === "" ? null : input.value));
  }
  return h("div", { class: "row attr-row", dataset: { attribute: definition.name } }, label, input);
}

/**
 * The attribute controls for one annotation, or null when none of the project's attributes is
 * for its class. Values the shape carries for attributes no longer defined are listed read-only.
 */
export function attributeControls(definitions, ann, { disabled = false, onChange }) {
  const mine = (definitions || []).filter((d) => appliesTo(d, ann.label));
  const known = new Set(mine.map((d) => d.name));
  const others = Object.entries(ann.attributes || {}).filter(([k]) => !known.has(k));
  if (!mine.length && !others.length) return null;
  return h("fieldset", { class: "attr-fields", id: "attribute-panel" },
    h("legend", {}, "Attributes"),
    mine.map((d) => control(d, (definitions || []).indexOf(d), shownValue(d, ann.attributes), disabled, onChange)),
    others.length ? h("p", { class: "muted small" }, `Also: ${summary(Object.fromEntries(others))}`) : null);
}

/** A short text of a shape's attribute values: a ticked checkbox by its name, others as values. */
export function summary(attributes) {
  return Object.entries(attributes || {})
    .filter(([, v]) => v !== false)
    .map(([k, v]) => (v === true ? k : `${k}: ${v}`))
    .join(" · ");
}
