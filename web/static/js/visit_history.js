// The images opened in this tab, in visiting order (sessionStorage), for "Previous image":
// it goes back along the way the user came, whatever the queue handed out.

const KEY = "lw.visited";
const LIMIT = 200;

function read() {
  try { return JSON.parse(sessionStorage.getItem(KEY) || "[]"); } catch { return []; }
}

function write(list) {
  try { sessionStorage.setItem(KEY, JSON.stringify(list.slice(-LIMIT))); } catch { /* off */ }
}

/** The image ``imageId`` was opened (again opening the latest one adds nothing). */
export function noteVisit(imageId) {
  const list = read();
  if (list[list.length - 1] !== imageId) { list.push(imageId); write(list); }
}

/** The image opened before ``imageId``, or null; going there forgets ``imageId``'s visit, so
 * pressing Previous again goes further back. */
export function takePrevious(imageId) {
  const list = read();
  const i = list.lastIndexOf(imageId);
  if (i <= 0) return null;
  write(list.slice(0, i));
  return list[i - 1];
}
