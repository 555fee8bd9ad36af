// Small progressive enhancements: copy buttons, countdowns, and the modal dialog used by htmx fragments.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    const text = source ? (source.value !== undefined && source.tagName !== "DIV" && source.tagName !== "PRE" && source.tagName !== "CODE" ? source.value : source.textContent) : "";
    const done = function () { const old = button.textContent; button.textContent = "Copied"; setTimeout(function () { button.textContent = old; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text.trim()).then(done); }
    else { const area = document.createElement("textarea"); area.value = text.trim(); document.body.appendChild(area); area.select(); document.execCommand("copy"); area.remove(); done(); }
  });
  function tick() {
    document.querySelectorAll("[data-countdown-until]").forEach(function (el) {
      const left = Math.max(0, Math.round((Date.parse(el.dataset.countdownUntil) - Date.now()) / 1000));
      const m = Math.floor(left / 60), s = left % 60;
      el.textContent = m + ":" + String(s).padStart(2, "0");
    });
  }
  setInterval(tick, 1000); document.addEventListener("DOMContentLoaded", tick); document.addEventListener("htmx:afterSwap", tick);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "modal" && !event.detail.target.open) event.detail.target.showModal();
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-close-modal]")) { const m = document.getElementById("modal"); m.close(); }
  });
})();
