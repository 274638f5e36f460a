// Streaming self-test (admin-only page, streaming/diagnostics.py).
//
// The server sends N events a fixed interval apart, each stamped with its send time, over a
// WebSocket and over an HTTP stream. We record when each one arrives. Only differences are
// compared (send spread vs arrival spread), so the browser's and the server's clocks need
// not agree. tests/deploy/streamcheck.py applies the same rule to the HTTP stream read
// through the project's nginx config; keep the two in step.

// The arrival of the events must be spread over at least this share of their send spread.
export const MIN_SPREAD_RATIO = 0.5;
const TIMEOUT_MS = 15000;

// Each fix is one message (one msgid), so a translation can reorder it.
const FIXES = {
  websocketHandshake: gettext(
    "The WebSocket handshake failed. The proxy must pass the upgrade: nginx needs, in the /ws/ location, proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade (with a map of $http_upgrade). Apache: ProxyPass /ws/ ws://app:8000/ws/ (mod_proxy_wstunnel), or RewriteRule with upgrade=websocket. A CDN or load balancer must have WebSockets enabled.",
  ),
  websocketBuffered: gettext(
    "WebSocket frames were held back and delivered together. Turn off response buffering and compression between the browser and the app for /ws/ (nginx: proxy_buffering off; gzip off). A CDN or security proxy that inspects WebSocket traffic can do this too.",
  ),
  websocketClosed: gettext(
    "The WebSocket closed before the test ended. Check the proxy's read timeout for sockets (nginx: proxy_read_timeout 1h in the /ws/ location; its default is 60 s) and that the upgrade headers are passed.",
  ),
  httpBuffered: gettext(
    "The HTTP stream was buffered: every event arrived at once. nginx: proxy_buffering off and gzip off in the location of streamed responses (and do not set proxy_ignore_headers X-Accel-Buffering). Apache: ProxyPass ... flushpackets=on and no mod_deflate on streams. Caddy: reverse_proxy { flush_interval -1 }. A CDN may need a rule that bypasses caching and compression for /admin-tools/ and /ws/.",
  ),
  httpFailed: gettext(
    "The HTTP stream did not complete. Check the proxy's error log and its read timeout (nginx: proxy_read_timeout).",
  ),
};

/**
 * Classify arrivals: "ok" when spread over time, "buffered" when they came all at once.
 * @param {{sent: number, arrived: number}[]} events in order of sending (milliseconds)
 * @param {number} expected how many events the server sends
 * @returns {"ok" | "buffered" | "incomplete"}
 */
export function classify(events, expected) {
  if (events.length < expected || events.length < 2) return "incomplete";
  const first = events[0];
  const last = events[events.length - 1];
  const sentSpread = last.sent - first.sent;
  const arrivalSpread = last.arrived - first.arrived;
  if (sentSpread <= 0) return "incomplete";
  return arrivalSpread >= MIN_SPREAD_RATIO * sentSpread ? "ok" : "buffered";
}

function runWebSocket(path, expected) {
  return new Promise((resolve) => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${path}`);
    const events = [];
    let opened = false;
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve({ events, ...result });
    };
    const timer = setTimeout(
      () => finish({ state: "failed", message: gettext("No result within 15 s."), fix: FIXES.websocketClosed }),
      TIMEOUT_MS,
    );
    socket.addEventListener("open", () => {
      opened = true;
    });
    socket.addEventListener("message", (event) => {
      const arrived = performance.now();
      const frame = JSON.parse(event.data);
      if (frame.type === "tick") {
        events.push({ i: frame.i, sent: frame.sent, arrived });
      } else if (frame.type === "end") {
        finish(verdict(events, expected, FIXES.websocketBuffered));
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4403) {
        finish({ state: "failed", message: gettext("Refused: sign in as a staff user."), fix: "" });
      } else if (!opened) {
        finish({ state: "failed", message: gettext("The WebSocket could not connect."), fix: FIXES.websocketHandshake });
      } else {
        finish({ state: "failed", message: interpolate(gettext("Closed early (code %(code)s)."), { code: event.code }, true), fix: FIXES.websocketClosed });
      }
    });
  });
}

async function runHttpStream(url, expected) {
  const events = [];
  try {
    const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) {
      return { events, state: "failed", message: `HTTP ${response.status}.`, fix: FIXES.httpFailed };
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      // Every line completed by this chunk arrived now.
      const arrived = performance.now();
      pending += decoder.decode(value, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const line of lines) {
        if (!line.trim()) continue;
        const event = JSON.parse(line);
        events.push({ i: event.i, sent: event.sent, arrived });
      }
    }
  } catch (error) {
    return { events, state: "failed", message: interpolate(gettext("The stream failed: %(error)s."), { error: String(error) }, true), fix: FIXES.httpFailed };
  }
  return { events, ...verdict(events, expected, FIXES.httpBuffered) };
}

function verdict(events, expected, bufferedFix) {
  const state = classify(events, expected);
  if (state === "ok") {
    return { state, message: gettext("streaming OK: events arrived spread over time."), fix: "" };
  }
  if (state === "buffered") {
    return { state, message: gettext("buffered: events arrived all at once."), fix: bufferedFix };
  }
  return {
    state: "failed",
    message: interpolate(gettext("Only %(count)s of %(expected)s events arrived."), { count: events.length, expected }, true),
    fix: bufferedFix,
  };
}

function renderTimings(table, events) {
  table.replaceChildren();
  if (!events.length) return;
  const header = table.insertRow();
  for (const title of ["#", gettext("sent (ms)"), gettext("arrived (ms)"), gettext("drift (ms)")]) {
    const cell = document.createElement("th");
    cell.textContent = title;
    header.append(cell);
  }
  const first = events[0];
  for (const event of events) {
    const sent = event.sent - first.sent;
    const arrived = event.arrived - first.arrived;
    const row = table.insertRow();
    for (const value of [event.i, sent, arrived, arrived - sent]) {
      row.insertCell().textContent = typeof value === "number" ? value.toFixed(0) : value;
    }
  }
}

function show(section, result) {
  const verdictEl = section.querySelector("[data-verdict]");
  verdictEl.dataset.state = result.state;
  verdictEl.textContent = result.message;
  const fixEl = section.querySelector("[data-fix]");
  fixEl.textContent = result.fix ? interpolate(gettext("Fix: %(fix)s"), { fix: result.fix }, true) : "";
  fixEl.hidden = !result.fix;
  renderTimings(section.querySelector("[data-timings]"), result.events);
}

async function run(root) {
  const expected = Number(root.dataset.events);
  const sections = {
    websocket: root.querySelector('[data-channel="websocket"]'),
    http: root.querySelector('[data-channel="http"]'),
  };
  for (const section of Object.values(sections)) {
    show(section, { state: "running", message: gettext("Running…"), fix: "", events: [] });
  }
  // One after the other, so the two tests do not compete for the same connection.
  show(sections.websocket, await runWebSocket(root.dataset.wsPath, expected));
  show(sections.http, await runHttpStream(root.dataset.streamUrl, expected));
}

const root = document.querySelector("[data-selftest]");
if (root) {
  root.querySelector("[data-selftest-run]").addEventListener("click", () => run(root));
  run(root);
}
