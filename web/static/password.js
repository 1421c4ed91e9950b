// Live password-policy feedback: ticks each rule of a [data-password-rules]
// checklist as the user types into the new-password field. The limits come
// from the element's data attributes; the server's check stays
// authoritative (common passwords and reuse are only known after submit).
(function () {
  'use strict';

  var LOWER = /\p{Ll}/u, UPPER = /\p{Lu}/u, DIGIT = /\p{Nd}/u, OTHER = /[^\p{Ll}\p{Lu}\p{Nd}]/u;

  // classes counts lower-case, upper-case, digits and anything else, as
  // the server does (Unicode categories Ll, Lu, Nd).
  function classes(pw) {
    return [LOWER, UPPER, DIGIT, OTHER].filter(function (re) { return re.test(pw); }).length;
  }

  function lines(s) {
    return (s || '').split('\n').filter(function (x) { return x !== ''; });
  }

  function setup(box) {
    var input = document.getElementById(box.getAttribute('data-for'));
    if (!input) { return; }
    var confirmID = box.getAttribute('data-confirm');
    var confirm = confirmID ? document.getElementById(confirmID) : null;
    var min = Number(box.getAttribute('data-min')) || 8;
    var max = Number(box.getAttribute('data-max')) || 64;
    var maxBytes = Number(box.getAttribute('data-max-bytes')) || 256;
    var need = Number(box.getAttribute('data-classes')) || 0;
    var forbidden = lines(box.getAttribute('data-login')).concat(lines(box.getAttribute('data-name')));
    var met = box.getAttribute('data-met') || '';
    var unmet = box.getAttribute('data-unmet') || '';
    var status = box.querySelector('#pw-status');
    var encoder = new TextEncoder();
    var timer = null;

    function check() {
      var pw = input.value;
      var n = Array.from(pw).length;
      var lower = pw.toLowerCase();
      var results = {
        length: n >= min && n <= max && encoder.encode(pw).length <= maxBytes,
        classes: classes(pw) >= need,
        identity: !forbidden.some(function (p) { return lower.indexOf(p) >= 0; }),
        match: confirm !== null && confirm.value !== '' && confirm.value === pw
      };
      var rules = box.querySelectorAll('[data-rule]');
      var ok = 0;
      rules.forEach(function (li) {
        var rule = li.getAttribute('data-rule');
        var yes = pw !== '' && results[rule] === true;
        if (yes) { ok++; }
        li.classList.toggle('is-met', yes);
        li.classList.toggle('is-unmet', pw !== '' && !yes);
        var state = li.querySelector('.pw-state');
        if (state) { state.textContent = ' (' + (yes ? met : unmet) + ')'; }
      });
      box.setAttribute('data-state', pw === '' ? 'empty' : (ok === rules.length ? 'met' : 'unmet'));
      if (status) {
        clearTimeout(timer);
        timer = setTimeout(function () { status.textContent = ok + ' / ' + rules.length + ' ' + met; }, 600);
      }
    }

    input.addEventListener('input', check);
    if (confirm) { confirm.addEventListener('input', check); }
    check();
  }

  function start() {
    document.querySelectorAll('[data-password-rules]').forEach(setup);
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
