// Security settings form: choosing the MLPS or NIST preset fills every
// value from it; editing a value switches the preset to custom. Without
// script the server does the same when the form is saved.
(function () {
  'use strict';

  function start() {
    var form = document.getElementById('settings-form');
    if (!form) { return; }
    var preset = form.querySelector('select[name="preset"]');
    if (!preset) { return; }
    var filling = false;

    function fill(values) {
      filling = true;
      Object.keys(values).forEach(function (name) {
        var el = form.elements.namedItem(name);
        if (!el) { return; }
        var v = values[name];
        if (el.type === 'checkbox') {
          el.checked = v === true;
        } else if (Array.isArray(v)) {
          el.value = v.join('\n');
        } else {
          el.value = String(v);
        }
      });
      filling = false;
    }

    preset.addEventListener('change', function () {
      var raw = form.getAttribute('data-preset-' + preset.value);
      if (raw) { fill(JSON.parse(raw)); }
    });
    form.addEventListener('input', function (ev) {
      if (filling || ev.target === preset) { return; }
      preset.value = 'custom';
    });
    form.addEventListener('change', function (ev) {
      if (filling || ev.target === preset || ev.target.type !== 'checkbox') { return; }
      preset.value = 'custom';
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
