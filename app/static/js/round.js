// The expert's round, enhanced. Without this script every page is a plain form that posts
// and redirects. With it:
// - every typed value is saved at once (one item per request, with an idempotency key) as an
//   answer or, when incomplete, as a draft; until the server acknowledges exactly that content
//   (it echoes the key), the content stays in localStorage and is retried: a reload, a lost
//   connection, a server restart, an expired CSRF token or session never lose it;
// - pages change without reloading (links and forms marked data-nav / data-enhance);
// - Alt+Shift+N / P / O / R go to the next, previous, overview and review pages.
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser || !window.history.pushState) { return; }

  var STORE_PREFIX = "delphi-round:";
  var pending = {};   // item key -> {url, fields, key, round}
  var timers = {};
  var inflight = {};  // item key -> entry being sent
  var retryTimer = null;
  var signedOut = false;

  function data() { return document.getElementById("round-data"); }
  function roundKey() {
    var el = data();
    return el ? el.dataset.round : "";
  }
  function storageKey() { return STORE_PREFIX + roundKey(); }
  function loadStore() {
    try { return JSON.parse(localStorage.getItem(storageKey()) || "{}"); } catch (e) { return {}; }
  }
  function saveStore() {
    try {
      if (Object.keys(pending).length) { localStorage.setItem(storageKey(), JSON.stringify(pending)); }
      else { localStorage.removeItem(storageKey()); }
    } catch (e) { /* private mode: the page keeps it in memory */ }
  }
  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2, 12);
  }
  function csrfToken() {
    var input = document.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }
  function setCsrfToken(token) {
    document.querySelectorAll("input[name=csrf_token]").forEach(function (el) { el.value = token; });
  }
  function text(name) {
    var el = data();
    return el ? (el.dataset[name] || "") : "";
  }
  function localDigits(number) {
    var el = document.querySelector("[data-progress]");
    var digits = el ? el.dataset.digits : "";
    return String(number).replace(/[0-9]/g, function (d) { return digits ? digits.charAt(+d) : d; });
  }

  // ---------------------------------------------------------------- saving as you type

  function fieldsOf(article) {
    var data = [];
    article.querySelectorAll("input, textarea, select").forEach(function (el) {
      if (!el.name || el.disabled || el.name === "csrf_token" || el.name === "idempotency_key") { return; }
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) { return; }
      data.push([el.name, el.value]);
    });
    return data;
  }
  function articleOf(itemKey) { return document.getElementById("item-" + itemKey); }
  function status(itemKey, message, kind) {
    var article = articleOf(itemKey);
    var el = article && article.querySelector("[data-status]");
    if (!el) { return; }
    el.textContent = message;
    el.className = "item-status" + (kind ? " " + kind : "");
  }
  function banner(message) {
    var el = document.getElementById("save-banner");
    if (!message) { if (el) { el.remove(); } return; }
    if (!el) {
      el = document.createElement("div");
      el.id = "save-banner";
      el.className = "notice notice-warning save-banner";
      el.setAttribute("role", "alert");
      var main = document.getElementById("main");
      main.insertBefore(el, main.firstChild);
    }
    el.textContent = message;
  }

  var acknowledged = {};  // item key -> the fields the server last acknowledged, as JSON

  function schedule(article, wait) {
    var itemKey = article.dataset.item;
    var fields = fieldsOf(article);
    var same = JSON.stringify(fields);
    // a change event after the input events that already sent these very values
    if (!pending[itemKey] && acknowledged[itemKey] === same) { return; }
    if (pending[itemKey] && JSON.stringify(pending[itemKey].fields) === same) { return; }
    pending[itemKey] = {
      url: article.dataset.saveUrl, fields: fields, key: newKey(), round: roundKey()
    };
    saveStore();
    clearTimeout(timers[itemKey]);
    timers[itemKey] = setTimeout(function () { send(itemKey, 0); }, wait);
  }

  function showQuestionStates(itemKey, questions) {
    var article = articleOf(itemKey);
    if (!article || !questions) { return; }
    article.querySelectorAll("[data-question]").forEach(function (fieldset) {
      var box = fieldset.querySelector("[data-errors]");
      if (!box) { return; }
      box.querySelectorAll(".js-draft").forEach(function (el) { el.remove(); });
    });
    Object.keys(questions).forEach(function (key) {
      var outcome = questions[key];
      if (outcome.state !== "draft" || !outcome.message) { return; }
      var fieldset = article.querySelector("[data-question='" + key + "']");
      var target = fieldset ? fieldset.querySelector("[data-errors]") : null;
      if (!target) { return; }
      var p = document.createElement("p");
      p.className = "field-warning js-draft";
      p.textContent = outcome.message;
      target.appendChild(p);
    });
  }
  function showHints(itemKey, hints) {
    var article = articleOf(itemKey);
    var box = article && article.querySelector("[data-hints]");
    if (!box || !hints) { return; }
    box.textContent = "";
    hints.forEach(function (hint) {
      var p = document.createElement("p");
      p.className = "coherence-hint";
      p.textContent = hint;
      box.appendChild(p);
    });
  }
  function showState(itemKey, state) {
    var labels = {};
    try { labels = JSON.parse(text("states") || "{}"); } catch (e) { labels = {}; }
    var article = articleOf(itemKey);
    var chip = article && article.querySelector("[data-state-chip]");
    if (chip && state && labels[state]) {
      chip.textContent = labels[state];
      chip.className = "state state-" + state;
    }
  }
  function showProgress(done, total) {
    document.querySelectorAll("[data-progress]").forEach(function (el) {
      if (!el.dataset.template) { return; }
      el.textContent = el.dataset.template
        .replace("__DONE__", localDigits(done)).replace("__TOTAL__", localDigits(total));
    });
  }

  function retryLater(attempt) {
    clearTimeout(retryTimer);
    var delay = Math.min(30000, 2000 * Math.pow(2, attempt || 0));
    retryTimer = setTimeout(function () { flush(attempt + 1); }, delay);
  }

  function refreshToken() {
    var url = text("tokenUrl") || "/e/round/token";
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401) { signedOut = true; banner(text("signedOut")); return false; }
        if (!response.ok) { return false; }
        return response.json().then(function (json) { setCsrfToken(json.csrf_token); return true; });
      });
  }

  function send(itemKey, attempt) {
    var entry = pending[itemKey];
    if (!entry || inflight[itemKey] === entry) { return Promise.resolve(); }
    inflight[itemKey] = entry;
    var body = new URLSearchParams();
    body.append("csrf_token", csrfToken());
    entry.fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
    status(itemKey, text("saving"), "");
    return fetch(entry.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Idempotency-Key": entry.key,
        "X-CSRFToken": csrfToken()
      },
      body: body
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { status: response.status, json: json };
      });
    }).then(function (result) {
      delete inflight[itemKey];
      if (result.status === 200 && result.json.key === entry.key) {
        signedOut = false;
        banner("");
        // only the exact content acknowledged leaves this device's copy
        acknowledged[itemKey] = JSON.stringify(entry.fields);
        if (pending[itemKey] === entry) { delete pending[itemKey]; saveStore(); }
        var drafts = Object.keys(result.json.questions || {}).filter(function (k) {
          return result.json.questions[k].state === "draft";
        });
        var time = new Date().toLocaleTimeString(document.documentElement.lang || [], { hour: "2-digit", minute: "2-digit" });
        status(itemKey, (drafts.length ? text("draft") : text("saved") + " ✓") + " · " + time, drafts.length ? "draft" : "saved");
        showQuestionStates(itemKey, result.json.questions);
        showHints(itemKey, result.json.hints);
        showState(itemKey, result.json.state);
        showProgress(result.json.answered, result.json.total);
        if (pending[itemKey]) { send(itemKey, 0); }
        return;
      }
      if (result.status === 400) {
        // the CSRF token expired: fetch a fresh one and send again; the copy stays meanwhile
        return refreshToken().then(function (ok) { if (ok) { return send(itemKey, attempt); } });
      }
      if (result.status === 401) { signedOut = true; banner(text("signedOut")); return; }
      if (result.status === 409) { status(itemKey, text("closed"), "error"); banner(text("closed")); return; }
      if (result.status === 422) { status(itemKey, text("error"), "error"); return; }
      throw new Error("status " + result.status);
    }).catch(function () {
      delete inflight[itemKey];
      status(itemKey, text("offline"), "error");
      retryLater(attempt || 0);
    });
  }

  function flush(attempt) {
    return Promise.all(Object.keys(pending).map(function (itemKey) {
      clearTimeout(timers[itemKey]);
      return send(itemKey, attempt || 0);
    }));
  }

  function restore(store) {
    // what this device typed that the server never acknowledged: back into the fields
    Object.keys(store).forEach(function (itemKey) {
      var entry = store[itemKey];
      if (!entry || !entry.fields) { return; }
      pending[itemKey] = entry;
      var article = articleOf(itemKey);
      if (!article) { return; }
      var values = {};
      entry.fields.forEach(function (pair) { (values[pair[0]] = values[pair[0]] || []).push(pair[1]); });
      article.querySelectorAll("input, textarea").forEach(function (el) {
        if (!el.name || el.name === "csrf_token" || el.type === "hidden") { return; }
        var given = values[el.name] || [];
        if (el.type === "radio" || el.type === "checkbox") { el.checked = given.indexOf(el.value) >= 0; }
        else { el.value = given.length ? given[0] : ""; }
      });
    });
  }

  function bindItems(root) {
    root.querySelectorAll("article.item[data-save-url]").forEach(function (article) {
      article.addEventListener("change", function () { schedule(article, 250); });
      article.addEventListener("input", function (event) {
        if (event.target.tagName === "TEXTAREA" || event.target.type === "text") { schedule(article, 900); }
      });
    });
  }

  // ---------------------------------------------------------------- moving without reloads

  function swap(html, url, push) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var next = doc.getElementById("main");
    if (!next) { window.location.assign(url); return; }
    var main = document.getElementById("main");
    main.innerHTML = next.innerHTML;
    document.title = doc.title;
    if (push) { history.pushState({ delphi: true }, "", url); }
    init(main);
    var hash = url.indexOf("#") >= 0 ? url.slice(url.indexOf("#") + 1) : "";
    var target = hash && document.getElementById(hash);
    if (target) { target.scrollIntoView({ block: "start" }); }
    else { window.scrollTo(0, 0); }
    var heading = main.querySelector("#error-summary[data-focus]") || main.querySelector("h1");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: !!target }); }
  }

  // Only the latest move may swap the page: pressing Next and then jumping to the overview
  // must end on the overview even when the item page's response arrives last.
  var latestMove = 0;

  function go(url, push) {
    flush(0);
    var move = ++latestMove;
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok && response.status !== 422) { window.location.assign(url); return; }
        // fetch drops the fragment: keep the one asked for (#q12 leads to a question)
        var hash = url.indexOf("#") >= 0 ? url.slice(url.indexOf("#")) : "";
        var target = (response.url || url.split("#")[0]) + (response.redirected ? "" : hash);
        return response.text().then(function (html) {
          if (move === latestMove) { swap(html, target, push); }
        });
      })
      .catch(function () { if (move === latestMove) { window.location.assign(url); } });
  }

  function submitEnhanced(formEl, submitter, retried) {
    flush(0);
    var move = ++latestMove;
    var data = new URLSearchParams();
    new FormData(formEl).forEach(function (value, name) { data.append(name, value); });
    if (submitter && submitter.name) { data.append(submitter.name, submitter.value); }
    // getAttribute: a control named "action" shadows the form's action property
    var action = (submitter && submitter.getAttribute("formaction")) ||
      formEl.getAttribute("action") || location.href;
    return fetch(action, {
      method: "POST", credentials: "same-origin", body: data,
      headers: { "Accept": "text/html", "X-CSRFToken": csrfToken() }
    }).then(function (response) {
      if (response.status === 400 && !retried) {
        // an expired CSRF token: fetch a fresh one and post once more
        return refreshToken().then(function (ok) {
          if (ok) { return submitEnhanced(formEl, submitter, true); }
        });
      }
      // the post is stored either way; a later move's page wins the screen
      return response.text().then(function (html) {
        if (move === latestMove) { swap(html, response.url || action, true); }
      });
    }).catch(function () { formEl.submit(); });  // never drop what was posted
  }

  function bindNavigation(root) {
    root.querySelectorAll("a[data-nav]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) { return; }
        event.preventDefault();
        go(link.href, true);
      });
    });
    root.querySelectorAll("form[data-enhance]").forEach(function (formEl) {
      formEl.addEventListener("submit", function (event) {
        var submitter = event.submitter;
        // previous / next / review: every value is already saved (or on its way), just go
        if (submitter && submitter.dataset.href && !submitter.hasAttribute("formaction")) {
          event.preventDefault();
          go(submitter.dataset.href, true);
          return;
        }
        event.preventDefault();
        submitEnhanced(formEl, submitter);
      });
    });
  }

  function shortcut(keyName) {
    var el = document.querySelector("[data-key='" + keyName + "']");
    if (!el) { return false; }
    if (el.tagName === "A") { go(el.href, true); }
    else if (el.dataset.href) { go(el.dataset.href, true); }
    return true;
  }

  function init(root) {
    bindItems(root);
    bindNavigation(root);
    restore(loadStore());
    var hint = root.querySelector("[data-shortcut-hint]");
    if (hint) { hint.hidden = false; }
    if (signedOut) { banner(text("signedOut")); }
    // after a refused submit, the list of what is missing is announced and in view
    var summary = root.querySelector("#error-summary[data-focus]");
    if (summary) { summary.focus(); }
  }

  document.addEventListener("keydown", function (event) {
    if (!event.altKey || !event.shiftKey || event.ctrlKey || event.metaKey) { return; }
    var key = (event.key || "").toLowerCase();
    var name = { n: "n", p: "p", o: "o", r: "r" }[key] || { KeyN: "n", KeyP: "p", KeyO: "o", KeyR: "r" }[event.code];
    if (name && shortcut(name)) { event.preventDefault(); }
  });
  window.addEventListener("popstate", function () { go(location.href, false); });
  window.addEventListener("online", function () { flush(0); });
  window.addEventListener("beforeunload", function (event) {
    if (Object.keys(pending).length) { event.preventDefault(); event.returnValue = ""; }
  });

  init(document);
  flush(0);
})();
