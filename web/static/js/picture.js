// Fetching an image's pixels for the canvas.

/** The image's pixels, decoded off the main thread (an ImageBitmap), or an <img> where
 * createImageBitmap is missing. */
export async function loadPicture(url) {
  if (typeof createImageBitmap !== "function") {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  }
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`the image could not be loaded (${response.status})`);
  return createImageBitmap(await response.blob());
}
