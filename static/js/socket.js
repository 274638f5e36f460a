// The conversation's WebSocket: reconnects with backoff and owns the `sync` handshake
// (docs/protocol.md): on (re)open it asks for a snapshot when an answer is, or might be,
// streaming, and asks again if no snapshot comes back in time.

// Close codes after which retrying cannot help (docs/protocol.md), each with what the
// page tells the person: [short status, sentence].
export const FINAL_CLOSE_CODES = new Map([
  [4401, [gettext("Signed out"), gettext("Your session has ended. Reload the page to sign in again.")]],
  [4403, [gettext("Forbidden"), gettext("You are not allowed to open this page's connection.")]],
  [4404, [gettext("Unavailable"), gettext("This conversation is not available.")]],
  [4008, [gettext("Disconnected"), gettext("The connection was too slow to keep up. Reload the page to continue.")]],
  [4429, [gettext("Disconnected"), gettext("Too many requests from this page. Reload the page to continue.")]],
  [4409, [gettext("Disconnected"), gettext("Too many pages of this account are open. Close some, then reload this one.")]],
]);
// The password changed: reconnect at once (a session that still holds is accepted again).
const CLOSE_SESSION_CHANGED = 4001;
const MAX_BACKOFF_MS = 10_000;
const SYNC_RETRY_MS = 4_000;
// Closes without a single open before the page gives up on WebSockets and takes the
// HTTP fallback (sse.js): a proxy that strips Upgrade, a network that blocks them.
const FAILURES_BEFORE_FALLBACK = 2;

export class ChatSocket {
  /**
   * @param {string} path  e.g. "/ws/conversations/12/"
   * @param {object} handlers
   *   onFrame(frame)            every JSON frame from the server
   *   onStatus(state, code, words)  "open" | "reconnecting" | "closed" (final: its close
   *                             code and [status, sentence] from FINAL_CLOSE_CODES)
   *   needsSync(reconnected)    whether to send `sync` right after opening
   *   onUnreachable()           the socket never opened in FAILURES_BEFORE_FALLBACK
   *                             tries (it stops trying; the page takes the fallback)
   */
  constructor(path, { onFrame, onStatus = () => {}, needsSync = () => false, onUnreachable = null }) {
    const url = new URL(path, window.location.href);
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
    this.url = url.href;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.needsSync = needsSync;
    this.onUnreachable = onUnreachable;
    this.ws = null;
    this.attempt = 0;
    this.everOpened = false;
    this.final = false;
    this.retryTimer = 0;
    this.syncTimer = 0;
    this.awaitingSnapshot = false;

    // Come back at once when the network or the tab does, instead of waiting out the backoff.
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
  }

  connect() {
    clearTimeout(this.retryTimer);
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.awaitingSnapshot = false;
      this.onStatus("open");
      if (this.needsSync(reconnected)) this.sync();
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!frame || typeof frame.type !== "string") return;
      if (frame.type === "snapshot") this.snapshotReceived();
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.snapshotReceived();
      if (FINAL_CLOSE_CODES.has(event.code)) {
        this.final = true;
        this.onStatus("closed", event.code, FINAL_CLOSE_CODES.get(event.code));
        return;
      }
      if (event.code === CLOSE_SESSION_CHANGED) this.attempt = 0;
      if (!this.everOpened && this.onUnreachable && this.attempt + 1 >= FAILURES_BEFORE_FALLBACK) {
        this.final = true;
        this.onUnreachable();
        return;
      }
      this.onStatus("reconnecting", event.code);
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    this.attempt += 1;
    const jittered = base * (0.75 + Math.random() * 0.5);
    this.retryTimer = setTimeout(() => this.connect(), jittered);
  }

  reconnectNow() {
    if (this.ws || this.final) return;
    this.connect();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a frame; false when the socket is not open (nothing was sent). */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Asks for a snapshot, once at a time; repeats if none arrives in SYNC_RETRY_MS. */
  sync() {
    if (this.awaitingSnapshot) return;
    // Not open: the next open sends `sync` itself (a reconnect always does).
    if (!this.send({ type: "sync" })) return;
    this.awaitingSnapshot = true;
    clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => {
      this.awaitingSnapshot = false;
      this.sync();
    }, SYNC_RETRY_MS);
  }

  snapshotReceived() {
    this.awaitingSnapshot = false;
    clearTimeout(this.syncTimer);
  }
}
