// What a manager drops on the Models page: the weights file and, optionally, the model's classes
// file, told apart by extension (one drop may carry both, in any order). Also the name and
// version the form starts with, guessed from the weights' file name.

export const WEIGHTS_EXTENSIONS = [".onnx", ".torchscript", ".safetensors", ".pt", ".pth"];
export const CLASSES_EXTENSIONS = [".names", ".txt", ".yaml", ".yml", ".json"];

function extension(name) {
  const i = name.lastIndexOf(".");
  return i > 0 ? name.slice(i).toLowerCase() : "";
}

/** "weights", "classes" or null (neither). */
export function fileKind(name) {
  const ext = extension(name);
  if (WEIGHTS_EXTENSIONS.includes(ext)) return "weights";
  if (CLASSES_EXTENSIONS.includes(ext)) return "classes";
  return null;
}

/** Sort dropped files: ``{weights, classes, problems}``; ``problems`` says, in plain words, what
 * was left out (a file of neither kind, a second file of one kind). */
export function sortFiles(files) {
  const out = { weights: null, classes: null, problems: [] };
  for (const file of files) {
    const kind = fileKind(file.name);
    if (!kind) {
      out.problems.push(`${file.name} is neither model weights (${WEIGHTS_EXTENSIONS.join(", ")}) `
        + `nor a classes file (${CLASSES_EXTENSIONS.join(", ")}).`);
    } else if (out[kind]) {
      out.problems.push(`Only one ${kind === "weights" ? "weights" : "classes"} file at a time: `
        + `${file.name} was left out (kept ${out[kind].name}).`);
    } else {
      out[kind] = file;
    }
  }
  return out;
}

/** Whether the weights need an architecture: "required" (safetensors: a bare state dict),
 * "maybe" (.pt/.pth: a TorchScript archive needs none, a state dict does), else null. */
export function architectureNeed(fileName) {
  const ext = extension(fileName || "");
  if (ext === ".safetensors") return "required";
  if (ext === ".pt" || ext === ".pth") return "maybe";
  return null;
}

/** ``{name, version}`` from a weights file name: "shapes-detector_v3.onnx" → shapes-detector, 3;
 * "yolo@2026.11.onnx" → yolo, 2026.11; a name without a version → version "1". */
export function nameAndVersion(fileName) {
  const stem = fileName.replace(/\.[^.]+$/, "").trim() || "model";
  const m = stem.match(/^(.+?)[-_ @]v?(\d+(?:[.-]\d+)*)$/i);
  return m ? { name: m[1], version: m[2] } : { name: stem, version: "1" };
}

export function formatBytes(n) {
  if (n === null || n === undefined) return "–";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
