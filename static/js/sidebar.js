// The conversation list: the phone drawer, inline rename, confirm before delete, "Load
// more" (the server renders the next page of the list; it loads by itself when it scrolls
// into view), and title, pin and archive updates pushed by the server.

const app = document.getElementById("app");
const sidebar = document.getElementById("sidebar");
const toggles = document.querySelectorAll("[data-drawer-toggle]");

function setDrawer(open) {
  if (!app) return;
  app.classList.toggle("drawer-open", open);
  for (const t of toggles) t.setAttribute("aria-expanded", String(open));
  if (open) sidebar?.querySelector(".new-chat")?.focus();
}

for (const t of toggles) {
  t.addEventListener("click", () => setDrawer(!app.classList.contains("drawer-open")));
}
for (const c of document.querySelectorAll("[data-drawer-close]")) {
  c.addEventListener("click", () => {
    setDrawer(false);
    toggles[0]?.focus();
  });
}
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && app?.classList.contains("drawer-open")) {
    setDrawer(false);
    toggles[0]?.focus();
  }
});

function startRename(item) {
  const form = item.querySelector(".rename-form");
  const input = form.querySelector("input[name=title]");
  item.classList.add("renaming");
  form.hidden = false;
  input.value = item.querySelector(".conv-title").textContent.trim();
  input.focus();
  input.select();
}

function cancelRename(item) {
  item.classList.remove("renaming");
  item.querySelector(".rename-form").hidden = true;
}

// The next page is list items rendered by the server (Django escapes every title); they
// replace the "Load more" item, which the page brings again if more follow.
async function loadMore(button) {
  if (button.disabled) return;
  button.disabled = true;
  try {
    const response = await fetch(button.dataset.loadMore, { headers: { Accept: "text/html" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    button.closest(".conv-more").outerHTML = await response.text();
    dropDuplicates();
    groupConversations();
    watchForMore();
  } catch {
    button.disabled = false;
  }
}

// A row moved by another tab (onOrganised, below) may come again with the next page:
// the one already shown stays.
function dropDuplicates() {
  const seen = new Set();
  for (const item of document.querySelectorAll("#conv-list .conv[data-conversation-id]")) {
    if (seen.has(item.dataset.conversationId)) item.remove();
    else seen.add(item.dataset.conversationId);
  }
}

// The next page comes by itself when "Load more" scrolls into view (the list's end, in the
// sidebar or the phone's drawer), as in ChatGPT; the button stays for keyboards and for a
// load that failed (the observer fires again only when it leaves view and comes back).
// The list scrolls inside .conv-nav: that is the root, so the margin starts the load
// 200 px before the button shows (with the viewport as root, the nav's clipping hid it).
const conversationNav = sidebar?.querySelector(".conv-nav") ?? null;
const nearEnd = window.IntersectionObserver && conversationNav
  ? new IntersectionObserver((entries) => {
      for (const entry of entries) if (entry.isIntersecting) loadMore(entry.target);
    }, { root: conversationNav, rootMargin: "0px 0px 200px 0px" })
  : null;

function watchForMore() {
  const button = sidebar?.querySelector("[data-load-more]");
  if (!nearEnd || !button) return;
  nearEnd.disconnect();
  nearEnd.observe(button);
}

watchForMore();

sidebar?.addEventListener("click", (event) => {
  const rename = event.target.closest("[data-rename]");
  if (rename) startRename(rename.closest(".conv"));
  const more = event.target.closest("[data-load-more]");
  if (more) loadMore(more);
});

sidebar?.addEventListener("keydown", (event) => {
  const form = event.target.closest(".rename-form");
  if (form && event.key === "Escape") {
    event.stopPropagation();
    const item = form.closest(".conv");
    cancelRename(item);
    item.querySelector("[data-rename]").focus();
  }
});

// Leaving the rename field (but not for its own Save button) cancels the rename.
sidebar?.addEventListener("focusout", (event) => {
  const form = event.target.closest(".rename-form");
  if (form && !form.contains(event.relatedTarget)) cancelRename(form.closest(".conv"));
});

sidebar?.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// ---- Grouped by date, in the reader's own time zone ------------------------------------
// The server labels each item in the zone of the user's settings (data-date-group:
// conversations/dates.py); dateGroup() is the fallback, in the device's zone.

const DAY_MS = 24 * 60 * 60 * 1000;

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** gettext("Today"), gettext("Yesterday"), gettext("Previous 7 days"), gettext("Previous 30 days"), then month and year. */
export function dateGroup(when, now = new Date()) {
  const days = Math.round((startOfDay(now) - startOfDay(when)) / DAY_MS);
  if (days <= 0) return gettext("Today");
  if (days === 1) return gettext("Yesterday");
  if (days <= 7) return gettext("Previous 7 days");
  if (days <= 30) return gettext("Previous 30 days");
  const sameYear = when.getFullYear() === now.getFullYear();
  return when.toLocaleDateString(document.documentElement.lang || undefined, sameYear ? { month: "long" } : { month: "long", year: "numeric" });
}

/**
 * Puts a heading before the first conversation of each date group. The list is newest
 * first (the server orders it), so a group starts wherever the label changes; run again
 * whenever items are added (a next page, a new chat).
 */
export function groupConversations() {
  const list = document.getElementById("conv-list");
  if (!list) return;
  for (const heading of list.querySelectorAll(".conv-group")) heading.remove();
  let previous = null;
  for (const item of list.querySelectorAll(".conv[data-updated-at]")) {
    const when = new Date(item.dataset.updatedAt);
    if (Number.isNaN(when.getTime())) continue;
    const label = item.dataset.dateGroup || dateGroup(when);
    if (label === previous) continue;
    previous = label;
    const heading = document.createElement("li");
    heading.className = "conv-group";
    const text = document.createElement("h3");
    text.className = "conv-group-label";
    text.textContent = label;
    heading.append(text);
    item.before(heading);
  }
}

groupConversations();

/** Shows a new title for a conversation in the list (from a `title` frame). */
export function setConversationTitle(conversationId, title) {
  const item = sidebar?.querySelector(`.conv[data-conversation-id="${Number(conversationId)}"]`);
  if (!item) return;
  const label = title || gettext("New chat");
  item.querySelector(".conv-title").textContent = label;
  item.querySelector(".conv-link").title = label;
  item.querySelector("[data-rename]")?.setAttribute("aria-label", interpolate(gettext("Rename “%(title)s”"), { title: label }, true));
}

// ---- Pinned, unpinned, archived or restored in another tab --------------------------------
// An `organised` frame (docs/protocol.md) only says which conversation changed: the row
// is fetched again as the server renders it now (the database is the truth, so frames
// that cross, a pin in one tab and an archive in another, end as the last write left it).
// Fetches of one conversation run one after another, so an older answer never lands last.

const rowUpdates = new Map();

function rowOrder(item) {
  return {
    pinned: item.hasAttribute("data-pinned"),
    when: new Date(item.dataset.updatedAt).getTime(),
    id: Number(item.dataset.conversationId),
  };
}

// True when a comes before b in the server's order: pinned first, then newest, then by id.
function before(a, b) {
  if (a.pinned !== b.pinned) return a.pinned;
  if (a.when !== b.when) return a.when > b.when;
  return a.id > b.id;
}

function placeRow(list, row) {
  const key = rowOrder(row);
  const next = [...list.querySelectorAll(".conv[data-conversation-id]")].find((item) => before(key, rowOrder(item)));
  if (next) {
    next.before(row);
    return;
  }
  // Past the last row shown: if more rows follow on the server, it comes with them.
  if (list.querySelector(".conv-more")) return;
  list.append(row);
}

async function refreshRow(conversationId) {
  const list = document.getElementById("conv-list");
  if (!list) return;
  const current = Number(document.getElementById("chat")?.dataset.conversationId) || "";
  const response = await fetch(`/c/${conversationId}/row/?current=${current}`, { headers: { Accept: "text/html" } });
  if (!response.ok && response.status !== 404) throw new Error(`HTTP ${response.status}`);
  list.querySelector(`.conv[data-conversation-id="${conversationId}"]`)?.remove();
  if (response.status === 200) {
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    const row = template.content.querySelector(".conv");
    if (row) {
      list.querySelector(".conv-empty")?.remove();
      placeRow(list, row);
    }
  }
  groupConversations();
}

/** Shows an `organised` frame: one conversation's row moved or dropped, or all archived. */
export function onOrganised(frame) {
  const list = document.getElementById("conv-list");
  if (!list) return;
  if (frame.conversation_id === null) {
    for (const item of list.querySelectorAll(".conv, .conv-group, .conv-more")) item.remove();
    return;
  }
  const id = Number(frame.conversation_id);
  const previous = rowUpdates.get(id) ?? Promise.resolve();
  const next = previous.then(() => refreshRow(id)).catch(() => {});
  rowUpdates.set(id, next);
  next.then(() => {
    if (rowUpdates.get(id) === next) rowUpdates.delete(id);
  });
}
