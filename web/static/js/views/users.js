// Users (admins): who has an account, adding one (with a first password), disabling and
// enabling, revoking every token, and setting a new password (GET/POST /users, docs/api.md).

import { request } from "../api.js";
import { h, clear } from "../dom.js";
import { toast } from "../toast.js";
import { deniedNotice, errorBox } from "./admin_forms.js";

export async function show(main, params, app) {
  app.setCrumbs([["Projects", "#/projects"], ["Users"]]);
  if (!app.session.isAdmin) {
    main.append(deniedNotice("Admins", "Users"));
    return;
  }
  let users = (await request("GET", "/users")).users;
  const body = h("tbody", { id: "user-rows" });
  const rowError = errorBox("users-row-error");

  const act = async (username, path, done) => {
    rowError.clear();
    try {
      const result = await request("POST", `/users/${encodeURIComponent(username)}/${path}`, {});
      users = users.map((u) => (u.username === username ? { ...u, disabled: result.disabled } : u));
      render();
      toast(done(result), { kind: "success" });
      return true;
    } catch (err) {
      rowError.show(err, `${username}: `);
      return false;
    }
  };

  const passwordForm = (u, i, row) => {
    const input = h("input", { type: "password", id: `reset-pass-${i}`, autocomplete: "new-password", required: true });
    const error = errorBox(`reset-pass-error-${i}`, () => input);
    const form = h("form", { class: "inline-form", dataset: { resetFor: u.username } },
      h("label", { for: input.id }, `New password for ${u.username}`), input,
      h("button", { type: "submit", class: "btn btn-small btn-primary" }, "Set password"),
      h("button", { type: "button", class: "btn btn-small btn-quiet", onclick: () => { cell.remove(); row.querySelector(".reset-btn").focus(); } }, "Cancel"),
      error.el);
    const cell = h("tr", { class: "reset-row" }, h("td", { colspan: 3 }, form));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.clear();
      try {
        await request("PUT", `/users/${encodeURIComponent(u.username)}/password`, { password: input.value });
        cell.remove();
        toast(`New password set for ${u.username}; their login sessions ended`, { kind: "success" });
        row.querySelector(".reset-btn").focus();
      } catch (err) {
        error.show(err.details && err.details.field === "password" ? err : { ...err, details: { field: "password" } },
                   "Not changed: ");
      }
    });
    return { cell, input };
  };

  const render = () => {
    clear(body);
    users.forEach((u, i) => {
      const self = u.username === app.session.username;
      const row = h("tr", { dataset: { user: u.username, disabled: u.disabled ? "1" : "0" } },
        h("th", { scope: "row" }, u.username, u.is_admin ? h("span", { class: "role-badge role-admin" }, "admin") : null),
        h("td", { class: "user-state" }, u.disabled ? h("span", { class: "retired-badge" }, "Disabled") : "Active"),
        h("td", { class: "user-actions" },
          u.disabled
            ? h("button", { type: "button", class: "btn btn-small", "aria-label": `Enable ${u.username}`,
                onclick: () => act(u.username, "enable", () => `${u.username} can log in again`) }, "Enable")
            : h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Disable ${u.username}`,
                disabled: self, title: self ? "You can't disable yourself" : null,
                onclick: () => confirm(`Disable ${u.username}? They can no longer log in and every token of theirs stops working.`)
                  && act(u.username, "disable", () => `${u.username} is disabled`) }, "Disable"),
          h("button", { type: "button", class: "btn btn-small", "aria-label": `Revoke the tokens of ${u.username}`,
            onclick: () => confirm(`End every login session and API token of ${u.username}?`)
              && act(u.username, "revoke_tokens", (r) => `${r.revoked_tokens} token${r.revoked_tokens === 1 ? "" : "s"} of ${u.username} revoked`) },
          "Revoke tokens"),
          h("button", { type: "button", class: "btn btn-small reset-btn", "aria-label": `Reset the password of ${u.username}`,
            onclick: () => {
              const open = row.nextElementSibling && row.nextElementSibling.classList.contains("reset-row");
              if (open) { row.nextElementSibling.querySelector("input").focus(); return; }
              const { cell, input } = passwordForm(u, i, row);
              row.after(cell);
              input.focus();
            } }, "Reset password")));
      body.append(row);
    });
  };
  render();

  const newName = h("input", { id: "new-user-name", autocomplete: "off", required: true });
  const newPass = h("input", { id: "new-user-pass", type: "password", autocomplete: "new-password", required: true });
  const newAdmin = h("input", { id: "new-user-admin", type: "checkbox" });
  const addError = errorBox("new-user-error", (f) => (f === "username" ? newName : f === "password" ? newPass : null));
  const addForm = h("form", { class: "card admin-form", id: "new-user-form", "aria-labelledby": "new-user-h", novalidate: true },
    h("h2", { id: "new-user-h" }, "Add a user"),
    h("div", { class: "form-grid" },
      h("label", { for: newName.id }, "Username"), newName,
      h("label", { for: newPass.id }, "Password"), newPass),
    h("label", { for: newAdmin.id, class: "inline-check" }, newAdmin, "Admin (may create projects and manage users)"),
    addError.el,
    h("button", { type: "submit", class: "btn btn-primary", id: "add-user" }, "Add user"));
  addForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    addError.clear();
    try {
      const user = await request("POST", "/users", { username: newName.value.trim(), password: newPass.value, is_admin: newAdmin.checked });
      users = [...users.filter((u) => u.username !== user.username), { disabled: false, ...user }];
      render();
      newName.value = "";
      newPass.value = "";
      newAdmin.checked = false;
      newName.focus();
      toast(`${user.username} added; give them their password and add them to projects`, { kind: "success" });
    } catch (err) {
      addError.show(err, "The user was not added: ");
    }
  });

  main.append(h("div", { class: "page page-narrow" },
    h("div", { class: "page-head" }, h("h1", {}, "Users"),
      h("p", { class: "muted" }, "Roles in a project are set on the project's settings screen.")),
    h("section", { class: "card", "aria-labelledby": "users-h" },
      h("h2", { id: "users-h" }, "Accounts"),
      h("table", { class: "num-table", id: "user-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Username"), h("th", { scope: "col" }, "State"),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
        body),
      rowError.el),
    addForm));
}
