// Small behaviours shared by every page. No inline scripts: pages opt in with data- attributes.
(function () {
  "use strict";

  // Toasts disappear after a few seconds.
  function fadeToasts(root) {
    root.querySelectorAll(".toast").forEach(function (toast) {
      setTimeout(function () { toast.remove(); }, 5000);
    });
  }

  function showToast(message, level) {
    var box = document.getElementById("toasts");
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "info");
    toast.textContent = message;
    box.appendChild(toast);
    fadeToasts(box);
  }

  // A server-sent "toast" event (HX-Trigger) shows a message.
  document.body.addEventListener("toast", function (event) {
    showToast(event.detail.message, event.detail.level);
  });

  // htmx swaps nothing for an error answer, so a click or a search that failed seemed to do
  // nothing at all. Say so, unless the answer brought its own toast saying why.
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (/toast/.test(xhr.getResponseHeader("HX-Trigger") || "")) { return; }
    showToast(xhr.status === 403
      ? "Your account is not allowed to do this (HTTP 403)."
      : "That did not work: the server answered HTTP " + xhr.status +
        ". Reload the page and try again; if it happens again, tell an admin.", "error");
  });
  document.body.addEventListener("htmx:sendError", function () {
    showToast("Switchboard could not be reached. Check your connection and try again.", "error");
  });

  // A section of the contact page saved: forms still open at the version that save started
  // from move to the new one, so the user's own save is not taken for someone else's edit.
  // (The server sends the versions only when no one else changed the contact in between.)
  document.body.addEventListener("contact-changed", function (event) {
    var detail = event.detail || {};
    if (!detail.previous) { return; }
    document.querySelectorAll('input[name="version"]').forEach(function (input) {
      if (input.value === String(detail.previous)) { input.value = String(detail.version); }
    });
  });

  // <form data-confirm="Really?"> asks before submitting.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }, true);

  document.addEventListener("DOMContentLoaded", function () { fadeToasts(document); });
})();
