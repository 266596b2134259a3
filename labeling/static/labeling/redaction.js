// The redaction screen's live preview. Progressive enhancement: without this file the Preview button submits
// the form and the server re-renders the page with the preview.
(function () {
  "use strict";

  var form = document.getElementById("redaction-form");
  if (!form || !window.fetch) return;
  var target = document.getElementById("redaction-preview");
  var sample = document.querySelector("textarea[name=sample]");
  var url = form.dataset.previewUrl;
  var timer = null;
  var sequence = 0;
  var pending = null;


  function refresh() {
    var mine = ++sequence;
    if (pending) pending.abort(); // the answer to a stale preview is not wanted any more
    pending = new AbortController();
    target.classList.add("loading");
    fetch(url, { method: "POST", body: new FormData(form), credentials: "same-origin",
                 headers: { "X-Requested-With": "fetch" }, signal: pending.signal })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (mine !== sequence) return;
        // Rendered by our server with autoescaping (the sample is user text): parse it, run nothing.
        var doc = new DOMParser().parseFromString(html, "text/html");
        target.replaceChildren.apply(target, Array.prototype.slice.call(doc.body.childNodes));
      })
      .catch(function (error) {
        if (mine === sequence && error.name !== "AbortError") target.textContent = "The preview could not be loaded.";
      })
      .finally(function () { if (mine === sequence) target.classList.remove("loading"); });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  document.querySelectorAll("button[name=preview][form=redaction-form]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      clearTimeout(timer);
      refresh();
    });
  });
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  if (sample) sample.addEventListener("input", later);
  if (!target.firstElementChild) refresh();
})();
