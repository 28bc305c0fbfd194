// faultline report: draws the timeline, latency, throughput and node lanes from the JSON embedded
// in the page, and makes anomalies clickable. No libraries, no network. All canvases share one
// time window (view.t0 .. view.t1, in the data's units: microseconds, or event positions for
// untimed histories); wheel zooms, drag pans, double-click shows the whole run.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("data").textContent);
  const O = D.ops;
  const N = O.p.length;
  const TIMED = D.timed;
  const UNIT = TIMED ? 1e6 : 1; // data units per second (or per event)
  let lastEnd = D.end;
  for (let i = 0; i < N; i++) lastEnd = Math.max(lastEnd, O.t1[i], O.t0[i]);
  const END = Math.max(lastEnd, 1);
  const end = (i) => (O.t1[i] < 0 ? END : O.t1[i]);
  const OUTCOMES = ["ok", "fail", "info"];
  const OUTCOME_COLOR = ["#2f9e44", "#e03131", "#f08c00"];
  const F_COLOR = ["#1c7ed6", "#ae3ec9", "#0ca678", "#f59f00", "#495057", "#d6336c"];
  const FAULT_COLOR = {
    partition: "255,146,43", pause: "51,154,240", kill: "240,62,62", clock: "132,94,247", membership: "32,201,151",
  };
  const faultRgb = (k) => FAULT_COLOR[k] || "134,142,150";
  const fColor = (f) => F_COLOR[f % F_COLOR.length];
  // Room for the longest row label (process ids of final reads are long).
  const GUTTER = (function () {
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = "11px system-ui, sans-serif";
    let w = 0;
    for (const p of D.processes) w = Math.max(w, ctx.measureText("p" + p).width);
    for (const n of D.nodes) w = Math.max(w, ctx.measureText(n).width);
    return Math.round(Math.min(140, Math.max(56, w + 10)));
  })();

  // Operations per process row, in invocation order: within a process they never overlap, so
  // both their starts and their ends are sorted and a window is found by binary search.
  const rows = D.processes.map(() => []);
  for (let i = 0; i < N; i++) rows[O.p[i]].push(i);
  // Completed operations by completion time, for throughput and latency.
  const done = [];
  for (let i = 0; i < N; i++) if (O.t1[i] >= 0) done.push(i);
  done.sort((a, b) => O.t1[a] - O.t1[b]);
  const finals = new Set(O.final);

  const view = { t0: 0, t1: END };
  let highlight = new Set();

  // ---- small helpers ----
  const $ = (id) => document.getElementById(id);
  function lowerBound(arr, key, x) {
    let lo = 0, hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (key(arr[mid]) < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
  // The first operation invoked at or after x (history order is invocation order).
  function firstInvokedFrom(x) {
    let lo = 0, hi = N;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (O.t0[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
  function fmt(t, span) {
    if (!TIMED) return "event " + Math.round(t);
    const s = t / UNIT;
    const digits = span === undefined ? 3 : Math.max(0, Math.min(6, Math.ceil(-Math.log10(span / UNIT / 10))));
    return s.toFixed(digits) + " s";
  }
  function fmtDur(d) {
    if (!TIMED) return d + " events";
    const ms = d / 1000;
    return ms < 1 ? ms.toFixed(3) + " ms" : ms < 1000 ? ms.toFixed(1) + " ms" : (ms / 1000).toFixed(2) + " s";
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  }
  function niceStep(span, target) {
    const raw = span / Math.max(1, target);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  // Every canvas is sized in CSS pixels and drawn at the device's pixel ratio.
  function setup(canvas, cssHeight) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(200, canvas.parentElement.clientWidth - 2);
    canvas.style.width = w + "px";
    canvas.style.height = cssHeight + "px";
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(cssHeight * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, cssHeight);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx, w, h: cssHeight };
  }
  const xOf = (t, w) => GUTTER + ((t - view.t0) / (view.t1 - view.t0)) * (w - GUTTER - 8);
  const tOf = (x, w) => view.t0 + ((x - GUTTER) / (w - GUTTER - 8)) * (view.t1 - view.t0);

  function shadeFaults(ctx, w, top, bottom, labels) {
    for (const f of D.faults) {
      if (f.end < view.t0 || f.start > view.t1) continue;
      const x0 = Math.max(GUTTER, xOf(f.start, w));
      const x1 = Math.min(w - 8, Math.max(x0 + 2, xOf(f.end, w)));
      ctx.fillStyle = "rgba(" + faultRgb(f.kind) + ",0.16)";
      ctx.fillRect(x0, top, x1 - x0, bottom - top);
      ctx.fillStyle = "rgba(" + faultRgb(f.kind) + ",0.8)";
      ctx.fillRect(x0, top, 1, bottom - top);
      if (labels && x1 - x0 > 30) {
        ctx.save();
        ctx.beginPath();
        ctx.rect(x0, top, x1 - x0, 14);
        ctx.clip();
        ctx.fillStyle = "rgb(" + faultRgb(f.kind) + ")";
        ctx.fillText(f.label || f.kind, x0 + 3, top + 11);
        ctx.restore();
      }
    }
  }
  function timeAxis(ctx, w, y, h) {
    const span = view.t1 - view.t0;
    const step = niceStep(span, (w - GUTTER) / 90);
    ctx.fillStyle = "#868e96";
    ctx.strokeStyle = "rgba(0,0,0,0.07)";
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const x = xOf(t, w);
      ctx.beginPath();
      ctx.moveTo(x + 0.5, y);
      ctx.lineTo(x + 0.5, y + h);
      ctx.stroke();
      ctx.fillText(TIMED ? fmt(t, step * 10) : String(Math.round(t)), x + 2, y + 10);
    }
  }

  // ---- the timeline ----
  let rowH = 12;
  const drawn = { timeline: 0, latency: 0, throughput: 0, nodes: 0 };
  function drawTimeline() {
    const canvas = $("timeline");
    rowH = Math.max(3, Math.min(18, Math.floor(560 / Math.max(1, rows.length))));
    const top = 18;
    const { ctx, w, h } = setup(canvas, top + rows.length * rowH + 4);
    shadeFaults(ctx, w, 0, h, true);
    timeAxis(ctx, w, 0, h);
    ctx.fillStyle = "#495057";
    const every = Math.ceil(11 / rowH);
    for (let r = 0; r < rows.length; r += every) {
      ctx.fillText("p" + D.processes[r], 4, top + r * rowH + Math.min(rowH, 11));
    }
    const dim = highlight.size > 0;
    let count = 0;
    const barH = Math.max(2, rowH - 2);
    for (let r = 0; r < rows.length; r++) {
      const ops = rows[r];
      const y = top + r * rowH + 1;
      let k = lowerBound(ops, end, view.t0);
      let style = -1;
      ctx.globalAlpha = dim ? 0.3 : 1;
      for (; k < ops.length && O.t0[ops[k]] <= view.t1; k++) {
        const i = ops[k];
        const x0 = Math.max(GUTTER, xOf(O.t0[i], w));
        const x1 = Math.min(w - 8, xOf(end(i), w));
        if (O.o[i] !== style) {
          style = O.o[i];
          ctx.fillStyle = OUTCOME_COLOR[style];
        }
        ctx.fillRect(x0, y, Math.max(1, x1 - x0), barH);
        count++;
      }
    }
    ctx.globalAlpha = 1;
    for (const i of highlight) {
      if (i >= N || end(i) < view.t0 || O.t0[i] > view.t1) continue;
      const y = top + O.p[i] * rowH + 1;
      const x0 = Math.max(GUTTER, xOf(O.t0[i], w));
      const x1 = Math.min(w - 8, xOf(end(i), w));
      ctx.fillStyle = OUTCOME_COLOR[O.o[i]];
      ctx.fillRect(x0, y, Math.max(3, x1 - x0), barH);
      ctx.strokeStyle = "#212529";
      ctx.lineWidth = 2;
      ctx.strokeRect(x0 - 1, y - 1, Math.max(3, x1 - x0) + 2, barH + 2);
      if (rowH >= 10) {
        ctx.fillStyle = "#212529";
        ctx.fillText(O.d[i], Math.min(x1 + 4, w - 80), y + barH - 1);
      }
    }
    ctx.lineWidth = 1;
    drawn.timeline = count;
    canvas.dataset.ops = String(count);
  }
  function opAtTimeline(x, y, w) {
    const r = Math.floor((y - 18) / rowH);
    if (r < 0 || r >= rows.length) return -1;
    const ops = rows[r];
    const slack = (3 * (view.t1 - view.t0)) / (w - GUTTER);
    const t = tOf(x, w);
    let k = lowerBound(ops, end, t - slack);
    let best = -1, bestD = Infinity;
    for (; k < ops.length && O.t0[ops[k]] <= t + slack; k++) {
      const i = ops[k];
      const d = t < O.t0[i] ? O.t0[i] - t : t > end(i) ? t - end(i) : 0;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  // ---- latency: every completed operation at its invocation time, log scale ----
  let latRange = [1, 10];
  (function () {
    let lo = Infinity, hi = 0;
    for (const i of done) {
      const l = Math.max(O.t1[i] - O.t0[i], TIMED ? 1 : 1);
      lo = Math.min(lo, l); hi = Math.max(hi, l);
    }
    if (hi > 0) latRange = [Math.pow(10, Math.floor(Math.log10(lo))), Math.pow(10, Math.ceil(Math.log10(hi * 1.01)))];
    if (latRange[1] <= latRange[0]) latRange[1] = latRange[0] * 10;
  })();
  const PLOT_TOP = 16, PLOT_BOTTOM = 20;
  function latY(l, h) {
    const a = Math.log10(latRange[0]), b = Math.log10(latRange[1]);
    const v = (Math.log10(Math.max(l, latRange[0])) - a) / (b - a);
    return h - PLOT_BOTTOM - v * (h - PLOT_TOP - PLOT_BOTTOM);
  }
  function drawLatency() {
    const canvas = $("latency");
    const { ctx, w, h } = setup(canvas, 240);
    shadeFaults(ctx, w, 0, h - PLOT_BOTTOM, true);
    timeAxis(ctx, w, h - PLOT_BOTTOM, PLOT_BOTTOM);
    ctx.fillStyle = "#868e96";
    ctx.strokeStyle = "rgba(0,0,0,0.08)";
    for (let d = latRange[0]; d <= latRange[1] * 1.001; d *= 10) {
      const y = latY(d, h);
      ctx.beginPath(); ctx.moveTo(GUTTER, y + 0.5); ctx.lineTo(w - 8, y + 0.5); ctx.stroke();
      ctx.fillText(fmtDur(d), 2, y + 4);
    }
    let count = 0;
    const dim = highlight.size > 0;
    ctx.globalAlpha = dim ? 0.3 : 0.8;
    for (let k = firstInvokedFrom(view.t0); k < N && O.t0[k] <= view.t1; k++) {
      if (O.t1[k] < 0) continue;
      const x = xOf(O.t0[k], w), y = latY(O.t1[k] - O.t0[k], h);
      if (O.o[k] === 0) {
        ctx.fillStyle = fColor(O.f[k]);
        ctx.fillRect(x - 1, y - 1, 2.5, 2.5);
      } else {
        ctx.strokeStyle = fColor(O.f[k]);
        ctx.strokeRect(x - 1.5, y - 1.5, 3, 3);
      }
      count++;
    }
    ctx.globalAlpha = 1;
    for (const i of highlight) {
      if (i >= N || O.t1[i] < 0 || O.t0[i] < view.t0 || O.t0[i] > view.t1) continue;
      const x = xOf(O.t0[i], w), y = latY(O.t1[i] - O.t0[i], h);
      ctx.strokeStyle = "#212529"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(x, y, 5, 0, 2 * Math.PI); ctx.stroke(); ctx.lineWidth = 1;
    }
    drawn.latency = count;
    canvas.dataset.points = String(count);
  }
  function opAtLatency(x, y, w, h) {
    const slack = (5 * (view.t1 - view.t0)) / (w - GUTTER);
    const t = tOf(x, w);
    let best = -1, bestD = 36;
    for (let k = firstInvokedFrom(t - slack); k < N && O.t0[k] <= t + slack; k++) {
      if (O.t1[k] < 0) continue;
      const dx = xOf(O.t0[k], w) - x, dy = latY(O.t1[k] - O.t0[k], h) - y;
      const d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = k; }
    }
    return best;
  }

  // ---- throughput: completions per second in buckets, stacked by outcome ----
  function drawThroughput() {
    const canvas = $("throughput");
    const { ctx, w, h } = setup(canvas, 160);
    shadeFaults(ctx, w, 0, h - PLOT_BOTTOM, true);
    timeAxis(ctx, w, h - PLOT_BOTTOM, PLOT_BOTTOM);
    const buckets = Math.max(10, Math.floor((w - GUTTER - 8) / 5));
    const width = (view.t1 - view.t0) / buckets;
    const counts = [new Float64Array(buckets), new Float64Array(buckets), new Float64Array(buckets)];
    let total = 0;
    for (let k = lowerBound(done, (i) => O.t1[i], view.t0); k < done.length; k++) {
      const i = done[k];
      if (O.t1[i] > view.t1) break;
      const b = Math.min(buckets - 1, Math.floor((O.t1[i] - view.t0) / width));
      counts[O.o[i]][b]++;
      total++;
    }
    const perSec = TIMED ? UNIT / width : 1;
    let max = 1;
    for (let b = 0; b < buckets; b++) max = Math.max(max, (counts[0][b] + counts[1][b] + counts[2][b]) * perSec);
    const scale = (h - PLOT_TOP - PLOT_BOTTOM) / max;
    const bw = (w - GUTTER - 8) / buckets;
    for (let b = 0; b < buckets; b++) {
      let y = h - PLOT_BOTTOM;
      for (let o = 0; o < 3; o++) {
        const v = counts[o][b] * perSec * scale;
        if (v <= 0) continue;
        ctx.fillStyle = OUTCOME_COLOR[o];
        ctx.fillRect(GUTTER + b * bw, y - v, Math.max(1, bw - 0.5), v);
        y -= v;
      }
    }
    ctx.fillStyle = "#868e96";
    ctx.fillText(Math.round(max) + (TIMED ? "/s" : "/event"), 2, PLOT_TOP + 8);
    ctx.fillText("0", 2, h - PLOT_BOTTOM);
    drawn.throughput = total;
    canvas.dataset.ops = String(total);
  }

  // ---- nodes: what each fault did to each node ----
  const NODE_COLOR = { down: "240,62,62", paused: "51,154,240", "clock skewed": "132,94,247", partitioned: "255,146,43", "out of the configuration": "32,201,151" };
  const NODE_ROW = 22;
  function drawNodes() {
    const canvas = $("nodes");
    const n = Math.max(1, D.nodes.length);
    const { ctx, w, h } = setup(canvas, 16 + n * NODE_ROW);
    timeAxis(ctx, w, 0, h);
    let count = 0;
    D.nodes.forEach((name, r) => {
      ctx.fillStyle = "#495057";
      ctx.fillText(name, 4, 16 + r * NODE_ROW + 14);
      ctx.fillStyle = "rgba(0,0,0,0.04)";
      ctx.fillRect(GUTTER, 16 + r * NODE_ROW + 3, w - GUTTER - 8, NODE_ROW - 6);
    });
    if (D.nodes.length === 0) {
      ctx.fillStyle = "#868e96";
      ctx.fillText("the history names no nodes", GUTTER, 30);
    }
    for (const e of D.node_events) {
      const stop = e.end === null ? END : e.end;
      if (stop < view.t0 || e.start > view.t1) continue;
      const y = 16 + e.node * NODE_ROW + 3;
      const x0 = Math.max(GUTTER, xOf(e.start, w));
      const x1 = Math.min(w - 8, Math.max(x0 + 2, xOf(stop, w)));
      const rgb = NODE_COLOR[e.state] || "134,142,150";
      ctx.fillStyle = "rgba(" + rgb + ",0.55)";
      ctx.fillRect(x0, y, x1 - x0, NODE_ROW - 6);
      if (x1 - x0 > 40) {
        ctx.fillStyle = "#212529";
        ctx.fillText(e.state, x0 + 3, y + 12);
      }
      if (e.end !== null && e.end <= view.t1) {
        // The fault's end: a restart, a resume, a heal.
        ctx.fillStyle = "rgb(" + rgb + ")";
        ctx.beginPath();
        ctx.moveTo(x1, y - 2); ctx.lineTo(x1 + 5, y + 6); ctx.lineTo(x1 - 5, y + 6); ctx.closePath();
        ctx.fill();
      }
      count++;
    }
    drawn.nodes = count;
    canvas.dataset.events = String(count);
  }
  function nodeEventAt(x, y, w) {
    const r = Math.floor((y - 16) / NODE_ROW);
    const t = tOf(x, w);
    const slack = (4 * (view.t1 - view.t0)) / (w - GUTTER);
    for (const e of D.node_events) {
      const stop = e.end === null ? END : e.end;
      if (e.node === r && t >= e.start - slack && t <= stop + slack) return e;
    }
    return null;
  }

  // ---- the overview: the whole run, with the window ----
  function drawOverview() {
    const canvas = $("overview");
    const { ctx, w, h } = setup(canvas, 36);
    const saved = { t0: view.t0, t1: view.t1 };
    view.t0 = 0; view.t1 = END;
    shadeFaults(ctx, w, 0, h, false);
    const buckets = Math.max(10, Math.floor((w - GUTTER - 8) / 3));
    const counts = new Float64Array(buckets);
    for (const i of done) counts[Math.min(buckets - 1, Math.floor((O.t1[i] / END) * buckets))]++;
    let max = 1;
    for (const c of counts) max = Math.max(max, c);
    ctx.fillStyle = "#adb5bd";
    const bw = (w - GUTTER - 8) / buckets;
    for (let b = 0; b < buckets; b++) {
      const v = (counts[b] / max) * (h - 4);
      ctx.fillRect(GUTTER + b * bw, h - v, Math.max(1, bw - 0.3), v);
    }
    const x0 = xOf(saved.t0, w), x1 = xOf(saved.t1, w);
    view.t0 = saved.t0; view.t1 = saved.t1;
    ctx.fillStyle = "rgba(28,126,214,0.15)";
    ctx.fillRect(x0, 0, Math.max(2, x1 - x0), h);
    ctx.strokeStyle = "#1c7ed6";
    ctx.strokeRect(x0 + 0.5, 0.5, Math.max(2, x1 - x0), h - 1);
    ctx.fillStyle = "#495057";
    ctx.fillText("whole run", 4, 14);
  }

  function label() {
    const inView = drawn.timeline;
    $("window").textContent = "showing " + fmt(view.t0, view.t1 - view.t0) + " – " + fmt(view.t1, view.t1 - view.t0) +
      " of " + fmt(END, END) + " · " + inView.toLocaleString("en") + " of " + N.toLocaleString("en") + " operations";
  }

  // Draws everything now; returns how long it took, in milliseconds.
  function draw() {
    const t = performance.now();
    drawOverview();
    drawTimeline();
    drawLatency();
    drawThroughput();
    drawNodes();
    label();
    document.body.dataset.ready = "1";
    return performance.now() - t;
  }
  let pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  }

  // ---- zoom and pan ----
  const MIN_SPAN = TIMED ? 50 : 2;
  function setView(t0, t1) {
    let span = Math.max(MIN_SPAN, Math.min(END, t1 - t0));
    t0 = Math.max(0, Math.min(END - span, t0));
    view.t0 = t0; view.t1 = t0 + span;
    redraw();
  }
  function zoom(factor, at) {
    const c = at === undefined ? (view.t0 + view.t1) / 2 : at;
    setView(c - (c - view.t0) * factor, c + (view.t1 - c) * factor);
  }
  $("all").addEventListener("click", () => { highlight = new Set(); markCards(-1); setView(0, END); });
  $("zoom-in").addEventListener("click", () => zoom(0.5));
  $("zoom-out").addEventListener("click", () => zoom(2));

  const tip = $("tip");
  function showTip(html, ev) {
    tip.innerHTML = html;
    tip.hidden = false;
    const x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const y = ev.clientY + 16 + tip.offsetHeight > window.innerHeight ? ev.clientY - tip.offsetHeight - 10 : ev.clientY + 16;
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  function opDetails(i) {
    const lines = [];
    lines.push("<b>#" + i + " p" + D.processes[O.p[i]] + " " + esc(O.d[i]) + "</b> <span class=\"" + OUTCOMES[O.o[i]] + "\">" + OUTCOMES[O.o[i]] + "</span>" + (finals.has(i) ? " · final read" : ""));
    const key = D.keys[O.k[i]];
    const bits = [];
    if (key !== "") bits.push("key " + esc(key));
    if (O.n[i] >= 0) bits.push("node " + esc(D.nodes[O.n[i]]));
    if (O.v[i] >= 0) bits.push("version " + O.v[i]);
    if (bits.length) lines.push(bits.join(" · "));
    lines.push("invoked " + fmt(O.t0[i]) + (O.t1[i] >= 0 ? ", completed " + fmt(O.t1[i]) + " (" + fmtDur(O.t1[i] - O.t0[i]) + ")" : ", never completed"));
    const err = O.errors[String(i)];
    if (err) lines.push("error: " + esc(err));
    if (highlight.has(i)) lines.push("<i>in the selected anomaly's witness</i>");
    return lines.join("<br>");
  }

  function wire(canvas, pick) {
    let drag = null;
    canvas.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = canvas.getBoundingClientRect();
      zoom(ev.deltaY > 0 ? 1.25 : 0.8, tOf(ev.clientX - r.left, r.width));
    }, { passive: false });
    canvas.addEventListener("mousedown", (ev) => {
      drag = { x: ev.clientX, t0: view.t0, t1: view.t1, moved: false };
    });
    window.addEventListener("mouseup", () => { drag = null; });
    canvas.addEventListener("mousemove", (ev) => {
      const r = canvas.getBoundingClientRect();
      if (drag && (ev.buttons & 1)) {
        const dt = ((ev.clientX - drag.x) / (r.width - GUTTER - 8)) * (drag.t1 - drag.t0);
        if (Math.abs(ev.clientX - drag.x) > 2) drag.moved = true;
        setView(drag.t0 - dt, drag.t1 - dt);
        tip.hidden = true;
        return;
      }
      const html = pick(ev.clientX - r.left, ev.clientY - r.top, r.width, r.height);
      if (html) showTip(html, ev); else tip.hidden = true;
    });
    canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
    canvas.addEventListener("dblclick", () => setView(0, END));
  }
  wire($("timeline"), (x, y, w) => { const i = opAtTimeline(x, y, w); return i >= 0 ? opDetails(i) : ""; });
  wire($("latency"), (x, y, w, h) => { const i = opAtLatency(x, y, w, h); return i >= 0 ? opDetails(i) : ""; });
  wire($("throughput"), (x, y, w) => {
    const t = tOf(x, w);
    const f = D.faults.find((f) => t >= f.start && t <= f.end);
    return fmt(t) + (f ? "<br>fault: " + esc(f.label) : "<br>no fault in force");
  });
  wire($("nodes"), (x, y, w) => {
    const e = nodeEventAt(x, y, w);
    if (!e) return "";
    return "<b>" + esc(D.nodes[e.node]) + " " + esc(e.state) + "</b> (" + esc(e.kind) + ")<br>from " + fmt(e.start) +
      (e.end === null ? " to the end" : " to " + fmt(e.end) + (e.ended_by ? "<br>ended by: " + esc(e.ended_by) : ""));
  });
  (function () {
    const canvas = $("overview");
    function jump(ev) {
      const r = canvas.getBoundingClientRect();
      const saved = { t0: view.t0, t1: view.t1 };
      view.t0 = 0; view.t1 = END;
      const t = tOf(ev.clientX - r.left, r.width);
      view.t0 = saved.t0; view.t1 = saved.t1;
      const span = view.t1 - view.t0;
      setView(t - span / 2, t + span / 2);
    }
    canvas.addEventListener("mousedown", jump);
    canvas.addEventListener("mousemove", (ev) => { if (ev.buttons & 1) jump(ev); });
  })();

  // ---- anomalies: a click shows the witness on every plot ----
  const cards = Array.from(document.querySelectorAll("article.anomaly"));
  function markCards(k) {
    cards.forEach((c, j) => c.classList.toggle("selected", j === k));
  }
  function focusOps(ids) {
    const ops = ids.filter((i) => i >= 0 && i < N);
    if (ops.length === 0) return;
    highlight = new Set(ops);
    let t0 = Infinity, t1 = -Infinity;
    for (const i of ops) { t0 = Math.min(t0, O.t0[i]); t1 = Math.max(t1, end(i)); }
    const pad = Math.max((t1 - t0) * 0.25, MIN_SPAN);
    setView(t0 - pad, t1 + pad);
    // Bring the first witness row into view inside the timeline's scroll box.
    const box = $("timeline-box");
    const first = Math.min(...ops.map((i) => O.p[i]));
    box.scrollTop = Math.max(0, 18 + first * rowH - 40);
  }
  function focusAnomaly(k) {
    const ids = (cards[k].dataset.ops || "").split(" ").filter((s) => s !== "").map(Number);
    markCards(k);
    focusOps(ids);
    $("time").scrollIntoView({ behavior: "instant", block: "start" });
  }
  cards.forEach((card, k) => {
    card.addEventListener("click", () => focusAnomaly(k));
    card.addEventListener("keydown", (ev) => { if (ev.key === "Enter") focusAnomaly(k); });
  });

  // ---- the legend ----
  (function () {
    const parts = [];
    OUTCOMES.forEach((o, k) => parts.push("<span><i style=\"background:" + OUTCOME_COLOR[k] + "\"></i>" + o + "</span>"));
    D.fs.forEach((f, k) => parts.push("<span><i style=\"background:" + fColor(k) + "\"></i>" + esc(f) + " (latency)</span>"));
    const kinds = Array.from(new Set(D.faults.map((f) => f.kind)));
    kinds.forEach((k) => parts.push("<span><i style=\"background:rgba(" + faultRgb(k) + ",0.45)\"></i>" + esc(k) + " in force</span>"));
    if (kinds.length === 0) parts.push("<span>no faults recorded</span>");
    $("legend").innerHTML = parts.join(" ");
  })();

  window.addEventListener("resize", redraw);
  // For people at the console and for the browser tests: where an operation is drawn.
  window.faultline = {
    view,
    drawn,
    draw,
    focusAnomaly,
    focusOps,
    op(i) {
      return { t0: O.t0[i], t1: O.t1[i], process: D.processes[O.p[i]], description: O.d[i], outcome: OUTCOMES[O.o[i]] };
    },
    end: END,
    ops: N,
    completed: O.t1.filter((t) => t >= 0).length,
    locate(i) {
      const c = $("timeline");
      const w = c.getBoundingClientRect().width;
      const x0 = Math.max(GUTTER, xOf(O.t0[i], w)), x1 = Math.min(w - 8, xOf(end(i), w));
      return { x: (x0 + Math.max(x0 + 1, x1)) / 2, y: 18 + O.p[i] * rowH + rowH / 2 };
    },
  };
  redraw();
})();
