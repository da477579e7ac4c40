// The class mapping of a model: each model class onto one of the project's active classes, or
// "(drop)" (its detections are not proposed). Classes that map onto nothing are highlighted,
// since they are silently missing from every pre-label until someone maps them. Saving sends
// only the classes that changed (PATCH /models/{id} {"class_map": {...}}).

import { api } from "./api.js";
import { h, clear } from "./dom.js";
import { toast } from "./toast.js";

const DROP = "";

/** ``{element, unsaved()}``; ``onSaved(model)`` gets the model as the API answered. */
export function classMapEditor(model, projectClasses, { onSaved }) {
  const active = projectClasses.filter((c) => !c.retired);
  const selects = new Map();
  const status = h("p", { class: "muted small", id: "class-map-status", "aria-live": "polite" });
  const error = h("p", { class: "form-error", id: "class-map-error", role: "alert" });
  const save = h("button", { type: "button", class: "btn btn-primary", id: "class-map-save", disabled: true }, "Save mapping");
  const reset = h("button", { type: "button", class: "btn", id: "class-map-reset", disabled: true }, "Undo changes");
  const byName = h("button", { type: "button", class: "btn", id: "class-map-by-name", disabled: model.retired,
                               title: "Map each dropped class onto the project class of the same name (ignoring case)" }, "Match by name");
  const tbody = h("tbody");

  const current = (cls) => (model.class_map || {})[cls] ?? DROP;

  function changes() {
    const out = {};
    for (const [cls, select] of selects) {
      if (select.value !== current(cls)) out[cls] = select.value === DROP ? null : select.value;
    }
    return out;
  }

  function refresh() {
    let mapped = 0;
    for (const [cls, select] of selects) {
      const dropped = select.value === DROP;
      if (!dropped) mapped += 1;
      const row = select.closest("tr");
      row.classList.toggle("unmapped", dropped);
      row.classList.toggle("changed", select.value !== current(cls));
      row.querySelector(".map-note").textContent = dropped ? "not proposed" : "";
      const colour = active.find((c) => c.name === select.value)?.color;
      const swatch = row.querySelector(".map-swatch");
      swatch.style.background = colour || "transparent";
      swatch.classList.toggle("none", !colour);
    }
    const n = Object.keys(changes()).length;
    save.disabled = n === 0 || model.retired;
    reset.disabled = n === 0;
    const dropped = selects.size - mapped;
    status.textContent = `${mapped} of ${selects.size} model classes mapped`
      + (dropped ? `; ${dropped} dropped (highlighted): their detections are not proposed` : "")
      + (n ? `. ${n} unsaved change${n === 1 ? "" : "s"}.` : ".");
  }

  function rows() {
    clear(tbody);
    selects.clear();
    model.classes.forEach((cls, i) => {
      const id = `map-${i}`;
      const select = h("select", { id, class: "map-select", dataset: { modelClass: cls }, disabled: model.retired },
        h("option", { value: DROP }, "(drop)"),
        active.map((c) => h("option", { value: c.name }, c.name)));
      select.value = current(cls);
      if (select.value !== current(cls)) select.value = DROP; // mapped onto a class retired since
      select.addEventListener("change", () => { error.textContent = ""; refresh(); });
      selects.set(cls, select);
      tbody.append(h("tr", { dataset: { modelClass: cls } },
        h("td", { class: "num muted" }, String(i)),
        h("th", { scope: "row" }, h("label", { for: id }, cls)),
        h("td", {}, h("span", { class: "map-target" }, h("span", { class: "swatch map-swatch", "aria-hidden": "true" }), select)),
        h("td", { class: "map-note small" })));
    });
    refresh();
  }

  save.addEventListener("click", async () => {
    const body = changes();
    if (!Object.keys(body).length) return;
    save.disabled = true;
    error.textContent = "";
    try {
      const answer = await api.changeModel(model.id, { class_map: body });
      model = answer.model;
      rows();
      toast("Class mapping saved.", { kind: "success" });
      onSaved(model);
    } catch (e) {
      error.textContent = `The mapping was not saved: ${e.message}`;
      const field = e.details && e.details.field;
      const cls = field && field.startsWith("class_map.") ? field.slice("class_map.".length) : null;
      if (cls && selects.has(cls)) selects.get(cls).focus();
      refresh();
    }
  });
  reset.addEventListener("click", () => { rows(); error.textContent = ""; });
  byName.addEventListener("click", () => {
    const named = new Map(active.map((c) => [c.name.toLowerCase(), c.name]));
    let found = 0;
    for (const [cls, select] of selects) {
      const target = named.get(cls.toLowerCase());
      if (select.value === DROP && target) { select.value = target; found += 1; }
    }
    refresh();
    status.textContent += found ? "" : " No dropped class has a project class of the same name.";
  });

  rows();
  const element = h("div", { class: "class-map", id: "class-map" },
    active.length ? null : h("p", { class: "notice notice-error" }, "The project has no active classes to map onto."),
    h("div", { class: "table-wrap" }, h("table", { class: "num-table class-map-table", id: "class-map-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "num" }, "#"), h("th", { scope: "col" }, "Model class"),
        h("th", { scope: "col" }, "Project class"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Note")))),
      tbody)),
    status, error, h("div", { class: "page-actions" }, save, reset, byName));
  return { element, unsaved: () => Object.keys(changes()).length > 0 };
}
