// The explore page: once the result list shows, fetch the facets and charts of the same filter (they read up to
// 10,000 rows, so they do not hold up the list). Progressive enhancement: without this file the side panel keeps
// a link that opens the same counts and charts as a page.
(function () {
  "use strict";

  var target = document.getElementById("explore-summary");
  if (!target || !window.fetch || !window.DOMParser) return;
  target.classList.add("loading");
  target.setAttribute("aria-busy", "true");

  // A short message in place of the counts: `before`, a link, `after`.
  function say(before, linkText, href, after) {
    var link = document.createElement("a");
    link.href = href;
    link.textContent = linkText;
    var message = document.createElement("p");
    message.className = "error";
    message.setAttribute("role", "alert");
    message.append(before, link, after);
    target.replaceChildren(message);
  }

  function failed(status) {
    var code = status ? " (error " + status + ")" : "";
    say("The counts could not be loaded" + code + ": ", "open them as a page", target.dataset.summaryUrl, "");
  }

  fetch(target.dataset.summaryUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
    .then(function (response) {
      // The summary never redirects but to the sign-in page: the session ended. Reopened, this page goes to
      // sign-in and comes back here.
      if (response.redirected) {
        say("Your session has ended: ", "sign in again", window.location.href, " to see the counts.");
        return;
      }
      return response.text().then(function (html) {
        // Rendered by our server with autoescaping (facet values are user data): parse it, run nothing.
        var doc = new DOMParser().parseFromString(html, "text/html");
        // Only our fragment goes in (a refused filter's is a 400 naming the problem); an error page, ours or a
        // proxy's, does not.
        if (!doc.querySelector(".explore-summary") || !(response.ok || response.status === 400)) {
          failed(response.status);
          return;
        }
        // The charts need the width of the result column; the counts stay beside the results.
        var charts = doc.querySelector(".explore-charts");
        var slot = document.getElementById("explore-charts");
        if (charts && slot) slot.replaceChildren(charts);
        target.replaceChildren.apply(target, Array.prototype.slice.call(doc.body.childNodes));
      });
    })
    .catch(function () { failed(0); })
    .finally(function () {
      target.classList.remove("loading");
      target.removeAttribute("aria-busy");
    });
})();

// Walking the results with the keyboard, as in other trace explorers: j and k move from row to row (j past the last
// row opens the next page), x ticks the row
// for a queue, o (or Enter on a row) opens it, / goes to the search box and Escape leaves it. Keys typed into a field,
// or with Ctrl, Alt or Meta held, are left alone.
(function () {
  "use strict";

  var rows = Array.prototype.slice.call(document.querySelectorAll("#results .result"));
  if (!rows.length) return;
  var current = -1;
  rows.forEach(function (row) { row.tabIndex = -1; });
  var hint = document.getElementById("keys-hint");
  if (hint) hint.hidden = false; // the keys work: say which

  function typing(element) {
    if (!element || element === document.body) return false;
    if (element.isContentEditable) return true;
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && ["checkbox", "radio", "button", "submit", "reset"].indexOf(element.type) === -1;
  }

  function move(by) {
    var active = document.activeElement && document.activeElement.closest && document.activeElement.closest(".result");
    if (active) current = rows.indexOf(active);
    // Past the last row: on to the next page ("Next 50"), as reading on means.
    var next = document.getElementById("next-page");
    if (by > 0 && current === rows.length - 1 && next) {
      window.location.assign(next.href);
      return;
    }
    current = Math.max(0, Math.min(rows.length - 1, current + by));
    rows[current].focus();
    rows[current].scrollIntoView({ block: "nearest" });
  }

  function open(row) {
    var link = row && row.querySelector(".output-link");
    if (link) window.location.assign(link.href);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
    var target = event.target;
    if (typing(target)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    var row = target && target.closest && target.closest(".result");
    if (event.key === "j") move(1);
    else if (event.key === "k") move(-1);
    else if (event.key === "/") {
      var search = document.getElementById("f-q");
      if (search) search.focus();
    } else if (row && event.key === "x") {
      var box = row.querySelector("input[name=output]");
      if (box) box.click();
    } else if (row && (event.key === "o" || (event.key === "Enter" && target === row))) open(row);
    else return;
    event.preventDefault();
  });
})();
