// The builder's rules page: while a rule is typed, ask the page's own "Preview" (which saves
// nothing) and show what the rule means. Without JavaScript the Preview button does the same.
(function () {
  "use strict";
  var form = document.getElementById("rules-form");
  var box = document.getElementById("rule-preview");
  if (!form || !box || !window.fetch || !window.DOMParser) {
    return;
  }
  var timer = null;

  function refresh() {
    var data = new FormData(form);
    data.set("preview", "1");
    fetch(form.action || window.location.href, {
      method: "POST",
      body: data,
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("rule-preview");
        if (fresh) {
          box.innerHTML = fresh.innerHTML;
        }
      })
      .catch(function () {
        // the Preview button still works; nothing to tell the reader here
      });
  }

  form.addEventListener("input", function (event) {
    if (event.target && event.target.type === "text") {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 400);
    }
  });
})();
