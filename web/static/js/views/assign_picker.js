// Hand-picked assignments (managers, on a project's image grid): a checkbox on each card
// (Shift+click ticks the range from the last one clicked), "Select all on this page", a member
// and Assign, which sends PUT /projects/{id}/assignments with the ticked images in grid order.
// Like the dashboard's "assign the next N" form (queue_overview.js) it replaces what that member
// was assigned before; the answer, or the refusal in the API's words, shows beside the button.

import { request } from "../api.js";
import { h } from "../dom.js";

/** ``{el, decorate(card, image), reset()}``: the bar above ``grid`` and its checkboxes. */
export function assignPicker(project, grid) {
  const picked = new Set();
  let anchor = null; // the image whose box was clicked last: a Shift+click extends from it
  const count = h("span", { id: "pick-count", class: "muted", "aria-live": "polite" }, "No image selected.");
  const who = h("select", { id: "pick-user", "aria-label": "Assign to member" },
    (project.members || []).map((m) => h("option", { value: m.username }, `${m.username} (${m.role})`)));
  const assignBtn = h("button", { type: "button", class: "btn btn-primary", id: "pick-assign", disabled: true,
                                  onclick: () => assign() }, "Assign");
  const message = h("p", { id: "pick-message", class: "muted small", role: "status" });
  const el = h("section", { class: "assign-picker", id: "assign-picker", "aria-label": "Assign hand-picked images" },
    h("div", { class: "row wrap" },
      h("strong", {}, "Assign by hand"),
      h("button", { type: "button", class: "btn btn-small", id: "pick-all", onclick: () => setAll(true) },
        "Select all on this page"),
      h("button", { type: "button", class: "btn btn-small", id: "pick-none", onclick: () => setAll(false) }, "Clear"),
      count,
      h("label", {}, "to ", who), assignBtn),
    message);

  function boxes() { return [...grid.querySelectorAll("input.pick-box")]; }

  function changed() {
    const n = picked.size;
    count.textContent = n ? `${n} image${n === 1 ? "" : "s"} selected.` : "No image selected.";
    assignBtn.disabled = !n;
    for (const b of boxes()) b.closest(".image-card")?.classList.toggle("picked", b.checked);
  }

  function set(box, on) {
    box.checked = on;
    if (on) picked.add(box.dataset.image);
    else picked.delete(box.dataset.image);
  }

  function setAll(on) {
    for (const b of boxes()) set(b, on);
    anchor = null;
    changed();
  }

  function clicked(box, e) {
    const list = boxes();
    const at = list.indexOf(box);
    const from = anchor ? list.findIndex((b) => b.dataset.image === anchor) : -1;
    if (e.shiftKey && from >= 0 && at >= 0) {
      const [lo, hi] = from < at ? [from, at] : [at, from];
      for (const b of list.slice(lo, hi + 1)) set(b, box.checked);
    } else {
      set(box, box.checked);
    }
    anchor = box.dataset.image;
    changed();
  }

  function decorate(card, image) {
    const box = h("input", { type: "checkbox", class: "pick-box", dataset: { image: image.id },
                             "aria-label": `Select ${image.file_name}` });
    box.checked = picked.has(image.id);
    box.addEventListener("click", (e) => clicked(box, e));
    card.classList.add("pickable");
    card.prepend(box);
  }

  async function assign() {
    const ids = boxes().filter((b) => b.checked).map((b) => b.dataset.image);
    for (const id of picked) if (!ids.includes(id)) ids.push(id); // ticked, then filtered away
    message.className = "muted small";
    message.setAttribute("role", "status");
    message.textContent = "Assigning…";
    try {
      const done = await request("PUT", `/projects/${project.id}/assignments`, { username: who.value, image_ids: ids });
      const n = done.image_ids.length;
      message.textContent = `Assigned ${n} image${n === 1 ? "" : "s"} to ${done.username}: they come first in their queue.`;
      setAll(false);
    } catch (e) {
      message.className = "m-error small";
      message.setAttribute("role", "alert");
      message.textContent = `Could not assign: ${e.message}`;
    }
  }

  return { el, decorate, reset: () => { anchor = null; changed(); } };
}
