// handoff: the passkey ceremony of the clinic's pages, and the pages' only
// script. A form with data-passkey="login" or "register" asks the server for
// options (POST <action>/options), lets the browser make or use a passkey,
// and sends the answer (POST <action>); the server's answer names the page
// to go to. The form's anti-CSRF token travels in a header.
(function () {
  'use strict';
  var form = document.querySelector('form[data-passkey]');
  if (!form) { return; }
  var status = document.getElementById('passkey-status');
  var say = function (msg) { if (status) { status.textContent = msg; } };
  var supported = window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON &&
    PublicKeyCredential.parseRequestOptionsFromJSON;
  if (!supported) {
    say(form.getAttribute('data-unsupported'));
    return;
  }
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var kind = form.getAttribute('data-passkey');
    var action = form.getAttribute('action');
    var csrf = form.querySelector('input[name="csrf"]').value;
    var headers = { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' };
    var button = form.querySelector('button');
    button.disabled = true;
    fetch(action + '/options', { method: 'POST', headers: headers, credentials: 'same-origin', body: '{}' })
      .then(function (r) { if (!r.ok) { throw new Error('options ' + r.status); } return r.json(); })
      .then(function (c) {
        var ask = kind === 'register'
          ? navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(c.publicKey) })
          : navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(c.publicKey) });
        return ask.then(function (cred) {
          return fetch(action, {
            method: 'POST', headers: headers, credentials: 'same-origin',
            body: JSON.stringify({ ceremony: c.ceremony, credential: cred.toJSON() })
          });
        });
      })
      .then(function (r) { return r.json().then(function (out) { return { ok: r.ok, out: out }; }); })
      .then(function (res) {
        if (res.ok && res.out.next) { window.location.assign(res.out.next); return; }
        say(form.getAttribute('data-failed'));
        button.disabled = false;
      })
      .catch(function () { say(form.getAttribute('data-failed')); button.disabled = false; });
  });
})();
