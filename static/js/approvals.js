// Keyboard shortcuts for the approval queue: j/k move, e edit the text, Esc leave it,
// a approve, r reject (focuses the reason; Enter submits), x select for bulk decisions.
(function () {
  "use strict";

  var current = null;

  function items() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-approval]"));
  }

  function select(item) {
    if (current) { current.classList.remove("is-current"); }
    current = item || null;
    if (current) {
      current.classList.add("is-current");
      current.focus({ preventScroll: true });
      current.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var list = items();
    if (!list.length) { return; }
    var index = list.indexOf(current);
    if (index === -1) { select(list[0]); return; }
    select(list[Math.min(Math.max(index + step, 0), list.length - 1)]);
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  document.addEventListener("keydown", function (event) {
    if (!document.querySelector("[data-approval-queue]")) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      // Ctrl+Enter in the text approves it as edited.
      if (event.key === "Enter" && event.target.matches("[data-edit-text]")) {
        event.preventDefault();
        event.target.form.requestSubmit();
      }
      return;
    }
    if (typing(event.target)) {
      if (event.key === "Escape") {
        var owner = event.target.closest("[data-approval]");
        event.target.blur();
        select(owner);
      }
      return;
    }
    if (!current || !document.body.contains(current)) {
      current = null;
      if (event.key !== "j" && event.key !== "k") { return; }
    }
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a": current.querySelector(".approval-approve").requestSubmit(); break;
      case "r": current.querySelector("[data-reject-reason]").focus(); break;
      case "e":
        var text = current.querySelector("[data-edit-text]");
        if (text) { text.focus(); text.setSelectionRange(text.value.length, text.value.length); }
        break;
      case "x":
        var box = current.querySelector("[data-select]");
        box.checked = !box.checked;
        break;
      default: return;
    }
    event.preventDefault();
  });

  // "Approve selected" takes the texts edited on the page with it: an edit made before
  // selecting a request is never dropped for the agent's original.
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.id !== "bulk-form") { return; }
    document.querySelectorAll("[data-select]:checked").forEach(function (box) {
      var item = box.closest("[data-approval]");
      var text = item && item.querySelector("[data-edit-text]");
      if (text && text.value !== text.getAttribute("data-original")) {
        event.detail.parameters["text-" + box.value] = text.value;
      }
    });
  });

  // When the current request is swapped (decided, or shown again with an error), keep the
  // place: the same request if it is still there, else the next one.
  var pending = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (current && event.detail.target === current) {
      var list = items();
      var index = list.indexOf(current);
      pending = { id: current.id, next: list[index + 1] || list[index - 1] || null };
    }
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    if (!pending) { return; }
    var again = document.getElementById(pending.id);
    select(again || (pending.next && document.body.contains(pending.next) ? pending.next : null));
    pending = null;
  });
})();
