// A project's work queue: "next image" from the server's queue (POST .../queue/next: each
// person is handed a different image under a lease; annotators label, reviewers review), the
// images filtered by status, and live status changes from the project's room.
import { api } from "../api.js";
import { h, clear, formatTime } from "../dom.js";

function labelCount(n) { return `${n} label${n === 1 ? "" : "s"}`; }

function shortTime(iso) {
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
               : d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}
import { STATUSES, STATUS_NAMES, statusBar } from "../charts.js";
import { toast } from "../toast.js";
import { STRATEGIES } from "../model_scoring.js";
import { uploadPanel } from "./upload.js";
import { assignPicker } from "./assign_picker.js";

const PAGE = 60;

/** The queue a user works from: "review" for reviewers, "label" for everyone else. */
export function queueKind(session, projectId) {
  return session.roleIn(projectId) === "reviewer" ? "review" : "label";
}

// The lease the queue handed out for each image (its expiry), for the annotate view.
const leases = new Map();
/** When the caller's lease on ``imageId`` ends, if the queue handed it to them here. */
export function leaseOf(imageId) { return leases.get(imageId) || null; }

/** The order a person chose for a project's label queue: {order, model_id, strategy?}
 * (default order unless they picked "Most informative first"; the strategy, margin unless they
 * chose another). Kept in this browser. */
export function queueOrder(projectId) {
  try {
    const saved = JSON.parse(localStorage.getItem(`lw.queueOrder.${projectId}`) || "null");
    if (saved && saved.order === "selection" && saved.model_id) {
      const known = STRATEGIES.some(([v]) => v === saved.strategy);
      return known ? saved : { order: "selection", model_id: saved.model_id };
    }
  } catch { /* a damaged entry means the default */ }
  return { order: "default" };
}
function setQueueOrder(projectId, choice) {
  localStorage.setItem(`lw.queueOrder.${projectId}`, JSON.stringify(choice));
}

/** The next image of ``kind`` the server's queue hands the caller (under a lease), giving
 * ``skip`` (the image being left) back first; null when none is left. */
export async function nextImage(projectId, kind, skip = null) {
  const body = { queue: kind };
  if (skip) body.skip = skip;
  if (kind === "label") Object.assign(body, queueOrder(projectId));
  let handed;
  try {
    handed = await api.queueNext(projectId, body);
  } catch (e) {
    if (e.details && e.details.field === "model_id" && body.order === "selection") {
      setQueueOrder(projectId, { order: "default" });  // the model went away: default order
      return nextImage(projectId, kind, skip);
    }
    throw e;
  }
  if (!handed) return null;
  leases.set(handed.image.id, handed.lease.expires_at);
  return handed.image;
}

/** Open the next image; ``replace``: instead of the current history entry (so Back does not
 * land on a "next image" link that would forward again). */
export async function goToNext(app, projectId, kind, exclude = null, { replace = false } = {}) {
  let next;
  try {
    next = await nextImage(projectId, kind, exclude);
  } catch (e) {
    toast(`No next image: ${e.message}`, { kind: "error" });
    return null;
  }
  if (!next) {
    toast(kind === "review" ? "Nothing is waiting for review." : "No images left to label. Nice work!", { kind: "success" });
    app.navigate(`#/projects/${projectId}`, { replace });
    return null;
  }
  app.navigate(`#/images/${next.id}`, { replace });
  return next;
}

/** "Most informative first": offered when a score job has scored the project's images with a
 * model (its ranking orders the new images). */
async function orderChoice(projectId) {
  let jobs;
  try { jobs = (await api.jobs(projectId)).jobs; } catch { return null; }
  const scored = [...new Set(jobs.filter((j) => j.type === "score" && j.state === "done").map((j) => j.model_id))];
  if (!scored.length) return null;
  const current = queueOrder(projectId);
  const select = h("select", { id: "queue-order", "aria-label": "Order of the next images" },
    h("option", { value: "" }, "Project order"),
    h("option", { value: scored[0] }, "Most informative first"));
  select.value = current.order === "selection" && scored.includes(current.model_id) ? current.model_id : "";
  // Which ranking "most informative" means (GET .../selection's strategies), remembered too.
  const strategy = h("select", { id: "queue-strategy", "aria-label": "Ranking of the most informative images" },
    STRATEGIES.map(([v, t, why]) => h("option", { value: v, title: why }, t)));
  strategy.value = current.strategy || "margin";
  const strategyLabel = h("label", {}, strategy);
  const save = () => {
    strategyLabel.hidden = !select.value;
    setQueueOrder(projectId, select.value
      ? { order: "selection", model_id: select.value, strategy: strategy.value } : { order: "default" });
  };
  strategyLabel.hidden = !select.value;
  select.addEventListener("change", save);
  strategy.addEventListener("change", save);
  return h("span", { class: "queue-order muted small" },
    h("label", {}, "Order ", select), " ", strategyLabel);
}

export async function show(main, [projectId], app, query) {
  const project = await api.project(projectId);
  const kind = queueKind(app.session, projectId);
  if (query.get("next")) {
    const found = await goToNext(app, projectId, kind, null, { replace: true });
    if (found) return null;
  }
  app.setCrumbs([["Projects", "#/projects"], [project.name]]);
  let filter = query.get("status") || "";
  let cursor = null;
  const counts = { ...project.counts };
  const rows = new Map();

  const bar = h("div", { class: "queue-bar" });
  const grid = h("ul", { class: "image-grid", role: "list", "aria-live": "polite" });
  const more = h("button", { type: "button", class: "btn", hidden: true }, "Load more");
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Filter by status" });
  // Managers tick images on the grid and assign them to a member (views/assign_picker.js).
  const picker = app.session.canManage(projectId) ? assignPicker(project, grid) : null;

  function renderCounts() {
    clear(bar).append(statusBar(counts, { label: `Progress of ${project.name}` }));
    clear(chips);
    for (const s of ["", ...STATUSES]) {
      const n = s ? counts[s] || 0 : STATUSES.reduce((t, k) => t + (counts[k] || 0), 0);
      chips.append(h("button", { type: "button", class: `chip${s ? ` chip-${s}` : ""}`,
                                 "aria-pressed": String(filter === s), dataset: { status: s || "all" },
                                 onclick: () => { filter = s; load(true); renderCounts(); } },
                     s ? STATUS_NAMES[s] : "All", h("span", { class: "chip-count" }, String(n))));
    }
  }

  function card(im) {
    const el = h("li", { class: "image-card", dataset: { image: im.id, status: im.status } },
      h("a", { href: `#/images/${im.id}`, class: "thumb", "aria-label": `Open ${im.file_name}` },
        h("img", { src: api.imageUrl(im.id), alt: "", loading: "lazy", decoding: "async" })),
      h("div", { class: "image-meta" },
        h("a", { href: `#/images/${im.id}`, class: "file-name" }, im.file_name),
        h("span", { class: `status-badge status-${im.status}` }, STATUS_NAMES[im.status] || im.status)),
      h("div", { class: "image-sub muted" },
        h("span", { class: "ann-count" }, labelCount(im.annotation_count)), " · ",
        h("time", { datetime: im.updated_at, title: formatTime(im.updated_at) }, shortTime(im.updated_at)), " · ",
        h("a", { href: `#/images/${im.id}/history` }, "history")));
    rows.set(im.id, el);
    if (picker) picker.decorate(el, im);
    showRejection(el, im.id, im.status);
    return el;
  }

  // A rejected image's card shows the reviewer's comment (GET /images/{id} → review) until the
  // image is submitted again.
  function showRejection(el, imageId, status, position = null) {
    el.querySelector(".card-review")?.remove();
    if (status !== "rejected") return;
    api.image(imageId, position).then((fresh) => {
      const r = fresh.review;
      if (!r || r.verdict !== "reject" || el.dataset.status !== "rejected") return;
      el.append(h("p", { class: "card-review small", title: `Rejected by ${r.by}` },
        h("strong", {}, `${r.by}: `), r.comment ? h("q", {}, r.comment) : "rejected, no comment"));
    }).catch(() => {});
  }

  async function load(reset) {
    if (reset) { cursor = null; clear(grid); rows.clear(); }
    const page = await api.images(projectId, { status: filter || undefined, limit: PAGE, cursor: cursor || undefined });
    for (const im of page.images) grid.append(card(im));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    if (!grid.children.length) grid.append(h("li", { class: "empty" }, "No images with this status."));
    if (picker) picker.reset();
  }
  more.addEventListener("click", () => load(false));

  const nextLabel = kind === "review" ? "Review next submitted image" : "Label next image";
  const actions = h("div", { class: "page-actions" },
    h("button", { type: "button", class: "btn btn-primary", id: "next-image",
                  onclick: () => goToNext(app, projectId, kind) }, nextLabel),
    kind === "label" ? await orderChoice(projectId) : null,
    kind === "label" && app.session.canReview(projectId)
      ? h("button", { type: "button", class: "btn", onclick: () => goToNext(app, projectId, "review") }, "Review next submitted image")
      : null,
    app.session.canManage(projectId) ? h("a", { class: "btn", href: `#/projects/${projectId}/dashboard` }, "Dashboard") : null,
    app.session.canManage(projectId) ? h("a", { class: "btn", id: "models-link", href: `#/projects/${projectId}/models` }, "Models") : null);

  // Managers add images (drop, folders) and import predictions here (views/upload.js).
  const total = STATUSES.reduce((t, k) => t + (counts[k] || 0), 0);
  const upload = app.session.canManage(projectId) ? uploadPanel(project, { open: total === 0, onChanged: async () => {
    Object.assign(counts, (await api.project(projectId)).counts);
    renderCounts();
    await load(true);
  } }) : null;
  main.append(h("div", { class: "page" },
    h("div", { class: "page-head" }, h("h1", {}, project.name), actions),
    upload, bar, chips, picker ? picker.el : null, grid, h("div", { class: "center" }, more)));
  renderCounts();
  await load(true);

  // Live: statuses and counts change as people work.
  const room = `project:${projectId}`;
  app.socket.join(room, (m) => {
    if (m.op === "joined" && m.counts) { Object.assign(counts, m.counts); renderCounts(); }
    if (m.op !== "image_changed") return;
    if (m.previous_status !== m.status) {
      if (m.previous_status) counts[m.previous_status] = Math.max(0, (counts[m.previous_status] || 0) - 1);
      counts[m.status] = (counts[m.status] || 0) + 1;
      renderCounts();
    }
    const el = rows.get(m.image_id);
    if (el) {
      el.dataset.status = m.status;
      const badge = el.querySelector(".status-badge");
      badge.className = `status-badge status-${m.status}`;
      badge.textContent = STATUS_NAMES[m.status] || m.status;
      el.querySelector(".ann-count").textContent = labelCount(m.annotation_count);
      if (m.previous_status !== m.status) showRejection(el, m.image_id, m.status, m.position);
    }
  });
  return () => app.socket.leave(room);
}
