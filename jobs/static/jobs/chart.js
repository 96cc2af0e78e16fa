// Small SVG charts for the dashboard, drawn by our own code (no library, no CDN).
//   JobsChart.lines(svg, {labels: [...], series: [{key, values}], capacity})
//   JobsChart.bars(svg, {labels: [...], series: [{key, values}]})
//   JobsChart.runs(svg, {labels: [...], values: [...], kinds: [...], unit})  one bar per run, its
//     class run-<kind> (the recurring job page: duration per run, coloured by outcome)
// In lines(), a null value is a gap: the line stops there and starts again after it.
// Series keys become CSS classes (series-succeeded, bar-failed …), styled in console.css.
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const MARGIN = { top: 10, right: 10, bottom: 22, left: 40 };

  function node(name, attrs, parent, text) {
    const el = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach((key) => el.setAttribute(key, attrs[key]));
    if (text !== undefined) el.textContent = text;
    if (parent) parent.appendChild(el);
    return el;
  }

  function niceMax(value) {
    if (value <= 4) return 4;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    const step = Math.ceil(value / power);
    return (step <= 2 ? 2 : step <= 5 ? 5 : 10) * power;
  }

  function frame(svg, options) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const width = Math.max(svg.clientWidth || 0, 300);
    const height = Math.max(svg.clientHeight || 0, 160);
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    const inner = {
      x: MARGIN.left, y: MARGIN.top,
      width: width - MARGIN.left - MARGIN.right, height: height - MARGIN.top - MARGIN.bottom,
    };
    let highest = 0;
    options.series.forEach((s) => s.values.forEach((v) => { if (v !== null) highest = Math.max(highest, v); }));
    const top = niceMax(highest);
    for (let i = 0; i <= 4; i += 1) {
      const y = inner.y + inner.height - (inner.height * i) / 4;
      node("line", { x1: inner.x, x2: inner.x + inner.width, y1: y, y2: y, class: i ? "grid" : "axis" }, svg);
      node("text", { x: inner.x - 6, y: y + 3, "text-anchor": "end" }, svg, String(Math.round((top * i) / 4)));
    }
    return { inner: inner, top: top };
  }

  function xLabels(svg, inner, labels, positions, slots) {
    // At most one label per ~70 px of width, counted over every slot the chart can hold.
    const room = Math.max(1, Math.floor(inner.width / 70));
    const every = Math.max(1, Math.ceil((slots || labels.length) / room));
    labels.forEach((label, i) => {
      if (i % every !== 0) return;
      node("text", { x: positions(i), y: inner.y + inner.height + 15, "text-anchor": "middle" }, svg, label);
    });
  }

  function lines(svg, options) {
    const f = frame(svg, options);
    const inner = f.inner;
    const capacity = Math.max(options.capacity || options.labels.length, 2);
    const x = (i) => inner.x + (inner.width * i) / (capacity - 1);
    const y = (v) => inner.y + inner.height - (inner.height * v) / f.top;
    options.series.forEach((s) => {
      let run = [];
      const flush = () => {
        // A lone point between gaps is drawn as a dot, or it would not show at all.
        if (run.length === 1) node("circle", { cx: run[0][0], cy: run[0][1], r: 2, class: "series-" + s.key }, svg);
        if (run.length > 1) {
          node("polyline", { points: run.map((p) => p[0] + "," + p[1]).join(" "), class: "series-" + s.key }, svg);
        }
        run = [];
      };
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) flush();
        else run.push([x(i), y(v)]);
      });
      flush();
    });
    xLabels(svg, inner, options.labels, x, capacity);
  }

  function bars(svg, options) {
    const f = frame(svg, options);
    const inner = f.inner;
    const count = Math.max(options.labels.length, 1);
    const slot = inner.width / count;
    const width = Math.max(1, (slot * 0.8) / options.series.length);
    options.series.forEach((s, k) => {
      s.values.forEach((v, i) => {
        const h = (inner.height * v) / f.top;
        const rect = node("rect", {
          x: inner.x + slot * i + slot * 0.1 + width * k, y: inner.y + inner.height - h,
          width: width, height: h, class: "bar-" + s.key,
        }, svg);
        node("title", {}, rect, options.labels[i] + ": " + v + " " + s.key);
      });
    });
    xLabels(svg, inner, options.labels, (i) => inner.x + slot * i + slot / 2);
  }

  function runs(svg, options) {
    const f = frame(svg, { series: [{ values: options.values }] });
    const inner = f.inner;
    const count = Math.max(options.values.length, 1);
    const slot = inner.width / count;
    options.values.forEach((v, i) => {
      const h = (inner.height * v) / f.top;
      const rect = node("rect", {
        x: inner.x + slot * i + slot * 0.15, y: inner.y + inner.height - h,
        width: Math.max(1, slot * 0.7), height: h, class: "run-" + options.kinds[i],
      }, svg);
      node("title", {}, rect, options.labels[i] + ": " + v + " " + (options.unit || "") + ", " + options.kinds[i]);
    });
    xLabels(svg, inner, options.labels, (i) => inner.x + slot * i + slot / 2);
  }

  window.JobsChart = { lines: lines, bars: bars, runs: runs };
})();
