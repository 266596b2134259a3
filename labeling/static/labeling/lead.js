// The queue editor's live preview and slug suggestion. Progressive enhancement: without this file the
// Preview button submits the form and the server re-renders it with the preview.
(function () {
  "use strict";

  var form = document.getElementById("queue-form");
  if (!form || !window.fetch) return;
  var target = document.getElementById("rule-preview");
  var url = form.dataset.previewUrl;
  var queueId = form.dataset.queueId || "0";
  var PREVIEW_FIELDS = ["tags_any", "tags_all", "metadata", "models", "feedback_scores", "has_comment",
                        "sample_rate", "weekly_quota"];
  var timer = null;
  var sequence = 0;
  var controller = null;

  function query() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (PREVIEW_FIELDS.indexOf(name) !== -1) params.append(name, value);
    });
    params.set("queue_id", queueId);
    return params.toString();
  }

  function refresh() {
    var mine = ++sequence;
    // Only the newest keystroke's answer matters: cancel the request still in flight, so neither the
    // browser nor the server keeps working on a rule the lead has already changed.
    if (controller) controller.abort();
    var own = controller = window.AbortController ? new AbortController() : null;
    target.classList.add("loading");
    fetch(url + "?" + query(), {
      credentials: "same-origin", headers: { "X-Requested-With": "fetch" }, signal: own ? own.signal : undefined
    })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (mine !== sequence) return; // a newer preview was asked for meanwhile
        // The fragment is rendered by our server with autoescaping; parse it rather than run anything.
        var doc = new DOMParser().parseFromString(html, "text/html");
        target.replaceChildren.apply(target, Array.prototype.slice.call(doc.body.childNodes));
      })
      .catch(function (error) {
        if (error && error.name === "AbortError") return;
        if (mine === sequence) target.textContent = "The preview could not be loaded.";
      })
      .finally(function () { if (mine === sequence) target.classList.remove("loading"); });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  document.querySelectorAll("button[name=preview][form=queue-form]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      clearTimeout(timer);
      refresh();
    });
  });
  form.addEventListener("input", function (event) {
    if (PREVIEW_FIELDS.indexOf(event.target.name) !== -1) later();
  });
  form.addEventListener("change", function (event) {
    if (PREVIEW_FIELDS.indexOf(event.target.name) !== -1) later();
  });
  if (!target.firstElementChild) refresh();

  // Suggest a slug from the name of a new queue until the lead types one.
  var name = form.querySelector("input[name=name]");
  var slug = form.querySelector("input[name=slug]");
  if (form.dataset.new === "true" && name && slug) {
    var touched = slug.value !== "";
    slug.addEventListener("input", function () { touched = slug.value !== ""; });
    name.addEventListener("input", function () {
      if (touched) return;
      slug.value = name.value.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
        .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64);
    });
  }
})();
