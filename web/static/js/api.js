// The HTTP API of docs/api.md. The browser authenticates with the HttpOnly session cookie that
// login sets, so no token is ever visible to scripts.

export const API = "/api/v1";

/** An error answer of the API ({"error": {code, message, details}}); status 0 = no network. */
export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
  get isNetwork() { return this.status === 0; }
}

let onUnauthorized = () => {};
/** Called when a request answers 401 (the session expired or was revoked). */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function request(method, path, body, { signal, raw = false } = {}) {
  let response;
  try {
    response = await fetch(API + path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "the server cannot be reached");
  }
  if (raw && response.ok) return response;
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const err = data && data.error ? data.error : {};
    if (response.status === 401 && !path.startsWith("/auth/")) onUnauthorized();
    throw new ApiError(response.status, err.code || `http_${response.status}`,
                       err.message || response.statusText, err.details);
  }
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const api = {
  login: (username, password) => request("POST", "/auth/login", { username, password }),
  logout: () => request("POST", "/auth/logout", {}),
  me: () => request("GET", "/me"),
  projects: () => request("GET", "/projects"),
  project: (id) => request("GET", `/projects/${id}`),
  images: (projectId, { status, limit, cursor } = {}) =>
    request("GET", `/projects/${projectId}/images${query({ status, limit, cursor })}`),
  image: (id, minPosition = null) =>
    request("GET", `/images/${id}${minPosition ? `?min_position=${minPosition}` : ""}`),
  /** The work queue: an image under a lease ({image, queue, lease}), or null when none is left. */
  queueNext: (projectId, body = {}) => request("POST", `/projects/${projectId}/queue/next`, body),
  imageUrl: (id) => `${API}/images/${id}/content`,
  annotations: (id, { version, signal } = {}) =>
    request("GET", `/images/${id}/annotations${query({ version })}`, undefined, { signal }),
  history: (id, { after, limit } = {}) =>
    request("GET", `/images/${id}/history${query({ after, limit })}`),
  commands: (imageId, body) => request("POST", `/images/${imageId}/commands`, body),
  // An assist proposal for the clicks so far; records nothing (assist_tool.js).
  assistPreview: (imageId, body, { signal } = {}) =>
    request("POST", `/images/${imageId}/assist/preview`, body, { signal }),
  annotatorMetrics: (projectId) => request("GET", `/projects/${projectId}/metrics/annotators`),
  prelabelMetrics: (projectId, groupBy) =>
    request("GET", `/projects/${projectId}/metrics/prelabels${query({ group_by: groupBy })}`),
  assistMetrics: (projectId) => request("GET", `/projects/${projectId}/metrics/assist`),
  projections: () => request("GET", "/projections"),
  exportUrl: (projectId, { format = "coco", position, includeProposed, images, split, seed } = {}) =>
    `${API}/projects/${projectId}/export${query({
      format, position, include_proposed: includeProposed ? "true" : undefined,
      images: images ? "true" : undefined, split: split || undefined, seed: seed || undefined })}`,
  models: (projectId) => request("GET", `/projects/${projectId}/models`),
  changeModel: (id, body) => request("PATCH", `/models/${id}`, body),
  jobs: (projectId) => request("GET", `/projects/${projectId}/jobs`),
  startJob: (projectId, body) => request("POST", `/projects/${projectId}/jobs`, body),
  cancelJob: (id) => request("POST", `/jobs/${id}/cancel`, {}),
};

/** A multipart POST (``form``: FormData) that reports upload progress, which fetch cannot:
 * ``onProgress(sent, total)``. Resolves like ``request``; rejects with an ApiError (status 0 and
 * code "aborted" when ``signal`` aborts it). */
export function upload(path, form, { onProgress = () => {}, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", API + path);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : null));
    xhr.addEventListener("load", () => {
      const data = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) { resolve(data); return; }
      const err = data && data.error ? data.error : {};
      if (xhr.status === 401) onUnauthorized();
      reject(new ApiError(xhr.status, err.code || `http_${xhr.status}`,
                          err.message || xhr.statusText || `the server answered ${xhr.status}`, err.details));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "the server cannot be reached")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "the upload was cancelled")));
    if (signal) signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

/** Every page of /history for an image, oldest first. */
export async function allHistory(imageId) {
  const events = [];
  let after = 0;
  for (;;) {
    const page = await api.history(imageId, { after, limit: 1000 });
    events.push(...page.events);
    if (page.next_after === null || page.next_after === undefined) return events;
    after = page.next_after;
  }
}
