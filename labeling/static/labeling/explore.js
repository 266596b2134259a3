// The explore page: once the result list shows, fetch the facets and charts of the same filter (they read up to
// 10,000 rows, so they do not hold up the list). Progressive enhancement: without this file the side panel keeps
// a link that opens the same counts and charts as a page.
(function () {
  "use strict";

  var target = document.getElementById("explore-summary");
  if (!target || !window.fetch || !window.DOMParser) return;
  target.classList.add("loading");
  target.setAttribute("aria-busy", "true");
  fetch(target.dataset.summaryUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
    .then(function (response) { return response.text(); })
    .then(function (html) {
      // Rendered by our server with autoescaping (facet values are user data): parse it, run nothing.
      var doc = new DOMParser().parseFromString(html, "text/html");
      // The charts need the width of the result column; the counts stay beside the results.
      var charts = doc.querySelector(".explore-charts");
      var slot = document.getElementById("explore-charts");
      if (charts && slot) slot.replaceChildren(charts);
      target.replaceChildren.apply(target, Array.prototype.slice.call(doc.body.childNodes));
    })
    .catch(function () {
      var note = document.createElement("p");
      note.className = "error";
      note.textContent = "The counts could not be loaded: ";
      var link = document.createElement("a");
      link.href = target.dataset.summaryUrl;
      link.textContent = "open them as a page";
      note.appendChild(link);
      target.replaceChildren(note);
    })
    .finally(function () {
      target.classList.remove("loading");
      target.removeAttribute("aria-busy");
    });
})();
