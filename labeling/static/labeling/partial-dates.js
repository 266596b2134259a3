// Forms marked `data-refuses-partial-dates`: a date typed in part (a month, no day or year) is refused beside its
// field, the part kept to finish. The browser would send it as an empty value, which the server cannot tell from no
// date at all: a decision would be recorded with no due date (a dataset with no Since or Until), what was typed
// silently gone. An empty date still means no date. Each input may say its own refusal (`data-partial-message`).
// Loaded with `defer`; the submit listener on the form runs before submit-once.js's on the document, which leaves a
// refused (preventDefault) form usable.
(function () {
  "use strict";

  var MESSAGE = "The due date is typed in part: finish it, or clear it for no due date.";

  // The refusal's id joins the field's own aria-describedby ids (its help text) and leaves them as it found them:
  // a screen reader keeps reading the help text, with the refusal while it stands.
  function describedBy(input) {
    return (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  }

  function describe(input, ids) {
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }

  function clear(input) {
    var field = input.closest(".field");
    var shown = field && field.querySelector(".error[data-partial-date]");
    if (!shown) return;
    shown.remove();
    input.removeAttribute("aria-invalid");
    describe(input, describedBy(input).filter(function (id) { return id !== shown.id; }));
    if (!field.querySelector(".error")) field.classList.remove("has-error");
  }

  function refuse(input) {
    var field = input.closest(".field");
    if (!field || field.querySelector(".error[data-partial-date]")) return;
    var error = document.createElement("p");
    error.className = "error";
    error.id = input.id + "-partial";
    error.setAttribute("data-partial-date", "");
    error.setAttribute("role", "alert");
    error.textContent = input.getAttribute("data-partial-message") || MESSAGE;
    field.querySelectorAll(".error").forEach(function (old) { old.remove(); });  // the server's, now out of date
    field.appendChild(error);
    field.classList.add("has-error");
    input.setAttribute("aria-invalid", "true");
    describe(input, describedBy(input).filter(function (id) { return id !== error.id; }).concat(error.id));
  }

  document.querySelectorAll("form[data-refuses-partial-dates]").forEach(function (form) {
    var dates = form.querySelectorAll("input[type=date]");
    form.addEventListener("submit", function (event) {
      var partial = Array.prototype.filter.call(dates, function (input) { return input.validity.badInput; });
      dates.forEach(function (input) { if (!input.validity.badInput) clear(input); });
      if (!partial.length) return;
      event.preventDefault();
      partial.forEach(refuse);
      partial[0].focus();
    });
    dates.forEach(function (input) {
      // The date finished or every part cleared: the refusal no longer applies. Keys too: clearing the last typed
      // part leaves the value empty as it was, which fires no input event.
      ["input", "keyup", "blur"].forEach(function (type) {
        input.addEventListener(type, function () { if (!input.validity.badInput) clear(input); });
      });
    });
  });
})();
