// The composer's files (#21): the paper clip (a hidden <input type=file multiple>), a paste
// holding files, or files dropped on the message box. Each file is a chip (chat.html's
// template): its name, size, a thumbnail for an image (the local file while it uploads,
// then the server's), the upload's progress and a remove button. Every file uploads at
// once (POST /attachments/); the message goes once all have finished, with the ids in
// the chips' order. On the new-chat page (a plain form) each uploaded chip holds a hidden
// input name="attachments".
import { csrfToken } from "chatweb/sse.js";

const UPLOAD_URL = "/attachments/";

/** Bytes in words, as Django's filesizeformat writes them. */
export function humanSize(bytes) {
  if (bytes < 1024) return interpolate(ngettext("%(size)s byte", "%(size)s bytes", bytes), { size: bytes }, true);
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)}\u00a0${units[unit]}`;
}

/**
 * Sets up the form's attaching, or returns null when the page has no paper clip.
 * onChange is called whenever a chip is added, finishes, fails or goes.
 */
export function setupAttachments(form, { onChange }) {
  const button = form.querySelector("#attach-btn");
  if (!button) return null;
  const input = form.querySelector("#attach-input");
  const list = form.querySelector("#att-chips");
  const status = form.querySelector("#att-status");
  const warning = form.querySelector("#att-warning");
  const template = document.getElementById("att-chip-template");
  const maxFiles = Number(form.dataset.attachMax) || 10;
  /** {el, name, isImage, state: "uploading" | "done" | "failed", id, xhr, previewUrl} */
  let chips = [];

  function changed() {
    list.hidden = chips.length === 0;
    updateWarning();
    onChange();
  }

  function say(text) {
    status.textContent = text;
  }

  function sayUploading() {
    const count = chips.filter((c) => c.state === "uploading").length;
    if (count) say(interpolate(ngettext("Uploading %(count)s file…", "Uploading %(count)s files…", count), { count }, true));
  }

  function modelOption() {
    const select = document.getElementById("model-select");
    return select?.selectedOptions[0] || null;
  }

  /** Why the message cannot go to the chosen model ("" when it can). */
  function refusal() {
    const option = modelOption();
    if (!option || option.hasAttribute("data-accepts-images")) return "";
    const image = chips.find((c) => c.isImage && c.state !== "failed");
    if (!image) return "";
    return interpolate(
      gettext("%(model)s does not read images. Remove %(name)s, or choose a model that reads images."),
      { model: option.value, name: image.name },
      true,
    );
  }

  function updateWarning() {
    const sentence = refusal();
    warning.hidden = !sentence;
    if (warning.textContent !== sentence) warning.textContent = sentence;
  }

  function fail(chip, sentence) {
    chip.state = "failed";
    chip.xhr = null;
    chip.el.classList.remove("is-uploading");
    chip.el.classList.add("is-failed");
    chip.el.querySelector("[data-chip-progress]").hidden = true;
    // A refused file's local preview may not even be an image: the file icon instead.
    chip.el.querySelector("[data-chip-thumb]").hidden = true;
    chip.el.classList.remove("has-thumb");
    if (chip.previewUrl) URL.revokeObjectURL(chip.previewUrl);
    chip.previewUrl = null;
    const error = chip.el.querySelector("[data-chip-error]");
    error.textContent = sentence;
    error.hidden = false;
    changed();
  }

  function finishUpload(chip, attachment) {
    chip.state = "done";
    chip.xhr = null;
    chip.id = attachment.id;
    chip.isImage = attachment.kind === "image";
    chip.el.dataset.attachmentId = String(attachment.id);
    chip.el.classList.remove("is-uploading");
    chip.el.querySelector("[data-chip-progress]").hidden = true;
    const hidden = chip.el.querySelector("[data-chip-id]");
    hidden.value = String(attachment.id);
    hidden.disabled = false;
    if (attachment.thumbnail_url) showThumbnail(chip, attachment.thumbnail_url);
    if (attachment.pages) {
      const pages = interpolate(ngettext("%(pages)s page", "%(pages)s pages", attachment.pages), { pages: attachment.pages }, true);
      chip.el.querySelector("[data-chip-meta]").textContent = `${humanSize(attachment.size)} · ${pages}`;
    }
    const uploading = chips.filter((c) => c.state === "uploading").length;
    if (uploading) sayUploading();
    else say(interpolate(gettext("%(name)s attached."), { name: chip.name }, true));
    changed();
  }

  function showThumbnail(chip, url) {
    const img = chip.el.querySelector("[data-chip-thumb]");
    img.src = url;
    img.hidden = false;
    chip.el.classList.add("has-thumb");
    if (chip.previewUrl && !url.startsWith("blob:")) {
      const local = chip.previewUrl;
      chip.previewUrl = null;
      img.addEventListener("load", () => URL.revokeObjectURL(local), { once: true });
    }
  }

  function upload(chip, file) {
    const xhr = new XMLHttpRequest();
    chip.xhr = xhr;
    const progress = chip.el.querySelector("[data-chip-progress]");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // Not JSON (a proxy's page): the generic sentence below.
      }
      if (xhr.status === 201 && body?.ok) finishUpload(chip, body.attachment);
      else if (xhr.status === 413) fail(chip, body?.error || gettext("This file is too large."));
      else fail(chip, body?.error || interpolate(gettext("The server answered %(status)s."), { status: xhr.status }, true));
    });
    xhr.addEventListener("error", () => fail(chip, gettext("The file could not be uploaded. Check the connection and try again.")));
    const data = new FormData();
    data.append("file", file, file.name);
    xhr.open("POST", UPLOAD_URL);
    for (const [header, value] of Object.entries({ Accept: "application/json", "X-CSRFToken": csrfToken() })) {
      xhr.setRequestHeader(header, value);
    }
    xhr.send(data);
  }

  function addFile(file) {
    const el = template.content.firstElementChild.cloneNode(true);
    const name = file.name || gettext("Pasted image");
    const chip = { el, name, isImage: file.type.startsWith("image/"), state: "uploading", id: null, xhr: null, previewUrl: null };
    el.querySelector("[data-chip-name]").textContent = name;
    el.querySelector("[data-chip-name]").title = name;
    el.querySelector("[data-chip-meta]").textContent = humanSize(file.size);
    el.querySelector("[data-chip-progress]").setAttribute("aria-label", interpolate(gettext("Uploading %(name)s"), { name }, true));
    el.querySelector("[data-chip-remove]").setAttribute("aria-label", interpolate(gettext("Remove %(name)s"), { name }, true));
    el.querySelector("[data-chip-remove]").title = gettext("Remove");
    chips.push(chip);
    list.append(el);
    if (chips.length > maxFiles) {
      fail(chip, interpolate(ngettext("At most %(count)s file per message.", "At most %(count)s files per message.", maxFiles), { count: maxFiles }, true));
      return;
    }
    if (chip.isImage) {
      chip.previewUrl = URL.createObjectURL(file);
      showThumbnail(chip, chip.previewUrl);
    }
    el.classList.add("is-uploading");
    upload(chip, file);
  }

  function addFiles(files) {
    if (!files.length) return;
    for (const file of files) addFile(file);
    sayUploading();
    changed();
  }

  function remove(chip, { focus = true } = {}) {
    const index = chips.indexOf(chip);
    if (index < 0) return;
    if (chip.xhr) chip.xhr.abort();
    else if (chip.state === "done") {
      fetch(`${UPLOAD_URL}${chip.id}/remove/`, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      }).catch(() => {
        // A pending file left on the server is removed with the account or by the cleanup.
      });
    }
    if (chip.previewUrl) URL.revokeObjectURL(chip.previewUrl);
    chips.splice(index, 1);
    chip.el.remove();
    say(interpolate(gettext("%(name)s removed."), { name: chip.name }, true));
    if (focus) {
      const next = chips[index] || chips[index - 1];
      (next ? next.el.querySelector("[data-chip-remove]") : form.querySelector("textarea")).focus();
    }
    changed();
  }

  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = "";
  });
  list.addEventListener("click", (event) => {
    const removeButton = event.target.closest("[data-chip-remove]");
    if (!removeButton) return;
    const chip = chips.find((c) => c.el.contains(removeButton));
    if (chip) remove(chip);
  });

  // A paste holding files (a screenshot, files copied in a file manager) attaches them; a
  // paste of text stays a paste of text.
  form.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return;
    if (!event.clipboardData.types.includes("text/plain")) event.preventDefault();
    addFiles(files);
  });

  // Files dragged over the message box: it shows itself as the place to drop them.
  const carriesFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  let depth = 0;
  form.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    form.classList.add("is-dropping");
  });
  form.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  form.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) form.classList.remove("is-dropping");
  });
  form.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    form.classList.remove("is-dropping");
    addFiles([...event.dataTransfer.files]);
  });
  document.getElementById("model-select")?.addEventListener("change", updateWarning);

  return {
    /** Files attached and not refused (uploading or uploaded). */
    count: () => chips.filter((c) => c.state !== "failed").length,
    uploading: () => chips.filter((c) => c.state === "uploading").length,
    /** The uploaded files' ids, in the chips' order. */
    ids: () => chips.filter((c) => c.state === "done").map((c) => c.id),
    refusal,
    /** Shows why the message cannot go (refusal()'s sentence) and moves focus to it. */
    warn() {
      updateWarning();
      warning.focus();
    },
    /**
     * The message went with its files: the chips leave the box, and the uploaded ones are
     * returned, kept until the server takes the message (settle) or refuses it (putBack).
     */
    take() {
      const sent = chips.filter((c) => c.state === "done");
      for (const chip of chips) if (chip.state !== "done" && chip.previewUrl) URL.revokeObjectURL(chip.previewUrl);
      chips = [];
      list.replaceChildren();
      changed();
      return sent;
    },
    /** A refused message's files back in the box, before any attached since. */
    putBack(sent) {
      if (!sent?.length) return;
      chips = [...sent, ...chips];
      list.prepend(...sent.map((c) => c.el));
      changed();
    },
    /** The server took the message: its files are the message's now. */
    settle(sent) {
      for (const chip of sent || []) if (chip.previewUrl) URL.revokeObjectURL(chip.previewUrl);
    },
  };
}
