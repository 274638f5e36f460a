// The sidebar's search: results in place of the conversation list as you type, the
// hits marked; arrows move through them, Enter opens one, Esc goes back to the list.
// A result opens its conversation at the message (#message-<id>), which this module
// then scrolls to and highlights.
import DOMPurify from "dompurify";
import { unfold } from "chatweb/message-tools.js";

const form = document.getElementById("sidebar-search");
const input = document.getElementById("sidebar-search-q");
const panel = document.getElementById("sidebar-search-results");
const nav = document.querySelector(".conv-nav");
const DELAY_MS = 200;
let timer = 0;
let controller = null;

function showList(searching) {
  if (panel) panel.hidden = !searching;
  if (nav) nav.hidden = searching;
}

/** The server's snippet is escaped text with <mark>; keep exactly that, nothing else. */
function markedNode(className, html) {
  const span = document.createElement("span");
  span.className = className;
  span.innerHTML = DOMPurify.sanitize(html, { ALLOWED_TAGS: ["mark"], ALLOWED_ATTR: [] });
  return span;
}

function textNode(className, text) {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  return span;
}

function render(query, results) {
  panel.replaceChildren();
  if (!results.length) {
    const p = document.createElement("p");
    p.className = "search-empty";
    p.textContent = interpolate(gettext("Nothing matches “%(query)s”."), { query }, true);
    panel.append(p);
    return;
  }
  const list = document.createElement("ol");
  list.className = "search-results";
  list.setAttribute("aria-label", interpolate(gettext("Results for “%(query)s”"), { query }, true));
  for (const hit of results) {
    const item = document.createElement("li");
    item.className = "search-hit";
    const link = document.createElement("a");
    link.href = hit.url;
    if (hit.message_id === null) {
      // The title matched: mark it there, and say so.
      link.append(markedNode("search-title", hit.snippet_html), textNode("search-snippet", gettext("Title")));
    } else {
      link.append(textNode("search-title", hit.title || gettext("New chat")), markedNode("search-snippet", hit.snippet_html));
    }
    item.append(link);
    list.append(item);
  }
  panel.append(list);
}

async function run(query) {
  controller?.abort();
  if (!query) {
    showList(false);
    return;
  }
  controller = new AbortController();
  try {
    const response = await fetch(`${form.action}?q=${encodeURIComponent(query)}`, {
      headers: { Accept: "application/json" },
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(String(response.status));
    const data = await response.json();
    if (input.value.trim() !== query) return;
    render(query, data.results);
    showList(true);
  } catch (error) {
    if (error.name === "AbortError") return;
    panel.replaceChildren();
    const p = document.createElement("p");
    p.className = "search-empty";
    p.textContent = gettext("The search failed. Try again.");
    panel.append(p);
    showList(true);
  }
}

function links() {
  return [...panel.querySelectorAll(".search-hit a")];
}

if (form && input && panel) {
  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => run(input.value.trim()), DELAY_MS);
  });
  form.addEventListener("submit", (event) => {
    // Enter in the box opens the first result when there is one.
    const first = links()[0];
    if (first && !panel.hidden) {
      event.preventDefault();
      first.click();
    }
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && input.value) {
      event.stopPropagation();
      input.value = "";
      showList(false);
    } else if (event.key === "ArrowDown") {
      event.preventDefault();
      links()[0]?.focus();
    }
  });
  panel.addEventListener("keydown", (event) => {
    const all = links();
    const at = all.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = at + (event.key === "ArrowDown" ? 1 : -1);
      if (next < 0) input.focus();
      else all[Math.min(next, all.length - 1)]?.focus();
    } else if (event.key === "Escape") {
      event.stopPropagation();
      input.focus();
    }
  });
}

/** After a jump from a result: bring the message into view and mark it for a moment. */
function revealTarget() {
  const match = /^#message-(\d+)$/.exec(window.location.hash);
  if (!match) return;
  const target = document.getElementById(`message-${match[1]}`);
  if (!target) return;
  target.classList.add("is-found");
  unfold(target);
  target.scrollIntoView({ block: "center" });
}

revealTarget();
// Math and diagrams may change heights after the first paint.
window.addEventListener("load", revealTarget);
