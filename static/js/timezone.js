// The browser's time zone, reported once for a user who has none yet (accounts.timezones).
// The server keeps the first one it gets; the settings page changes it after that.
// Modules have no document.currentScript: the tag is found by its attribute.
const script = document.querySelector("script[data-time-zone-url]");

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}

const zone = browserZone();
if (script && zone) {
  const body = new URLSearchParams({ time_zone: zone });
  fetch(script.dataset.timeZoneUrl, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": script.dataset.csrf },
  }).catch(() => {
    // Offline or signed out meanwhile: the next page asks again.
  });
}
