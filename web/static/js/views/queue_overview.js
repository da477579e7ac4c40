// The dashboard's "Who holds what" section: the images people hold a lease on now, each
// person's assignment and the priority list (GET /projects/{id}/queue, managers and admins),
// and a small form that assigns the next N new images to a member (GET .../images?status=new,
// then PUT .../assignments, which replaces that member's assignment). Every refusal is shown
// in the API's words.

import { api, request } from "../api.js";
import { h, clear } from "../dom.js";

function short(id) { return id.slice(0, 8); }
function when(iso) { return new Date(iso).toLocaleTimeString(); }

/** Fills ``section`` (a dashboard card); ``load()`` asks the API and draws it. */
export function queueOverviewPanel(section, project) {
  const projectId = project.id;
  const leases = h("div", { id: "queue-leases" });
  const assignments = h("div", { id: "queue-assignments" });
  const message = h("p", { id: "queue-assign-message", class: "muted", role: "status" });
  const who = h("select", { id: "queue-assign-user", "aria-label": "Member" },
    (project.members || []).map((m) => h("option", { value: m.username }, `${m.username} (${m.role})`)));
  const count = h("input", { id: "queue-assign-count", type: "number", value: "5",
                              "aria-label": "How many new images" });
  const form = h("form", { id: "queue-assign-form", class: "inline-form", onsubmit: (e) => { e.preventDefault(); assign(); } },
    h("label", {}, "Assign the next ", count, " new images to ", who),
    h("button", { type: "submit", class: "btn", id: "queue-assign" }, "Assign"));

  section.append(h("h2", { id: "queue-overview-title" }, "Who holds what"),
    h("h3", {}, "Held now"), leases, h("h3", {}, "Assignments"), assignments, form, message);

  function drawLeases(rows) {
    clear(leases);
    if (!rows.length) { leases.append(h("p", { class: "empty" }, "Nobody holds an image now.")); return; }
    leases.append(h("table", { class: "num-table" },
      h("thead", {}, h("tr", {}, ["Image", "Person", "Lease expires"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((l) => h("tr", { class: "queue-lease", dataset: { image: l.image_id, user: l.username } },
        h("td", {}, h("a", { href: `#/images/${l.image_id}`, class: "queue-thumb", "aria-label": `Open image ${short(l.image_id)}` },
          h("img", { src: api.imageUrl(l.image_id), alt: "", loading: "lazy", decoding: "async",
                     style: { width: "64px", height: "48px", objectFit: "cover", verticalAlign: "middle" } })), " ",
          h("a", { href: `#/images/${l.image_id}` }, short(l.image_id))),
        h("td", { class: "lease-user" }, l.username),
        h("td", {}, when(l.expires_at)))))));
  }

  function drawAssignments(rows, priority) {
    clear(assignments);
    if (!rows.length) assignments.append(h("p", { class: "empty" }, "No images are assigned."));
    else assignments.append(h("ul", {}, rows.map((a) => h("li", { class: "queue-assignment", dataset: { user: a.username, count: String(a.image_ids.length) } },
      h("strong", {}, a.username), `: ${a.image_ids.length} image${a.image_ids.length === 1 ? "" : "s"} `,
      ...a.image_ids.slice(0, 12).map((id) => h("a", { href: `#/images/${id}`, class: "queue-assigned-image" }, short(id) + " "))))));
    if (priority.length) assignments.append(h("p", { id: "queue-priority" }, `${priority.length} priority image${priority.length === 1 ? "" : "s"} go first in everyone's queue.`));
  }

  async function load() {
    try {
      const body = await request("GET", `/projects/${projectId}/queue`);
      drawLeases(body.leases);
      drawAssignments(body.assignments, body.priority);
      section.dataset.loaded = "true";
    } catch (e) {
      clear(leases).append(h("p", { class: "m-error", role: "alert" }, `Could not load the queue: ${e.message}`));
      section.dataset.loaded = "error";
    }
  }

  async function assign() {
    message.className = "muted";
    message.textContent = "Assigning…";
    try {
      const n = Number(count.value);
      if (!Number.isInteger(n) || n < 1) throw new Error("give a whole number of images, at least 1");
      const page = await api.images(projectId, { status: "new", limit: n });
      const ids = page.images.map((im) => im.id);
      if (!ids.length) throw new Error("there are no new images to assign");
      const done = await request("PUT", `/projects/${projectId}/assignments`, { username: who.value, image_ids: ids });
      message.textContent = `Assigned ${done.image_ids.length} image${done.image_ids.length === 1 ? "" : "s"} to ${done.username}.`;
      await load();
    } catch (e) {
      message.className = "m-error";
      message.setAttribute("role", "alert");
      message.textContent = `Could not assign: ${e.message}`;
    }
  }

  return { load };
}
