// Autosave: each item is saved on its own as the expert answers, with an idempotency key,
// retried until the server acknowledges it, and kept in localStorage until then, so nothing
// typed is lost to a flaky connection, a reload or a closed tab.
(function () {
  "use strict";
  var form = document.getElementById("round-form");
  if (!form || !window.fetch) { return; }
  var csrf = form.querySelector("input[name=csrf_token]");
  var storageKey = "delphi-pending:" + location.pathname;
  var timers = {};
  var pending = {};
  var keys = {};

  function loadPending() {
    try { return JSON.parse(localStorage.getItem(storageKey) || "{}"); } catch (e) { return {}; }
  }
  function storePending() {
    try { localStorage.setItem(storageKey, JSON.stringify(pending)); } catch (e) { /* private mode */ }
  }
  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2, 12);
  }
  function fieldsOf(fieldset) {
    var data = [];
    fieldset.querySelectorAll("input, textarea, select").forEach(function (el) {
      if (!el.name || el.disabled) { return; }
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) { return; }
      data.push([el.name, el.value]);
    });
    return data;
  }
  function status(fieldset, text, kind) {
    var el = fieldset.querySelector("[data-status]");
    if (!el) { return; }
    el.textContent = text;
    el.className = "item-status" + (kind ? " " + kind : "");
  }
  // numbers in the page's own digits (Persian: ۰۱۲...), as the server writes them
  function localDigits(number, digits) {
    return String(number).replace(/[0-9]/g, function (d) { return digits ? digits.charAt(+d) : d; });
  }
  function updateProgress(done, total) {
    var text = document.getElementById("progress-text");
    var bar = document.getElementById("progress-bar");
    if (text && text.dataset.template) {
      text.textContent = text.dataset.template
        .replace("__DONE__", localDigits(done, text.dataset.digits))
        .replace("__TOTAL__", localDigits(total, text.dataset.digits));
    }
    if (bar && total) { bar.className = "w-" + (Math.round(done / total * 20) * 5); }
  }
  function clearErrors(fieldset) {
    fieldset.querySelectorAll(".js-error").forEach(function (el) { el.remove(); });
  }
  function showErrors(fieldset, errors) {
    clearErrors(fieldset);
    var messages = [];
    Object.keys(errors || {}).forEach(function (key) { messages = messages.concat(errors[key]); });
    if (messages.length) {
      var p = document.createElement("p");
      p.className = "field-error js-error";
      p.setAttribute("role", "alert");
      p.textContent = messages.join(" ");
      var statusEl = fieldset.querySelector("[data-status]");
      statusEl.parentNode.insertBefore(p, statusEl);
    }
  }

  function save(fieldset, attempt) {
    var id = fieldset.dataset.item;
    var entry = pending[id];
    if (!entry) { return; }
    var body = new URLSearchParams();
    body.append("csrf_token", csrf ? csrf.value : "");
    entry.fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
    status(fieldset, form.dataset.saving, "");
    fetch(entry.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Idempotency-Key": entry.key,
        "X-CSRFToken": csrf ? csrf.value : ""
      },
      body: body
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { status: response.status, json: json };
      });
    }).then(function (result) {
      if (pending[id] !== entry) { return; } // a newer change is on its way
      if (result.status === 200) {
        delete pending[id];
        storePending();
        clearErrors(fieldset);
        var time = new Date().toLocaleTimeString(document.documentElement.lang || [], { hour: "2-digit", minute: "2-digit" });
        status(fieldset, form.dataset.saved + " ✓ " + time, "saved");
        updateProgress(result.json.answered, result.json.total);
      } else if (result.status === 422) {
        delete pending[id];
        storePending();
        status(fieldset, form.dataset.error, "error");
        showErrors(fieldset, result.json.errors);
      } else if (result.status === 409) {
        delete pending[id];
        storePending();
        status(fieldset, result.json.detail || form.dataset.closed, "error");
      } else {
        throw new Error("status " + result.status);
      }
    }).catch(function () {
      status(fieldset, form.dataset.offline, "error");
      var delay = Math.min(30000, 2000 * Math.pow(2, attempt || 0));
      setTimeout(function () { save(fieldset, (attempt || 0) + 1); }, delay);
    });
  }

  function schedule(fieldset, wait) {
    var id = fieldset.dataset.item;
    pending[id] = { url: fieldset.dataset.saveUrl, fields: fieldsOf(fieldset), key: newKey() };
    storePending();
    clearTimeout(timers[id]);
    timers[id] = setTimeout(function () { save(fieldset, 0); }, wait);
  }

  form.querySelectorAll("fieldset.item").forEach(function (fieldset) {
    fieldset.addEventListener("change", function () { schedule(fieldset, 300); });
    fieldset.addEventListener("input", function (event) {
      if (event.target.tagName === "TEXTAREA" || event.target.type === "text") { schedule(fieldset, 1200); }
    });
  });

  // Restore changes that never reached the server (closed tab, lost connection), then resend.
  var saved = loadPending();
  Object.keys(saved).forEach(function (id) {
    var fieldset = document.getElementById("item-" + id);
    if (!fieldset) { return; }
    var entry = saved[id];
    var values = {};
    entry.fields.forEach(function (pair) { (values[pair[0]] = values[pair[0]] || []).push(pair[1]); });
    fieldset.querySelectorAll("input, textarea").forEach(function (el) {
      if (!el.name || el.name === "csrf_token") { return; }
      var given = values[el.name] || [];
      if (el.type === "radio" || el.type === "checkbox") { el.checked = given.indexOf(el.value) >= 0; }
      else { el.value = given.length ? given[0] : ""; }
    });
    pending[id] = entry;
    save(fieldset, 0);
  });

  // Save and Submit post the whole form: what was pending goes with it, so neither the
  // "leave this page?" warning nor a second save of the same values is wanted.
  form.addEventListener("submit", function () {
    Object.keys(timers).forEach(function (id) { clearTimeout(timers[id]); });
    pending = {};
    storePending();
  });

  window.addEventListener("beforeunload", function (event) {
    if (Object.keys(pending).length) { event.preventDefault(); event.returnValue = ""; }
  });

  // After a failed submit, move focus to the error summary so screen readers announce it.
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
    // a link in the summary brings its field to the middle of the screen, with its question
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var field = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!field) { return; }
      event.preventDefault();
      field.scrollIntoView({ block: "center" });
      field.focus({ preventScroll: true });
    });
  }
})();
