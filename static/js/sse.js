// The conversation over plain HTTP, for a page whose WebSocket cannot connect (a proxy
// that strips Upgrade, a network that blocks WebSockets). Same face as ChatSocket: the
// frames the socket would bring arrive as Server-Sent Events from
// /api/v1/conversations/<id>/events (a snapshot first on every (re)connection, then every
// frame of the conversation), and what the page would send on the socket is posted to the
// conversation API with the session's cookie and CSRF token (docs/api.md, "The page's
// fallback"). A refusal comes back as the `error` frame the socket would have sent.

const MAX_BACKOFF_MS = 10_000;
const API = "/api/v1";

export function csrfToken() {
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (field) return field.value;
  const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}

export class EventTransport {
  /**
   * @param {number} conversationId
   * @param {object} handlers  as ChatSocket's: onFrame(frame), onStatus(state), needsSync()
   */
  constructor(conversationId, { onFrame, onStatus = () => {} }) {
    this.conversationId = conversationId;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.source = null;
    this.attempt = 0;
    this.retryTimer = 0;
    this.open = false;
  }

  get base() {
    return `${API}/conversations/${this.conversationId}`;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.source?.close();
    const source = new EventSource(`${this.base}/events`);
    this.source = source;
    source.addEventListener("open", () => {
      this.attempt = 0;
      this.open = true;
      this.onStatus("open");
    });
    // Every event's data is the frame the socket would carry; its name is the frame's type.
    for (const name of ["message", "delta", "snapshot", "done", "title", "path", "error"]) {
      source.addEventListener(name, (event) => this.deliver(event.data));
    }
    source.addEventListener("error", () => {
      if (this.source !== source) return;
      this.open = false;
      this.onStatus("reconnecting");
      // The browser retries by itself unless the server refused outright (a 4xx closes
      // the EventSource): then retry here, with backoff.
      if (source.readyState === EventSource.CLOSED) {
        const wait = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
        this.attempt += 1;
        this.retryTimer = setTimeout(() => this.connect(), wait * (0.75 + Math.random() * 0.5));
      }
    });
  }

  deliver(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame && typeof frame.type === "string") this.onFrame(frame);
  }

  get isOpen() {
    return this.open;
  }

  /** The socket's frame as an API call; false when not connected (nothing was sent). */
  send(frame) {
    if (!this.open) return false;
    const model = frame.model ? { model: frame.model } : {};
    switch (frame.type) {
      case "send":
        this.post(frame.type, "POST", `${this.base}/messages`, {
          text: frame.text,
          ...(frame.attachments ? { attachments: frame.attachments } : {}),
          ...model,
        });
        return true;
      case "stop":
        this.post(frame.type, "POST", `${this.base}/stop`);
        return true;
      case "regenerate":
        this.post(frame.type, "POST", `${this.base}/regenerate`, {
          message_id: frame.message_id ?? null,
          ...model,
        });
        return true;
      case "edit":
        this.post(frame.type, "POST", `${this.base}/messages/${frame.message_id}/edit`, {
          text: frame.text,
          ...model,
        });
        return true;
      case "compare":
        this.post(frame.type, "POST", `${this.base}/messages/${frame.message_id}/compare`, model);
        return true;
      case "switch":
        this.post(frame.type, "POST", `${this.base}/switch`, { message_id: frame.message_id });
        return true;
      case "delete":
        this.post(frame.type, "DELETE", `${this.base}/messages/${frame.message_id}`);
        return true;
      case "sync":
        this.sync();
        return true;
      default:
        return false;
    }
  }

  /** A fresh snapshot: the events stream starts every connection with one. */
  sync() {
    if (this.open) this.connect();
  }

  async post(request, method, url, body) {
    let response;
    try {
      response = await fetch(url, {
        method,
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "content-type": "application/json",
          "X-CSRFToken": csrfToken(),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      this.onFrame({
        type: "error",
        code: "network",
        message: gettext("The server could not be reached. Try again."),
        request,
      });
      return;
    }
    if (response.ok) return; // what it started arrives on the events stream
    let error = {};
    try {
      error = (await response.json()).error || {};
    } catch {
      // Not our JSON (a proxy's error page): the status says enough.
    }
    this.onFrame({
      type: "error",
      code: error.code || `http_${response.status}`,
      message: error.message || interpolate(gettext("The server answered %(status)s."), { status: response.status }, true),
      request,
    });
  }
}
