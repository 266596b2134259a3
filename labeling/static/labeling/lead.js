// The lead screens' live previews (the queue editor's rule, the redaction rules) and the queue editor's slug
// suggestion. Progressive enhancement: without this file the Preview button submits the form and the server
// re-renders the page with the preview.
(function () {
  "use strict";

  if (!window.fetch) return;

  // Show the server's preview of `form` in `target` while the lead types. `request()` gives the [url, options]
  // of one preview; `wanted(element)` says whether a change of that element changes the preview.
  // Returns the function that asks for a preview a moment later, for elements outside the form.
  function livePreview(form, target, request, wanted) {
    var timer = null;
    var sequence = 0;
    var controller = null;

    function refresh() {
      var mine = ++sequence;
      // Only the newest keystroke's answer matters: cancel the request still in flight, so neither the
      // browser nor the server keeps working on rules the lead has already changed.
      if (controller) controller.abort();
      var own = controller = window.AbortController ? new AbortController() : null;
      var asked = request();
      var options = Object.assign({ credentials: "same-origin", headers: { "X-Requested-With": "fetch" },
                                    signal: own ? own.signal : undefined }, asked[1]);
      target.classList.add("loading");
      fetch(asked[0], options)
        .then(function (response) {
          // The preview's fragment comes with a 200, or a 400 telling what in the rules is wrong. Anything else is a
          // whole page (a refusal to one no longer a lead: 403/404; a redirect to sign in): not for the box.
          var fragment = !response.redirected && (response.ok || response.status === 400);
          return response.text().then(function (html) { return { fragment: fragment, html: html }; });
        })
        .then(function (answer) {
          if (mine !== sequence) return; // a newer preview was asked for meanwhile
          // Rendered by our server with autoescaping (samples are user text): parse it, run nothing.
          var doc = new DOMParser().parseFromString(answer.html, "text/html");
          if (!answer.fragment) {
            // A refusal's page says why in its alert: told as text, the rest of the page left out.
            var reason = doc.querySelector("p[role=alert]");
            target.textContent = "The preview could not be loaded." + (reason ? " " + reason.textContent.trim() : "");
            return;
          }
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

    document.querySelectorAll("button[name=preview][form=" + form.id + "]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        clearTimeout(timer);
        refresh();
      });
    });
    ["input", "change"].forEach(function (type) {
      form.addEventListener(type, function (event) { if (wanted(event.target)) later(); });
    });
    if (!target.firstElementChild) refresh();
    return later;
  }

  var queueForm = document.getElementById("queue-form");
  if (queueForm) {
    var PREVIEW_FIELDS = ["tags_any", "tags_all", "metadata", "models", "feedback_scores", "has_comment",
                          "text_any", "sample_rate", "weekly_quota"];
    livePreview(queueForm, document.getElementById("rule-preview"), function () {
      var params = new URLSearchParams();
      new FormData(queueForm).forEach(function (value, name) {
        if (PREVIEW_FIELDS.indexOf(name) !== -1) params.append(name, value);
      });
      params.set("queue_id", queueForm.dataset.queueId || "0");
      return [queueForm.dataset.previewUrl + "?" + params.toString(), {}];
    }, function (element) { return PREVIEW_FIELDS.indexOf(element.name) !== -1; });

    // Suggest a slug from the name of a new queue until the lead types one.
    var name = queueForm.querySelector("input[name=name]");
    var slug = queueForm.querySelector("input[name=slug]");
    if (queueForm.dataset.new === "true" && name && slug) {
      var touched = slug.value !== "";
      slug.addEventListener("input", function () { touched = slug.value !== ""; });
      name.addEventListener("input", function () {
        if (touched) return;
        slug.value = name.value.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
          .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64);
      });
    }
  }

  var redactionForm = document.getElementById("redaction-form");
  if (redactionForm) {
    var later = livePreview(redactionForm, document.getElementById("redaction-preview"), function () {
      return [redactionForm.dataset.previewUrl, { method: "POST", body: new FormData(redactionForm) }];
    }, function () { return true; });
    // The sample sits beside the form (its `form=` attribute submits it along): its typing does not reach the form.
    var sample = document.querySelector("textarea[name=sample]");
    if (sample) sample.addEventListener("input", later);
  }
})();
