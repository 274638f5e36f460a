// A reasoning model's thinking, in the folded "Thinking" block above an answer
// (conversations/_thinking.html, cloned with the message). Its text is set with
// textContent: thinking is shown as plain text, never as HTML.

/** The label of a finished block: "Thought for 12 s" (seconds rounded, at least 1). */
function thoughtFor(seconds) {
  const whole = Math.max(1, Math.round(seconds));
  return interpolate(gettext("Thought for %(seconds)s s"), { seconds: whole }, true);
}

/**
 * Show the thinking of a streaming answer. `state` is the live answer
 * ({reasoning, text, thinkingSince, thinkingSeconds, folded}); the block opens while only
 * thinking has come, and folds once, when the answer's text begins (the reader may open
 * it again).
 */
export function showLiveThinking(article, state) {
  const block = article.querySelector("[data-thinking]");
  if (!block || !state.reasoning) return;
  block.hidden = false;
  block.querySelector("[data-thinking-text]").textContent = state.reasoning;
  const label = block.querySelector("[data-thinking-label]");
  if (state.thinkingSince === undefined) state.thinkingSince = performance.now();
  if (!state.text) {
    if (!state.folded) block.open = true;
    label.textContent = gettext("Thinking…");
    return;
  }
  if (!state.folded) {
    state.folded = true;
    state.thinkingSeconds = (performance.now() - state.thinkingSince) / 1000;
    block.open = false;
  }
  label.textContent = thoughtFor(state.thinkingSeconds ?? 0);
}

/**
 * Show the thinking of a finished answer (the protocol's Message). It is folded, unless
 * it had already folded while streaming (`folded`): then the reader's choice stands.
 */
export function showFinishedThinking(article, m, { folded = false } = {}) {
  const block = article.querySelector("[data-thinking]");
  if (!block) return;
  block.hidden = !m.reasoning;
  if (!m.reasoning) return;
  block.querySelector("[data-thinking-text]").textContent = m.reasoning;
  const label = block.querySelector("[data-thinking-label]");
  label.textContent = m.reasoning_seconds == null ? gettext("Thoughts") : thoughtFor(m.reasoning_seconds);
  if (!folded) block.open = false;
}
