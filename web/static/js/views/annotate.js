// The annotation screen: toolbar, canvas stage, side panel and the keyboard workflow.

import { api } from "../api.js";
import { h, clear } from "../dom.js";
import { AnnotationEditor } from "../editor.js";
import { ImageSync } from "../image_sync.js";
import { Presence } from "../presence.js";
import { ObjectList } from "../object_list.js";
import { attributeControls } from "../attribute_panel.js";
import { Shortcuts } from "../shortcuts.js";
import { STATUS_NAMES } from "../charts.js";
import { toast } from "../toast.js";
import { goToNext, leaseOf, queueKind } from "./queue.js";
import { loadPicture } from "../picture.js";
import { annotationKeys } from "./annotate_keys.js";
import { confirmUndecided, undecidedPrelabels } from "../submit_confirm.js";
import { noteVisit, takePrevious } from "../visit_history.js";
import { duplicateShapes } from "../shape_clipboard.js";
import { offlineBanner } from "../offline_banner.js";
import { ConflictBanner } from "../conflict_banner.js";
import { keepImage, keptImage, orKept } from "../offline_image.js";

// Review holds (issue 12): these statuses are read-only to annotators until reopened.
const HELD = ["submitted", "approved"];

const TOOLS = [
  ["select", "Select", "V", "Select, move and resize"],
  ["box", "Box", "B", "Draw a box: drag; keyboard: arrows move the cursor, Enter at two corners"],
  ["polygon", "Polygon", "P", "Draw a polygon: click the corners, Enter or click the first point to close; keyboard: arrows, Enter adds a corner, Shift+Enter closes"],
  ["point", "Point", "O", "Place a point: click; keyboard: arrows, Enter"],
  ["extreme", "Extreme points", "E", "Click the left-, top-, right- and bottom-most points; the box is made for you"],
  ["assist", "Assist", "M", "Click the object (right/Alt: not the object), four extreme points or a box; a mask is proposed; Enter accepts"],
  ["brush", "Brush", "D", "Paint the selected mask, or a new mask ([ and ]: size)"],
  ["eraser", "Eraser", "X", "Erase from the selected mask ([ and ]: size)"],
];

export async function show(main, [imageId], app) {
  // Everything that does not depend on another answer is asked for at once.
  // A reload without the server shows what this tab kept of the image (offline_image.js).
  const kept = keptImage(app.session.username, imageId);
  const annotationsPromise = orKept(api.annotations(imageId), kept && kept.snapshot);
  annotationsPromise.catch(() => {});
  const picture = loadPicture(api.imageUrl(imageId));
  picture.catch(() => {});
  const image = await orKept(api.image(imageId), kept && kept.image);
  const project = await orKept(api.project(image.project_id), kept && kept.project);
  const role = app.session.isAdmin ? "admin" : app.session.roleIn(project.id);
  const canReview = app.session.canReview(project.id);
  // Annotators may not change a submitted or approved image; reviewers and managers may fix a
  // submitted one while reviewing, but an approved one is reopened first (no stray changes).
  const isHeld = (st) => st === "approved" || (!canReview && HELD.includes(st));
  const kind = queueKind(app.session, project.id);
  app.setCrumbs([["Projects", "#/projects"], [project.name, `#/projects/${project.id}`], [image.file_name]]);
  noteVisit(imageId);

  // -- layout ---------------------------------------------------------------------------------
  const stage = h("div", { class: "stage", id: "stage", tabindex: "0", role: "application",
                           "aria-label": `Image ${image.file_name}. Press question mark for keyboard shortcuts.` });
  const toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Annotation tools" });
  const side = h("aside", { class: "side", "aria-label": "Labels and actions" });
  const statusline = h("div", { class: "statusline", role: "status" });
  const workspace = h("div", { class: "workspace" }, toolbar, stage, side, statusline);
  main.append(workspace);

  const editor = new AnnotationEditor(stage, { image, project, outbox: app.outbox,
                                               username: app.session.username,
                                               readOnly: !role || isHeld(image.status) });
  const presence = new Presence(app.session.username);
  editor.renderer.painters.push(presence.painter(editor));
  const sync = new ImageSync({ imageId, labels: editor.labels, socket: app.socket, outbox: app.outbox, presence });
  app.editor = editor; // for tests and the benchmark
  app.presence = presence;

  // The image and the labels load side by side.
  const imageReady = picture.then((pic) => editor.renderer.setImage(pic, image.width, image.height));
  await sync.load(image.status, annotationsPromise);
  await imageReady.catch(() => toast("The image could not be loaded.", { kind: "error" }));
  const keep = () => keepImage(app.session.username, { image: { ...image, status: editor.labels.status }, project,
    snapshot: { version: editor.labels.version, position: editor.labels.position, status: editor.labels.status,
                annotations: [...editor.labels.confirmed.values()] } });
  keep();
  window.addEventListener("pagehide", keep);

  // -- toolbar --------------------------------------------------------------------------------
  const toolButtons = new Map();
  for (const [name, title, key, help] of TOOLS) {
    const b = h("button", { type: "button", class: "tool", dataset: { tool: name }, title: `${help} (${key})`,
                            "aria-pressed": String(name === "select"), "aria-keyshortcuts": key,
                            onclick: () => editor.setTool(name) },
                h("span", { class: `tool-icon icon-${name}`, "aria-hidden": "true" }), h("span", {}, title),
                h("kbd", {}, key));
    if (!role && name !== "select") b.disabled = true;
    toolButtons.set(name, b);
  }
  const zoomText = h("output", { class: "zoom-text", "aria-label": "Zoom" }, "100%");
  const undoBtn = h("button", { type: "button", class: "tool icon-only", title: "Undo (Ctrl+Z)", "aria-label": "Undo",
                                onclick: () => doUndo() }, "↶");
  const redoBtn = h("button", { type: "button", class: "tool icon-only", title: "Redo (Ctrl+Shift+Z)", "aria-label": "Redo",
                                onclick: () => doRedo() }, "↷");
  const opacity = h("input", { type: "range", id: "mask-opacity", min: "0", max: "1", step: "0.05",
                               value: String(editor.renderer.options.maskOpacity) });
  opacity.addEventListener("input", () => {
    editor.renderer.options.maskOpacity = Number(opacity.value);
    editor.renderer.invalidateLabels();
  });
  const namesToggle = h("input", { type: "checkbox", id: "show-names", checked: true });
  namesToggle.addEventListener("change", () => {
    editor.renderer.options.showLabels = namesToggle.checked;
    editor.renderer.invalidateLabels();
  });
  const help = new Shortcuts(annotationKeys({
    editor, stage, canEdit: Boolean(role),
    act: { pickClass, nextPrelabel, acceptAbove, cycle, arrow, undo: doUndo, redo: doRedo,
           stepOpacity, submit, nextImage: () => goToNext(app, project.id, kind, imageId), previousImage,
           history: () => app.navigate(`#/images/${imageId}/history`),
           toggleHelp: () => (helpDialog.open ? helpDialog.close() : helpDialog.showModal()) },
  }), { first: (e) => !e.ctrlKey && !e.metaKey
    && ((onStage() && editor.keyDraw.key(e)) || ((e.key !== "Enter" || onStage()) && editor.tool.key(e))) });
  // Enter on a focused button presses it; the drawing tools (and the keyboard's drawing cursor,
  // keyboard_drawing.js) get it on the canvas only.
  function onStage() { return document.activeElement === stage || document.activeElement === document.body; }
  const helpDialog = help.helpDialog();
  main.append(helpDialog);
  const toolOptions = h("div", { class: "tool-options-slot" });
  function showToolOptions(name) {
    const tool = editor.tools[name];
    toolOptions.replaceChildren(...(tool.options ? [tool.options()] : []));
    if (name === "assist") editor.tools.assist.loadModels();
  }
  toolbar.append(
    h("div", { class: "tool-group" }, [...toolButtons.values()]),
    toolOptions,
    h("div", { class: "tool-group" },
      h("button", { type: "button", class: "tool icon-only", title: "Zoom out (-)", "aria-label": "Zoom out", onclick: () => editor.zoomOut() }, "−"),
      zoomText,
      h("button", { type: "button", class: "tool icon-only", title: "Zoom in (+)", "aria-label": "Zoom in", onclick: () => editor.zoomIn() }, "+"),
      h("button", { type: "button", class: "tool", title: "Fit the image (F)", onclick: () => editor.fit() }, "Fit"),
      h("button", { type: "button", class: "tool", title: "Actual size, 1:1 (0)", onclick: () => editor.actualSize() }, "1:1")),
    h("div", { class: "tool-group" }, undoBtn, redoBtn),
    h("div", { class: "tool-group right" },
      h("a", { class: "tool", href: `#/images/${imageId}/history` }, "History"),
      h("button", { type: "button", class: "tool icon-only", title: "Keyboard shortcuts (?)", "aria-label": "Keyboard shortcuts",
                    onclick: () => helpDialog.showModal() }, "?")));

  // -- side panel -----------------------------------------------------------------------------
  const statusBadge = h("span", { class: "status-badge", id: "image-status" });
  const versionText = h("span", { class: "muted", id: "image-version" });
  // Review holds: the banner annotators see on a held image, and the review round's comments
  // (a rejection's, a reopening's) pinned until the image is submitted again.
  const holdBanner = h("div", { class: "hold-banner", id: "review-hold", role: "status", hidden: true });
  const reviewNote = h("div", { class: "review-note", id: "review-note", role: "note", hidden: true });
  // Outages and lost edits (issue 12): the offline banner, a conflict's banner, the submit's state.
  const offline = offlineBanner(app.socket, app.outbox);
  const conflict = new ConflictBanner();
  const submitState = h("p", { class: "submit-state", id: "submit-state", role: "status", "aria-live": "polite" });
  let destroyed = false;
  let submitting = false; // a submit is on its way: the button waits for its answer
  let reviewRound = { review: image.review || null, reopened: image.reopened || null };
  let roundStatus = image.status;
  const people = h("ul", { class: "people", role: "list", "aria-label": "People on this image" });
  const classList = h("div", { class: "class-list", role: "group", "aria-label": "Class for new labels" });
  const selectedBox = h("div", { class: "selected-box", id: "selected" });
  const prelabelBox = h("div", { class: "prelabel-box" });
  const tagBox = h("div", { class: "tag-box" });
  const objectCount = h("span", { class: "muted" });
  const objects = new ObjectList({
    colorOf: (l) => editor.colorOf(l), view: editor.view,
    onPick: (id, e) => {
      editor.select(e.shiftKey ? [...editor.selection, id] : [id]);
      editor.reveal(id);
    },
  });
  const workBox = h("div", { class: "work-box" });
  // The panels scroll; the submit / review box below them does not, so it never covers them.
  side.classList.add("side-split");
  side.append(h("div", { class: "side-scroll" },
    h("section", { class: "panel image-panel" },
      h("h2", { class: "file-title", title: image.file_name }, image.file_name),
      h("div", { class: "row" }, statusBadge, versionText), offline, conflict.el, holdBanner, reviewNote, people),
    h("section", { class: "panel" }, h("h3", {}, "Class"), classList),
    h("section", { class: "panel" }, h("h3", {}, "Selection"), selectedBox),
    h("section", { class: "panel" }, h("h3", {}, "Pre-labels"), prelabelBox),
    h("section", { class: "panel" }, h("h3", {}, "Tags"), tagBox),
    h("section", { class: "panel grow" }, h("h3", {}, "Objects ", objectCount), objects.el)),
    h("section", { class: "panel side-footer" }, workBox));

  const classButtons = new Map();
  editor.classes.forEach((name, i) => {
    const b = h("button", { type: "button", class: "class-btn", dataset: { label: name },
                            "aria-pressed": String(name === editor.currentLabel),
                            onclick: () => pickClass(name) },
      h("span", { class: "swatch", "aria-hidden": "true" }), h("span", { class: "class-name" }, name),
      h("span", { class: "class-count muted" }, "0"), i < 9 ? h("kbd", {}, String(i + 1)) : null);
    b.querySelector(".swatch").style.background = editor.colorOf(name);
    classButtons.set(name, b);
    classList.append(b);
  });

  // The threshold in steps of 0.01: a slider and, beside it, a number field kept in step.
  const threshold = h("input", { type: "range", id: "accept-threshold", min: "0", max: "1", step: "0.01", value: "0.8",
                                 "aria-label": "Score threshold (slider)" });
  const thresholdText = h("input", { type: "number", id: "accept-threshold-value", class: "threshold-value", min: "0",
                                     max: "1", step: "0.01", value: "0.80", "aria-label": "Score threshold" });
  const acceptAllBtn = h("button", { type: "button", class: "btn btn-small", id: "accept-above" });
  const nextPrelabelBtn = h("button", { type: "button", class: "btn btn-small", id: "next-prelabel",
                                        onclick: () => nextPrelabel() }, "Next pre-label (N)");
  const prelabelSummary = h("p", { class: "muted" });
  threshold.addEventListener("input", () => { thresholdText.value = Number(threshold.value).toFixed(2); refreshPrelabels(); });
  thresholdText.addEventListener("input", () => {
    const t = Number(thresholdText.value);
    const ok = thresholdText.value !== "" && t >= 0 && t <= 1;
    thresholdText.setAttribute("aria-invalid", String(!ok));
    if (ok) { threshold.value = String(t); refreshPrelabels(); }
  });
  acceptAllBtn.addEventListener("click", () => acceptAbove());
  prelabelBox.append(prelabelSummary,
    h("div", { class: "row" }, h("label", { for: "accept-threshold" }, "Score ≥"), threshold, thresholdText),
    h("div", { class: "row wrap" }, acceptAllBtn, nextPrelabelBtn));

  // -- refreshing the panel -------------------------------------------------------------------
  let panelQueued = false;
  function refreshSoon() {
    if (panelQueued) return;
    panelQueued = true;
    // After the next frame is painted: the canvas goes first, the side panel follows.
    requestAnimationFrame(() => setTimeout(() => { panelQueued = false; refreshPanel(); }, 0));
  }

  // The panel's controls are rebuilt as the labels change: a keyboard user keeps their place.
  function keepingFocus(refresh) {
    const had = side.contains(document.activeElement) && document.activeElement.id;
    refresh();
    if (had && !side.contains(document.activeElement)) document.getElementById(had)?.focus({ preventScroll: true });
  }

  function refreshPanel() { keepingFocus(refreshPanelNow); }

  function refreshPanelNow() {
    const counts = new Map();
    const list = [];
    for (const a of editor.labels.values()) {
      counts.set(a.label, (counts.get(a.label) || 0) + 1);
      if (a.type !== "tag") list.push(a);
    }
    for (const [name, b] of classButtons) b.querySelector(".class-count").textContent = String(counts.get(name) || 0);
    objectCount.textContent = `(${list.length})`;
    objects.setItems(list);
    const st = editor.labels.status;
    statusBadge.className = `status-badge status-${st}`;
    statusBadge.textContent = STATUS_NAMES[st] || st;
    versionText.textContent = `version ${editor.labels.version}`;
    refreshHold(st);
    refreshPrelabels();
    refreshTags();
    refreshSelected();
    refreshWork();
    undoBtn.disabled = !editor.undo.canUndo;
    redoBtn.disabled = !editor.undo.canRedo;
  }

  function refreshPrelabels() {
    let waiting = 0;
    for (const a of editor.labels.values()) if (a.status === "proposed") waiting++;
    const t = Number(threshold.value);
    const above = editor.proposedAbove(t).length;
    prelabelSummary.textContent = waiting ? `${waiting} pre-label${waiting === 1 ? "" : "s"} waiting for a decision. Accept: A · reject: Delete.`
                                          : "No pre-labels are waiting.";
    acceptAllBtn.textContent = `Accept ${above} with score ≥ ${t.toFixed(2)}`;
    acceptAllBtn.disabled = !above || !role;
    nextPrelabelBtn.disabled = !waiting;
  }

  function refreshTags() {
    clear(tagBox);
    const tags = editor.tags();
    const chips = h("ul", { class: "tag-chips", role: "list" }, tags.map((t) =>
      h("li", { class: "tag-chip", dataset: { label: t.label } }, h("span", { class: "swatch", "aria-hidden": "true" }), t.label,
        h("button", { type: "button", class: "chip-x", "aria-label": `Remove tag ${t.label}`,
                      onclick: () => editor.remove([t.id]), disabled: !role }, "×"))));
    chips.querySelectorAll(".tag-chip").forEach((li) => { li.querySelector(".swatch").style.background = editor.colorOf(li.dataset.label); });
    const select = h("select", { id: "tag-select", "aria-label": "Tag to add" },
      editor.classes.filter((c) => !editor.hasTag(c)).map((c) => h("option", { value: c }, c)));
    const add = h("button", { type: "button", class: "btn btn-small", id: "add-tag", disabled: !role || !select.options.length,
                              onclick: () => editor.addTag(select.value) }, "Add tag");
    tagBox.append(tags.length ? chips : h("p", { class: "muted" }, "No tags on this image."),
                  h("div", { class: "row" }, select, add));
  }

  function refreshSelected() {
    clear(selectedBox);
    const sel = editor.selection.map((id) => editor.labels.get(id)).filter(Boolean);
    objects.setSelected(editor.selection);
    if (!sel.length) {
      selectedBox.append(h("p", { class: "muted" }, "Nothing selected. Click a shape, or press . (period)."));
      return;
    }
    if (!editor.selectionExplicit) {
      selectedBox.append(h("p", { class: "muted small", id: "selection-hint" },
        "Just drawn: 1 … 9 pick the class of the next shape. Click it to relabel it with a number."));
    }
    const labelSelect = h("select", { id: "selected-label", "aria-label": "Class of the selection", disabled: !role },
      editor.classes.map((c) => h("option", { value: c, selected: sel.every((a) => a.label === c) }, c)));
    if (!sel.every((a) => a.label === sel[0].label)) labelSelect.prepend(h("option", { value: "", selected: true }, "(mixed)"));
    labelSelect.addEventListener("change", () => { if (labelSelect.value) editor.relabel(editor.selection, labelSelect.value); });
    const proposed = sel.filter((a) => a.status === "proposed");
    const actions = h("div", { class: "row wrap" },
      proposed.length ? h("button", { type: "button", class: "btn btn-small btn-good", id: "accept-selected", disabled: !role,
                                      onclick: () => editor.accept(proposed.map((a) => a.id)) }, `Accept (A)`) : null,
      sel.length === 1 && sel[0].type === "mask"
        ? h("button", { type: "button", class: "btn btn-small", id: "mask-to-polygon", disabled: !role,
                        title: "Replace the mask by the polygon of its outline (Shift+P)",
                        onclick: () => editor.maskToPolygon(sel[0].id) }, "To polygon") : null,
      h("button", { type: "button", class: "btn btn-small", id: "duplicate-selected", disabled: !role,
                    title: "Copies 10 px lower right (Ctrl+D); Ctrl+C / Ctrl+V copy and paste, also onto another image",
                    onclick: () => duplicateShapes(editor) }, "Duplicate"),
      h("button", { type: "button", class: "btn btn-small", id: "to-front", title: "Bring to front: a click in an overlap picks it (Ctrl+])",
                    onclick: () => editor.view.toFront(editor.selection) }, "To front"),
      h("button", { type: "button", class: "btn btn-small", id: "to-back", title: "Send to back (Ctrl+[)",
                    onclick: () => editor.view.toBack(editor.selection) }, "To back"),
      h("button", { type: "button", class: "btn btn-small btn-danger", id: "delete-selected", disabled: !role,
                    onclick: () => editor.remove(editor.selection) },
        proposed.length === sel.length ? "Reject (Del)" : "Delete (Del)"));
    if (sel.length === 1) {
      const a = sel[0];
      selectedBox.append(h("div", { class: "row" }, h("label", { for: "selected-label" }, "Class"), labelSelect),
        h("dl", { class: "facts" },
          h("dt", {}, "Type"), h("dd", {}, a.type),
          h("dt", {}, "Status"), h("dd", { id: "selected-status" }, a.pending ? `${a.status} (sending…)` : a.status),
          a.model ? [h("dt", {}, "Model"), h("dd", {}, `${a.model.name}@${a.model.version}`)] : null,
          typeof a.score === "number" ? [h("dt", {}, "Score"), h("dd", {}, a.score.toFixed(3))] : null,
          h("dt", {}, "Source"), h("dd", {}, a.source),
          h("dt", {}, "Revision"), h("dd", {}, String(a.revision)),
          h("dt", {}, "Last change"), h("dd", {}, a.updated_by)),
        // Element.append writes a null out as "null" (no attributes for this class)
        attributeControls(project.attributes, a, { disabled: !role, onChange: (v) => editor.setAttributes(a.id, v) }) || "",
        actions);
    } else {
      selectedBox.append(h("p", {}, `${sel.length} selected`),
        h("div", { class: "row" }, h("label", { for: "selected-label" }, "Class"), labelSelect), actions);
    }
  }

  function refreshHold(st) {
    const held = Boolean(role) && isHeld(st);
    editor.readOnly = !role || held;
    if (held && editor.tool !== editor.tools.select) editor.setTool("select");
    for (const [name, b] of toolButtons) b.disabled = editor.readOnly && name !== "select";
    // The editing panels stay readable but take no input (nor focus) while held.
    for (const panel of side.querySelectorAll(".panel:not(.image-panel):not(.grow):not(.side-footer)")) panel.inert = held;
    stage.classList.toggle("held", held);
    holdBanner.hidden = !held;
    holdBanner.textContent = st !== "approved" ? "Submitted for review — a reviewer or manager can reopen it."
      : canReview ? "Approved — read-only. Reopen it to make changes."
      : "Approved — read-only. A reviewer or manager can reopen it.";
    if (st !== roundStatus) {  // a verdict, a reopening or a submission: the round changed
      roundStatus = st;
      api.image(imageId, editor.labels.position).then((fresh) => {
        reviewRound = { review: fresh.review || null, reopened: fresh.reopened || null };
        showReviewNote();
      }).catch(() => {});
    }
    showReviewNote();
  }

  function showReviewNote() {
    const { review: verdict, reopened } = reviewRound;
    const parts = [];
    if (verdict && verdict.verdict === "reject") {
      parts.push(h("p", { id: "rejection-comment" }, h("strong", {}, `Rejected by ${verdict.by}: `),
                   verdict.comment ? h("q", {}, verdict.comment) : "no comment given."));
    }
    if (reopened) {
      parts.push(h("p", { id: "reopen-note" }, h("strong", {}, `Reopened by ${reopened.by}`),
                   reopened.comment ? [": ", h("q", {}, reopened.comment)] : "."));
    }
    reviewNote.replaceChildren(...parts);
    reviewNote.hidden = !parts.length;
  }

  function reopenBox(st) {
    const comment = h("textarea", { id: "reopen-comment", rows: 2, placeholder: "What should change? (optional)" });
    return h("div", { class: "reopen-box" },
      st === "approved" ? [h("h3", {}, "Approved"), h("label", { for: "reopen-comment" }, "Comment for the annotator"), comment] : null,
      h("button", { type: "button", class: "btn btn-wide", id: "reopen-image",
                    title: "Make the image editable again for the annotators (recorded)",
                    onclick: () => reopen(st === "approved" ? comment.value : document.getElementById("review-comment")?.value || "") },
        "Reopen for editing"));
  }

  function refreshWork() {
    clear(workBox);
    const st = editor.labels.status;
    if (canReview && st === "submitted") {
      const comment = h("textarea", { id: "review-comment", rows: 2, placeholder: "What should be fixed? (optional for approval)" });
      workBox.append(h("h3", {}, "Review"),
        h("label", { for: "review-comment" }, "Comment"), comment,
        h("div", { class: "row wrap" },
          h("button", { type: "button", class: "btn btn-good", id: "approve", onclick: () => review("approve", comment.value) }, "Approve"),
          h("button", { type: "button", class: "btn btn-danger", id: "reject", onclick: () => review("reject", comment.value) }, "Reject")),
        reopenBox(st));
      return;
    }
    if (canReview && st === "approved") workBox.append(reopenBox(st));
    const canSubmit = role && ["new", "in_progress", "rejected"].includes(st);
    workBox.append(
      h("button", { type: "button", class: "btn btn-primary btn-wide", id: "submit-image", disabled: !canSubmit || submitting,
                    title: "Submit for review (Ctrl+Enter)", onclick: () => submit() }, "Submit image"),
      submitState,  // below the button: content added above it would be scrolled out of view
      h("p", { class: "muted small" }, canSubmit ? "Ctrl+Enter submits and opens the next image."
        : st === "submitted" ? "Submitted: waiting for review." : `This image is ${STATUS_NAMES[st] || st}.`),
      h("button", { type: "button", class: "btn btn-wide", id: "skip-image", onclick: () => goToNext(app, project.id, kind, imageId) },
        kind === "review" ? "Next submitted image" : "Next image"),
      h("button", { type: "button", class: "btn btn-wide", id: "previous-image", title: "The image opened before this one (Ctrl+←)",
                    onclick: () => previousImage() }, "Previous image"),
      leaseNote() || "");  // Element.append would write a null out as "null"
  }

  // The queue handed this image to the user under a lease: say until when, quietly.
  function leaseNote() {
    const until = leaseOf(imageId);
    if (!until) return null;
    const at = new Date(until);
    return h("p", { class: "muted small", id: "lease-note",
                    title: "Nobody else is handed this image until then; your work on it keeps it yours." },
      `Reserved for you until ${at.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}`);
  }

  // -- actions --------------------------------------------------------------------------------
  function pickClass(name) {
    editor.setLabel(name);
    // Only a selection the user chose is relabelled, never the shape just drawn (issue 12).
    if (editor.selection.length && editor.selectionExplicit) editor.relabel(editor.selection, name);
  }

  function acceptAbove() {
    const ids = editor.proposedAbove(Number(threshold.value));
    const n = editor.accept(ids);
    if (n) toast(`Accepted ${n} pre-label${n === 1 ? "" : "s"}.`, { kind: "success" });
  }

  function nextPrelabel(step = 1) {
    const list = [...editor.labels.values()].filter((a) => a.status === "proposed")
      .sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
    if (!list.length) return;
    const cur = list.findIndex((a) => a.id === editor.selection[0]);
    const next = list[(cur + step + list.length) % list.length];
    editor.select([next.id]);
    editor.reveal(next.id);
    objects.scrollTo(next.id);
  }

  // The image opened before this one in this tab (visit_history.js).
  function previousImage() {
    const prev = takePrevious(imageId);
    if (prev) app.navigate(`#/images/${prev}`);
    else toast("No previous image in this tab.");
  }

  function cycle(step) {
    const list = [...editor.labels.values()].filter((a) => a.type !== "tag" && !editor.view.blocks(a.id));
    if (!list.length) return;
    const cur = list.findIndex((a) => a.id === editor.selection[0]);
    const next = list[(cur + step + list.length) % list.length];
    editor.select([next.id]);
    editor.reveal(next.id);
    objects.scrollTo(next.id);
  }

  function whenSettled(entry) {
    return new Promise((resolve) => {
      const done = (e) => {
        if (e.detail.entry.ref !== entry.ref) return;
        app.outbox.removeEventListener("settled", done);
        app.outbox.removeEventListener("rejected", done);
        resolve(e.type === "settled" ? null : e.detail.error);
      };
      app.outbox.addEventListener("settled", done);
      app.outbox.addEventListener("rejected", done);
    });
  }

  async function submit() {
    const st = editor.labels.status;
    if (submitting || !role || !["new", "in_progress", "rejected"].includes(st)) return;
    if (!await confirmUndecided(undecidedPrelabels(editor.labels))) return;
    const entry = editor.submit();
    if (!entry) return;
    submitting = true;
    refreshSoon();
    // Queued like every command: while the server cannot be reached the submit waits in the
    // outbox and the screen stays, saying so, until the server has acknowledged it.
    const waiting = () => showSubmitState(app.socket.online ? "Sending the submit…"
      : "Offline: submit will be sent when the connection is back.");
    waiting();
    app.socket.addEventListener("state", waiting);
    const error = await whenSettled(entry);
    app.socket.removeEventListener("state", waiting);
    submitting = false;
    if (destroyed) return;
    refreshSoon();
    if (error) {
      showSubmitState(`Not submitted: ${error.message}`, "error");
      toast(`Not submitted: ${error.message}`, { kind: "error" });
      return;
    }
    showSubmitState("");
    toast(`${image.file_name} submitted for review.`, { kind: "success" });
    await goToNext(app, project.id, kind, imageId);
  }

  function showSubmitState(text, kind = "info") {
    submitState.textContent = text;
    submitState.dataset.kind = kind;
    submitState.setAttribute("role", kind === "error" ? "alert" : "status");
  }

  async function reopen(comment) {
    const entry = editor.reopen(comment.trim());
    if (!entry) return;
    const error = await whenSettled(entry);
    if (error) { toast(`Not reopened: ${error.message}`, { kind: "error" }); return; }
    toast("Reopened: the image is editable again.", { kind: "success" });
  }

  async function review(verdict, comment) {
    if (verdict === "reject" && !comment.trim()) {
      toast("Say what should be fixed when rejecting.", { kind: "error" });
      document.getElementById("review-comment")?.focus();
      return;
    }
    const entry = editor.review(verdict, comment.trim());
    const error = await whenSettled(entry);
    if (error) { toast(`Review not recorded: ${error.message}`, { kind: "error" }); return; }
    toast(verdict === "approve" ? "Approved." : "Rejected and sent back to the annotators.", { kind: "success" });
    await goToNext(app, project.id, "review", imageId);
  }

  function doUndo() {
    const r = editor.undoLast();
    if (r === null) toast("Nothing to undo.");
    else if (r === false) toast("That change is gone already (someone else changed it).");
    refreshSoon();
  }

  function doRedo() {
    const r = editor.redoLast();
    if (r === null) toast("Nothing to redo.");
    refreshSoon();
  }

  function arrow(e, step) {
    const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
    if (editor.selection.length && role) editor.nudge(d[0] * step, d[1] * step);
    else editor.panBy(-d[0] * 40 * step, -d[1] * 40 * step);
  }

  function stepOpacity(delta) {
    const v = Math.max(0, Math.min(1, Number(opacity.value) + delta));
    opacity.value = String(v);
    editor.renderer.options.maskOpacity = v;
    editor.renderer.invalidateLabels();
  }

  const onKeyUp = (e) => { if (e.key === " ") { editor.spaceDown = false; editor.setCursor(editor.tool.cursor); } };
  document.addEventListener("keyup", onKeyUp);

  // -- events ---------------------------------------------------------------------------------
  const updateZoom = () => { zoomText.textContent = `${Math.round(editor.renderer.viewport.scale * 100)}%`; };
  editor.addEventListener("view", updateZoom);
  stage.addEventListener("frame", updateZoom);
  editor.addEventListener("labels", () => {
    if (editor.pendingAssist && editor.labels.createdBy.has(editor.pendingAssist)) {
      const id = editor.labels.createdBy.get(editor.pendingAssist);
      editor.pendingAssist = null;
      editor.select([id], { explicit: false });
    }
    refreshSoon();
  });
  editor.addEventListener("selection", () => {
    keepingFocus(refreshSelected);
    app.socket.presence(sync.room, editor.pointer ? { x: editor.pointer.x, y: editor.pointer.y } : null, editor.selection);
  });
  editor.addEventListener("tool", (e) => {
    for (const [name, b] of toolButtons) b.setAttribute("aria-pressed", String(name === e.detail.name));
    showToolOptions(e.detail.name);
    statusTool.textContent = TOOLS.find((t) => t[0] === e.detail.name)[3];
  });
  editor.addEventListener("class", (e) => {
    for (const [name, b] of classButtons) b.setAttribute("aria-pressed", String(name === e.detail.label));
  });
  editor.undo.addEventListener("change", () => { undoBtn.disabled = !editor.undo.canUndo; redoBtn.disabled = !editor.undo.canRedo; });
  const coords = h("span", { class: "coords" }, "");
  const statusTool = h("span", { class: "muted tool-hint" }, TOOLS[0][3]);
  const syncText = h("span", { class: "sync-state", id: "sync-state" });
  // Drawing from the keyboard: what just happened, read out (its own polite live region, so
  // only this is read, not the whole status line); the tool's hint gives way to it.
  const drawStatus = h("span", { class: "draw-status", id: "draw-status", "aria-live": "polite", "aria-atomic": "true" });
  editor.keyDraw.announce = (text) => {
    drawStatus.textContent = text;
    drawStatus.title = text; // the line is cut to one line on screen
    statusTool.hidden = Boolean(text);
  };
  editor.keyDraw.moved = (p) => {
    coords.textContent = p ? `x ${p.x}, y ${p.y}${p.w !== undefined ? ` · w ${p.w}, h ${p.h}` : ""}` : "";
  };
  statusline.append(coords, statusTool, drawStatus,
    h("span", { class: "status-controls" },
      h("label", { for: "mask-opacity", class: "inline-label" }, "Mask opacity"), opacity,
      h("label", { class: "inline-label check" }, namesToggle, "Names")),
    syncText);
  editor.addEventListener("pointer", (e) => {
    const p = e.detail;
    coords.textContent = p ? `x ${Math.round(p.x)}, y ${Math.round(p.y)}` : "";
    app.socket.presence(sync.room, p ? { x: Math.round(p.x * 10) / 10, y: Math.round(p.y * 10) / 10 } : null, editor.selection);
  });
  const showSync = () => {
    const n = editor.labels.pending.length;
    syncText.textContent = n ? `${n} change${n === 1 ? "" : "s"} not yet confirmed` : "All changes saved";
    syncText.dataset.pending = String(n > 0);
  };
  editor.labels.addEventListener("pending", showSync);
  presence.addEventListener("change", (e) => {
    if (e.detail.membership) presence.renderChips(people);
    editor.renderer.invalidateOverlay();
  });
  sync.addEventListener("rejected", (e) => {
    const { entry, error } = e.detail;
    const c = entry.body.commands ? entry.body.commands[0] : entry.body;
    const lost = lostGeometry(entry, error);
    if (lost.length) {
      const cur = error.details.current;
      conflict.show({ label: cur.label, user: cur.updated_by, reapply: () => reapply(lost, cur) });
    } else if (error.code === "conflict") {
      const cur = error.details && error.details.current;
      toast(cur ? `${cur.updated_by} changed this ${cur.label} at the same time; you now see their version.`
                : "Someone deleted this label at the same time; your change was not applied.", { kind: "warn", ms: 5000 });
    } else if (c.type === "submit" || c.type === "review" || c.type === "reopen") {
      // reported where they were made
    } else {
      toast(`Not saved: ${error.message}`, { kind: "error", ms: 6000 });
    }
    refreshSoon();
  });
  // The geometry edits of a refused entry that lost to someone else's change of the shape.
  function lostGeometry(entry, error) {
    const cur = error.code === "conflict" && error.details && error.details.current;
    if (!cur) return [];
    const list = entry.body.commands || [entry.body];
    return list.filter((x) => x.type === "edit" && x.changes && x.changes.geometry);
  }

  // "Re-apply mine": each lost shape sent again against the revision now current.
  function reapply(lost, cur) {
    for (const x of lost) {
      const now = editor.labels.get(x.annotation_id);
      if (!now) { toast("That shape is gone now; nothing to re-apply.", { kind: "warn" }); continue; }
      const revision = x.annotation_id === cur.id ? Math.max(now.revision, cur.revision) : now.revision;
      editor.editGeometry(x.annotation_id, x.changes.geometry, { ...now, revision });
    }
  }

  sync.addEventListener("problem", (e) => toast(`Live updates unavailable: ${e.detail.message}`, { kind: "error" }));

  presence.renderChips(people);
  refreshSoon();
  showSync();
  updateZoom();
  stage.focus({ preventScroll: true });
  editor.setTool("select");

  return () => {
    destroyed = true;
    keep();
    window.removeEventListener("pagehide", keep);
    offline.destroy();
    help.destroy();
    document.removeEventListener("keyup", onKeyUp);
    sync.destroy();
    editor.destroy();
    if (app.editor === editor) app.editor = null;
    if (app.presence === presence) app.presence = null;
  };
}
