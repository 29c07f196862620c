/* Catalog page script: draws the Plotly charts embedded as JSON, keeps them in step with the
 * light/dark palette, and makes tables with class "bg-sortable" sortable by clicking a header.
 *
 * Charts are drawn when they come near the viewport (a model page can hold dozens), and
 * window.bgCharts.renderAll() draws every chart at once (used by the browser tests). */
(function () {
  "use strict";

  function dark() {
    return document.body.getAttribute("data-md-color-scheme") === "slate";
  }

  function themeColors() {
    return dark()
      ? { text: "#e2e4ed", grid: "#3b3f52", line: "#6b7086" }
      : { text: "#2b2b2b", grid: "#e6e6e6", line: "#9e9e9e" };
  }

  /* The theme-dependent part of a layout, as Plotly.relayout keys. */
  function themeUpdate(layout) {
    var c = themeColors();
    var upd = {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      "font.color": c.text,
      "legend.font.color": c.text,
      "xaxis.gridcolor": c.grid,
      "yaxis.gridcolor": c.grid,
      "xaxis.zerolinecolor": c.line,
      "yaxis.zerolinecolor": c.line,
      "xaxis.linecolor": c.line,
      "yaxis.linecolor": c.line,
    };
    return upd;
  }

  function applyDotted(layout, upd) {
    Object.keys(upd).forEach(function (key) {
      var parts = key.split(".");
      var obj = layout;
      for (var i = 0; i < parts.length - 1; i++) {
        if (typeof obj[parts[i]] !== "object" || obj[parts[i]] === null) obj[parts[i]] = {};
        obj = obj[parts[i]];
      }
      obj[parts[parts.length - 1]] = upd[key];
    });
    return layout;
  }

  var drawn = [];

  function render(el) {
    if (el.getAttribute("data-rendered")) return el.__bgPromise || Promise.resolve();
    el.setAttribute("data-rendered", "pending");
    var spec = JSON.parse(el.querySelector('script[type="application/json"]').textContent);
    var target = document.createElement("div");
    target.className = "bg-plot";
    el.appendChild(target);
    var layout = applyDotted(spec.layout, themeUpdate(spec.layout));
    el.__bgPromise = Plotly.newPlot(target, spec.data, layout, {
      responsive: true,
      displaylogo: false,
      modeBarButtonsToRemove: ["select2d", "lasso2d"],
    }).then(function () {
      el.setAttribute("data-rendered", "done");
      drawn.push(target);
    });
    return el.__bgPromise;
  }

  function charts() {
    return Array.prototype.slice.call(document.querySelectorAll(".bg-chart"));
  }

  window.bgCharts = {
    renderAll: function () {
      return Promise.all(charts().map(render)).then(function () {
        return charts().length;
      });
    },
  };

  function setupCharts() {
    if (typeof Plotly === "undefined") return;
    if ("IntersectionObserver" in window) {
      var io = new IntersectionObserver(
        function (entries) {
          entries.forEach(function (e) {
            if (e.isIntersecting) {
              io.unobserve(e.target);
              render(e.target);
            }
          });
        },
        { rootMargin: "400px" }
      );
      charts().forEach(function (el) { io.observe(el); });
    } else {
      window.bgCharts.renderAll();
    }
    new MutationObserver(function () {
      drawn.forEach(function (target) { Plotly.relayout(target, themeUpdate(target.layout)); });
    }).observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });
  }

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    var v = cell.getAttribute("data-sort");
    if (v !== null && v !== "" && !isNaN(Number(v))) return Number(v);
    return cell.textContent.trim().toLowerCase();
  }

  function setupTables() {
    document.querySelectorAll("table.bg-sortable").forEach(function (table) {
      var body = table.tBodies[0];
      if (!table.tHead || !body) return;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
        th.classList.add("bg-sort-head");
        th.setAttribute("title", "sort");
        th.addEventListener("click", function () {
          var asc = th.getAttribute("aria-sort") !== "ascending";
          Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
          th.setAttribute("aria-sort", asc ? "ascending" : "descending");
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = cellValue(a, index), y = cellValue(b, index);
            if (typeof x !== typeof y) { x = String(x); y = String(y); }
            return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
          });
          rows.forEach(function (r) { body.appendChild(r); });
        });
      });
    });
  }

  function init() {
    setupCharts();
    setupTables();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
