// Before an image is submitted with pre-labels nobody decided on (status "proposed"), ask
// (issue 12): they are not labels yet, the export leaves them out. A modal <dialog>: the focus
// moves into it (on "Go back"), Tab stays inside, Escape or "Go back" cancels, and the focus
// returns to where it was.

import { h } from "./dom.js";

/** How many of ``labels`` (an ImageLabels) are pre-labels still proposed. */
export function undecidedPrelabels(labels) {
  let n = 0;
  for (const a of labels.values()) if (a.source === "prelabel" && a.status === "proposed") n += 1;
  return n;
}

/** Resolve true to submit anyway, false to go back; at once true when ``count`` is 0. */
export function confirmUndecided(count) {
  if (!count) return Promise.resolve(true);
  const back = document.activeElement;
  return new Promise((resolve) => {
    const what = count === 1 ? "1 pre-label is" : `${count} pre-labels are`;
    const cancel = h("button", { type: "button", class: "btn", id: "undecided-back" }, "Go back");
    const go = h("button", { type: "button", class: "btn btn-primary", id: "undecided-submit" },
                 "Submit anyway");
    const dialog = h("dialog", { class: "confirm-undecided", id: "undecided-dialog",
                                 "aria-labelledby": "undecided-title",
                                 "aria-describedby": "undecided-text" },
      h("h2", { id: "undecided-title" }, "Undecided pre-labels"),
      h("p", { id: "undecided-text" },
        `${what} still undecided (neither accepted, corrected nor rejected). `
        + "They are not labels: exports leave them out and the model's statistics do not count them."),
      h("div", { class: "row" }, cancel, go));
    let answer = false;
    const finish = () => {
      dialog.remove();
      if (back && back.isConnected && typeof back.focus === "function") back.focus();
      resolve(answer);
    };
    cancel.addEventListener("click", () => dialog.close());
    go.addEventListener("click", () => { answer = true; dialog.close(); });
    dialog.addEventListener("close", finish, { once: true });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
