// Short messages at the bottom of the screen, read out by screen readers (aria-live region).

const DEFAULT_MS = 4000;

export function toast(message, { kind = "info", ms = DEFAULT_MS } = {}) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const el = document.createElement("div");
  el.className = `toast toast-${kind}`;
  el.textContent = message;
  box.append(el);
  while (box.children.length > 4) box.firstChild.remove();
  setTimeout(() => {
    el.classList.add("leaving");
    setTimeout(() => el.remove(), 300);
  }, ms);
}
