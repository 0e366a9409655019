// The form builder's few jobs that need a script: drag and drop (SortableJS) posts the same
// "move" operation as the Move up / Move down buttons; Enter in a box applies it instead of
// leaving the page; and unpublished changes are kept in this browser until published or
// discarded. Everything else is htmx.
(function () {
  "use strict";

  var PREFIX = "baton-builder:";
  var opened = null;

  function builder() { return document.getElementById("builder"); }
  function textArea() { return document.getElementById("schema-text"); }
  function key(root) { return PREFIX + root.getAttribute("data-slug"); }

  function saveDraft() {
    var root = builder(), area = textArea();
    if (!root || !area || opened === null) return;
    try {
      if (area.value === opened) {
        localStorage.removeItem(key(root));
      } else {
        localStorage.setItem(key(root), JSON.stringify({
          text: area.value,
          basedOn: root.getAttribute("data-based-on"),
          savedAt: new Date().toISOString()
        }));
      }
    } catch (e) { /* storage full or refused: the draft is simply not kept */ }
  }

  function offerDraft() {
    var root = builder(), area = textArea(), offer = document.getElementById("draft-offer");
    if (!root || !area || !offer) return;
    var draft = null;
    try { draft = JSON.parse(localStorage.getItem(key(root)) || "null"); } catch (e) { draft = null; }
    if (!draft || draft.text === area.value || draft.basedOn !== root.getAttribute("data-based-on")) return;
    var when = offer.querySelector("[data-draft-when]");
    if (when && draft.savedAt) when.textContent = new Date(draft.savedAt).toLocaleString();
    offer.hidden = false;
    offer.addEventListener("click", function (event) {
      var button = event.target.closest("[data-draft]");
      if (!button) return;
      offer.hidden = true;
      if (button.getAttribute("data-draft") === "restore") {
        textArea().value = draft.text;
        document.getElementById("builder-refresh").click();
      } else {
        localStorage.removeItem(key(root));
      }
    });
  }

  function sortable(root) {
    if (typeof Sortable === "undefined") return;
    root.querySelectorAll("[data-sortable]").forEach(function (list) {
      Sortable.create(list, {
        handle: ".bentry__grip, .bentry__select",
        animation: 120,
        onEnd: function (event) {
          if (event.oldIndex === event.newIndex) return;
          var form = document.getElementById("builder-form");
          var place = event.item.getAttribute("data-place");
          [["target", place], ["to", String(event.newIndex)]].forEach(function (pair) {
            var input = document.createElement("input");
            input.type = "hidden";
            input.name = pair[0];
            input.value = pair[1];
            form.appendChild(input);
          });
          document.getElementById("drop-move").click();
        }
      });
    });
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key !== "Enter" || !target.closest || !target.closest("#builder-form")) return;
    if (target.tagName === "INPUT" && target.type !== "checkbox" && target.type !== "radio") {
      event.preventDefault();
      target.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "schema-text") saveDraft();
  });

  document.addEventListener("htmx:load", function (event) {
    var root = event.detail.elt;
    if (root && root.id === "builder") {
      sortable(root);
      saveDraft();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var slug = form.getAttribute && form.getAttribute("data-clear-draft");
    if (slug && !(event.submitter && event.submitter.hasAttribute("formaction"))) {
      try { localStorage.removeItem(PREFIX + slug); } catch (e) { /* nothing kept */ }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    // SortableJS styles its lists through the CSSOM; htmx would copy those styles back as
    // style attributes while settling, which the portal's Content-Security-Policy refuses.
    if (window.htmx) htmx.config.attributesToSettle = ["class", "width", "height"];
    var area = textArea(), root = builder();
    if (!area || !root) return;
    opened = area.value;
    offerDraft();
    sortable(root);
  });
})();
