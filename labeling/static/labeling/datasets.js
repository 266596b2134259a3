// While a dataset build is under way or a worker prepares a version's file (an element with [data-building]
// on the page), ask the server every 3 s whether it is done, and reload once it is. Progressive enhancement:
// without this file the page says "Building…" or "preparing…" and a manual reload shows the result.
(function () {
  "use strict";

  if (!document.querySelector("[data-building]") || !window.fetch || !window.DOMParser) return;
  var INTERVAL = 3000;
  var MAX_CHECKS = 400; // 20 minutes: a build that takes longer (or a lost task) stops the polling
  var checks = 0;

  function typing() {
    return Array.prototype.some.call(document.querySelectorAll(".withdraw-form textarea"), function (box) {
      return box.value.trim() !== "";
    });
  }

  function schedule() {
    if (checks < MAX_CHECKS) setTimeout(check, INTERVAL);
  }

  function check() {
    if (document.hidden) { schedule(); return; } // no polling from a tab nobody looks at
    checks += 1;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        // Parsed, never inserted: only asked whether the page still shows a build under way.
        var doc = new DOMParser().parseFromString(html, "text/html");
        // A reason being typed to withdraw a version is not thrown away by the reload: it waits.
        if (doc.querySelector("[data-building]") || typing()) schedule();
        else window.location.reload();
      })
      .catch(schedule);
  }

  schedule();
})();

// On the adjudication form, typing in an "own text" box picks "Write my own" for that question.
(function () {
  "use strict";

  document.querySelectorAll("textarea[data-own-for]").forEach(function (box) {
    box.addEventListener("input", function () {
      var own = document.querySelector("input[type=radio][name='" + box.dataset.ownFor + "'][value=own]");
      if (own && box.value.trim() !== "") own.checked = true;
    });
  });
})();

// A refused adjudication (400): bring the first question with an error into view.
(function () {
  "use strict";

  var first = document.querySelector(".q-card.has-error");
  if (first && first.scrollIntoView) first.scrollIntoView({ block: "center" });
})();
