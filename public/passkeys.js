// /account/passkeys: "Add a passkey" runs the WebAuthn ceremony with @simplewebauthn/browser (served
// from this site) and posts credential.toJSON() with the chosen name.
(() => {
  const button = document.getElementById('add-passkey');
  const status = document.getElementById('passkey-status');
  if (!button || !window.SimpleWebAuthnBrowser) return;
  // The page's words, in its language (views/passkeys.ejs).
  const { unsupported, failed, cancelled } = button.dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const post = (url, body) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify(body ?? {}) });
  if (!SimpleWebAuthnBrowser.browserSupportsWebAuthn()) {
    button.disabled = true;
    status.textContent = unsupported;
    return;
  }
  button.addEventListener('click', async () => {
    button.disabled = true;
    status.textContent = '';
    try {
      const options = await (await post('/account/passkeys/options')).json();
      const credential = await SimpleWebAuthnBrowser.startRegistration({ optionsJSON: options });
      const name = document.getElementById('passkey-name').value.trim();
      const answer = await post('/account/passkeys', { ...credential, ...(name ? { name } : {}) });
      if (answer.status === 201) return location.reload();
      status.textContent = (await answer.json()).error?.message ?? failed;
    } catch (err) {
      status.textContent = err && err.name === 'NotAllowedError' ? cancelled : failed;
    } finally {
      button.disabled = false;
    }
  });
})();
