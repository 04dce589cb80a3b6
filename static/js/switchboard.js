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

  // <form data-confirm="Really?"> asks before submitting.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }, true);

  document.addEventListener("DOMContentLoaded", function () { fadeToasts(document); });
})();
