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

  // htmx leaves the page as it was when a request is refused or gets no answer: without a
  // word, a click or a save would seem to do nothing. Say so (once: polls repeat).
  function showProblem(message) {
    var shown = Array.prototype.some.call(
      document.querySelectorAll("#toasts .toast"),
      function (toast) { return toast.textContent === message; }
    );
    if (!shown) { showToast(message, "error"); }
  }
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    // The server said what happened in a toast of its own.
    if (/toast/.test(xhr.getResponseHeader("HX-Trigger") || "")) { return; }
    var status = xhr.status;
    if (status === 403) {
      showProblem("Refused (403): reload the page and try again. If it is refused again, your account may not do this.");
    } else if (status === 404) {
      showProblem("Not found (404): what this refers to may have been deleted. Reload the page.");
    } else if (status >= 500) {
      showProblem("That did not work: the server answered HTTP " + status +
        ". Try again in a moment; if it happens again, tell an admin.");
    } else {
      showProblem("That did not work: the server answered HTTP " + status +
        ". Reload the page and try again.");
    }
  });
  document.body.addEventListener("htmx:sendError", function () {
    showProblem("Switchboard did not answer: check the connection, then try again.");
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
