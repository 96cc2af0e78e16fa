// A recurring job's page: the duration of its recent runs, one bar per run coloured by outcome,
// from the page's #runs-data (json_script). Drawn with chart.js's JobsChart.runs.
(function () {
  "use strict";
  const source = document.getElementById("runs-data");
  const svg = document.getElementById("runs-chart");
  if (!source || !svg || !window.JobsChart) return;
  const runs = JSON.parse(source.textContent);
  window.JobsChart.runs(svg, {
    labels: runs.map((run) => run.label),
    values: runs.map((run) => run.seconds),
    kinds: runs.map((run) => run.outcome),
    unit: "s",
  });
})();
