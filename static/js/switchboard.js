// Small behaviours shared by every page. No inline scripts: pages opt in with data- attributes.
(function () {
  "use strict";

  // Toasts disappear after a few seconds.
  function fadeToasts(root) {
    root.querySelectorAll(".toast").forEach(function (toast) {
      setTimeout(function () { toast.remove(); }, 5000);
    });
  }

  // A server-sent "toast" event (HX-Trigger) shows a message.
  document.body.addEventListener("toast", function (event) {
    var box = document.getElementById("toasts");
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (event.detail.level || "info");
    toast.textContent = event.detail.message;
    box.appendChild(toast);
    fadeToasts(box);
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
