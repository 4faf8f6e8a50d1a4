// amlguard report and dashboard: filter, search and sort the server-rendered resource table.
// No network, no framework: rows carry data-* attributes, filtering toggles `hidden`.
(function () {
  "use strict";
  var root = document.documentElement;

  // Theme: auto (prefers-color-scheme) -> light -> dark, remembered where storage is allowed.
  var themeButton = document.getElementById("theme-toggle");
  function applyTheme(name) {
    root.setAttribute("data-theme", name);
    if (themeButton) { themeButton.textContent = "Theme: " + name; }
  }
  try { applyTheme(window.localStorage.getItem("amlguard-theme") || "auto"); } catch (e) { applyTheme("auto"); }
  if (themeButton) {
    themeButton.addEventListener("click", function () {
      var order = ["auto", "light", "dark"];
      var next = order[(order.indexOf(root.getAttribute("data-theme")) + 1) % order.length];
      applyTheme(next);
      try { window.localStorage.setItem("amlguard-theme", next); } catch (e) { /* file:// or private mode */ }
    });
  }

  // Alert state toggles: show only the pressed states (all when none is pressed).
  var alertChips = Array.prototype.slice.call(document.querySelectorAll("button.chip[data-alert-state]"));
  var alertRows = Array.prototype.slice.call(document.querySelectorAll("#alert-table tbody tr"));
  alertChips.forEach(function (chip) {
    chip.addEventListener("click", function () {
      chip.setAttribute("aria-pressed", chip.getAttribute("aria-pressed") === "true" ? "false" : "true");
      var wanted = alertChips.filter(function (c) { return c.getAttribute("aria-pressed") === "true"; })
        .map(function (c) { return c.getAttribute("data-alert-state"); });
      alertRows.forEach(function (row) {
        row.hidden = wanted.length > 0 && wanted.indexOf(row.getAttribute("data-state")) < 0;
      });
    });
  });

  var table = document.getElementById("resource-table");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var items = rows.map(function (row) {
    var d = row.dataset;
    return {
      row: row, status: d.status || "", kind: d.kind || "", ws: d.ws || "",
      sev: " " + (d.sev || "") + " ", rules: " " + (d.rules || "") + " ", text: d.search || "", shown: !row.hidden
    };
  });
  var search = document.getElementById("f-search");
  var status = document.getElementById("f-status");
  var kind = document.getElementById("f-kind");
  var ws = document.getElementById("f-ws");
  var rule = document.getElementById("f-rule");
  var chips = Array.prototype.slice.call(document.querySelectorAll("button.chip[data-sev]"));
  var shownOut = document.getElementById("f-shown");
  var emptyRow = document.getElementById("f-empty");
  var visibleOut = document.getElementById("f-visible");
  var more = document.getElementById("f-more");
  // Only the first `page` matching rows are displayed (more on request): the browser then lays out a few
  // hundred rows, not thousands, whatever the estate's size.
  var page = +(table.getAttribute("data-page") || 200);
  var limit = page;

  function apply(keepLimit) {
    if (keepLimit !== true) { limit = page; }
    var q = search ? search.value.trim().toLowerCase().split(/\s+/).filter(Boolean) : [];
    var st = status ? status.value : "";
    var kd = kind ? kind.value : "";
    var wk = ws ? ws.value : "";
    var rl = rule && rule.value ? " " + rule.value + " " : "";
    var sevs = chips.filter(function (c) { return c.getAttribute("aria-pressed") === "true"; })
      .map(function (c) { return " " + c.dataset.sev + " "; });
    var shown = 0;
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      var ok = (!st || it.status === st) && (!kd || it.kind === kd) && (!wk || it.ws === wk) &&
        (!rl || it.rules.indexOf(rl) >= 0);
      if (ok && sevs.length) {
        ok = false;
        for (var s = 0; s < sevs.length; s++) { if (it.sev.indexOf(sevs[s]) >= 0) { ok = true; break; } }
      }
      for (var w = 0; ok && w < q.length; w++) { if (it.text.indexOf(q[w]) < 0) { ok = false; } }
      var visible = ok && shown < limit;
      if (ok) { shown++; }
      if (visible !== it.shown) { it.row.hidden = !visible; it.shown = visible; }
    }
    if (shownOut) { shownOut.textContent = String(shown); }
    if (visibleOut) { visibleOut.textContent = String(Math.min(shown, limit)); }
    if (emptyRow) { emptyRow.hidden = shown !== 0; }
    if (more) {
      more.hidden = shown <= limit;
      more.textContent = "Show " + Math.min(page, shown - limit) + " more";
    }
  }
  if (more) { more.addEventListener("click", function () { limit += page; apply(true); }); }

  var timer = null;
  if (search) {
    search.addEventListener("input", function () {
      // One pass per keystroke pause keeps typing smooth on very large estates.
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(apply, items.length > 2000 ? 60 : 0);
    });
    search.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { ev.preventDefault(); apply(); } });
  }
  [status, kind, ws, rule].forEach(function (el) { if (el) { el.addEventListener("change", apply); } });
  chips.forEach(function (chip) {
    chip.addEventListener("click", function () {
      chip.setAttribute("aria-pressed", chip.getAttribute("aria-pressed") === "true" ? "false" : "true");
      apply();
    });
  });
  var reset = document.getElementById("f-reset");
  if (reset) {
    reset.addEventListener("click", function () {
      if (search) { search.value = ""; }
      [status, kind, ws, rule].forEach(function (el) { if (el) { el.value = ""; } });
      chips.forEach(function (c) { c.setAttribute("aria-pressed", "false"); });
      apply();
    });
  }
  // Links such as "show failing resources" on a rule card set the rule filter.
  Array.prototype.forEach.call(document.querySelectorAll("[data-filter-rule]"), function (link) {
    link.addEventListener("click", function () {
      if (rule) { rule.value = link.getAttribute("data-filter-rule"); }
      if (status) { status.value = ""; }
      apply();
    });
  });

  // A row's findings are rendered when it is opened, from the JSON data block: text only, never markup.
  var dataBlock = document.getElementById("findings-data");
  var findingsData = null;
  var LABEL = { fail: "fail", error: "error", exempt: "exempt", pass: "pass", not_applicable: "n/a" };
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function rich(parent, text) {  // `code spans` as <code>, everything else as text
    String(text).split("`").forEach(function (part, i) {
      if (part) { parent.appendChild(i % 2 ? el("code", "", part) : document.createTextNode(part)); }
    });
    return parent;
  }
  function fill(details) {
    if (details.getAttribute("data-filled") || !dataBlock) { return; }
    if (!findingsData) { findingsData = JSON.parse(dataBlock.textContent); }
    var texts = findingsData.texts;
    var list = details.querySelector("ul.findings");
    (findingsData.rows[+details.getAttribute("data-i")] || []).forEach(function (f) {
      // [rule, status, severity, title#, message, where, field, exemption, why#, fix#, history]
      var li = el("li", "s-" + f[1]);
      li.setAttribute("data-rule", f[0]);
      li.appendChild(el("span", "badge s-" + f[1], LABEL[f[1]] || f[1]));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", "badge sev-" + f[2], f[2]));
      li.appendChild(document.createTextNode(" "));
      var link = el("a");
      link.href = "#rule-" + f[0].replace(/[^A-Za-z0-9_-]/g, "-");
      link.appendChild(el("code", "rid", f[0]));
      li.appendChild(link);
      li.appendChild(document.createTextNode(" " + texts[f[3]]));
      li.appendChild(rich(el("div"), f[4]));
      if (f[5]) {
        var where = el("div", "muted small", "at ");
        where.appendChild(el("code", "", f[5]));
        if (f[6]) { where.appendChild(document.createTextNode(" \u00b7 field ")); where.appendChild(el("code", "", f[6])); }
        li.appendChild(where);
      }
      if (f[7]) { li.appendChild(el("div", "small", "exempt: " + f[7])); }
      if (f[8] >= 0) { var why = el("div", "why small"); why.appendChild(el("b", "", "Why: ")); li.appendChild(rich(why, texts[f[8]])); }
      if (f[9] >= 0) { var fix = el("div", "fix small"); fix.appendChild(el("b", "", "Fix: ")); li.appendChild(rich(fix, texts[f[9]])); }
      if (f[10]) { li.appendChild(el("div", "muted small", f[10])); }
      list.appendChild(li);
    });
    details.setAttribute("data-filled", "1");
  }
  table.addEventListener("toggle", function (ev) { if (ev.target.open) { fill(ev.target); } }, true);

  // Sorting: header buttons; numbers sort by data-v, text by its content.
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  headers.forEach(function (th, col) {
    var button = th.querySelector("button.sort");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach(function (h) { if (h.hasAttribute("aria-sort")) { h.setAttribute("aria-sort", "none"); } });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var numeric = th.dataset.type === "num";
      var keyed = items.map(function (it, idx) {
        var cell = it.row.cells[col];
        var v = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim().toLowerCase();
        return { it: it, k: numeric ? parseFloat(v) : v, idx: idx };
      });
      keyed.sort(function (a, b) {
        var r = a.k < b.k ? -1 : a.k > b.k ? 1 : a.idx - b.idx;
        return asc ? r : -r;
      });
      var frag = document.createDocumentFragment();
      keyed.forEach(function (k) { frag.appendChild(k.it.row); });
      tbody.appendChild(frag);
      items = keyed.map(function (k) { return k.it; });
      apply(true);
    });
  });
  apply();
}());
