// The queues page's backlog chart: one line per queue over 24 hours, for the state chosen with
// the buttons above it (Enqueued by default). The data is the page's #backlog-data (json_script);
// gaps (null) are intervals no server sampled. Drawn with chart.js's JobsChart.lines.
(function () {
  "use strict";
  const source = document.getElementById("backlog-data");
  const svg = document.getElementById("backlog-chart");
  if (!source || !svg || !window.JobsChart) return;
  const data = JSON.parse(source.textContent);

  function draw(state) {
    window.JobsChart.lines(svg, {
      capacity: data.labels.length,
      labels: data.labels,
      series: data.queues.map((q) => ({ key: "q" + q.colour, values: q[state] })),
    });
    svg.dataset.state = state;
  }

  document.querySelectorAll("[data-backlog-state]").forEach((button) => {
    button.addEventListener("click", () => {
      document.querySelectorAll("[data-backlog-state]").forEach((other) => {
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
      });
      draw(button.dataset.backlogState);
    });
  });
  draw("enqueued");
})();
