// The project list, with each project's progress by image status.

import { api } from "../api.js";
import { h } from "../dom.js";
import { statusBar, STATUSES, STATUS_NAMES } from "../charts.js";

export async function show(main, params, app) {
  app.setCrumbs([["Projects"]]);
  const { projects } = await api.projects();
  const list = h("ul", { class: "project-grid", role: "list" });
  for (const p of projects) {
    const total = p.image_count || STATUSES.reduce((s, k) => s + (p.counts[k] || 0), 0);
    const done = (p.counts.approved || 0);
    const role = app.session.isAdmin ? "admin" : app.session.roleIn(p.id) || "member";
    list.append(h("li", { class: "card project-card", dataset: { project: p.id } },
      h("div", { class: "card-head" },
        h("h2", {}, h("a", { href: `#/projects/${p.id}`, class: "project-link" }, p.name)),
        h("span", { class: `role-badge role-${role}` }, role)),
      h("p", { class: "muted" }, `${total} images · ${p.classes.filter((c) => !c.retired).length} classes · `
        + `${done} approved (${total ? Math.round((done / total) * 100) : 0}%)`),
      statusBar(p.counts, { label: `Progress of ${p.name}` }),
      h("ul", { class: "legend", role: "list" }, STATUSES.map((s) =>
        h("li", { dataset: { status: s } }, h("span", { class: `swatch status-${s}`, "aria-hidden": "true" }),
          `${STATUS_NAMES[s]} `, h("strong", { class: "count" }, String(p.counts[s] || 0))))),
      h("div", { class: "card-actions" },
        h("a", { class: "btn btn-primary", href: `#/projects/${p.id}?next=1` },
          app.session.canReview(p.id) && app.session.roleIn(p.id) === "reviewer" ? "Review next image" : "Label next image"),
        h("a", { class: "btn", href: `#/projects/${p.id}` }, "Work queue"),
        app.session.canManage(p.id) ? h("a", { class: "btn", href: `#/projects/${p.id}/dashboard` }, "Dashboard") : null,
        app.session.canManage(p.id) ? h("a", { class: "btn models-link", href: `#/projects/${p.id}/models` }, "Models") : null,
        app.session.canManage(p.id) ? h("a", { class: "btn settings-link", href: `#/projects/${p.id}/settings` }, "Settings") : null)));
  }
  main.append(h("div", { class: "page" },
    h("div", { class: "page-head" }, h("h1", {}, "Projects"),
      h("p", { class: "muted" }, `Signed in as ${app.session.username}`),
      app.session.isAdmin ? h("div", { class: "page-actions" },
        h("a", { class: "btn btn-primary", href: "#/projects/new", id: "new-project" }, "New project"),
        h("a", { class: "btn", href: "#/users", id: "manage-users" }, "Users")) : null),
    projects.length ? list : h("p", { class: "empty" }, "You are not a member of any project yet.")));
}
