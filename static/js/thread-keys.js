// The thread by keyboard: each message is one Tab stop, and only one message at a time
// (the newest, or the one last focused) has its buttons and links in the Tab order, so
// an answer's Copy, Regenerate, Edit and branch arrows are a few keystrokes from the
// composer however long the thread (a roving tab stop). On a focused message, ArrowUp
// and ArrowDown (or Home and End) move to the previous and next message. The second
// skip link lands on the newest message.

const list = document.getElementById("messages");
const FOCUSABLE = "a[href], button, input, select, textarea, summary, iframe, [tabindex]";
// Set on what this module took out of the Tab order, with its own tabindex ("" for none).
const SAVED = "rovingTabindex";

let current = null;

function messages() {
  // A comparison's answers are in its columns (conversations/_compare.html).
  const selector = ":scope > article.msg, :scope > * > article.msg, :scope > [data-compare] > * > article.msg";
  return list ? [...list.querySelectorAll(selector)] : [];
}

function setTabbable(article, on) {
  article.tabIndex = on ? 0 : -1;
  for (const el of article.querySelectorAll(FOCUSABLE)) {
    if (on && el.dataset[SAVED] !== undefined) {
      if (el.dataset[SAVED] === "") el.removeAttribute("tabindex");
      else el.setAttribute("tabindex", el.dataset[SAVED]);
      delete el.dataset[SAVED];
    } else if (!on && el.dataset[SAVED] === undefined) {
      el.dataset[SAVED] = el.getAttribute("tabindex") ?? "";
      el.tabIndex = -1;
    }
  }
}

/** Makes `article` the one message in the Tab order (the newest when none is given). */
function refresh(article = null) {
  const all = messages();
  if (article) current = article;
  // The newest message, unless the reader is somewhere in the thread.
  if (!current || !current.isConnected || (!article && !list.contains(document.activeElement))) {
    current = all.at(-1) ?? null;
  }
  for (const message of all) setTabbable(message, message === current);
}

function focusMessage(article) {
  if (!article) return;
  refresh(article);
  article.focus();
}

if (list) {
  refresh();

  list.addEventListener("focusin", (event) => {
    const article = event.target.closest("article.msg");
    if (article && article !== current) refresh(article);
  });

  list.addEventListener("keydown", (event) => {
    if (!event.target.matches("article.msg")) return;
    const all = messages();
    const at = all.indexOf(event.target);
    const to = { ArrowUp: at - 1, ArrowDown: at + 1, Home: 0, End: all.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    focusMessage(all[Math.max(0, Math.min(all.length - 1, to))]);
  });

  // Messages arrive, stream and go (chat.js renders them): new links and buttons in a
  // message that is not the current one leave the Tab order too.
  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      refresh();
    });
  }).observe(list, { childList: true, subtree: true });
}

for (const link of document.querySelectorAll("[data-skip-thread]")) {
  link.addEventListener("click", (event) => {
    const newest = messages().at(-1);
    if (!newest) return;
    event.preventDefault();
    focusMessage(newest);
  });
}
