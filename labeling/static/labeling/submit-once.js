// Every page: a POST form is sent once. A double click or Enter pressed twice on a form the browser posts would
// otherwise send it twice (two decisions, two keys, two endpoints); after the first submit, further submits of
// that form are ignored until the page is left. Loaded with `defer` from base.html.
//
// A flag, not disabled buttons: a button disabled before the submit event is over does not send its name and
// value. Left alone: forms whose own script sends them (`data-sends-itself`, label.js's forms) and any submit a
// script took over (preventDefault: it sends with fetch and re-enables its form itself). The back-forward cache
// brings a page back with its forms sent: pageshow makes them usable again.
(function () {
  "use strict";

  var sent = new WeakSet();

  function ours(form) {
    return form instanceof HTMLFormElement && (form.getAttribute("method") || "").toLowerCase() === "post" &&
      !form.hasAttribute("data-sends-itself");
  }

  // Capture: before the form's own listeners, so a second submit reaches none of them.
  document.addEventListener("submit", function (event) {
    if (!ours(event.target) || !sent.has(event.target)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
  }, true);

  // Bubble: after them, when it is known whether the browser posts the form.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!ours(form) || event.defaultPrevented) return;
    sent.add(form);
    form.setAttribute("aria-busy", "true");
  });

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    sent = new WeakSet();
    document.querySelectorAll("form[aria-busy]").forEach(function (form) { form.removeAttribute("aria-busy"); });
  });
})();
