// The dashboard's live part: polls the stats endpoint every STATS_POLLING_INTERVAL_MS, updates
// the counters and the queues table in place, and draws the realtime and history charts.
// Times are the server's TIME_ZONE (data-time-zone), never the browser's: the history's labels
// come from the server, and the realtime clock is formatted in that zone.
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  if (!root) return;
  const statsUrl = root.dataset.statsUrl;
  const interval = Math.max(250, parseInt(root.dataset.interval, 10) || 2000);
  const status = document.getElementById("poll-status");
  const realtime = document.getElementById("realtime-chart");
  const CAPACITY = 60;
  let since = root.dataset.now;
  let polls = 0;
  const points = [];

  const zone = root.dataset.timeZone || "UTC";
  let zoneLabel = root.dataset.zoneAbbreviation || zone;
  function clockIn(name) {
    return new Intl.DateTimeFormat("en-GB", {
      timeZone: name, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
  }
  let clockFormat;
  try {
    clockFormat = clockIn(zone);
  } catch (error) {  // a zone this browser does not know: say UTC rather than show the browser's own
    clockFormat = clockIn("UTC");
    zoneLabel = "UTC";
  }
  function clock(iso) { return clockFormat.format(new Date(iso)); }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 60) return (seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)) + " s";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + (Math.floor(seconds) % 60) + " s";
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h " + (minutes % 60) + " min";
    return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  }

  function setStatus(text, broken) {
    status.textContent = text;
    status.classList.toggle("disconnected", !!broken);
  }

  function number(value) { return Number(value).toLocaleString("en-US"); }

  function showCounters(counters, approximate) {
    root.querySelectorAll("[data-counter]").forEach((el) => {
      const key = el.dataset.counter;
      const value = counters[key];
      if (value === undefined) return;
      el.textContent = (approximate.indexOf(key) >= 0 ? "≈ " : "") + number(value);
    });
  }

  function showQueues(queues) {
    const body = document.querySelector("#queues-table tbody");
    if (!body) return;
    while (body.firstChild) body.removeChild(body.firstChild);
    queues.forEach((q) => {
      const row = document.createElement("tr");
      row.dataset.queue = q.queue;
      [q.queue, number(q.enqueued), number(q.processing), duration(q.oldest_wait_seconds)].forEach((text, i) => {
        const cell = document.createElement("td");
        cell.textContent = text;
        if (i > 0 && i < 3) cell.dataset.column = i === 1 ? "enqueued" : "processing";
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
  }

  function drawRealtime() {
    if (!realtime || !window.JobsChart) return;
    window.JobsChart.lines(realtime, {
      capacity: CAPACITY,
      labels: points.map((p) => p.label),
      series: [
        { key: "succeeded", values: points.map((p) => p.succeeded) },
        { key: "failed", values: points.map((p) => p.failed) },
      ],
    });
  }

  function poll() {
    // A tab in the background does not poll; the next poll counts what finished meanwhile.
    if (document.hidden) {
      window.setTimeout(poll, interval);
      return;
    }
    fetch(statsUrl + "?since=" + encodeURIComponent(since), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((response) => {
        if (response.redirected || response.status === 401 || response.status === 403) {
          throw new Error("signed out: reload the page to log in again");
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then((data) => {
        since = data.now;
        polls += 1;
        root.dataset.polls = String(polls);
        showCounters(data.counters, data.approximate || []);
        showQueues(data.queues);
        points.push({ label: clock(data.now), succeeded: data.finished.succeeded, failed: data.finished.failed });
        if (points.length > CAPACITY) points.shift();
        drawRealtime();
        setStatus("Live · updated " + clock(data.now) + " " + zoneLabel, false);
      })
      .catch((error) => setStatus("Not updating (" + error.message + ")", true))
      .finally(() => window.setTimeout(poll, interval));
  }

  function drawHistory() {
    const source = document.getElementById("history-data");
    if (!source || !window.JobsChart) return;
    const history = JSON.parse(source.textContent);
    const views = { hours: { data: history.hours }, days: { data: history.days } };
    Object.keys(views).forEach((key) => {
      const svg = document.getElementById("history-" + key);
      if (!svg) return;
      const view = views[key];
      svg.removeAttribute("hidden");
      window.JobsChart.bars(svg, {
        labels: view.data.map((b) => b.label),
        series: [
          { key: "succeeded", values: view.data.map((b) => b.succeeded) },
          { key: "failed", values: view.data.map((b) => b.failed) },
        ],
      });
      svg.toggleAttribute("hidden", key !== "hours");
    });
    document.querySelectorAll("[data-history]").forEach((button) => {
      button.addEventListener("click", () => {
        document.querySelectorAll("[data-history]").forEach((other) => {
          const on = other === button;
          other.setAttribute("aria-pressed", on ? "true" : "false");
          document.getElementById("history-" + other.dataset.history).toggleAttribute("hidden", !on);
        });
      });
    });
  }

  drawHistory();
  drawRealtime();
  window.setTimeout(poll, 0);
})();
