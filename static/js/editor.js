// The schema editor: Tab indents, a fault's "line N" jumps to that line, and leaving with
// unpublished changes asks first. Everything else (the live preview) is htmx.
(function () {
  "use strict";

  function lineStart(text, line) {
    var at = 0;
    for (var n = 1; n < line; n++) {
      var next = text.indexOf("\n", at);
      if (next === -1) return text.length;
      at = next + 1;
    }
    return at;
  }

  function jumpTo(area, line) {
    var start = lineStart(area.value, line);
    var end = area.value.indexOf("\n", start);
    area.focus();
    area.setSelectionRange(start, end === -1 ? area.value.length : end);
    var height = parseFloat(getComputedStyle(area).lineHeight) || 18;
    area.scrollTop = Math.max(0, (line - 4) * height);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var area = document.getElementById("schema-text");
    if (!area) return;
    var published = area.value;
    var leaving = false;

    area.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" || event.ctrlKey || event.altKey || event.metaKey) return;
      event.preventDefault();
      var start = area.selectionStart, end = area.selectionEnd;
      if (event.shiftKey) {
        var from = lineStart(area.value, area.value.slice(0, start).split("\n").length);
        if (area.value.slice(from, from + 2) === "  ") {
          area.setRangeText("", from, from + 2, "end");
          area.setSelectionRange(Math.max(from, start - 2), Math.max(from, end - 2));
        }
      } else {
        area.setRangeText("  ", start, end, "end");
      }
      area.dispatchEvent(new Event("input", { bubbles: true }));
    });

    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-line]");
      if (button) jumpTo(area, parseInt(button.getAttribute("data-line"), 10));
    });

    area.form.addEventListener("submit", function () { leaving = true; });
    window.addEventListener("beforeunload", function (event) {
      if (!leaving && area.value !== published) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
  });
})();
