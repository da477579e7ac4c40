// Who is logged in, and their role in each project (GET /api/v1/me).

import { api } from "./api.js";

export class Session {
  constructor() { this.me = null; }

  async refresh() {
    this.me = await api.me();
    return this.me;
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
