/* percorso dashboard: draws the charts of a page (and of HTMX-swapped content) from their
   data-figure attribute, sends the CSRF header with HTMX requests, and registers Plotly's
   Italian locale. No inline script anywhere (Content-Security-Policy: script-src 'self'). */
(function () {
  "use strict";
  var IT = {
    moduleType: "locale", name: "it",
    dictionary: {
      "Download plot as a png": "Scarica il grafico come PNG",
      "Download plot": "Scarica il grafico",
      "Zoom": "Zoom", "Pan": "Sposta", "Box Select": "Selezione rettangolare",
      "Lasso Select": "Selezione lazo", "Zoom in": "Ingrandisci", "Zoom out": "Riduci",
      "Autoscale": "Scala automatica", "Reset axes": "Ripristina assi",
      "Reset view": "Ripristina vista", "Toggle Spike Lines": "Linee guida",
      "Show closest data on hover": "Dato più vicino al passaggio",
      "Compare data on hover": "Confronta dati al passaggio",
      "Produced with Plotly.js": "Realizzato con Plotly.js",
      "Taking snapshot - this may take a few seconds": "Creo l'immagine, qualche secondo…",
      "Snapshot succeeded": "Immagine pronta"
    },
    format: {
      days: ["domenica", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato"],
      shortDays: ["dom", "lun", "mar", "mer", "gio", "ven", "sab"],
      months: ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
               "settembre", "ottobre", "novembre", "dicembre"],
      shortMonths: ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"],
      date: "%d/%m/%Y", decimal: ",", thousands: "."
    }
  };
  var registered = false;

  function draw(root) {
    if (!window.Plotly) { return; }
    if (!registered) { window.Plotly.register(IT); registered = true; }
    var locale = document.documentElement.lang || "it";
    var nodes = (root || document).querySelectorAll("[data-figure]:not([data-ready])");
    nodes.forEach(function (el) {
      var fig;
      try { fig = JSON.parse(el.getAttribute("data-figure")); } catch (e) { return; }
      var config = {
        responsive: true, displaylogo: false, locale: locale,
        modeBarButtonsToRemove: ["select2d", "lasso2d"],
        toImageButtonOptions: { format: "png", filename: el.getAttribute("data-filename") || "percorso", scale: 2 }
      };
      window.Plotly.newPlot(el, fig.data || [], fig.layout || {}, config).then(function () {
        el.setAttribute("data-ready", "1");
        /* a cell, bar or Sankey link whose customdata is a drill-down address opens its customers */
        el.on("plotly_click", function (d) {
          var p = d && d.points && d.points[0];
          var u = p ? p.customdata : null;
          if (Array.isArray(u)) { u = u[0]; }
          if (typeof u === "string" && u.indexOf("/clienti?") === 0) { window.location.href = u; }
        });
      });
    });
  }

  /* date controls show the page language's day (dd/mm/yyyy in Italian); the address holds ISO
     days, so a form turns each typed day into yyyy-mm-dd before it leaves (capture phase: before
     HTMX reads the form). A text that is not a day is sent as typed and named on the page. */
  function isoDay(text) {
    var m = /^\s*(\d{1,2})[\/.\-](\d{1,2})[\/.\-](\d{4})\s*$/.exec(text);
    if (!m) { return null; }
    var d = Number(m[1]), mo = Number(m[2]), y = Number(m[3]);
    var t = new Date(Date.UTC(y, mo - 1, d));
    if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) { return null; }
    return y + "-" + (mo < 10 ? "0" : "") + mo + "-" + (d < 10 ? "0" : "") + d;
  }
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form || !form.querySelectorAll) { return; }
    form.querySelectorAll("input[data-date]").forEach(function (el) {
      var iso = isoDay(el.value);
      if (iso) { el.value = iso; }
    });
  }, true);

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:load", function (evt) { draw(evt.target); });
  document.addEventListener("htmx:configRequest", function (evt) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { evt.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
  });
  /* after a boosted navigation, move focus to the new main content (keyboard and screen readers) */
  document.addEventListener("htmx:afterSettle", function () {
    var main = document.getElementById("main");
    if (main && document.activeElement === document.body) { main.focus({ preventScroll: true }); }
  });
})();
