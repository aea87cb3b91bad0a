/* The search page: time presets, query history, the histogram (uPlot) with zoom, live tail.
   Event values only ever reach the page through textContent (never as HTML). */
(function () {
  "use strict";

  var form = document.getElementById("search-form");
  if (!form) { return; }
  var q = document.getElementById("q");
  var start = document.getElementById("start");
  var end = document.getElementById("end");
  var HISTORY = "lakehose.search.history";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function iso(ms) { return new Date(ms).toISOString(); }

  function go(startValue, endValue) {
    var params = new URLSearchParams();
    params.set("q", q.value);
    params.set("start", startValue);
    if (endValue) { params.set("end", endValue); }
    window.location.assign("/console/search?" + params.toString());
  }

  // -- time presets ----------------------------------------------------------------------
  var preset = document.getElementById("preset");
  preset.addEventListener("change", function () {
    if (preset.value === "custom") { start.focus(); return; }
    go(preset.value, "");
  });

  // -- query history (this browser's, newest first) --------------------------------------
  function history() {
    try { return JSON.parse(window.localStorage.getItem(HISTORY) || "[]"); } catch (e) { return []; }
  }
  function showHistory() {
    var list = document.getElementById("query-history");
    list.textContent = "";
    history().forEach(function (text) { var o = el("option"); o.value = text; list.appendChild(o); });
  }
  function remember(text) {
    if (!text.trim()) { return; }
    var items = history().filter(function (t) { return t !== text; });
    items.unshift(text);
    try { window.localStorage.setItem(HISTORY, JSON.stringify(items.slice(0, 25))); } catch (e) { /* full */ }
  }
  form.addEventListener("submit", function () { remember(q.value); });
  if (!document.getElementById("query-error")) { remember(q.value); }
  showHistory();

  // -- histogram ---------------------------------------------------------------------------
  var box = document.getElementById("histogram");
  var total = document.getElementById("total");
  if (box) {
    fetch("/console/api/v1/search/histogram?" + box.getAttribute("data-params") + "&buckets=100",
          { credentials: "same-origin" })
      .then(function (reply) { return reply.json().then(function (body) { return [reply, body]; }); })
      .then(function (pair) {
        var reply = pair[0], body = pair[1];
        if (!reply.ok) { throw new Error(body.errors && body.errors[0] ? body.errors[0].message : reply.statusText); }
        draw(body.resources[0]);
      })
      .catch(function (err) {
        box.textContent = "";
        box.appendChild(el("p", "error", "Histogram: " + err.message));
        box.setAttribute("data-ready", "error");
      });
  }

  function draw(h) {
    var shown = total.getAttribute("data-shown");
    total.textContent = h.total.toLocaleString("en") + (h.total === 1 ? " event" : " events") + (shown ? " · " + shown + " shown" : "");
    total.setAttribute("data-total", String(h.total));
    box.setAttribute("data-total", String(h.total));
    if (!h.counts.length) {
      box.appendChild(el("p", "muted", "No events in this range."));
      box.setAttribute("data-ready", "1");
      return;
    }
    var width = h.bucket_ns / 1e9;
    var xs = [], ys = [];
    for (var i = 0; i < h.counts.length; i++) { xs.push(h.start / 1e9 + i * width); ys.push(h.counts[i]); }
    var downX = null;
    var opts = {
      width: box.clientWidth || 800,
      height: 160,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      scales: { x: { time: true, range: [xs[0], xs[xs.length - 1] + width] } },
      axes: [{}, { size: 60 }],
      series: [{}, {
        label: "events", fill: "rgba(31, 78, 121, 0.55)", stroke: "#1f4e79",
        paths: uPlot.paths.bars({ size: [0.9, 64], align: 1 }), points: { show: false }
      }],
      hooks: {
        setSelect: [function (u) {
          if (u.select.width < 4) { return; }
          var a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
          go(iso(a * 1000), iso(b * 1000));
        }]
      }
    };
    var plot = new uPlot(opts, [xs, ys], box);
    plot.over.addEventListener("mousedown", function (e) { downX = e.clientX; });
    plot.over.addEventListener("click", function (e) {
      if (downX !== null && Math.abs(e.clientX - downX) > 3) { return; }
      var x = plot.posToVal(e.offsetX, "x");
      var idx = Math.floor((x - xs[0]) / width);
      if (idx < 0 || idx >= xs.length) { return; }
      go(iso(xs[idx] * 1000), iso((xs[idx] + width) * 1000));
    });
    window.addEventListener("resize", function () { plot.setSize({ width: box.clientWidth, height: 160 }); });
    box.setAttribute("data-ready", "1");
  }

  // -- live tail ---------------------------------------------------------------------------
  var tail = document.getElementById("tail");
  var pause = document.getElementById("pause");
  var statusText = document.getElementById("tail-status");
  var list = document.getElementById("events");
  var source = null, paused = false, held = [], arrived = 0;

  function rawText(row) {
    if (typeof row["@rawstring"] === "string") { return row["@rawstring"]; }
    if (typeof row.event === "string") { return row.event; }
    return JSON.stringify(row.event);
  }

  function show(row) {
    var li = el("li", "event live");
    var details = el("details");
    details.setAttribute("hx-get", "/console/search/event/" + Number(row.partition) + "/" + Number(row.offset));
    details.setAttribute("hx-trigger", "toggle once");
    details.setAttribute("hx-target", "find .detail");
    var summary = el("summary");
    summary.appendChild(el("time", "", iso(row.time / 1e6)));
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(el("span", "tag", String(row["#connector"])));
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(el("span", "line", rawText(row)));
    details.appendChild(summary);
    details.appendChild(el("div", "detail"));
    li.appendChild(details);
    list.insertBefore(li, list.firstChild);
    if (window.htmx) { window.htmx.process(li); }
    var none = document.getElementById("no-events");
    if (none) { none.remove(); }
  }

  function status() {
    if (!source) { statusText.textContent = ""; return; }
    statusText.textContent = paused
      ? "Paused · " + held.length + " waiting"
      : "Live · " + arrived + " new event" + (arrived === 1 ? "" : "s");
  }

  function stop() {
    if (source) { source.close(); source = null; }
    tail.classList.remove("on");
    tail.textContent = "Live tail";
    pause.hidden = true;
    paused = false;
    held.forEach(show);
    held = [];
    status();
  }

  if (tail && list) {
    tail.addEventListener("click", function () {
      if (source) { stop(); return; }
      source = new EventSource("/console/api/v1/search/tail?q=" + encodeURIComponent(tail.getAttribute("data-q")));
      source.addEventListener("event", function (message) {
        var row = JSON.parse(message.data);
        arrived += 1;
        if (paused) { held.push(row); } else { show(row); }
        status();
      });
      source.addEventListener("open", function () { tail.setAttribute("data-open", "1"); });
      tail.classList.add("on");
      tail.textContent = "Stop tail";
      pause.hidden = false;
      pause.textContent = "Pause";
      status();
    });
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.textContent = paused ? "Resume" : "Pause";
      if (!paused) { held.forEach(show); held = []; }
      status();
    });
  }
})();
