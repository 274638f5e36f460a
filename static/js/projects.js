// Projects: drag a conversation onto a project in the sidebar (or onto "Chats" to take it
// out of its project), and the project page's delete confirmation, which says what
// happens to its chats. Dragging only adds a way: every move is the same POST as the
// move menus' form (/c/<id>/project/), and the page is then loaded again, so what it
// shows is the server's. Keyboard and screen-reader users move with the menus.

import { csrfToken } from "chatweb/sse.js";
import { showToast } from "chatweb/toast.js";

const DRAG_TYPE = "application/x-chatweb-conversation";
let dragged = null; // the dragged row's move URL (dataTransfer is unreadable on dragover)

document.addEventListener("dragstart", (event) => {
  const row = event.target.closest?.("[data-move-url]");
  if (!row) return;
  dragged = row.dataset.moveUrl;
  event.dataTransfer.setData(DRAG_TYPE, dragged);
  event.dataTransfer.effectAllowed = "move";
  document.body.classList.add("dragging-conversation");
});

document.addEventListener("dragend", () => {
  dragged = null;
  document.body.classList.remove("dragging-conversation");
  for (const target of document.querySelectorAll(".drop-over")) target.classList.remove("drop-over");
});

function dropTarget(event) {
  return dragged ? event.target.closest?.("[data-drop-project]") : null;
}

document.addEventListener("dragover", (event) => {
  const target = dropTarget(event);
  if (!target) return;
  event.preventDefault(); // a drop is allowed here
  event.dataTransfer.dropEffect = "move";
  target.classList.add("drop-over");
});

document.addEventListener("dragleave", (event) => {
  const target = dropTarget(event);
  if (target && !target.contains(event.relatedTarget)) target.classList.remove("drop-over");
});

document.addEventListener("drop", async (event) => {
  const target = dropTarget(event);
  if (!target) return;
  event.preventDefault();
  const url = dragged;
  target.classList.remove("drop-over");
  const body = new FormData();
  body.set("project", target.dataset.dropProject);
  try {
    const response = await fetch(url, {
      method: "POST",
      body,
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    });
    const result = await response.json();
    if (!result.ok) {
      showToast(result.error);
      return;
    }
    window.location.reload();
  } catch {
    showToast(gettext("The chat could not be moved. Try again, or use its menu."));
  }
});

// Deleting a project asks first, in words that match the choice made for its chats.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("project-delete")) return;
  const choice = form.elements.namedItem("conversations").value;
  const question = choice === "delete" ? form.dataset.confirmDelete : form.dataset.confirmKeep;
  if (!window.confirm(question)) event.preventDefault();
});
