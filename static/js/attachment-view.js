// A message's attachments in the thread (#21): the markup is _attachment.html's (a live
// message clones chat.html's copies of it); an image opens full size in a dialog, a
// document's extracted text opens in another (Escape closes both, focus goes back).
import { humanSize } from "chatweb/attach.js";

/** Fills a message's attachment list (its [data-attachments]) from a `message` frame's. */
export function fillAttachments(article, attachments) {
  const list = article.querySelector("[data-attachments]");
  if (!list) return;
  list.replaceChildren(...attachments.map(attachmentElement));
  list.hidden = attachments.length === 0;
}

function attachmentElement(a) {
  const template = document.getElementById(a.kind === "image" ? "att-template-image" : "att-template-document");
  const el = template.content.firstElementChild.cloneNode(true);
  const base = `/attachments/${a.id}/`;
  el.dataset.attachmentId = String(a.id);
  if (a.kind === "image") {
    const link = el.querySelector("[data-att-open]");
    link.href = base;
    link.setAttribute("aria-label", interpolate(gettext("Open %(name)s full size"), { name: a.name }, true));
    const img = el.querySelector("img");
    img.src = `${base}thumbnail/`;
    img.alt = a.name;
    if (a.width && a.height) {
      img.width = a.width;
      img.height = a.height;
    }
    return el;
  }
  el.querySelector("[data-att-name]").textContent = a.name;
  const pages = a.pages ? ` · ${interpolate(ngettext("%(pages)s page", "%(pages)s pages", a.pages), { pages: a.pages }, true)}` : "";
  el.querySelector("[data-att-meta]").textContent = `${humanSize(a.size)}${pages}`;
  const read = el.querySelector("[data-att-text]");
  read.dataset.attText = `${base}text/`;
  read.setAttribute("aria-label", interpolate(gettext("Read the text of %(name)s"), { name: a.name }, true));
  const download = el.querySelector("[data-att-download]");
  download.href = base;
  download.setAttribute("aria-label", interpolate(gettext("Download %(name)s"), { name: a.name }, true));
  return el;
}

let opener = null;

function open(dialog, from) {
  opener = from;
  dialog.showModal();
}

function openImage(link) {
  const dialog = document.getElementById("att-lightbox");
  if (!dialog) return false;
  const name = link.querySelector("img")?.alt || "";
  dialog.querySelector(".att-dialog-title").textContent = name;
  const full = dialog.querySelector(".att-full");
  full.src = link.href;
  full.alt = name;
  dialog.querySelector("[data-att-full]").href = link.href;
  open(dialog, link);
  return true;
}

async function openText(button) {
  const dialog = document.getElementById("att-textview");
  const item = button.closest(".att");
  dialog.querySelector(".att-dialog-title").textContent = item.querySelector("[data-att-name]").textContent;
  const pre = dialog.querySelector(".att-text");
  pre.textContent = gettext("Loading…");
  open(dialog, button);
  try {
    const response = await fetch(button.dataset.attText, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    pre.textContent = await response.text();
  } catch {
    pre.textContent = gettext("The text could not be loaded. Try again.");
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("[data-att-open]");
  if (link && link.href && openImage(link)) {
    event.preventDefault();
    return;
  }
  const read = event.target.closest("[data-att-text]");
  if (read) {
    openText(read);
    return;
  }
  const close = event.target.closest("[data-att-close]");
  if (close) {
    close.closest("dialog").close();
    return;
  }
  // A click on the dim backdrop around a dialog (the <dialog> itself) closes it.
  if (event.target instanceof HTMLDialogElement && event.target.classList.contains("att-dialog")) event.target.close();
});

for (const dialog of document.querySelectorAll(".att-dialog")) {
  dialog.addEventListener("close", () => {
    if (dialog.id === "att-lightbox") dialog.querySelector(".att-full").removeAttribute("src");
    opener?.focus();
    opener = null;
  });
}
