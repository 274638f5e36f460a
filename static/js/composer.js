// The message box: autosize, Enter sends and Shift+Enter adds a line, a draft kept per
// page (so a reload loses nothing), and the Send/Stop swap while an answer streams.
// In "post" mode (the home page) it is a plain form that also works without JS. Files
// attached (attach.js) may go without text; the message waits for their uploads.
import { setupAttachments } from "chatweb/attach.js";

const MAX_HEIGHT_PX = 240;

export function setupComposer(form, { onSend = null, onStop = null } = {}) {
  const textarea = form.querySelector("textarea");
  const sendButton = form.querySelector("#send-btn");
  const stopButton = form.querySelector("#stop-btn");
  const socketMode = form.dataset.mode === "socket";
  const draftKey = `chatweb:draft:${window.location.pathname}`;
  let state = "idle";
  const attachments = setupAttachments(form, { onChange: () => refreshSendButton() });
  // The chips of the message sent last, until the server takes it or refuses it.
  let sentFiles = [];

  function autosize() {
    textarea.style.height = "auto";
    textarea.style.height = `${Math.min(textarea.scrollHeight, MAX_HEIGHT_PX)}px`;
  }

  function refreshSendButton() {
    const files = attachments?.count() ?? 0;
    const uploading = attachments?.uploading() ?? 0;
    // Text may be empty when files go with it (the form's own check included).
    textarea.required = files === 0;
    sendButton.disabled = state !== "idle" || uploading > 0 || (textarea.value.trim() === "" && files === 0);
    // Why it waits, for a screen reader on the button (attach.js's status says the count).
    if (uploading) sendButton.setAttribute("aria-describedby", "att-status");
    else sendButton.removeAttribute("aria-describedby");
  }

  function saveDraft() {
    try {
      if (textarea.value) sessionStorage.setItem(draftKey, textarea.value);
      else sessionStorage.removeItem(draftKey);
    } catch {
      // Storage can be unavailable (private mode, quota); drafts are a nicety.
    }
  }

  function restoreDraft() {
    try {
      const draft = sessionStorage.getItem(draftKey);
      if (draft && !textarea.value) textarea.value = draft;
    } catch {
      // See saveDraft.
    }
  }

  textarea.addEventListener("input", () => {
    autosize();
    refreshSendButton();
    saveDraft();
  });

  // The user's setting (server-rendered): "enter" sends on Enter, "ctrl-enter" on
  // Ctrl/Cmd+Enter only (Enter then adds a line, as in a plain textarea).
  const ctrlEnter = textarea.dataset.sendKey === "ctrl-enter";

  textarea.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    if (ctrlEnter && !(event.ctrlKey || event.metaKey)) return;
    event.preventDefault();
    // While an answer streams, Enter does nothing: the text stays to be sent later.
    if (state === "idle") form.requestSubmit();
  });

  form.addEventListener("submit", (event) => {
    const text = textarea.value;
    const files = attachments?.count() ?? 0;
    if (state === "idle" && attachments?.refusal()) {
      // An image for a model that reads text only: said before anything is sent.
      event.preventDefault();
      attachments.warn();
      return;
    }
    if ((!text.trim() && !files) || state !== "idle" || attachments?.uploading()) {
      event.preventDefault();
      return;
    }
    if (!socketMode) {
      // A normal POST: keep the button from sending twice, forget the draft.
      sendButton.disabled = true;
      textarea.readOnly = true;
      try {
        sessionStorage.removeItem(draftKey);
      } catch {
        // See saveDraft.
      }
      return;
    }
    event.preventDefault();
    if (onSend && onSend(text, attachments?.ids() ?? []) !== false) {
      textarea.value = "";
      sentFiles = attachments?.take() ?? [];
      autosize();
      saveDraft();
    }
  });

  stopButton?.addEventListener("click", () => onStop && onStop());

  restoreDraft();
  autosize();
  refreshSendButton();

  return {
    /** "idle" | "pending" (sent, waiting for the answer) | "streaming" */
    setState(next) {
      state = next;
      const streaming = next === "streaming";
      form.classList.toggle("is-busy", next !== "idle");
      sendButton.hidden = streaming;
      if (stopButton) {
        stopButton.hidden = !streaming;
        stopButton.disabled = false;
      }
      textarea.setAttribute("aria-busy", String(next !== "idle"));
      refreshSendButton();
    },
    /** The server took the message sent last: its files are the message's now. */
    sent() {
      attachments?.settle(sentFiles);
      sentFiles = [];
    },
    stopRequested() {
      if (stopButton) stopButton.disabled = true;
    },
    /**
     * Puts a message that the server rejected back into the box, keeping what is there:
     * its text first, and its files' chips (restored even for a message of files only).
     */
    restore(text) {
      attachments?.putBack(sentFiles);
      sentFiles = [];
      if (text) textarea.value = textarea.value ? `${text}\n${textarea.value}` : text;
      autosize();
      refreshSendButton();
      saveDraft();
      textarea.focus();
    },
    focus() {
      textarea.focus();
    },
  };
}
