// The new-project page: suggest a slug from the name until the user types one, and choose "copy" when a
// project to copy is picked. Without this file the slug is typed by hand and the choice made by hand; the
// server checks both either way.
(function () {
  "use strict";

  var form = document.getElementById("project-form");
  if (!form) return;
  var copyFrom = form.querySelector("select[name=copy_from]");
  var copyChoice = form.querySelector("input[name=rubric_template][value=copy]");
  if (copyFrom && copyChoice) {
    copyFrom.addEventListener("change", function () { if (copyFrom.value) copyChoice.checked = true; });
  }
  var name = form.querySelector("input[name=name]");
  var slug = form.querySelector("input[name=slug]");
  if (!name || !slug) return;
  var touched = slug.value !== "";
  slug.addEventListener("input", function () { touched = slug.value !== ""; });
  name.addEventListener("input", function () {
    if (touched) return;
    slug.value = name.value.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64).replace(/-+$/, "");
  });
})();
