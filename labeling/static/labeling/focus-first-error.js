// Every page: a page sent back with a refused form puts focus on its first invalid field (aria-invalid="true"), so
// a screen reader reads that field's label and error (aria-describedby) and the browser scrolls it into view.
// Without it focus stays at the top of the page, or on an autofocus field that was fine, and on a long page (the
// meeting's decision form sits 5,800 px down) the error is neither heard nor seen. Focusing before the browser
// handles `autofocus` makes it skip its autofocus. Loaded with `defer` from base.html.
(function () {
  "use strict";

  function focusFirstInvalid() {
    var invalid = document.querySelector("main [aria-invalid='true']");
    if (invalid && !invalid.disabled && invalid.getClientRects().length) invalid.focus();
  }

  focusFirstInvalid();
  // A refused form posted to an anchor (the meeting's #decision-form): once the page is loaded and drawn, Chrome
  // moves focus to the anchor, or clears it when the anchor cannot take focus. Focus the field again after that
  // (after the next frame is drawn).
  if (location.hash) {
    window.addEventListener("load", function () {
      requestAnimationFrame(function () { setTimeout(focusFirstInvalid, 0); });
    });
  }
})();
