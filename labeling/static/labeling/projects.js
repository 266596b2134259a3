// The new-project page: suggest a slug from the name until the user types one. Without this file the slug
// is typed by hand; the server checks it either way.
(function () {
  "use strict";

  var form = document.getElementById("project-form");
  if (!form) return;
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
