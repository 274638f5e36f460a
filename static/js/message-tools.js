// A message's own tools, beside chat.js's protocol (conversations/_message.html holds
// their markup, rendered by the server):
// - when it was written: the <time> the server rendered in the reader's time zone, shown
//   on hover, keyboard focus or a tap of the message; filled here for a message that
//   arrives live (same zone: the page's data-time-zone);
// - its markdown source instead of the rendering (a toggle per message, not saved);
// - a long message folded with a fade and "Show more": taller than FOLD_SCREENS screens;
// - an answer's thumbs up or down, saved for its owner (conversations.views.message_rating).

import { csrfToken } from "chatweb/sse.js";
import { showToast } from "chatweb/toast.js";

// A message taller than this many screens (the window's height) is folded, to a screen.
const FOLD_SCREENS = 2;

const main = document.getElementById("chat");
const list = document.getElementById("messages");
const lang = document.documentElement.lang || undefined;

function formats(zone) {
  try {
    return [
      new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: zone }),
      new Intl.DateTimeFormat(lang, { dateStyle: "long", timeStyle: "short", timeZone: zone }),
    ];
  } catch {
    // A zone this browser does not know: its own.
    return zone ? formats(undefined) : [null, null];
  }
}
const [shortTime, longTime] = formats(main?.dataset.timeZone || undefined);

function articlesIn(root) {
  if (!root) return [];
  return root.matches?.(".msg") ? [root] : [...root.querySelectorAll(".msg")];
}

/** The <time> of a message that arrived live (the server's template has an empty one). */
export function fillTime(article, iso) {
  const time = article.querySelector("[data-time]");
  const date = new Date(iso);
  if (!time || !iso || Number.isNaN(date.getTime()) || !shortTime) return;
  time.dateTime = iso;
  time.textContent = shortTime.format(date);
  time.title = longTime.format(date);
}

// ---- Source ----------------------------------------------------------------------------

function sourceText(article) {
  if (article.dataset.role === "user") return article.querySelector("[data-bubble]").textContent;
  return article.querySelector("template[data-raw]")?.content.textContent ?? "";
}

function showSource(article, on) {
  const shown = article.querySelector("[data-fold]");
  const button = article.querySelector('[data-tool="source"]');
  let source = article.querySelector(".msg-source");
  if (on) {
    source ??= document.createElement("pre");
    source.className = "msg-source";
    source.dataset.source = "";
    source.textContent = sourceText(article);
    shown.after(source);
  } else {
    source?.remove();
  }
  shown.hidden = on;
  article.classList.toggle("shows-source", on);
  button?.setAttribute("aria-pressed", String(on));
}

// ---- Folding ---------------------------------------------------------------------------

function targetId() {
  return /^#message-(\d+)$/.exec(window.location.hash)?.[1] ?? null;
}

function setFolded(article, folded) {
  const button = article.querySelector('[data-tool="more"]');
  article.classList.toggle("is-folded", folded);
  if (!button) return;
  button.hidden = false;
  button.textContent = folded ? gettext("Show more") : gettext("Show less");
  button.setAttribute("aria-expanded", String(!folded));
}

/**
 * Folds the long messages under root: never an answer being written, nor the message a
 * search result jumps to. Heights are all read before any message is folded.
 */
export function foldLong(root) {
  const limit = FOLD_SCREENS * window.innerHeight;
  const target = targetId();
  const long = articlesIn(root).filter((article) => {
    if (article.dataset.foldChecked || article.classList.contains("is-streaming")) return false;
    const body = article.querySelector("[data-fold]");
    if (!body || body.hidden) return false;
    article.dataset.foldChecked = "true";
    return body.scrollHeight > limit && article.dataset.messageId !== target;
  });
  for (const article of long) setFolded(article, true);
}

/** Shows a folded message whole (a search result's message, say). */
export function unfold(article) {
  if (article?.classList.contains("is-folded")) setFolded(article, false);
}

// ---- Rating ----------------------------------------------------------------------------

/** Shows an answer's rating ("up", "down" or none) on its two buttons. */
export function showRating(article, rating) {
  for (const button of article.querySelectorAll('[data-tool="rate"]')) {
    button.setAttribute("aria-pressed", String(button.dataset.rating === rating));
  }
}

async function rate(article, button) {
  const wanted = button.getAttribute("aria-pressed") === "true" ? "" : button.dataset.rating;
  const url = `/c/${main.dataset.conversationId}/messages/${article.dataset.messageId}/rating/`;
  let data = null;
  try {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: new URLSearchParams({ rating: wanted }),
    });
    data = await response.json();
  } catch {
    data = null;
  }
  if (!data?.ok) {
    showToast(data?.error || gettext("Could not save your rating. Try again."));
    return;
  }
  showRating(article, data.rating);
}

// ---- Events ----------------------------------------------------------------------------

list?.addEventListener("click", (event) => {
  const article = event.target.closest(".msg");
  if (!article) return;
  const button = event.target.closest("[data-tool]");
  if (!button) {
    // A tap on the message (a phone has no hover) shows its time, a second one hides it.
    if (!event.target.closest("a, button, input, textarea, summary") && !window.getSelection()?.toString()) {
      article.classList.toggle("shows-time");
    }
    return;
  }
  if (article.classList.contains("is-streaming")) return;
  switch (button.dataset.tool) {
    case "source":
      showSource(article, button.getAttribute("aria-pressed") !== "true");
      break;
    case "more": {
      const folding = !article.classList.contains("is-folded");
      setFolded(article, folding);
      if (folding && article.getBoundingClientRect().top < 0) article.scrollIntoView({ block: "start" });
      break;
    }
    case "rate":
      rate(article, button);
      break;
    default:
      break;
  }
});
