// OptiDB dashboard: copy buttons. Everything reads fine without this file; it only adds the
// "Copy" buttons (hidden until JavaScript is there to make them work).
(function () {
  "use strict";
  function reveal(root) {
    root.querySelectorAll("button.copy[hidden]").forEach(function (b) { b.hidden = false; });
  }
  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var t = document.createElement("textarea");
    t.value = text;
    document.body.appendChild(t);
    t.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(t); }
    return Promise.resolve();
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("button.copy");
    if (!b) { return; }
    var src = document.getElementById(b.getAttribute("data-copy"));
    if (!src) { return; }
    copy(src.textContent).then(function () {
      b.textContent = "Copied";
      b.classList.add("done");
      setTimeout(function () { b.textContent = "Copy"; b.classList.remove("done"); }, 1500);
    });
  });
  reveal(document);
  document.addEventListener("htmx:afterSwap", function (ev) { reveal(ev.target); });
})();
