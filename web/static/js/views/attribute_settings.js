// Project settings, "Attributes": the per-object attributes annotators set on each shape
// (occluded, truncated, colour...). Listed with a Remove button each, and added with a small
// form (name, type, the values of a select, an optional default, the classes it is for: none
// ticked means every class). Every change sends the whole new list (PATCH /projects/{id}
// {"attributes": [...]}); values already on shapes stay on them and in exports.

import { h, clear } from "../dom.js";
import { toast } from "../toast.js";
import { errorBox } from "./admin_forms.js";

const TYPE_NAMES = { checkbox: "Checkbox", select: "Select (one of a list)", text: "Text", number: "Number" };

function describe(d) {
  const parts = [];
  if (d.type === "select") parts.push(d.values.join(", "));
  if (d.default !== undefined) parts.push(`default ${JSON.stringify(d.default)}`);
  return parts.join("; ");
}

/** A default typed into the form, as a value of the attribute's type (undefined: none). */
function parseDefault(type, text) {
  const t = text.trim();
  if (!t) return undefined;
  if (type === "checkbox") return ["true", "yes", "1", "on", "checked"].includes(t.toLowerCase());
  if (type === "number") return Number(t);
  return t;
}

/**
 * The section; ``patch(body, errorBox, prefix)`` sends a PATCH and answers whether it was
 * recorded; ``current()`` is the project as last answered.
 */
export function attributeSection(current, patch) {
  const rows = h("tbody", { id: "attribute-rows" });
  const listError = errorBox("settings-attribute-error");
  const render = () => {
    clear(rows);
    const defs = current().attributes || [];
    if (!defs.length) rows.append(h("tr", {}, h("td", { colspan: "5", class: "muted" }, "No attributes yet.")));
    defs.forEach((d) => {
      rows.append(h("tr", { dataset: { attribute: d.name } },
        h("th", { scope: "row" }, d.name),
        h("td", {}, TYPE_NAMES[d.type] || d.type),
        h("td", {}, describe(d)),
        h("td", {}, d.classes ? d.classes.join(", ") : h("span", { class: "muted" }, "every class")),
        h("td", {}, h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Remove attribute ${d.name}`,
          onclick: async () => {
            if (!confirm(`Remove the attribute “${d.name}”? Values already set stay on their shapes and in exports.`)) return;
            const rest = (current().attributes || []).filter((x) => x.name !== d.name);
            if (await patch({ attributes: rest }, listError, `${d.name} was not removed: `)) {
              render();
              toast(`Attribute ${d.name} removed`, { kind: "success" });
              nameIn.focus();
            }
          } }, "Remove"))));
    });
  };

  const nameIn = h("input", { id: "add-attribute-name", maxlength: 64, autocomplete: "off" });
  const typeIn = h("select", { id: "add-attribute-type" },
    Object.entries(TYPE_NAMES).map(([v, text]) => h("option", { value: v }, text)));
  const valuesIn = h("input", { id: "add-attribute-values", autocomplete: "off", placeholder: "red, green, blue" });
  const valuesRow = h("div", { class: "inline-form", hidden: true },
    h("label", { for: valuesIn.id }, "Values (comma-separated)"), valuesIn);
  const defaultIn = h("input", { id: "add-attribute-default", autocomplete: "off" });
  const classBoxes = (current().classes || []).filter((c) => !c.retired).map((c, i) =>
    h("input", { type: "checkbox", id: `add-attribute-class-${i}`, value: c.name }));
  typeIn.addEventListener("change", () => { valuesRow.hidden = typeIn.value !== "select"; });
  const addError = errorBox("settings-add-attribute-error", (f) => {
    if (f.endsWith(".values")) return valuesIn;
    if (f.endsWith(".default")) return defaultIn;
    if (f.endsWith(".type")) return typeIn;
    return nameIn;
  });
  const form = h("form", { id: "add-attribute-form" },
    h("div", { class: "inline-form" },
      h("label", { for: nameIn.id }, "New attribute"), nameIn,
      h("label", { for: typeIn.id }, "Type"), typeIn),
    valuesRow,
    h("div", { class: "inline-form" }, h("label", { for: defaultIn.id }, "Default (optional)"), defaultIn),
    h("fieldset", { class: "type-checks", id: "add-attribute-classes" },
      h("legend", {}, "For the classes (none ticked: every class)"),
      h("div", { class: "radio-row" }, classBoxes.map((b) =>
        h("label", { for: b.id, class: "inline-check" }, b, b.value)))),
    h("button", { type: "submit", class: "btn" }, "Add attribute"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = nameIn.value.trim();
    if (!name) { addError.show({ message: "type the new attribute's name", details: { field: "attributes.name" } }); return; }
    const def = { name, type: typeIn.value };
    if (def.type === "select") def.values = valuesIn.value.split(",").map((v) => v.trim()).filter(Boolean);
    const dflt = parseDefault(def.type, defaultIn.value);
    if (dflt !== undefined) def.default = dflt;
    const classes = classBoxes.filter((b) => b.checked).map((b) => b.value);
    if (classes.length) def.classes = classes;
    if (await patch({ attributes: [...(current().attributes || []), def] }, addError, `${name} was not added: `)) {
      render();
      nameIn.value = valuesIn.value = defaultIn.value = "";
      typeIn.value = "checkbox";
      valuesRow.hidden = true;
      classBoxes.forEach((b) => { b.checked = false; });
      nameIn.focus();
      toast(`Attribute ${name} added`, { kind: "success" });
    }
  });
  render();
  return h("section", { class: "card settings-card", "aria-labelledby": "settings-attributes-h", id: "settings-attributes" },
    h("h2", { id: "settings-attributes-h" }, "Attributes"),
    h("p", { class: "field-hint" }, "Per-object attributes annotators set on each shape (e.g. occluded, colour). " +
      "Removing one keeps the values already set on shapes and in exports."),
    h("table", { class: "num-table", id: "attribute-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Attribute"), h("th", { scope: "col" }, "Type"),
        h("th", { scope: "col" }, "Values"), h("th", { scope: "col" }, "Classes"),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
      rows),
    listError.el, form, addError.el);
}
