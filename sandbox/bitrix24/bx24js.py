"""The BX24 JavaScript shim served by each portal, and the host-side script that answers it."""
from __future__ import annotations

# Loaded by the app inside the iframe (stands in for //api.bitrix24.com/api/v1/). It talks to
# the portal page through postMessage, as the real library does.
BX24_JS = r"""(function () {
  var pending = {}, seq = 0, data = null;
  var sid = new URLSearchParams(location.search).get('APP_SID');
  function send(cmd, params, cb) {
    var id = ++seq; if (cb) { pending[id] = cb; }
    window.parent.postMessage({bx24: true, cmd: cmd, params: params || {}, id: id, sid: sid}, '*');
  }
  window.addEventListener('message', function (e) {
    var m = e.data; if (!m || !m.bx24reply) { return; }
    var cb = pending[m.id]; delete pending[m.id]; if (cb) { cb(m.result); }
  });
  function options() { try { return JSON.parse(data.PLACEMENT_OPTIONS || '{}'); } catch (err) { return {}; } }
  window.BX24 = {
    init: function (cb) { if (data) { if (cb) { cb(); } return; } send('init', {}, function (r) { data = r; if (cb) { cb(); } }); },
    installFinish: function () { send('installFinish'); },
    fitWindow: function (cb) { send('resizeWindow', {height: document.documentElement.scrollHeight}, cb); },
    resizeWindow: function (w, h, cb) { send('resizeWindow', {width: w, height: h}, cb); },
    openApplication: function (params, cb) { send('openApplication', params || {}, cb); },
    getAuth: function () {
      return data ? {access_token: data.AUTH_ID, refresh_token: data.REFRESH_ID, expires_in: +data.AUTH_EXPIRES,
                     domain: data.DOMAIN, member_id: data.member_id} : false;
    },
    getDomain: function () { return data ? data.DOMAIN : ''; },
    getLang: function () { return data ? data.LANG : 'en'; },
    isAdmin: function () { return !!(data && data.IS_ADMIN); },
    placement: {
      info: function () { return data ? {placement: data.PLACEMENT, options: options()} : {placement: '', options: {}}; }
    },
    callMethod: function (method, params, cb) {
      var body = Object.assign({}, params || {}, {auth: data.AUTH_ID});
      fetch(data.client_endpoint + method + '.json', {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify(body)}).then(function (r) { return r.json(); }).then(function (j) {
        if (cb) { cb({data: function () { return j.result; }, error: function () { return j.error || false; }, answer: j}); }
      });
    }
  };
})();
"""

# Runs on the portal page that hosts the app iframe: answers BX24 requests for `SESSION`.
HOST_JS = r"""
var SESSION = null;
function openFrame(formId, session) {
  SESSION = session; document.getElementById('appframe').style.display = 'block';
  document.getElementById(formId).submit();
}
window.addEventListener('message', function (e) {
  var frame = document.getElementById('appframe');
  if (!frame || e.source !== frame.contentWindow || !SESSION) { return; }
  var m = e.data; if (!m || !m.bx24) { return; }
  function reply(result) { e.source.postMessage({bx24reply: true, id: m.id, result: result}, '*'); }
  if (m.cmd === 'init') { reply(SESSION); }
  else if (m.cmd === 'resizeWindow') { frame.style.height = (m.params.height || 400) + 'px'; reply({}); }
  else if (m.cmd === 'openApplication') {  // the same user (?user_id=) opens the app page
    location.href = '/marketplace/app/' + encodeURIComponent(SESSION.client_id) + '/' + location.search;
  }
  else if (m.cmd === 'installFinish') {
    fetch('/marketplace/finish/' + SESSION.APP_SID, {method: 'POST'}).then(function () {
      document.getElementById('install-state').textContent = 'installed';
      location.href = '/marketplace/app/' + encodeURIComponent(SESSION.client_id) + '/';
    });
  }
});
"""
