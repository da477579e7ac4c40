// Create a project (admins): a name, its classes with colours, the annotation types allowed.
// POST /projects; the creator becomes the project's manager and lands on its settings.

import { request } from "../api.js";
import { h } from "../dom.js";
import { deniedNotice, errorBox, typeChecks, ANNOTATION_TYPES } from "./admin_forms.js";

const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"];

export async function show(main, params, app) {
  app.setCrumbs([["Projects", "#/projects"], ["New project"]]);
  if (!app.session.isAdmin) {
    main.append(deniedNotice("Admins", "New project"));
    return;
  }
  const name = h("input", { id: "new-project-name", name: "name", required: true, maxlength: 200, autocomplete: "off" });
  const rows = h("ol", { class: "class-rows", id: "new-classes", role: "list" });
  let counter = 0;
  const addRow = (focus = true) => {
    const n = counter++;
    const nameIn = h("input", { id: `new-class-${n}`, class: "class-name-input", required: true, maxlength: 100, autocomplete: "off" });
    const colorIn = h("input", { type: "color", id: `new-class-color-${n}`, class: "class-color-input",
                                 value: PALETTE[rows.children.length % PALETTE.length] });
    const li = h("li", { class: "class-row" },
      h("label", { for: nameIn.id }, `Class ${rows.children.length + 1}`), nameIn,
      h("label", { for: colorIn.id, class: "visually-hidden" }, "Colour"), colorIn,
      h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": "Remove this class",
        onclick: () => {
          if (rows.children.length === 1) return;
          li.remove();
          renumber();
          rows.querySelector("input").focus();
        } }, "Remove"));
    rows.append(li);
    if (focus) nameIn.focus();
  };
  const renumber = () => [...rows.children].forEach((li, i) => { li.querySelector("label").textContent = `Class ${i + 1}`; });
  addRow(false);
  const types = typeChecks("new-types", ANNOTATION_TYPES);
  const fieldFor = (field) => {
    if (field === "name") return name;
    if (field === "annotation_types") return types.boxes[0];
    const m = /^classes\[(\d+)\](\.(name|color))?/.exec(field);
    if (m) {
      const li = rows.children[Number(m[1])];
      return li ? li.querySelector(m[3] === "color" ? ".class-color-input" : ".class-name-input") : null;
    }
    return field === "classes" ? rows.querySelector(".class-name-input") : null;
  };
  const error = errorBox("new-project-error", fieldFor);
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "create-project" }, "Create project");
  const form = h("form", { class: "card admin-form", id: "new-project-form", "aria-labelledby": "new-project-title", novalidate: true },
    h("div", { class: "field" }, h("label", { for: name.id }, "Project name"), name),
    h("fieldset", {}, h("legend", {}, "Classes"),
      h("p", { class: "field-hint" }, "Each class gets a colour on the canvas; classes can be added or retired later, never deleted."),
      rows,
      h("button", { type: "button", class: "btn btn-small", id: "add-class-row", onclick: () => addRow() }, "Add a class")),
    types.fieldset,
    error.el,
    h("div", { class: "page-actions" }, submit, h("a", { class: "btn", href: "#/projects" }, "Cancel")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.clear();
    const classes = [...rows.children].map((li) => ({
      name: li.querySelector(".class-name-input").value.trim(),
      color: li.querySelector(".class-color-input").value }));
    if (!types.selected().length) {
      error.show({ message: "choose at least one annotation type", details: { field: "annotation_types" } });
      return;
    }
    submit.disabled = true;
    try {
      const project = await request("POST", "/projects", { name: name.value, classes, annotation_types: types.selected() });
      await app.session.refresh();
      app.navigate(`#/projects/${project.id}/settings?created=1`);
    } catch (err) {
      // "classes[1].name must be…" → "class 2's name must be…" (the rows are numbered from 1).
      const message = String(err.message || "").replace(/classes\[(\d+)\](?:\.(\w+))?/g,
        (_, i, part) => `class ${Number(i) + 1}${part ? `'s ${part === "color" ? "colour" : part}` : ""}`);
      error.show({ status: err.status, message, details: err.details }, "The project was not created: ");
      submit.disabled = false;
    }
  });
  main.append(h("div", { class: "page page-narrow" },
    h("div", { class: "page-head" }, h("h1", { id: "new-project-title" }, "New project"),
      h("p", { class: "muted" }, "You become its manager; add members on the next screen.")),
    form));
  name.focus();
}
