// A textarea with line numbers: <div data-editor><textarea data-line-numbers></textarea></div>.
(function () {
  "use strict";

  function attach(wrapper) {
    var text = wrapper.querySelector("textarea");
    if (!text || wrapper.querySelector(".editor-gutter")) { return; }
    var gutter = document.createElement("pre");
    gutter.className = "editor-gutter";
    gutter.setAttribute("aria-hidden", "true");
    wrapper.insertBefore(gutter, text);

    function number() {
      var lines = text.value.split("\n").length;
      var out = [];
      for (var i = 1; i <= lines; i++) { out.push(i); }
      gutter.textContent = out.join("\n");
      gutter.scrollTop = text.scrollTop;
    }
    text.addEventListener("input", number);
    text.addEventListener("scroll", function () { gutter.scrollTop = text.scrollTop; });
    number();
  }

  function init() { document.querySelectorAll("[data-editor]").forEach(attach); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
