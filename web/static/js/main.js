// The page: session check, the top bar (breadcrumbs, connection indicator), and the router that
// swaps screens. One LiveSocket and one Outbox live for the whole page.

import { api, setUnauthorizedHandler } from "./api.js";
import { h, clear } from "./dom.js";
import { LiveSocket } from "./live_socket.js";
import { Outbox } from "./outbox.js";
import { parseRoute, navigate } from "./router.js";
import { Session } from "./session.js";
import { toast } from "./toast.js";
import { registerOfflineShell } from "./offline_shell.js";
import * as login from "./views/login.js";
import * as projects from "./views/projects.js";
import * as queue from "./views/queue.js";
import * as annotate from "./views/annotate.js";
import * as replay from "./views/replay.js";
import * as dashboard from "./views/dashboard.js";
import * as models from "./views/models.js";
import * as project_new from "./views/project_new.js";
import * as project_settings from "./views/project_settings.js";
import * as users from "./views/users.js";

const VIEWS = { login, projects, queue, annotate, replay, dashboard, models, project_new, project_settings, users };

const app = {
  session: new Session(),
  socket: null,
  outbox: null,
  navigate,
  setCrumbs,
  cleanup: null,
  routeToken: 0,
};
window.__lw = app; // for the browser tests and the benchmark

function setCrumbs(items) {
  const nav = clear(document.getElementById("crumbs"));
  const ol = h("ol");
  items.forEach(([text, href], i) => {
    const last = i === items.length - 1;
    ol.append(h("li", {}, href && !last ? h("a", { href }, text)
                                        : h("span", { "aria-current": last ? "page" : null }, text)));
  });
  nav.append(ol);
  document.title = items.length ? `${items[items.length - 1][0]} · Labelwright` : "Labelwright";
}

function showConnection() {
  const el = document.getElementById("conn");
  const state = app.socket ? app.socket.state : "offline";
  const queued = app.outbox ? app.outbox.size : 0;
  const text = state === "online" ? (queued ? `Live · sending ${queued}` : "Live")
    : state === "connecting" ? "Connecting…"
      : queued ? `Offline · ${queued} change${queued === 1 ? "" : "s"} queued` : "Offline";
  el.dataset.state = state;
  el.querySelector(".conn-text").textContent = text;
  el.title = state === "online" ? "Connected: edits are shared live"
    : "Not connected: your edits are kept and sent when the connection is back";
}

async function startSession() {
  const me = app.session.me;
  document.getElementById("topbar").hidden = false;
  document.getElementById("whoami").textContent = me.username;
  if (!app.socket) {
    app.socket = new LiveSocket();
    app.socket.addEventListener("state", showConnection);
    app.socket.addEventListener("unauthorized", () => sessionEnded());
    app.outbox = new Outbox(app.socket, me.username);
    app.outbox.addEventListener("change", showConnection);
    app.socket.start();
  }
  showConnection();
}

function sessionEnded() {
  if (app.socket) app.socket.stop();
  if (app.outbox) app.outbox.stop();
  app.socket = null;
  app.outbox = null;
  app.session.forget();
  document.getElementById("topbar").hidden = true;
  if (!location.hash.startsWith("#/login")) {
    const back = location.hash && location.hash !== "#/login" ? location.hash : "";
    navigate(`#/login${back ? `?next=${encodeURIComponent(back)}` : ""}`, { replace: true });
  }
}

async function route() {
  const token = ++app.routeToken;
  if (app.cleanup) {
    try { app.cleanup(); } catch (e) { console.error(e); }
    app.cleanup = null;
  }
  const { name, params, query } = parseRoute(location.hash);
  // Each screen gets a fresh container: a screen still loading when the user moves on keeps
  // writing into its own, detached container, never into the next screen.
  const main = h("div", { class: `view view-${name}` });
  document.getElementById("main").replaceChildren(main);
  if (name !== "login" && !app.session.me) {
    try {
      await app.session.refresh();
      await startSession();
    } catch (e) {
      if (token === app.routeToken) sessionEnded();
      return;
    }
  }
  if (token !== app.routeToken) return;
  const view = VIEWS[name];
  if (!view) {
    setCrumbs([["Not found"]]);
    main.append(h("div", { class: "page" }, h("h1", {}, "Nothing here"),
                  h("p", {}, h("a", { href: "#/projects" }, "Back to the projects"))));
    return;
  }
  try {
    const cleanup = await view.show(main, params, app, query);
    if (token === app.routeToken) app.cleanup = cleanup || null;
    else if (cleanup) cleanup();
  } catch (e) {
    if (token !== app.routeToken) return;
    console.error(e);
    if (e.status === 401) return;
    main.append(h("div", { class: "page" }, h("div", { class: "notice notice-error", role: "alert" },
      h("strong", {}, "This screen could not be shown. "), e.message || String(e))));
  }
}

app.loggedIn = async () => {
  await app.session.refresh();
  await startSession();
};

app.logout = async () => {
  try { await api.logout(); } catch { /* the session may be gone already */ }
  sessionEnded();
};

setUnauthorizedHandler(() => { if (app.session.me) { toast("Your session ended; please log in again."); sessionEnded(); } });
document.getElementById("logout").addEventListener("click", () => app.logout());
window.addEventListener("hashchange", route);
route();
registerOfflineShell();
