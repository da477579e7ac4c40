// Log in (POST /auth/login sets the session cookie).

import { api } from "../api.js";
import { h } from "../dom.js";

export async function show(main, params, app, query) {
  document.getElementById("topbar").hidden = true;
  const error = h("p", { class: "form-error", role: "alert", id: "login-error" });
  const user = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "login-pass", name: "password", type: "password",
                            autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "btn btn-primary btn-wide" }, "Log in");
  const form = h("form", { class: "login-card", "aria-labelledby": "login-title" },
    h("div", { class: "login-brand" }, h("img", { src: "/static/icon.svg", alt: "", width: 40, height: 40 }),
      h("div", {}, h("h1", { id: "login-title" }, "Labelwright"),
        h("p", { class: "muted" }, "Collaborative labeling for vision data"))),
    h("label", { for: "login-user" }, "Username"), user,
    h("label", { for: "login-pass" }, "Password"), pass,
    error, button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      await api.login(user.value.trim(), pass.value);
      await app.loggedIn();
      const next = query.get("next");
      app.navigate(next && next.startsWith("#/") && !next.startsWith("#/login") ? next : "#/projects",
                   { replace: true });
    } catch (err) {
      error.textContent = err.code === "unauthorized" ? "Wrong username or password."
        : err.code === "rate_limited" ? err.message : `Could not log in: ${err.message}`;
      button.disabled = false;
      pass.select();
    }
  });
  main.append(h("div", { class: "login-page" }, form));
  user.focus();
}
