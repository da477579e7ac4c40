// A project's settings (managers, admins): its name, classes (add, recolour, retire), the
// annotation types new shapes may have, its per-object attributes, and its members with their roles. Every change is one
// request (PATCH /projects/{id}, PUT/DELETE /projects/{id}/members/{username}); a refusal is
// shown beside the form that caused it, in the API's words.

import { request } from "../api.js";
import { h, clear } from "../dom.js";
import { toast } from "../toast.js";
import { deniedNotice, errorBox, typeChecks, ROLES } from "./admin_forms.js";
import { attributeSection } from "./attribute_settings.js";

export async function show(main, [projectId], app, query) {
  app.setCrumbs([["Projects", "#/projects"], ["Settings"]]);
  // Roles may have changed since this page loaded (a manager just made you one): ask again.
  if (!app.session.canManage(projectId)) await app.session.refresh();
  if (!app.session.canManage(projectId)) {
    main.append(deniedNotice("Managers", "Project settings"));
    return;
  }
  let project = await request("GET", `/projects/${projectId}`);
  const crumbs = () => app.setCrumbs([["Projects", "#/projects"], [project.name, `#/projects/${projectId}`], ["Settings"]]);
  crumbs();

  const patch = async (body, box, prefix) => {
    box.clear();
    try {
      project = await request("PATCH", `/projects/${projectId}`, body);
      return true;
    } catch (err) {
      box.show(err, prefix);
      return false;
    }
  };

  // -- name ----------------------------------------------------------------------------------
  const nameIn = h("input", { id: "settings-name", value: project.name, required: true, maxlength: 200, autocomplete: "off" });
  const nameError = errorBox("settings-name-error", (f) => (f === "name" ? nameIn : null));
  const nameForm = h("form", { class: "inline-form", id: "rename-form" },
    h("label", { for: nameIn.id }, "Project name"), nameIn,
    h("button", { type: "submit", class: "btn" }, "Rename"));
  nameForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await patch({ name: nameIn.value }, nameError, "Not renamed: ")) {
      crumbs();
      toast(`Renamed to ${project.name}`, { kind: "success" });
    }
  });

  // -- classes ---------------------------------------------------------------------------------
  const classBody = h("tbody", { id: "class-rows" });
  const classError = errorBox("settings-class-error");
  const renderClasses = () => {
    clear(classBody);
    project.classes.forEach((c, i) => {
      const color = h("input", { type: "color", id: `class-color-${i}`, value: c.color, class: "class-color-input" });
      color.addEventListener("change", async () => {
        if (await patch({ class_colors: { [c.name]: color.value } }, classError, `The colour of ${c.name} was not changed: `)) {
          toast(`${c.name} is now ${color.value}`, { kind: "success" });
        } else {
          color.value = c.color;
        }
      });
      const retire = c.retired ? null : h("button", { type: "button", class: "btn btn-small btn-danger",
        dataset: { retire: c.name }, "aria-label": `Retire ${c.name}`,
        onclick: async () => {
          if (!confirm(`Retire the class “${c.name}”? Existing labels keep it; new labels can no longer use it.`)) return;
          if (await patch({ retire_classes: [c.name] }, classError, `${c.name} was not retired: `)) {
            renderClasses();
            toast(`${c.name} is retired`, { kind: "success" });
            const next = classBody.querySelector("button[data-retire]");
            (next || addName).focus();
          }
        } }, "Retire");
      classBody.append(h("tr", { dataset: { class: c.name, retired: c.retired ? "1" : "0" } },
        h("td", {}, h("label", { for: color.id, class: "visually-hidden" }, `Colour of ${c.name}`), color),
        h("th", { scope: "row" }, c.name),
        h("td", {}, c.retired ? h("span", { class: "retired-badge" }, "Retired")
                              : h("span", { class: "muted" }, "Active")),
        h("td", {}, retire)));
    });
  };
  renderClasses();
  const addName = h("input", { id: "add-class-name", maxlength: 100, autocomplete: "off" });
  const addColor = h("input", { type: "color", id: "add-class-color", value: "#4363d8" });
  const addError = errorBox("settings-add-class-error", (f) => (f.startsWith("add_classes") ? addName : null));
  const addForm = h("form", { class: "inline-form", id: "add-class-form" },
    h("label", { for: addName.id }, "New class"), addName,
    h("label", { for: addColor.id }, "Colour"), addColor,
    h("button", { type: "submit", class: "btn" }, "Add class"));
  addForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = addName.value.trim();
    if (!name) { addError.show({ message: "type the new class's name", details: { field: "add_classes" } }); return; }
    if (await patch({ add_classes: [{ name, color: addColor.value }] }, addError, `${name} was not added: `)) {
      renderClasses();
      addName.value = "";
      addName.focus();
      toast(`Class ${name} added`, { kind: "success" });
    }
  });

  // -- annotation types --------------------------------------------------------------------------
  const types = typeChecks("settings-types", project.annotation_types);
  types.fieldset.querySelector("legend").className = "visually-hidden"; // the section's heading says it
  const typeError = errorBox("settings-types-error", (f) => (f === "annotation_types" ? types.boxes[0] : null));
  const typeForm = h("form", { id: "types-form" }, types.fieldset,
    h("p", { class: "field-hint" }, "Shapes of a type taken away stay on their images; new ones can't be drawn."),
    typeError.el, h("button", { type: "submit", class: "btn" }, "Save annotation types"));
  typeForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!types.selected().length) {
      typeError.show({ message: "choose at least one annotation type", details: { field: "annotation_types" } });
      return;
    }
    if (await patch({ annotation_types: types.selected() }, typeError, "Not saved: ")) toast("Annotation types saved", { kind: "success" });
  });

  // -- members -----------------------------------------------------------------------------------
  const memberBody = h("tbody", { id: "member-rows" });
  const memberError = errorBox("settings-member-error");
  const setRole = async (username, role) => {
    memberError.clear();
    try {
      project = role === null
        ? await request("DELETE", `/projects/${projectId}/members/${encodeURIComponent(username)}`)
        : await request("PUT", `/projects/${projectId}/members/${encodeURIComponent(username)}`, { role });
      return true;
    } catch (err) {
      memberError.show(err, `${username}: `);
      return false;
    }
  };
  const roleSelect = (id, value) => h("select", { id }, ROLES.map((r) => h("option", { value: r, selected: r === value }, r)));
  const renderMembers = () => {
    clear(memberBody);
    project.members.forEach((m, i) => {
      const select = roleSelect(`member-role-${i}`, m.role);
      select.addEventListener("change", async () => {
        if (await setRole(m.username, select.value)) toast(`${m.username} is now ${select.value}`, { kind: "success" });
        else select.value = m.role;
        renderMembers();
      });
      memberBody.append(h("tr", { dataset: { member: m.username } },
        h("th", { scope: "row" }, m.username),
        h("td", {}, h("label", { for: select.id, class: "visually-hidden" }, `Role of ${m.username}`), select),
        h("td", {}, h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Remove ${m.username}`,
          onclick: async () => {
            if (!confirm(`Remove ${m.username} from ${project.name}? Their labels stay.`)) return;
            if (await setRole(m.username, null)) {
              renderMembers();
              toast(`${m.username} removed`, { kind: "success" });
              addUser.focus();
            }
          } }, "Remove"))));
    });
  };
  renderMembers();
  const addUser = h("input", { id: "add-member-name", autocomplete: "off" });
  const addRole = roleSelect("add-member-role", "annotator");
  const addMemberError = errorBox("settings-add-member-error", () => addUser);
  const memberForm = h("form", { class: "inline-form", id: "add-member-form" },
    h("label", { for: addUser.id }, "Username"), addUser,
    h("label", { for: addRole.id }, "Role"), addRole,
    h("button", { type: "submit", class: "btn" }, "Add member"));
  memberForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    addMemberError.clear();
    const username = addUser.value.trim();
    if (!username) { addMemberError.show({ message: "type the username of the person to add", details: { field: "username" } }); return; }
    try {
      project = await request("PUT", `/projects/${projectId}/members/${encodeURIComponent(username)}`, { role: addRole.value });
      renderMembers();
      addUser.value = "";
      addUser.focus();
      toast(`${username} added as ${addRole.value}`, { kind: "success" });
    } catch (err) {
      addMemberError.show(err.status === 404 ? { ...err, message: `there is no user named “${username}” (an admin adds users)` } : err,
                          `${username} was not added: `);
    }
  });

  main.append(h("div", { class: "page page-narrow" },
    h("div", { class: "page-head" }, h("h1", {}, "Project settings"),
      h("div", { class: "page-actions" },
        h("a", { class: "btn", href: `#/projects/${projectId}` }, "Work queue"),
        h("a", { class: "btn", href: `#/projects/${projectId}/dashboard` }, "Dashboard"))),
    query && query.get("created") ? h("div", { class: "notice notice-ok", role: "status" },
      `${project.name} is created and you are its manager. Add the people who will label it below.`) : null,
    h("section", { class: "card settings-card", "aria-labelledby": "settings-project-h" },
      h("h2", { id: "settings-project-h" }, "Project"), nameForm, nameError.el),
    h("section", { class: "card settings-card", "aria-labelledby": "settings-classes-h" },
      h("h2", { id: "settings-classes-h" }, "Classes"),
      h("p", { class: "field-hint" }, "A retired class stays on the labels that have it and in exports, but can't be chosen for new labels."),
      h("table", { class: "num-table", id: "class-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Colour"), h("th", { scope: "col" }, "Class"),
          h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
        classBody),
      classError.el, addForm, addError.el),
    h("section", { class: "card settings-card", "aria-labelledby": "settings-types-h" },
      h("h2", { id: "settings-types-h" }, "Annotation types"), typeForm),
    attributeSection(() => project, patch),
    h("section", { class: "card settings-card", "aria-labelledby": "settings-members-h" },
      h("h2", { id: "settings-members-h" }, "Members"),
      h("table", { class: "num-table", id: "member-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Username"), h("th", { scope: "col" }, "Role"),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
        memberBody),
      memberError.el, memberForm, addMemberError.el)));
}
