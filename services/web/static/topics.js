// The topics page's chart: stories per topic per hour or day, from /api/topics/trends,
// drawn with the vendored uPlot. The table under it has the same totals without script.
(function () {
  "use strict";
  var box = document.getElementById("trend-chart");
  if (!box || !window.uPlot || !window.fetch) {
    return;
  }
  var palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  fetch("/api/topics/trends?window=" + encodeURIComponent(box.dataset.window),
        { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (trends) {
      if (!trends) { return; }
      var topics = Object.keys(trends.series);
      var series = [{}].concat(topics.map(function (topic, i) {
        return { label: topic, stroke: palette[i % palette.length], width: 2 };
      }));
      var data = [trends.starts].concat(topics.map(function (t) { return trends.series[t]; }));
      new window.uPlot({ width: box.clientWidth || 800, height: 320, series: series,
                         scales: { x: { time: true } } }, data, box);
    });
})();
