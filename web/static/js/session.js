// Who is logged in, and their role in each project (GET /api/v1/me).
//
// The last answer is kept in this tab's sessionStorage: a reload while the server cannot be
// reached (the app shell comes from the service worker, sw.js) still knows who is working and
// shows their queued work. Only a network failure falls back to it; a 401 never does.

import { api } from "./api.js";

const KEPT = "lw.me";

export class Session {
  constructor() { this.me = null; this.offline = false; }

  async refresh() {
    try {
      this.me = await api.me();
      this.offline = false;
    } catch (e) {
      const kept = e.isNetwork ? Session.kept() : null;
      if (!kept) throw e;
      this.me = kept;
      this.offline = true;
      return this.me;
    }
    try { sessionStorage.setItem(KEPT, JSON.stringify(this.me)); } catch { /* storage off: no offline reload */ }
    return this.me;
  }

  static kept() {
    try { return JSON.parse(sessionStorage.getItem(KEPT) || "null"); } catch { return null; }
  }

  /** Forget the kept answer (logging out, or the session ended). */
  forget() {
    this.me = null;
    try { sessionStorage.removeItem(KEPT); } catch { /* nothing kept */ }
  }

  get username() { return this.me ? this.me.username : null; }
  get isAdmin() { return Boolean(this.me && this.me.is_admin); }

  roleIn(projectId) {
    if (!this.me) return null;
    const row = this.me.projects.find((p) => p.project_id === projectId);
    return row ? row.role : null;
  }

  canManage(projectId) { return this.isAdmin || this.roleIn(projectId) === "manager"; }

  canReview(projectId) {
    return this.isAdmin || ["reviewer", "manager"].includes(this.roleIn(projectId));
  }
}
