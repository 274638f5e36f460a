// The conversation page: turns socket frames into the thread, as docs/protocol.md says.
//
// For each streaming answer (two at once in a comparison: compare.js) the page keeps its
// text and the last `seq` applied, by the answer's id:
//   delta seq == last + 1  -> append
//   delta seq <= last      -> duplicate, ignore
//   gap, or last unknown   -> keep the delta aside, send `sync`; the `snapshot` replaces
//                             the text, sets last, then the kept deltas after it apply.
//   done                   -> the server's sanitized HTML replaces the live rendering.
import { ChatSocket } from "chatweb/socket.js";
import { EventTransport } from "chatweb/sse.js";
import { setupComposer } from "chatweb/composer.js";
import { onOrganised, setConversationTitle } from "chatweb/sidebar.js";
import { copyText, enhanceCodeBlocks } from "chatweb/code-copy.js";
import { renderMath } from "chatweb/math.js";
import { renderDiagrams } from "chatweb/diagrams.js";
import { sanitizeHtml } from "chatweb/render.js";
import { LiveMarkdown } from "chatweb/live-render.js";
import { fillTime, foldLong, showRating } from "chatweb/message-tools.js";
import { showToast } from "chatweb/toast.js";
import { showFinishedThinking, showLiveThinking } from "chatweb/thinking.js";
import { setupCompareMenu } from "chatweb/compare.js";
import { fillAttachments } from "chatweb/attachment-view.js";

const LIVE_STATUSES = new Set(["pending", "streaming"]);
const STICK_THRESHOLD_PX = 48;
const PENDING_SYNC_MS = 5_000;
// A streaming answer that sends nothing for this long may belong to a process that died
// after its last frame: ask for a snapshot, which ends such an answer once it is stale.
const SILENCE_SYNC_MS = 15_000;
const MAX_KEPT_DELTAS = 5_000;

const main = document.getElementById("chat");
const thread = document.getElementById("thread");
const list = document.getElementById("messages");
const form = document.getElementById("composer");
const modelSelect = document.getElementById("model-select");
const connStatus = document.getElementById("conn-status");
const titleHeading = document.getElementById("chat-title");

const conversationId = Number(main.dataset.conversationId) || null;
const wsPath = main.dataset.wsPath;

/** The streaming answers by id, each {id, el, body, view, text, reasoning, last, dirty}
 * (last is null while unknown; reasoning is a reasoning model's thinking, shown by
 * thinking.js; view renders the text, live-render.js). One, or two in a comparison. */
const lives = new Map();
/** Deltas that arrived out of step, applied after the next snapshot. */
let kept = [];
/** Text of the last `send`, put back into the composer if the server rejects it. */
let lastSent = null;
/** A `send` or `regenerate` is on its way and its answer has not appeared yet. */
let pending = false;
let pendingTimer = 0;
let renderFrame = 0;
let silenceTimer = 0;
/** Follow new text only while the reader is at the bottom of the thread. */
let stick = true;

const composer = setupComposer(form, { onSend: sendMessage, onStop: stopAnswer });
let socket = null;
const compareMenu = setupCompareMenu({ onChoose: compareWith });

// ---- DOM helpers ---------------------------------------------------------------------

function messageElement(id) {
  return document.getElementById(`message-${id}`);
}

function atBottom() {
  return thread.scrollHeight - thread.scrollTop - thread.clientHeight < STICK_THRESHOLD_PX;
}

function scrollToBottom() {
  thread.scrollTop = thread.scrollHeight;
}

function followIfStuck() {
  if (stick) scrollToBottom();
}

// Only the reader scrolling up stops the following: a scroll event that comes after the
// layout changed (the thread's box shrank, or its content grew, between our scroll to the
// bottom and the event) is not the reader leaving the bottom.
let lastScrollTop = 0;
thread.addEventListener("scroll", () => {
  const up = thread.scrollTop < lastScrollTop;
  lastScrollTop = thread.scrollTop;
  if (up) stick = atBottom();
  else if (atBottom()) stick = true;
});

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A new message element: a clone of chat.html's <template>, which is
 * conversations/_message.html rendered for an empty message, filled in here.
 */
function buildMessage(m) {
  const role = m.role === "user" ? "user" : "assistant";
  const template = document.getElementById(`message-template-${role}`);
  const article = template.content.firstElementChild.cloneNode(true);
  article.id = `message-${m.id}`;
  article.dataset.messageId = String(m.id);
  article.dataset.status = m.status;
  article.dataset.parentId = m.parent_id == null ? "" : String(m.parent_id);
  article.dataset.createdAt = m.created_at || "";
  const editId = `edit-${m.id}`;
  article.querySelector("[data-edit-form] label")?.setAttribute("for", editId);
  const editText = article.querySelector("[data-edit-form] textarea");
  if (editText) editText.id = editId;
  if (role === "user") {
    article.querySelector("[data-bubble]").textContent = m.content;
    fillAttachments(article, m.attachments || []);
  } else {
    setRaw(article, m.content || "");
    const model = article.querySelector("[data-model]");
    model.textContent = m.model || "";
    model.hidden = !m.model;
    showRating(article, m.rating ?? null);
  }
  fillTime(article, m.created_at);
  return article;
}

/** The raw markdown Copy puts on the clipboard (an inert <template> in the message). */
function setRaw(article, text) {
  const raw = article.querySelector("template[data-raw]");
  if (raw) raw.content.replaceChildren(document.createTextNode(text));
}

function rawText(article) {
  const live = lives.get(Number(article.dataset.messageId));
  if (live && live.el === article) return live.text;
  if (article.dataset.role === "user") return article.querySelector("[data-bubble]").textContent;
  return article.querySelector("template[data-raw]")?.content.textContent ?? "";
}

/** Text as Django's |linebreaks shows it: paragraphs and line breaks, never markup. */
function escapedParagraphs(text) {
  return text
    .replace(/\r\n?/g, "\n")
    .split(/\n{2,}/)
    .filter((part) => part.trim())
    .map((part) => {
      const p = document.createElement("p");
      part.split("\n").forEach((line, i) => {
        if (i) p.append(document.createElement("br"));
        p.append(line);
      });
      return p;
    });
}

/** The status note under a finished answer, like conversations/_message_status.html. */
function fillStatus(area, m) {
  area.replaceChildren();
  if (m.status === "stopped") {
    area.append(el("p", "msg-note", gettext("Stopped.")));
  } else if (m.status === "error" || m.status === "interrupted") {
    const callout = el("div", "msg-callout");
    callout.setAttribute("role", "alert");
    const heading =
      m.status === "error" ? gettext("The answer failed.") : gettext("The answer was interrupted.");
    const fallback =
      m.status === "error"
        ? gettext("Something went wrong while generating it.")
        : gettext("The server stopped before the answer was finished.");
    callout.append(el("strong", "", heading), document.createTextNode(` ${m.error || fallback}`));
    area.append(callout);
  } else if (m.status === "done" && m.finish_reason === "length") {
    area.append(el("p", "msg-note", gettext("The answer reached the length limit.")));
  }
  // The question's documents that did not fit the model's window whole (#21).
  for (const cut of m.context_cut || []) {
    const sentence = gettext("Only %(percent)s% of %(name)s fit in the model’s context window.");
    area.append(el("p", "msg-note", interpolate(sentence, cut, true)));
  }
}

/** Removes the messages after `parentId`: a new message there starts a new branch. */
function pruneAfter(parentId) {
  const parent = messageElement(parentId);
  if (!parent) return;
  // An answer inside a comparison: the comparison is the thread's item.
  let node = (parent.closest("[data-compare]") || parent).nextElementSibling;
  while (node) {
    const next = node.nextElementSibling;
    if (node.classList.contains("msg") || node.hasAttribute("data-compare")) node.remove();
    node = next;
  }
}

/**
 * Puts a message the page has not seen into the thread. False when its parent is not
 * here either: the page missed more than one frame and reloads to get back in step.
 */
function place(m) {
  if (m.parent_id != null && !messageElement(m.parent_id)) {
    reloadOnce();
    return false;
  }
  if (m.parent_id != null) pruneAfter(m.parent_id);
  // A new first message (an edit of the first one) starts the thread over.
  else for (const node of list.querySelectorAll(".msg, [data-compare]")) node.remove();
  list.querySelector(".welcome")?.remove();
  list.append(buildMessage(m));
  return true;
}

function reloadOnce() {
  // Guard against a reload loop if the server and page keep disagreeing.
  const key = "chatweb:resync-reload";
  const last = Number(sessionStorage.getItem(key) || 0);
  if (Date.now() - last < 10_000) return;
  sessionStorage.setItem(key, String(Date.now()));
  window.location.reload();
}

// ---- The streaming answer ------------------------------------------------------------

function watchSilence() {
  clearTimeout(silenceTimer);
  if (!lives.size) return;
  silenceTimer = setTimeout(() => {
    socket?.sync();
    watchSilence();
  }, SILENCE_SYNC_MS);
}

function scheduleRender() {
  if (renderFrame) return;
  renderFrame = requestAnimationFrame(() => {
    renderFrame = 0;
    for (const live of lives.values()) {
      if (!live.dirty) continue;
      live.dirty = false;
      showLiveThinking(live.el, live);
      live.body.classList.remove("raw");
      live.view.update(live.text);
      enhanceCodeBlocks(live.body);
      renderMath(live.body);
    }
    followIfStuck();
  });
}

function setBusy(busy) {
  if (busy) list.setAttribute("aria-busy", "true");
  else list.removeAttribute("aria-busy");
}

function beginLive(m, article, { text, last }, { fromSnapshot = false } = {}) {
  const body = article.querySelector("[data-markdown]");
  const live = {
    id: m.id,
    el: article,
    body,
    // Starts empty: the next frame renders the text so far (the server's, escaped).
    view: new LiveMarkdown(body),
    text,
    reasoning: m.reasoning || "",
    last,
    dirty: true,
  };
  lives.set(m.id, live);
  article.classList.add("is-streaming");
  article.dataset.status = m.status;
  article.querySelector("[data-status-area]")?.replaceChildren();
  clearPending();
  composer.setState("streaming");
  setBusy(true);
  updateRegenerate();
  applyKept();
  scheduleRender();
  watchSilence();
  if (live.last === null && !fromSnapshot) socket?.sync();
}

function keep(delta) {
  if (kept.length < MAX_KEPT_DELTAS) kept.push(delta);
}

/** Each streaming answer whose place is known takes its kept deltas that follow it. */
function applyKept() {
  const waiting = [];
  let hole = false;
  for (const d of kept.sort((a, b) => a.seq - b.seq)) {
    const live = lives.get(d.message_id);
    if (!live || live.last === null) {
      waiting.push(d); // its answer's place is not known yet
    } else if (d.seq === live.last + 1) {
      live.text += d.text;
      live.reasoning += d.reasoning ?? "";
      live.last = d.seq;
      live.dirty = true;
    } else if (d.seq > live.last) {
      // Still a hole: keep the rest and ask again.
      waiting.push(d);
      hole = true;
    }
  }
  kept = waiting;
  if (hole) socket?.sync();
}

function onDelta(frame) {
  const live = lives.get(frame.message_id);
  if (!live || live.last === null) {
    keep(frame);
    socket?.sync();
    return;
  }
  if (frame.seq <= live.last) return;
  if (frame.seq !== live.last + 1) {
    keep(frame);
    socket?.sync();
    return;
  }
  live.text += frame.text;
  live.reasoning += frame.reasoning ?? "";
  live.last = frame.seq;
  live.dirty = true;
  scheduleRender();
  watchSilence();
}

/**
 * Show where older messages left the model's view: before the oldest message the answer
 * was sent (the server's partial, cloned from its <template>); none if all were sent.
 */
function markContextCut(fromId) {
  const template = document.getElementById("context-cut-template");
  if (!template) return;
  for (const old of list.querySelectorAll(".context-cut")) old.remove();
  const first = fromId ? messageElement(fromId) : null;
  if (!first || !first.previousElementSibling) return;
  first.before(template.content.firstElementChild.cloneNode(true));
}

function finish(m) {
  let article = messageElement(m.id);
  if (!article) {
    if (!place(m)) return;
    article = messageElement(m.id);
  }
  let folded = false;
  const live = lives.get(m.id);
  if (live) {
    folded = Boolean(live.folded);
    lives.delete(m.id);
    if (!lives.size) {
      clearTimeout(silenceTimer);
      cancelAnimationFrame(renderFrame);
      renderFrame = 0;
    }
  }
  kept = kept.filter((d) => d.message_id !== m.id);
  const body = article.querySelector("[data-markdown]");
  body.classList.remove("raw");
  if (m.role !== "user") {
    setRaw(article, m.content ?? "");
    showFinishedThinking(article, m, { folded });
    showRating(article, m.rating ?? null);
  }
  // An answer that ends in front of the reader is not folded (it would jump away while
  // being read); it is folded, if long, the next time the page shows it.
  article.dataset.foldChecked = "true";
  // As conversations/_message.html: the server's HTML, else the text escaped. Never the
  // browser's own rendering of the text: the server's sanitizer is the last word.
  if (m.html) body.innerHTML = sanitizeHtml(m.html);
  else body.replaceChildren(...escapedParagraphs(m.content ?? ""));
  enhanceCodeBlocks(body);
  renderMath(body);
  article.classList.remove("is-streaming");
  renderDiagrams(body);
  article.dataset.status = m.status;
  fillStatus(article.querySelector("[data-status-area]"), m);
  if (m.role === "assistant") markContextCut(m.context_from_id);
  if (!lives.size) {
    composer.setState(pending ? "pending" : "idle");
    setBusy(false);
  }
  updateRegenerate();
  followIfStuck();
}

// ---- Frames --------------------------------------------------------------------------

function onMessage(m) {
  let article = messageElement(m.id);
  if (!article) {
    if (!place(m)) return;
    article = messageElement(m.id);
  }
  if (m.role === "user") {
    if (lastSent !== null) composer.sent();
    lastSent = null;
    foldLong(article);
    followIfStuck();
    return;
  }
  if (LIVE_STATUSES.has(m.status)) {
    // A fresh answer has no text yet, so its first delta (seq 1) follows seq 0.
    const last = m.seq ?? (m.content ? null : 0);
    beginLive(m, article, { text: m.content || "", last });
  } else {
    finish(m);
  }
  followIfStuck();
}

function onSnapshot(m) {
  if (!m) {
    if (lives.size) {
      // The answer we showed as streaming is gone from the active path.
      lives.clear();
      composer.setState("idle");
      setBusy(false);
    }
    return;
  }
  let article = messageElement(m.id);
  if (!article) {
    if (!place(m)) return;
    article = messageElement(m.id);
  }
  if (LIVE_STATUSES.has(m.status)) {
    const last = m.seq ?? (m.content ? null : 0);
    const live = lives.get(m.id);
    if (live) {
      live.text = m.content || "";
      live.view.reset();
      live.reasoning = m.reasoning || "";
      live.last = last;
      live.dirty = true;
      applyKept();
      scheduleRender();
      watchSilence();
    } else {
      // No sync from here even if seq is missing: that would loop on the reply to it;
      // the next delta (or the silence watch) asks again.
      beginLive(m, article, { text: m.content || "", last }, { fromSnapshot: true });
    }
  } else {
    finish(m);
  }
}

function onTitle(frame) {
  setConversationTitle(frame.conversation_id, frame.title);
  if (Number(frame.conversation_id) === conversationId) {
    const title = frame.title || gettext("New chat");
    titleHeading.textContent = title;
    document.title = `${title} · Chatweb`;
  }
}

function onError(frame) {
  showToast(frame.message || interpolate(gettext("The server refused that (%(code)s)."), { code: frame.code }, true));
  if (frame.request === "send" && lastSent !== null) {
    composer.restore(lastSent);
    lastSent = null;
  }
  if (["send", "regenerate", "edit", "compare"].includes(frame.request)) {
    clearPending();
    if (!lives.size) composer.setState("idle");
    updateRegenerate();
  }
  // "busy": an answer streams that this page does not show; "not_streaming": the one it
  // shows has ended. Either way, a snapshot brings the page back in step.
  if (frame.code === "busy" || frame.code === "not_streaming") socket?.sync();
}

function onFrame(frame) {
  switch (frame.type) {
    case "message":
      onMessage(frame.message);
      break;
    case "delta":
      onDelta(frame);
      break;
    case "snapshot":
      onSnapshot(frame.message);
      break;
    case "done":
      finish(frame.message);
      break;
    case "title":
      onTitle(frame);
      break;
    case "path":
      reloadThread();
      break;
    case "organised":
      onOrganised(frame);
      break;
    case "error":
      onError(frame);
      break;
    default:
      // Unknown frames are ignored, so the server can add new ones first.
      break;
  }
}

// ---- Actions -------------------------------------------------------------------------

function startPending() {
  pending = true;
  composer.setState("pending");
  clearTimeout(pendingTimer);
  // If the answer's `message` frame was dropped, the snapshot will show it.
  pendingTimer = setTimeout(() => {
    socket?.sync();
    pendingTimer = setTimeout(givePendingUp, PENDING_SYNC_MS);
  }, PENDING_SYNC_MS);
}

/** Nothing came of a send: unlock the composer and give the text back. */
function givePendingUp() {
  if (!pending) return;
  clearPending();
  if (!lives.size) composer.setState("idle");
  updateRegenerate();
  if (lastSent !== null) {
    composer.restore(lastSent);
    lastSent = null;
    showToast(gettext("The server did not answer. Your message is back in the box; try again."));
  }
}

function clearPending() {
  pending = false;
  clearTimeout(pendingTimer);
}

function sendMessage(text, attachments = []) {
  if (lives.size || pending) return false;
  const frame = { type: "send", text };
  if (attachments.length) frame.attachments = attachments;
  if (modelSelect?.value) frame.model = modelSelect.value;
  if (!socket || !socket.send(frame)) {
    showToast(gettext("Not connected to the server yet; your message is still in the box."));
    return false;
  }
  lastSent = text;
  stick = true;
  scrollToBottom();
  startPending();
  updateRegenerate();
  return true;
}

/**
 * Stop pressed while the socket was (re)connecting: the answer it was meant for (its id,
 * or "pending" before the answer appeared), stopped as soon as the socket opens.
 */
let stopWantedFor = null;

function stopAnswer() {
  if (socket?.send({ type: "stop" })) {
    stopWantedFor = null;
    composer.stopRequested();
    return;
  }
  stopWantedFor = lives.size ? lives.keys().next().value : "pending";
  composer.stopRequested();
  showToast(gettext("Connecting to the server; the answer stops as soon as it is reached."));
}

/** Sends a frame that starts an answer (regenerate, edit): the composer waits for it. */
function sendAnswering(frame) {
  if (lives.size || pending) return false;
  if (modelSelect?.value) frame.model = modelSelect.value;
  if (!socket?.send(frame)) {
    showToast(gettext("Not connected to the server yet."));
    return false;
  }
  stick = true;
  startPending();
  updateRegenerate();
  return true;
}

/**
 * "Compare with…" a model: another model answers the same question beside this answer,
 * which may still be streaming (the only answer that may be, then).
 */
function compareWith(messageId, model) {
  if (pending || lives.size > 1 || (lives.size === 1 && !lives.has(messageId))) {
    showToast(gettext("Wait for the answer to finish, or stop it."));
    return;
  }
  if (!socket?.send({ type: "compare", message_id: messageId, model })) {
    showToast(gettext("Not connected to the server yet."));
    return;
  }
  stick = true;
  startPending();
  updateRegenerate();
}

function regenerate(messageId) {
  const frame = { type: "regenerate" };
  if (messageId) frame.message_id = messageId;
  sendAnswering(frame);
}

function sendFrame(frame) {
  if (lives.size || pending) {
    showToast(gettext("Wait for the answer to finish, or stop it."));
    return;
  }
  if (!socket?.send(frame)) showToast(gettext("Not connected to the server yet."));
}

function openEditor(article) {
  const formEl = article.querySelector("[data-edit-form]");
  const area = formEl.querySelector("textarea");
  area.value = rawText(article);
  area.maxLength = Number(main.dataset.maxChars) || 100000;
  article.classList.add("is-editing");
  formEl.hidden = false;
  area.focus();
}

function closeEditor(article) {
  article.classList.remove("is-editing");
  article.querySelector("[data-edit-form]").hidden = true;
}

async function copyMessage(article, button) {
  const ok = await copyText(rawText(article));
  button.dataset.copied = ok ? "true" : "false";
  button.title = ok ? gettext("Copied") : gettext("Copy failed");
  showToast(ok ? gettext("Copied.") : gettext("Copy failed."), ok ? "info" : "error");
  setTimeout(() => {
    delete button.dataset.copied;
    button.title = gettext("Copy");
  }, 1500);
}

list.addEventListener("click", (event) => {
  const earlier = event.target.closest("[data-earlier]");
  if (earlier) {
    showEarlier(earlier);
    return;
  }
  const button = event.target.closest("[data-action], [data-edit-cancel]");
  if (button?.dataset.action === "choose") {
    // A comparison's side, kept by a switch to it (docs/protocol.md): it closes the comparison.
    focusAfterReload = Number(button.dataset.targetId);
    sendFrame({ type: "switch", message_id: focusAfterReload });
    return;
  }
  const article = button?.closest(".msg");
  if (!article) return;
  const id = Number(article.dataset.messageId);
  if (button.hasAttribute("data-edit-cancel")) {
    closeEditor(article);
    return;
  }
  switch (button.dataset.action) {
    case "copy":
      copyMessage(article, button);
      break;
    case "edit":
      openEditor(article);
      break;
    case "regenerate":
      regenerate(id);
      break;
    case "switch":
      if (button.dataset.targetId) {
        sendFrame({ type: "switch", message_id: Number(button.dataset.targetId) });
      }
      break;
    case "compare":
      compareMenu.toggle(button);
      break;
    case "delete":
      if (
        window.confirm(
          article.dataset.role === "user"
            ? gettext("Delete this message and everything after it? This cannot be undone.")
            : gettext("Delete this answer and everything after it? This cannot be undone."),
        )
      ) {
        sendFrame({ type: "delete", message_id: id });
      }
      break;
    default:
      break;
  }
});

list.addEventListener("submit", (event) => {
  const formEl = event.target.closest("[data-edit-form]");
  if (!formEl) return;
  event.preventDefault();
  const article = formEl.closest(".msg");
  const text = formEl.querySelector("textarea").value;
  if (!text.trim()) return;
  const frame = { type: "edit", message_id: Number(article.dataset.messageId), text };
  if (sendAnswering(frame)) closeEditor(article);
});

list.addEventListener("keydown", (event) => {
  const formEl = event.target.closest?.("[data-edit-form]");
  if (!formEl) return;
  if (event.key === "Escape") {
    event.stopPropagation();
    closeEditor(formEl.closest(".msg"));
  } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    formEl.requestSubmit();
  }
});

/**
 * The message actions wait while an answer is written (the server would refuse them),
 * and a question left without an answer (its answer could not start) offers one.
 */
function updateRegenerate() {
  const busy = Boolean(lives.size || pending || !socket);
  list.classList.toggle("is-busy", busy);
  for (const b of list.querySelectorAll("[data-action]:not([data-action=copy])")) {
    b.disabled = busy || (b.dataset.action === "switch" && !b.dataset.targetId);
  }
  // One answer being written may be compared at once: both then stream side by side.
  if (lives.size === 1 && !pending && socket) {
    const [only] = lives.values();
    const button = only.el.querySelector('[data-action="compare"]');
    if (button && !only.el.closest("[data-compare]")) button.disabled = false;
  }
  for (const b of list.querySelectorAll(".answer-btn")) b.remove();
  if (busy) return;
  const messages = list.querySelectorAll(".msg");
  const last = messages[messages.length - 1];
  if (!last || last.dataset.role !== "user") return;
  const button = el("button", "btn btn-secondary btn-small answer-btn", gettext("Answer this"));
  button.type = "button";
  button.addEventListener("click", () => regenerate(Number(last.dataset.messageId)));
  last.querySelector("[data-actions]").append(button);
}

// ---- The active path changed (edit, regenerate, switch, delete: from any tab) ----------

let threadFetch = null;
/** The answer "Choose this one" chose: focused once the thread is shown again. */
let focusAfterReload = 0;
const STREAMING = '.msg[data-status="streaming"], .msg[data-status="pending"]';

/** Shows the active path again, as the server renders it (conversations/_thread.html). */
async function reloadThread() {
  threadFetch?.abort();
  const controller = new AbortController();
  threadFetch = controller;
  let html;
  try {
    const response = await fetch(`/c/${conversationId}/thread/`, {
      credentials: "same-origin",
      signal: controller.signal,
      headers: { Accept: "text/html" },
    });
    if (!response.ok) throw new Error(String(response.status));
    html = await response.text();
  } catch (error) {
    if (error.name !== "AbortError") showToast(gettext("Could not show the conversation again; reload the page."));
    return;
  }
  if (threadFetch !== controller) return;
  threadFetch = null;
  // Parsed inert (no script runs, the CSP holds), then moved in.
  const parsed = document.createElement("template");
  parsed.innerHTML = html;
  if (lives.size) {
    clearTimeout(silenceTimer);
    cancelAnimationFrame(renderFrame);
    renderFrame = 0;
    lives.clear();
  }
  compareMenu.close();
  list.replaceChildren(parsed.content);
  enhanceRendered(list);
  const streaming = list.querySelectorAll(STREAMING);
  if (streaming.length) {
    for (const article of streaming) resumeStreaming(article);
  } else {
    composer.setState(pending ? "pending" : "idle");
    setBusy(false);
  }
  updateRegenerate();
  followIfStuck();
  const chosen = focusAfterReload && messageElement(focusAfterReload);
  focusAfterReload = 0;
  if (chosen) {
    // The button pressed went with the comparison: focus goes to the answer it kept
    // (thread-keys.js makes it the thread's tab stop when it gets there).
    if (!chosen.hasAttribute("tabindex")) chosen.tabIndex = -1;
    chosen.focus({ preventScroll: true });
  }
}

/**
 * "Show earlier messages": the server renders the part of the path before the first one
 * shown (and the button again if still older ones exist); it goes above, the reader's
 * place kept.
 */
async function showEarlier(button) {
  button.disabled = true;
  let html;
  try {
    const response = await fetch(`/c/${conversationId}/thread/?before=${button.dataset.earlier}`, {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    });
    if (response.status === 409) {
      // The path changed (a branch switch in another tab, say): show it as it is now.
      reloadThread();
      return;
    }
    if (!response.ok) throw new Error(String(response.status));
    html = await response.text();
  } catch {
    button.disabled = false;
    showToast(gettext("Could not load the earlier messages. Try again."), "error");
    return;
  }
  const holder = button.closest(".thread-earlier");
  if (!holder?.isConnected) return; // the thread was shown again meanwhile
  const parsed = document.createElement("template");
  parsed.innerHTML = html;
  const fromBottom = thread.scrollHeight - thread.scrollTop;
  holder.replaceWith(parsed.content);
  enhanceRendered(list);
  thread.scrollTop = thread.scrollHeight - fromBottom;
  list.querySelector(".thread-earlier button")?.focus({ preventScroll: true });
}

function enhanceRendered(root) {
  enhanceCodeBlocks(root);
  renderMath(root);
  renderDiagrams(root);
  foldLong(root);
}

/** An answer the server showed as streaming: its text so far now, the snapshot next. */
function resumeStreaming(article) {
  const body = article.querySelector("[data-markdown]");
  beginLive(
    { id: Number(article.dataset.messageId), status: article.dataset.status },
    article,
    { text: body.textContent, last: null },
  );
}

// ---- Reading and stopping --------------------------------------------------------------

const toBottom = document.getElementById("to-bottom");

function updateToBottom() {
  if (toBottom) toBottom.hidden = atBottom();
}

thread.addEventListener("scroll", updateToBottom, { passive: true });
// Late layout changes the thread after the first scroll to the bottom: its content grows
// (fonts, math, diagrams, timestamps) or its own box shrinks (the composer's controls
// wrapping on a phone). A reader who has not scrolled up stays at the bottom, and the ↓
// button follows what is really in view (it showed over the last answer of a finished
// conversation).
const relayout = new ResizeObserver(() => {
  followIfStuck();
  updateToBottom();
});
relayout.observe(list);
relayout.observe(thread);
toBottom?.addEventListener("click", () => {
  stick = true;
  thread.scrollTo({ top: thread.scrollHeight, behavior: "smooth" });
});

// Esc stops the answer being written (as in ChatGPT), unless Esc means something nearer.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.defaultPrevented || !lives.size) return;
  if (event.target.closest?.("dialog, [data-edit-form], .rename-form, details[open]")) return;
  event.preventDefault();
  stopAnswer();
});

function showConnection(state, code, words) {
  if (state === "open" && stopWantedFor !== null) {
    const wanted = stopWantedFor;
    stopWantedFor = null;
    if ((lives.size && (lives.has(wanted) || wanted === "pending")) || (!lives.size && pending)) stopAnswer();
  }
  if (state === "open") {
    connStatus.hidden = true;
    connStatus.textContent = "";
    delete connStatus.dataset.state;
    return;
  }
  connStatus.hidden = false;
  connStatus.dataset.state = "offline";
  if (state === "reconnecting") {
    connStatus.textContent = gettext("Reconnecting…");
    return;
  }
  // Closed for good: socket.js says why, in words (docs/protocol.md, close codes).
  const [status, sentence] = words || [gettext("Unavailable"), interpolate(gettext("The connection closed (%(code)s)."), { code }, true)];
  connStatus.textContent = status;
  connStatus.dataset.closeCode = String(code);
  showToast(sentence);
}

// ---- Start ---------------------------------------------------------------------------

function start() {
  if (!wsPath) {
    // The home page: the composer is a plain POST form to conversation_create.
    focusComposer();
    return;
  }
  // An answer the server showed as streaming: render its text so far now, then take
  // the snapshot as the truth (its seq is unknown until then).
  for (const streaming of list.querySelectorAll(STREAMING)) resumeStreaming(streaming);
  renderDiagrams(document);
  foldLong(list);
  scrollToBottom();
  updateToBottom();
  socket = new ChatSocket(wsPath, {
    onFrame,
    onStatus: showConnection,
    // After a reconnect anything may have happened meanwhile: always ask.
    needsSync: (reconnected) => reconnected || lives.size > 0 || pending,
    onUnreachable: useHttpFallback,
  });
  socket.connect();
  updateRegenerate();
  focusComposer();
}

/**
 * WebSockets cannot get through (a proxy strips Upgrade, a network blocks them): the same
 * frames over Server-Sent Events, and what the page sends as HTTP calls (sse.js). Its
 * stream starts with a snapshot, so an answer already streaming resumes where it is.
 */
function useHttpFallback() {
  socket = new EventTransport(conversationId, { onFrame, onStatus: showConnection });
  main.dataset.transport = "sse";
  socket.connect();
}

/** Focus the message box, except on touch screens where it would pop the keyboard up. */
function focusComposer() {
  if (window.matchMedia("(pointer: fine)").matches) composer.focus();
}

start();
