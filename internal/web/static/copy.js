// Copy buttons of the client configurations: progressive enhancement, the
// page works without it (the buttons stay hidden).
(function () {
  "use strict";
  function copied(b, text) {
    b.textContent = text;
    setTimeout(function () { b.textContent = "Copy"; }, 2000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button.copy").forEach(function (b) {
      b.hidden = false;
      b.setAttribute("aria-live", "polite");
      b.addEventListener("click", function () {
        var pre = document.getElementById(b.dataset.copy);
        if (!pre) { return; }
        var select = function () {
          window.getSelection().selectAllChildren(pre);
          copied(b, "Selected: press Ctrl+C");
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(pre.textContent).then(function () { copied(b, "Copied"); }, select);
        } else {
          select();
        }
      });
    });
  });
})();
