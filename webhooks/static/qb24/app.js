/* Live parts of the app page only; every form works without this script. */
(function () {
  'use strict';
  var body = document.body;
  var POLL_MS = 2000;
  var LINK_RENEW_MS = 4 * 60 * 1000;
  var INSTALL_POLLS = 5 * 60 * 1000 / POLL_MS;  // five minutes of waiting for ONAPPINSTALL

  function fit() {
    if (window.BX24 && BX24.init) { BX24.init(function () { BX24.fitWindow(); }); }
  }

  var refit = null;
  window.addEventListener('resize', function () {  // the portal column changed: wrap, then re-fit
    clearTimeout(refit);
    refit = setTimeout(fit, 200);
  });

  // The words this script writes, in the page's language (webhooks/script_text.py, base.html).
  var TEXT = JSON.parse((document.getElementById('script-text') || {}).textContent || '{}');
  var NUMBER = new Intl.NumberFormat(document.documentElement.lang || 'en');

  function say(key, values) {  // TEXT[key] with its %(name)s placeholders filled
    return (TEXT[key] || '').replace(/%\((\w+)\)s/g, function (_, name) { return String(values[name]); });
  }

  function getJson(url, done) {
    fetch(url, {credentials: 'same-origin', headers: {Accept: 'application/json'}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { done(data); } })
      .catch(function () { /* keep polling: a network blip is not the end */ });
  }

  function showApp() { window.location.href = body.dataset.appUrl; }

  // Not connected: the consent tab (opened by name from the click, so it has this page as its
  // opener) hands over a one-time ticket by postMessage; this page's own session claims it.
  var CONSENT_WINDOW = 'qb24-consent';

  function showLoginError(message) {
    var box = document.getElementById('login-error');
    if (box) { box.textContent = message; box.hidden = false; }
  }

  function finishConnect(ticket, consentTab) {
    var csrf = document.querySelector('meta[name="csrf-token"]');
    fetch(body.dataset.finishUrl, {
      method: 'POST', credentials: 'same-origin', body: new URLSearchParams({ticket: ticket}),
      headers: {Accept: 'application/json', 'X-CSRF-Token': csrf ? csrf.content : ''}
    }).then(function (r) {
      if (r.ok) {  // the consent tab may close itself now (webhooks/connect.py _ticket_page)
        if (consentTab) { consentTab.postMessage({type: 'qb24:connected'}, window.location.origin); }
        showApp();
        return null;
      }
      return r.json().then(function (e) { showLoginError(e.message || say('not_connected', {})); });
    }).catch(function () { showLoginError(say('connect_unfinished', {})); });
  }

  function watchConnection() {
    window.addEventListener('message', function (e) {
      if (e.origin !== window.location.origin || !e.data) { return; }
      var d = e.data;
      if (d.type === 'qb24:connect-ticket' && typeof d.ticket === 'string') { finishConnect(d.ticket, e.source); }
      if (d.type === 'qb24:connect-declined' && typeof d.message === 'string') { showLoginError(d.message); }
    });
    var login = document.getElementById('login');
    var token = document.getElementById('login-token');
    var polling = null;
    function poll() { getJson(body.dataset.statusUrl, function (s) { if (s.connected) { showApp(); } }); }
    if (login) {
      login.addEventListener('click', function () {
        // The form then submits into this named tab: the link token stays in the POST body.
        window.open('', CONSENT_WINDOW);
        if (!polling) { polling = setInterval(poll, POLL_MS); }
      });
      // The Log in form's token expires with the consent state (10 minutes): keep it fresh.
      setInterval(function () {
        getJson(body.dataset.statusUrl, function (s) { if (s.connect_token && token) { token.value = s.connect_token; } });
      }, LINK_RENEW_MS);
    }
  }

  function renderProgress(p) {
    var bar = document.getElementById('sync-progress');
    var status = document.getElementById('progress-status');
    if (!bar || !status) { return; }
    status.textContent = p.status_text;  // the sentence, in the page's language (webhooks/run_status.py)
    status.dataset.status = p.status;
    var cancel = document.getElementById('cancel-sync-form');
    if (cancel && p.status !== 'pending') { cancel.hidden = true; }  // a worker began it: it runs to its end
    if (p.percent === null || p.percent === undefined) { bar.removeAttribute('value'); } else { bar.value = p.percent; }
    Object.keys(p.counters || {}).forEach(function (name) {
      var cell = document.querySelector('[data-counter="' + name + '"]');
      if (cell) { cell.textContent = p.counters[name]; }
    });
    setText('progress-done', p.total ? say('done_of_total', {done: p.done, total: p.total}) : '');
    setText('progress-rate', p.rate ? say('rate', {rate: NUMBER.format(p.rate)}) : '');
    setText('progress-eta', p.eta_s === null || p.eta_s === undefined ? '' : say('eta', {seconds: Math.round(p.eta_s)}));
  }

  function setText(id, text) {
    var node = document.getElementById(id);
    if (node) { node.textContent = text; }
  }

  function watchProgress() {
    var active = function (s) { return s === 'pending' || s === 'running'; };
    if (!active(body.dataset.runStatus)) { return; }
    var timer = setInterval(function () {
      getJson(body.dataset.progressUrl, function (p) {
        renderProgress(p);
        if (!active(p.status)) { clearInterval(timer); showApp(); }  // the report is rendered server-side
      });
    }, POLL_MS);
  }

  function watchInstall() {  // ONAPPINSTALL may arrive after the page (reference §1.2)
    var notice = document.getElementById('install-pending-notice');
    if (!notice || body.dataset.awaitingInstall !== 'yes') { return; }
    var polls = 0;
    var timer = setInterval(function () {
      if (++polls > INSTALL_POLLS) { clearInterval(timer); return; }  // lost: the notice says what to do
      getJson(body.dataset.statusUrl, function (s) {
        if (s.install_confirmed) { clearInterval(timer); notice.remove(); fit(); }
      });
    }, POLL_MS);
  }

  document.addEventListener('DOMContentLoaded', function () {
    if (body.dataset.connected === 'yes') { watchProgress(); } else { watchConnection(); }
    watchInstall();
    fit();
  });
})();
