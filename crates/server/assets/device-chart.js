// A device's meter history on its page, drawn with uPlot (vendored): the
// readings come from the API with the page's session cookie; counter
// resets are marked with a dashed line. No inline script: this file is
// loaded by <script src>, so the CSP allows only this server's files.
(function () {
  'use strict';
  var box = document.getElementById('meter-chart');
  if (!box || typeof uPlot === 'undefined') {
    return;
  }
  var palette = ['#0b5cad', '#a0111f', '#1a6330', '#7a4a00', '#6f42c1', '#3d4752'];

  function draw(readings) {
    if (readings.length === 0) {
      box.textContent = 'No meter readings yet.';
      return;
    }
    var names = [];
    readings.forEach(function (r) {
      if (names.indexOf(r.name) < 0 && names.length < palette.length) {
        names.push(r.name);
      }
    });
    var times = [];
    readings.forEach(function (r) {
      if (times.indexOf(r.at) < 0) {
        times.push(r.at);
      }
    });
    times.sort(function (a, b) { return a - b; });
    var columns = names.map(function (name) {
      var column = times.map(function () { return null; });
      readings.forEach(function (r) {
        if (r.name === name) {
          column[times.indexOf(r.at)] = r.value;
        }
      });
      return column;
    });
    var resets = readings.filter(function (r) { return r.reset; }).map(function (r) { return r.at; });
    var markResets = {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = '#a0111f';
          ctx.setLineDash([4, 4]);
          resets.forEach(function (at) {
            var x = u.valToPos(at, 'x', true);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          });
          ctx.restore();
        }]
      }
    };
    var span = [times[0], times[times.length - 1]];
    if (span[0] === span[1]) {
      span = [span[0] - 1800, span[1] + 1800];
    }
    var series = [{}].concat(names.map(function (name, i) {
      return { label: name.replace(/_/g, ' '), stroke: palette[i], width: 2, spanGaps: true };
    }));
    var options = {
      width: Math.max(280, box.clientWidth),
      height: 260,
      series: series,
      plugins: [markResets],
      scales: {
        // The readings' span; one reading (a device just added) still
        // gets a readable hour around it.
        x: { time: true, auto: false, range: span }
      },
      axes: [{}, { size: 70 }]
    };
    box.textContent = '';
    var chart = new uPlot(options, [times].concat(columns), box);
    window.addEventListener('resize', function () {
      chart.setSize({ width: Math.max(280, box.clientWidth), height: 260 });
    });
  }

  fetch('/api/v1/devices/' + encodeURIComponent(box.dataset.device) + '/meters', {
    credentials: 'same-origin',
    headers: { accept: 'application/json' }
  })
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(function (data) { draw(data.readings || []); })
    .catch(function () { box.textContent = 'The meter history could not be loaded.'; });
}());
