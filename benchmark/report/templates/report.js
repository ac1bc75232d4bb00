/* Sorting, family filter and copy buttons; no library, no network. */
(function () {
  "use strict";

  function sortValue(row, col) {
    var cell = row.cells[col];
    if (!cell) return null;
    var raw = cell.getAttribute("data-sort");
    if (raw === null) raw = cell.textContent.trim();
    return raw;
  }

  function sortTable(table, th) {
    var col = parseInt(th.getAttribute("data-col"), 10);
    var numeric = th.getAttribute("data-type") !== "text";
    var current = th.getAttribute("aria-sort");
    var first = th.getAttribute("data-first") || "descending";
    var dir = current === first ? (first === "descending" ? "ascending" : "descending") : first;
    table.querySelectorAll("th.sortable").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r, i) { r.setAttribute("data-index", String(i)); });
    rows.sort(function (a, b) {
      var va = sortValue(a, col), vb = sortValue(b, col);
      var ma = va === null || va === "", mb = vb === null || vb === "";
      if (ma || mb) {  /* cells without a figure (a status) always go last */
        if (ma && mb) return parseInt(a.getAttribute("data-index"), 10) - parseInt(b.getAttribute("data-index"), 10);
        return ma ? 1 : -1;
      }
      var c = numeric ? parseFloat(va) - parseFloat(vb) : va.localeCompare(vb);
      if (c === 0) return parseInt(a.getAttribute("data-index"), 10) - parseInt(b.getAttribute("data-index"), 10);
      return dir === "ascending" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th.sortable").forEach(function (th) {
      th.addEventListener("click", function () { sortTable(table, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, th); }
      });
    });
  });

  var boxes = document.querySelectorAll("input.family-filter");
  function applyFilter() {
    var shown = {};
    boxes.forEach(function (b) { shown[b.value] = b.checked; });
    document.querySelectorAll("tr[data-family]").forEach(function (tr) {
      tr.hidden = shown[tr.getAttribute("data-family")] === false;
    });
    document.querySelectorAll(".filter-count").forEach(function (el) {
      var table = document.getElementById(el.getAttribute("data-table"));
      if (!table) return;
      var all = table.tBodies[0].rows.length;
      var visible = Array.prototype.filter.call(table.tBodies[0].rows, function (r) { return !r.hidden; }).length;
      el.textContent = "showing " + visible + " of " + all + " methods";
    });
  }
  boxes.forEach(function (b) { b.addEventListener("change", applyFilter); });
  if (boxes.length) applyFilter();

  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var pre = document.getElementById(button.getAttribute("data-target"));
      var text = pre ? pre.textContent : "";
      var done = function () { button.textContent = "copied"; setTimeout(function () { button.textContent = "copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(pre); });
      } else { selectText(pre); }
    });
  });
  function selectText(el) {
    if (!el) return;
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
})();
