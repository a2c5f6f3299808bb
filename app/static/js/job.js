// The progress page of a background job: asks for its state every 1.5 s, shows the stage and
// percent, and reloads the page once the work is over (the page then shows the outcome).
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || box.dataset.active !== "yes") {
    return;
  }
  var url = box.dataset.stateUrl;
  var stage = box.querySelector(".job-stage");
  var percent = box.querySelector(".job-percent");
  var bar = box.querySelector(".job-progress");

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (state) {
        if (!state) {
          window.setTimeout(poll, 5000);
          return;
        }
        if (state.status === "done" || state.status === "failed") {
          window.location.reload();
          return;
        }
        if (stage) { stage.textContent = state.stage_label; }
        if (percent) { percent.textContent = String(state.progress); }
        if (bar) { bar.value = state.progress; bar.textContent = state.progress + " %"; }
        window.setTimeout(poll, 1500);
      })
      .catch(function () {
        window.setTimeout(poll, 5000);
      });
  }
  window.setTimeout(poll, 1000);
})();
