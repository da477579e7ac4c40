// Hash routes (#/projects/…): the server only ever serves "/", and a reload keeps the screen.

const ROUTES = [
  [/^#\/login$/, "login"],
  [/^(#\/?|#\/projects\/?|)$/, "projects"],
  [/^#\/projects\/new\/?$/, "project_new"],
  [/^#\/users\/?$/, "users"],
  [/^#\/projects\/([^/]+)\/?$/, "queue"],
  [/^#\/projects\/([^/]+)\/settings\/?$/, "project_settings"],
  [/^#\/projects\/([^/]+)\/dashboard\/?$/, "dashboard"],
  [/^#\/projects\/([^/]+)\/models\/?$/, "models"],
  [/^#\/images\/([^/]+)\/?$/, "annotate"],
  [/^#\/images\/([^/]+)\/history\/?$/, "replay"],
];

export function parseRoute(hash) {
  const [path, search = ""] = hash.split("?");
  for (const [pattern, name] of ROUTES) {
    const m = path.match(pattern);
    if (m) return { name, params: m.slice(1).map(decodeURIComponent), query: new URLSearchParams(search) };
  }
  return { name: "notfound", params: [], query: new URLSearchParams() };
}

export function navigate(hash, { replace = false } = {}) {
  if (location.hash === hash) {
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else if (replace) {
    history.replaceState(null, "", hash);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    location.hash = hash;
  }
}
