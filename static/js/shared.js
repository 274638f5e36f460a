// The public shared page: math and diagrams in the server-rendered, sanitized HTML.
import { renderMath } from "chatweb/math.js";
import { renderDiagrams } from "chatweb/diagrams.js";

const messages = document.getElementById("messages");
if (messages) {
  renderMath(messages);
  renderDiagrams(messages);
}
