// The image open in this tab, kept for a reload while the server cannot be reached: its metadata,
// its project and the labels as the server last confirmed them ({version, position,
// annotations, status}). The annotation screen falls back to it only when a read fails for lack
// of a network; the room then resumes from the kept position on reconnect, so nothing is
// missed. Kept in sessionStorage (this tab, this user), one image at a time; never the service
// worker's cache, which holds nothing but the app shell.

const KEY = "lw.offlineImage";

/** Keep ``{image, project, snapshot}`` of ``username``'s open image (best effort). */
export function keepImage(username, { image, project, snapshot }) {
  try {
    sessionStorage.setItem(KEY, JSON.stringify({ username, image, project, snapshot }));
  } catch { /* storage full or off: an offline reload then cannot show this image */ }
}

/** What was kept of ``imageId`` for ``username``, or null. */
export function keptImage(username, imageId) {
  let kept = null;
  try { kept = JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch { return null; }
  return kept && kept.username === username && kept.image && kept.image.id === imageId ? kept : null;
}

/** ``promise``, or, when it fails for lack of a network, ``fallback`` (if there is one). */
export function orKept(promise, fallback) {
  return promise.catch((e) => {
    if (e && e.isNetwork && fallback !== undefined && fallback !== null) return fallback;
    throw e;
  });
}
