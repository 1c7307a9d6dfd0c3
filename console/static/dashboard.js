// emufleet dashboard: draws each <figure data-chart="m1,m2"> with uPlot from the page's #stats-data JSON
// (the same document GET /api/stats returns). Without this file the figures show their totals table.
(function () {
  "use strict";
  const COLORS = ["#2457c5", "#b3261e", "#1d7a3a", "#a86700", "#7b3fb5", "#1b6f86", "#59636e"];

  function draw() {
    const el = document.getElementById("stats-data");
    if (!el || !window.uPlot) return;
    const data = JSON.parse(el.textContent);
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const note = document.getElementById("chart-zone");
    if (note && zone) note.textContent = note.textContent.replace("times in UTC", `times in your browser's time zone (${zone}); the History page shows UTC`);
    document.querySelectorAll("figure[data-chart]").forEach((fig) => {
      const lines = [];
      fig.dataset.chart.split(",").forEach((metric) => {
        const s = data.series[metric];
        if (!s) return;
        const parts = Object.keys(s.breakdown || {});
        const label = s.label || metric;
        if (parts.length) parts.forEach((k) => lines.push({ label: `${label}: ${k}`, values: s.breakdown[k], unit: s.unit }));
        else lines.push({ label, values: s.values, unit: s.unit });
      });
      const opts = {
        width: Math.max(320, fig.clientWidth - 8), height: 200,
        scales: { x: { time: true } },
        series: [{}].concat(lines.map((l, i) => ({ label: l.label, stroke: COLORS[i % COLORS.length], width: 1.5,
                                                   value: (u, v) => (v == null ? "-" : `${v.toFixed(2)} ${l.unit}`) }))),
        axes: [{}, { size: 50 }],
      };
      const holder = document.createElement("div");
      holder.className = "plot";
      fig.appendChild(holder);
      // eslint-disable-next-line no-new
      new window.uPlot(opts, [data.t].concat(lines.map((l) => l.values)), holder);
      fig.dataset.drawn = String(lines.length);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
