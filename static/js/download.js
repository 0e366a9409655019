// One click downloads a PDF: the waiting page polls its status with htmx, and when the file is
// ready the fragment carries a link marked data-auto-download, which is followed here at once
// (the response is an attachment, so the page stays where it is). Without JavaScript the page
// reloads itself until the file comes instead (a <noscript> refresh).
(function () {
  "use strict";

  function follow(root) {
    var links = (root || document).querySelectorAll("a[data-auto-download]:not([data-followed])");
    for (var i = 0; i < links.length; i++) {
      links[i].setAttribute("data-followed", "");
      window.location.assign(links[i].href);
    }
  }

  document.addEventListener("htmx:afterSettle", function (event) { follow(event.target); });
  document.addEventListener("DOMContentLoaded", function () { follow(document); });
})();
