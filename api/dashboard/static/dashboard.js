/* 客户之声看板: the little the pages need in the browser (no inline scripts: the CSP forbids them). */
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function pct(x) { return (100 * x).toFixed(0) + "%"; }

  /* Forms shown on demand (acknowledge / resolve with a note). */
  document.querySelectorAll("button.reveal").forEach(function (button) {
    button.addEventListener("click", function () {
      var form = document.getElementById(button.dataset.target);
      if (!form) { return; }
      form.hidden = !form.hidden;
      var area = form.querySelector("textarea");
      if (!form.hidden && area) { area.focus(); }
    });
  });

  /* Moments in the browser's own time zone (the server writes them in UTC). */
  function two(n) { return (n < 10 ? "0" : "") + n; }
  document.querySelectorAll("time.local[datetime]").forEach(function (node) {
    var at = new Date(node.getAttribute("datetime"));
    if (isNaN(at.getTime())) { return; }
    var text = at.getFullYear() + "-" + two(at.getMonth() + 1) + "-" + two(at.getDate());
    if (node.dataset.width !== "10") { text += " " + two(at.getHours()) + ":" + two(at.getMinutes()); }
    node.textContent = text;
    node.title = at.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  });

  /* Deadline countdowns. */
  function countdown() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (node) {
      var left = Date.parse(node.dataset.deadline) - now;
      var minutes = Math.round(Math.abs(left) / 60000);
      var hours = Math.floor(minutes / 60);
      var text = (hours >= 48 ? Math.floor(hours / 24) + " 天 " + (hours % 24) + " 小时" :
        hours + " 小时 " + (minutes % 60) + " 分");
      node.textContent = left >= 0 ? "剩余 " + text : "已超期 " + text;
      node.className = "countdown " + (left < 0 ? "late" : (left < 6 * 3600000 ? "soon" : "ok"));
    });
  }
  countdown();
  setInterval(countdown, 30000);

  /* Opinion words and aspect terms highlighted inside a verbatim (text nodes only: no HTML injected). */
  function highlight(root) {
    root.querySelectorAll(".unit").forEach(function (node) {
      var text = node.textContent, marks = [];
      [["opinion", node.dataset.opinion], ["term", node.dataset.term]].forEach(function (pair) {
        if (!pair[1]) { return; }
        var at = text.indexOf(pair[1]);
        if (at >= 0) { marks.push([at, at + pair[1].length, pair[0]]); }
      });
      marks.sort(function (a, b) { return a[0] - b[0]; });
      if (!marks.length) { return; }
      node.textContent = "";
      var pos = 0;
      marks.forEach(function (m) {
        if (m[0] < pos) { return; }
        node.appendChild(document.createTextNode(text.slice(pos, m[0])));
        var mark = document.createElement("mark");
        mark.className = m[2];
        mark.textContent = text.slice(m[0], m[1]);
        node.appendChild(mark);
        pos = m[1];
      });
      node.appendChild(document.createTextNode(text.slice(pos)));
    });
  }

  /* 需求热力图 */
  var heat = readJson("heatmap-data");
  function cellUrl(theme, column, format) {
    var q = new URLSearchParams({dimension: heat.dimension, theme: theme, column: column, format: format});
    ["segment", "from", "to"].forEach(function (k) { if (heat[k]) { q.set(k, heat[k]); } });
    return "/dashboard/heatmap/cell?" + q.toString();
  }
  function openCell(theme, column) {
    var panel = document.getElementById("verbatims");
    panel.innerHTML = "<p class=\"muted\">加载中…</p>";
    fetch(cellUrl(theme, column, "html"), {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.text();
    }).then(function (html) {
      panel.innerHTML = html;
      highlight(panel);
      var link = panel.querySelector(".verbatims-csv");
      if (link) { link.href = cellUrl(theme, column, "csv"); link.setAttribute("download", ""); }
      panel.scrollIntoView({block: "nearest"});
    }).catch(function () { panel.innerHTML = "<p class=\"flash bad\">原话加载失败，请刷新页面后重试。</p>"; });
  }
  document.querySelectorAll(".cell-open").forEach(function (b) {
    b.addEventListener("click", function () { openCell(b.dataset.theme, b.dataset.column); });
  });
  var heatNode = document.getElementById("heatmap-chart");
  if (heat && heatNode && window.echarts) {
    var data = heat.data, labels = heat.labels;
    var rows = data.themes.map(function (t) { return t.id; }).filter(function (id) {
      return data.cells.some(function (c) { return c.theme === id; });
    });
    function cellPoint(c) {
      return {value: [data.columns.indexOf(c.column), rows.indexOf(c.theme), c.negative_share], cell: c};
    }
    // Cells with few mentions are drawn apart: grey and hatched, not coloured by a share of a handful.
    var points = data.cells.filter(function (c) { return !c.sparse; }).map(cellPoint);
    var sparse = data.cells.filter(function (c) { return c.sparse; }).map(cellPoint);
    heatNode.style.height = Math.max(320, 34 * rows.length + 120) + "px";
    var chart = echarts.init(heatNode, null, {renderer: "canvas"});
    chart.setOption({
      animation: false,
      grid: {left: 130, right: 90, top: 30, bottom: 60},
      tooltip: {formatter: function (p) {
        var c = p.data.cell;
        return (labels[c.theme] || c.theme) + " · " + c.column + "<br>提及 " + c.mentions + " 次（" + c.items + " 条反馈）<br>负面占比 " +
          pct(c.negative_share) + "（95% 区间 " + pct(c.negative_share_low) + "–" + pct(c.negative_share_high) + "）" +
          (c.sparse ? "<br>提及较少，仅供参考" : "") + "<br>点击查看原话";
      }},
      xAxis: {type: "category", data: data.columns, position: "top", axisLabel: {interval: 0, rotate: data.columns.length > 10 ? 40 : 0}},
      yAxis: {type: "category", data: rows.map(function (id) { return labels[id] || id; }), inverse: true},
      visualMap: {min: 0, max: 1, calculable: false, orient: "vertical", right: 10, top: "middle", seriesIndex: 0,
        text: ["负面 100%", "0%"], inRange: {color: ["#f1f8f4", "#fde3c8", "#f59a6b", "#d7301f", "#8c1111"]}},
      series: [{type: "heatmap", data: points, label: {show: true, fontSize: 11, formatter: function (p) {
        return pct(p.data.cell.negative_share) + "\n" + p.data.cell.mentions;
      }}, emphasis: {itemStyle: {borderColor: "#222", borderWidth: 1}}},
      {type: "heatmap", name: "提及较少", data: sparse, itemStyle: {color: "#f1f3f6",
        decal: {symbol: "none", dashArrayX: [1, 0], dashArrayY: [2, 6], rotation: -Math.PI / 4, color: "rgba(60,70,80,0.18)"}},
        label: {show: true, fontSize: 11, color: "#6b7785", formatter: function (p) {
          return pct(p.data.cell.negative_share) + "\n" + p.data.cell.mentions + " 次";
        }}, emphasis: {itemStyle: {borderColor: "#222", borderWidth: 1}}}]
    });
    heatNode.dataset.drawnAt = performance.now().toFixed(0);  // when the chart was drawn (tests read it)
    chart.on("click", function (p) { openCell(p.data.cell.theme, p.data.cell.column); });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  /* Weekly lines: the overview and 趋势. */
  function weeklyLines(node, source, marks) {
    var chart = echarts.init(node, null, {renderer: "canvas"});
    var series = source.series.map(function (s) {
      var byWeek = {};
      s.points.forEach(function (p) { byWeek[p.week] = p; });
      var line = {name: s.label, type: "line", connectNulls: false, symbolSize: 6,
        data: source.weeks.map(function (w) { return byWeek[w] ? +(100 * byWeek[w].negative_share).toFixed(1) : null; })};
      var flagged = (marks || []).filter(function (m) { return m.theme === s.theme; });
      if (flagged.length) {
        line.markPoint = {symbol: "triangle", symbolSize: 14, label: {show: false}, data: flagged.map(function (m) {
          var week = isoWeek(m.start), at = source.weeks.indexOf(week);
          return at >= 0 && line.data[at] !== null ? {coord: [week, line.data[at]], name: "告警"} : null;
        }).filter(Boolean)};
      }
      return line;
    });
    chart.setOption({
      animation: false,
      tooltip: {trigger: "axis", valueFormatter: function (v) { return v == null ? "—" : v + "%"; }},
      legend: {type: "scroll", top: 0},
      grid: {left: 50, right: 20, top: 40, bottom: 30},
      xAxis: {type: "category", data: source.weeks},
      yAxis: {type: "value", name: "负面占比 %", min: 0, max: 100},
      series: series
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function isoWeek(day) {
    var d = new Date(day + "T00:00:00Z"), dow = (d.getUTCDay() + 6) % 7;
    d.setUTCDate(d.getUTCDate() - dow + 3);
    var first = new Date(Date.UTC(d.getUTCFullYear(), 0, 4));
    var week = 1 + Math.round(((d - first) / 86400000 - 3 + ((first.getUTCDay() + 6) % 7)) / 7);
    return d.getUTCFullYear() + "-W" + (week < 10 ? "0" : "") + week;
  }
  var overview = readJson("overview-data"), overviewNode = document.getElementById("overview-chart");
  if (overview && overviewNode && window.echarts) { weeklyLines(overviewNode, overview, []); }
  var trend = readJson("trend-data"), trendNode = document.getElementById("trend-chart");
  if (trend && trendNode && window.echarts) { weeklyLines(trendNode, trend, trend.alerts); }

  /* 趋势: NPS per product line (and per demand) × week, the weeks of an NPS drop alert marked ▼, those
     the rule would flag (it is off) ▽. */
  function npsHeatmap(node, nps) {
    var flagged = {}, would = {};
    nps.alerts.forEach(function (a) { flagged[a.row + "|" + a.week] = true; });
    (nps.preview || []).forEach(function (a) { would[a.row + "|" + a.week] = true; });
    function mark(c) { var k = c.row + "|" + c.week; return flagged[k] ? " ▼" : (would[k] ? " ▽" : ""); }
    var npsPoints = nps.cells.map(function (c) {
      var k = c.row + "|" + c.week;
      return {value: [nps.weeks.indexOf(c.week), nps.rows.indexOf(c.row), c.nps], cell: c,
        itemStyle: flagged[k] || would[k] ? {borderColor: "#8c1111", borderWidth: 2} : {}};
    });
    node.style.height = Math.max(240, 34 * nps.rows.length + 110) + "px";
    var npsChart = echarts.init(node, null, {renderer: "canvas"});
    npsChart.setOption({
      animation: false,
      grid: {left: 110, right: 90, top: 30, bottom: 30},
      tooltip: {formatter: function (p) {
        var c = p.data.cell, k = c.row + "|" + c.week;
        return c.row + " · " + c.week + "<br>NPS " + c.nps.toFixed(1) + "（" + c.answers + " 份）<br>推荐者 " + c.promoters +
          " · 中立者 " + c.passives + " · 贬损者 " + c.detractors +
          (flagged[k] ? "<br>NPS 周环比下降告警" : (would[k] ? "<br>按 NPS 周环比下降规则会告警（未启用）" : ""));
      }},
      xAxis: {type: "category", data: nps.weeks, position: "top"},
      yAxis: {type: "category", data: nps.rows, inverse: true},
      visualMap: {min: -100, max: 100, calculable: false, orient: "vertical", right: 10, top: "middle",
        text: ["NPS 100", "-100"], inRange: {color: ["#8c1111", "#f59a6b", "#f7f7f7", "#9fd3b0", "#1b7a3d"]}},
      series: [{type: "heatmap", data: npsPoints, label: {show: true, fontSize: 11, formatter: function (p) {
        return p.data.cell.nps.toFixed(0) + mark(p.data.cell);
      }}}]
    });
    window.addEventListener("resize", function () { npsChart.resize(); });
  }
  [["nps-data", "nps-chart"], ["demand-nps-data", "demand-nps-chart"]].forEach(function (ids) {
    var nps = readJson(ids[0]), npsNode = document.getElementById(ids[1]);
    if (nps && npsNode && window.echarts && nps.cells.length) { npsHeatmap(npsNode, nps); }
  });

  /* 根因路径: demands → negative aspects → scores (node ids are unique; their names are shown). */
  var paths = readJson("paths-data"), pathsNode = document.getElementById("paths-chart");
  if (paths && pathsNode && window.echarts && paths.links.length) {
    var names = {}, colours = {"s:detractor": "#c0392b", "s:passive": "#e0a030", "s:promoter": "#1e8449", "s:none": "#9aa5b1"};
    var layerColours = ["#1d5fbf", "#7a5cc2"];
    paths.nodes.forEach(function (n) { names[n.id] = n.name; });
    var middle = paths.nodes.filter(function (n) { return n.layer === 1; }).length;
    var left = paths.nodes.filter(function (n) { return n.layer === 0; }).length;
    pathsNode.style.height = Math.max(420, 30 * Math.max(middle, left) + 60) + "px";
    var pathsChart = echarts.init(pathsNode, null, {renderer: "canvas"});
    pathsChart.setOption({
      animation: false,
      tooltip: {trigger: "item", formatter: function (p) {
        if (p.dataType === "edge") {
          return names[p.data.source] + " → " + names[p.data.target] + "<br>" + p.data.value + " 位顾客";
        }
        return names[p.name] + "<br>" + p.value + " 位顾客";
      }},
      series: [{
        type: "sankey", left: 20, right: 130, top: 10, bottom: 10, nodeWidth: 14, nodeGap: 10,
        layoutIterations: 64, emphasis: {focus: "adjacency"},
        label: {fontSize: 13, color: "#1f2933", formatter: function (p) { return names[p.name]; }},
        lineStyle: {color: "gradient", opacity: 0.35, curveness: 0.5},
        data: paths.nodes.map(function (n) {
          return {name: n.id, depth: n.layer, itemStyle: {color: colours[n.id] || layerColours[n.layer] || "#555"}};
        }),
        links: paths.links
      }]
    });
    window.addEventListener("resize", function () { pathsChart.resize(); });
  }

  /* 通话: each turn's score along the call, customer and agent apart, the emotion beside each point. */
  var call = readJson("call-data"), callNode = document.getElementById("call-chart");
  if (call && callNode && window.echarts && call.points.length) {
    var labelColours = {negative: "#c0392b", neutral: "#9aa5b1", positive: "#1e8449"};
    var turnSeries = [["customer", "客户", "solid"], ["agent", "客服", "dashed"]].map(function (who) {
      return {
        name: who[1], type: "line", symbolSize: 9, connectNulls: true,
        lineStyle: {type: who[2], width: who[0] === "customer" ? 2 : 1},
        itemStyle: {color: who[0] === "customer" ? "#1d5fbf" : "#9aa5b1"},
        label: {show: who[0] === "customer", position: "top", fontSize: 12, formatter: function (p) {
          return p.data && p.data.point.emotion_name && p.data.point.emotion !== "neutral" ? p.data.point.emotion_name : "";
        }},
        data: call.points.map(function (p) {
          return p.speaker === who[0] ? {value: [p.at, p.score], point: p,
            itemStyle: {color: labelColours[p.label] || "#555"}} : null;
        }).filter(Boolean)
      };
    });
    var callChart = echarts.init(callNode, null, {renderer: "canvas"});
    callChart.setOption({
      animation: false,
      legend: {top: 0},
      grid: {left: 50, right: 30, top: 40, bottom: 40},
      tooltip: {trigger: "item", formatter: function (p) {
        var t = p.data.point;
        return (t.speaker === "customer" ? "客户" : "客服") + "（" + (call.timed ? t.at + " 秒" : "第 " + t.at + " 句") + "）<br>" +
          t.text.slice(0, 60) + "<br>得分 " + t.score.toFixed(2) + (t.emotion_name ? " · " + t.emotion_name : "");
      }},
      xAxis: {type: "value", name: call.timed ? "秒" : "发言顺序", nameLocation: "middle", nameGap: 26,
        minInterval: 1, min: "dataMin", max: "dataMax"},
      yAxis: {type: "value", min: -1, max: 1, name: "情感得分"},
      series: turnSeries
    });
    window.addEventListener("resize", function () { callChart.resize(); });
  }

  /* 批次: follow the batches still being analysed. */
  var PHASES = {queued: "等待分析", scoring: "逐条打分", themes: "归纳需求主题、汇总"};
  var watched = document.querySelectorAll(".batch[data-status=queued], .batch[data-status=running]");
  if (watched.length) {
    var poll = setInterval(function () {
      var pending = 0;
      watched.forEach(function (node) {
        if (node.dataset.status === "done" || node.dataset.status === "failed") { return; }
        pending += 1;
        fetch("/dashboard/batches/" + node.dataset.batch + "/progress", {credentials: "same-origin"})
          .then(function (r) { return r.json(); }).then(function (b) {
            node.querySelector("progress").value = b.progress;
            node.querySelector(".progress-text").textContent = b.processed + " / " + b.total + "（" + pct(b.progress) + "）";
            var phase = node.querySelector(".phase");
            if (phase) { phase.textContent = PHASES[b.phase] || ""; }
            if (b.status !== node.dataset.status) {
              node.dataset.status = b.status;
              // Reloaded without the upload's message, which is out of date once the batch is done.
              if (b.status === "done" || b.status === "failed") { window.location.replace(window.location.pathname); }
            }
          }).catch(function () { /* the next tick tries again */ });
      });
      if (!pending) { clearInterval(poll); }
    }, 1500);
  }
})();
