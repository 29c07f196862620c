/* Catalog page script: draws the charts from their JSON specs (generator/site/charts.py), keeps
 * them in step with the light/dark palette, wires the view buttons and the legend, and makes
 * tables with class "bg-sortable" sortable by clicking a header.
 *
 * A spec holds the x values, one series per provider (colours for both palettes, latencies,
 * invalid points with their reason) and several views (TFLOP/s, speedups, % of roofline), each
 * with one y array per series. A series is one Plotly trace: its invalid points are isolated
 * crosses at the bottom of the plot inside the same trace, so hiding a provider hides its
 * crosses and the number of traces drawn is the number of providers ticked.
 *
 * Every chart is drawn once the page has loaded, without waiting for the reader to scroll to it:
 * a page printed, or opened at an anchor, shows its charts. The ones on screen (and the one an
 * anchor names) are drawn first, the rest one at a time in idle moments, in page order, so the
 * page stays responsive while up to about fifteen charts are drawn; one scrolled to is drawn at
 * once. Before printing every chart still missing is drawn synchronously (Plotly builds the SVG
 * inside the call). window.bgCharts.renderAll() draws every chart at once (browser tests). */
(function () {
  "use strict";

  var INVALID = "x-thin-open";

  function dark() {
    return document.body.getAttribute("data-md-color-scheme") === "slate";
  }

  function themeColors() {
    return dark()
      ? { text: "#e2e4ed", grid: "#3b3f52", line: "#9aa0b8", bg: "#1e2129" }
      : { text: "#2b2b2b", grid: "#e6e6e6", line: "#7a7a7a", bg: "#ffffff" };
  }

  function narrow(el) {
    return el.clientWidth < 480;
  }

  /* Whether the figure's legend stands beside the plot (not wrapped below it). */
  function legendBeside(el) {
    var fig = el.closest(".bg-figure");
    var legend = fig ? fig.querySelector(".bg-legend") : null;
    return legend && legend.offsetTop < el.offsetTop + 40 ? legend : null;
  }

  /* Plot height: the legend's when it stands beside the plot (no empty band under the plot,
   * however narrow the plot is: a desktop's plot beside its legend is under 480 px wide),
   * within bounds; a fixed one when the legend wraps below (a phone: shorter, except bars,
   * whose every category label stands upright under the plot). */
  function plotHeight(el, bars) {
    var base = bars ? 420 : 380;
    var legend = legendBeside(el);
    if (legend) return Math.max(base, Math.min(620, legend.offsetHeight));
    if (narrow(el)) return bars ? 420 : 300;
    return base;
  }

  /* Hover labels: one line per provider, wrapped at spaces so that the label is never wider
   * than the plot (Plotly moves a label that fits to the free side of the pointer, and cuts
   * one wider than the plot). Entities (the labels are HTML-escaped) count as one character. */
  var HOVER_FONT = 12, HOVER_FONT_NARROW = 11;

  function hoverFont(el) {
    return narrow(el) ? HOVER_FONT_NARROW : HOVER_FONT;
  }

  function hoverChars(el) {
    var font = hoverFont(el);
    // the label's padding and the provider's key take ~40 px; a character ~0.6 em at most
    return Math.max(24, Math.floor((el.clientWidth - 48) / (font * 0.6)));
  }

  function visibleLength(s) {
    return s.replace(/&#?\w+;/g, "x").length;
  }

  /* A word longer than a line (an error's identifier run into its message) is cut into
   * pieces of one line each, never inside an entity. */
  function pieces(word, width) {
    if (visibleLength(word) <= width) return [word];
    var units = word.match(/&#?\w+;|[\s\S]/g), out = [];
    for (var i = 0; i < units.length; i += width) out.push(units.slice(i, i + width).join(""));
    return out;
  }

  function wrap(text, width) {
    var lines = [], line = "", words = [];
    text.split(" ").forEach(function (word) { words.push.apply(words, pieces(word, width - 2)); });
    words.forEach(function (word) {
      if (line && visibleLength(line) + 1 + visibleLength(word) > width) {
        lines.push(line);
        line = "\u00a0\u00a0" + word;  // a continued line is indented
      } else {
        line = line ? line + " " + word : word;
      }
    });
    if (line) lines.push(line);
    return lines.join("<br>");
  }

  function fmt(v) {
    if (v === null || v === undefined) return "";
    var a = Math.abs(v);
    if (a >= 1000) return Math.round(v).toLocaleString("en-US");
    return Number(v.toPrecision(3)).toString();
  }

  /* One Plotly trace per series for view v. Its hover text at each x is the whole line of
   * the label (provider, a note such as a stand-in's, value), wrapped to the plot's width. */
  function traces(spec, state, el) {
    var view = spec.views[state.view];
    var floor = view.floor;
    var width = hoverChars(el);
    var unified = spec.hovermode === "x unified";
    var notes = {};
    (view.notes || []).forEach(function (n) { notes[n[0] + ":" + n[1]] = n[2]; });
    return spec.series.map(function (s, k) {
      var color = dark() ? s.color_dark : s.color;
      var ys = view.ys[k];
      var bad = {};
      (s.bad || []).forEach(function (b) { bad[b[0]] = b[1]; });
      var visible = state.visible[k] ? true : "legendonly";
      var line = function (i, value) {
        if (!unified) return value;
        if (value === "") return "";
        var note = notes[k + ":" + i];
        return wrap(s.name + (note ? " (" + note + ")" : "") + ": " + value, width);
      };
      if (spec.type === "bars") {
        return {
          type: "bar",
          name: s.name,
          x: spec.x,
          y: ys,
          text: ys.map(function (y, i) {
            if (bad[i] !== undefined) return line(i, bad[i]);
            return line(i, y === null ? "" : fmt(y) + view.unit + (s.lat[i] ? " · " + fmt(s.lat[i]) + " µs" : ""));
          }),
          textposition: "none",
          hovertemplate: unified
            ? "%{text}<extra></extra>"
            : "%{fullData.name}<br>%{x}<br>%{text}<extra></extra>",
          marker: s.pattern
            ? { color: "rgba(0,0,0,0)", line: { color: color, width: 1 }, pattern: { shape: s.pattern, fgcolor: color } }
            : { color: color },
          visible: visible,
          showlegend: false,
        };
      }
      var x = [], y = [], text = [], symbol = [], size = [];
      spec.x.forEach(function (xv, i) {
        if (bad[i] !== undefined) {
          x.push(xv, xv, xv);
          y.push(null, floor, null);
          text.push("", line(i, bad[i]), "");
          symbol.push(s.symbol, INVALID, s.symbol);
          size.push(7, 11, 7);
        } else {
          x.push(xv);
          y.push(ys[i]);
          text.push(line(i, ys[i] === null ? "" : fmt(ys[i]) + view.unit + (s.lat[i] ? " · " + fmt(s.lat[i]) + " µs" : "")));
          symbol.push(s.symbol);
          size.push(7);
        }
      });
      return {
        type: "scatter",
        mode: "lines+markers",
        name: s.name,
        x: x,
        y: y,
        text: text,
        // unified hover: a header with the x value, then one line per provider at that x
        hovertemplate: unified
          ? "%{text}<extra></extra>"
          : "%{fullData.name}<br>" + (spec.x_name || "M") + "=%{x}<br>%{text}<extra></extra>",
        connectgaps: false,
        line: { color: color, dash: s.dash, width: 2 },
        marker: { symbol: symbol, size: size, color: color, line: { color: color, width: 2 } },
        visible: visible,
        showlegend: false,
      };
    });
  }

  var MODEBAR_PX = 30;

  function layout(spec, state, el) {
    var view = spec.views[state.view];
    var c = themeColors();
    var bars = spec.type === "bars";
    var lay = {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: c.text, size: 12 },
      // the hover label would take the transparent plot background: its text on the lines
      hoverlabel: {
        bgcolor: c.bg,
        bordercolor: c.line,
        font: { color: c.text, size: hoverFont(el) },
        align: "left",
        namelength: -1,
      },
      // the top margin holds the toolbar (Plotly's mode bar, 26 px high with its padding):
      // with none it lay over the plot's top right, on the highest point at the largest M
      margin: { l: 8, r: 8, t: MODEBAR_PX, b: 8 },
      height: plotHeight(el, bars),
      showlegend: false,
      hovermode: spec.hovermode || "closest",
      barmode: "group",
      xaxis: {
        title: { text: spec.x_title },
        type: spec.x_log ? "log" : (bars ? "category" : "linear"),
        automargin: true,
        gridcolor: c.grid,
        linecolor: c.line,
        zerolinecolor: c.line,
        tickangle: bars ? (narrow(el) ? -90 : -40) : "auto",
        // the hover label's header: what the x value is, not a bare number
        unifiedhovertitle: { text: bars ? "%{x}" : (spec.x_name || "M") + " = %{x}" },
      },
      yaxis: {
        title: { text: view.y_title },
        type: view.log ? "log" : "linear",
        rangemode: view.log ? "normal" : "tozero",
        automargin: true,
        gridcolor: c.grid,
        linecolor: c.line,
        zerolinecolor: c.line,
      },
      shapes: [],
    };
    if (bars && narrow(el)) {
      // a phone: every category labelled (Plotly skips every other one where they crowd),
      // upright and small enough to stand side by side
      lay.xaxis.tickmode = "array";
      lay.xaxis.tickvals = spec.x;
      lay.xaxis.ticktext = spec.x;
      lay.xaxis.tickfont = { size: 9 };
    }
    if (view.ref !== null && view.ref !== undefined) {
      lay.shapes.push({
        type: "line", xref: "paper", x0: 0, x1: 1, y0: view.ref, y1: view.ref,
        line: { dash: "dot", width: 1.5, color: c.line },
      });
    }
    return lay;
  }

  var drawn = [];

  function draw(el) {
    el.__bgWidth = el.clientWidth;
    return Plotly.react(el.__bgTarget, traces(el.__bgSpec, el.__bgState, el), layout(el.__bgSpec, el.__bgState, el), {
      responsive: true,
      displaylogo: false,
      displayModeBar: "hover",
      modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
    });
  }

  function figureOf(el) {
    return el.closest(".bg-figure");
  }

  function syncControls(el) {
    var fig = figureOf(el);
    if (!fig) return;
    var state = el.__bgState;
    fig.querySelectorAll(".bg-view").forEach(function (b) {
      b.setAttribute("aria-pressed", Number(b.dataset.view) === state.view ? "true" : "false");
    });
    fig.querySelectorAll("input[data-series]").forEach(function (box) {
      box.checked = !!state.visible[Number(box.dataset.series)];
    });
  }

  function render(el) {
    if (el.getAttribute("data-rendered")) return el.__bgPromise || Promise.resolve();
    el.setAttribute("data-rendered", "pending");
    var spec = JSON.parse(el.querySelector('script[type="application/json"]').textContent);
    var target = document.createElement("div");
    target.className = "bg-plot";
    el.appendChild(target);
    el.__bgSpec = spec;
    el.__bgTarget = target;
    el.__bgState = {
      view: 0,
      visible: spec.series.map(function (s) { return !!s.visible; }),
      initial: spec.series.map(function (s) { return !!s.visible; }),
    };
    var fig = figureOf(el);
    if (fig) {
      fig.querySelectorAll(".bg-view").forEach(function (b) {
        b.addEventListener("click", function () {
          el.__bgState.view = Number(b.dataset.view);
          syncControls(el);
          draw(el);
        });
      });
      fig.querySelectorAll("input[data-series]").forEach(function (box) {
        box.addEventListener("change", function () {
          var k = Number(box.dataset.series);
          el.__bgState.visible[k] = box.checked;
          Plotly.restyle(target, { visible: box.checked ? true : "legendonly" }, [k]);
        });
      });
      fig.querySelectorAll("button[data-legend]").forEach(function (b) {
        b.addEventListener("click", function () {
          var all = b.dataset.legend === "all";
          el.__bgState.visible = el.__bgState.initial.map(function (v) { return all || v; });
          syncControls(el);
          draw(el);
        });
      });
    }
    el.__bgPromise = draw(el).then(function () {
      el.setAttribute("data-rendered", "done");
      drawn.push(el);
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

  /* The charts in or near the viewport, in page order. */
  function onScreen(margin) {
    var h = window.innerHeight || document.documentElement.clientHeight;
    return charts().filter(function (el) {
      var r = el.getBoundingClientRect();
      return r.bottom >= -margin && r.top <= h + margin;
    });
  }

  /* The charts an anchor names: the figure itself, or those in the section it heads (up to the
   * next heading of the same or a higher level). */
  function anchored() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    if (!target) return [];
    if (target.querySelector(".bg-chart")) return Array.prototype.slice.call(target.querySelectorAll(".bg-chart"));
    var level = /^H([1-6])$/.exec(target.tagName);
    if (!level) return [];
    var out = [];
    for (var n = target.nextElementSibling; n; n = n.nextElementSibling) {
      var l = /^H([1-6])$/.exec(n.tagName);
      if (l && Number(l[1]) <= Number(level[1])) break;
      if (n.classList.contains("bg-chart")) out.push(n);
      out.push.apply(out, n.querySelectorAll(".bg-chart"));
    }
    return out;
  }

  function idle(fn) {
    if ("requestIdleCallback" in window) window.requestIdleCallback(fn, { timeout: 300 });
    else window.setTimeout(fn, 16);
  }

  /* Draw the charts not yet drawn, one per idle moment, in page order. */
  function drawRest() {
    var next = charts().filter(function (el) { return !el.getAttribute("data-rendered"); })[0];
    if (!next) return;
    idle(function () {
      render(next).then(drawRest, drawRest);
    });
  }

  function setupCharts() {
    if (typeof Plotly === "undefined") return;
    anchored().concat(onScreen(200)).forEach(render);
    if ("IntersectionObserver" in window) {
      // one the reader scrolls to before its turn is drawn at once
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
    }
    drawRest();
    window.addEventListener("hashchange", function () { anchored().forEach(render); });
    window.addEventListener("beforeprint", function () { charts().forEach(render); });
    if (window.matchMedia) {
      var print = window.matchMedia("print");
      var onPrint = function (e) { if (e.matches) charts().forEach(render); };
      if (print.addEventListener) print.addEventListener("change", onPrint);
      else if (print.addListener) print.addListener(onPrint);
    }
    new MutationObserver(function () {
      drawn.forEach(draw);
    }).observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });
    // a new width (a phone turned, a window resized, a <details> around the chart opened):
    // the height and the hover labels' wrap follow it
    var resizing = null;
    var redrawResized = function () {
      window.clearTimeout(resizing);
      resizing = window.setTimeout(function () {
        drawn.forEach(function (el) {
          if (el.clientWidth && el.clientWidth !== el.__bgWidth) draw(el);
        });
      }, 150);
    };
    if ("ResizeObserver" in window) {
      var watched = new ResizeObserver(redrawResized);
      charts().forEach(function (el) { watched.observe(el); });
    } else {
      window.addEventListener("resize", redrawResized);
    }
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
        th.setAttribute("title", (th.getAttribute("title") ? th.getAttribute("title") + " (click to sort)" : "click to sort"));
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

  /* A table wider than its box scrolls inside it; nothing showed that it does (a column cut at
   * the box's edge reads as the last one). Each box that overflows says so above it and fades
   * its right edge until scrolled to its end; kept in step as the box resizes (a phone turned,
   * a <details> opened). */
  function setupScrollHints() {
    document.querySelectorAll(".bg-table-wrap").forEach(function (wrap) {
      var hint = document.createElement("p");
      hint.className = "bg-scroll-hint";
      hint.setAttribute("aria-hidden", "true");
      hint.textContent = "more columns: scroll the table sideways →";
      hint.hidden = true;
      wrap.parentNode.insertBefore(hint, wrap);
      var update = function () {
        var more = wrap.scrollWidth > wrap.clientWidth + 1;
        hint.hidden = !more;
        if (!more) wrap.removeAttribute("data-more");
        else wrap.setAttribute("data-more", wrap.scrollLeft + wrap.clientWidth >= wrap.scrollWidth - 1 ? "end" : "right");
      };
      wrap.addEventListener("scroll", update, { passive: true });
      if ("ResizeObserver" in window) new ResizeObserver(update).observe(wrap);
      else window.addEventListener("resize", update);
      update();
    });
  }

  /* A command-line flag never breaks inside itself ("-" / "-fp8-gemm-backend triton" is a copy
   * hazard): inline code that starts with a dash stays on one line. */
  var FLAG_WHOLE = 32;

  function setupFlags() {
    document.querySelectorAll(".md-typeset code").forEach(function (code) {
      if (code.closest("pre") || code.children.length) return;
      var t = code.textContent;
      if (!/^--?[A-Za-z]/.test(t)) return;
      // a short flag with its value on one line; a long one keeps each word on one line,
      // breaking only between words
      code.classList.add("bg-flag");
      code.textContent = "";
      (t.length <= FLAG_WHOLE ? [t] : t.split(" ")).forEach(function (word, i) {
        if (i) code.appendChild(document.createTextNode(" "));
        var span = document.createElement("span");
        span.className = "bg-nobr";
        span.textContent = word;
        code.appendChild(span);
      });
    });
  }

  function init() {
    setupCharts();
    setupTables();
    setupScrollHints();
    setupFlags();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
