// /login: "Sign in with a passkey", and the browser's passkey autofill on the login field (a
// conditional-mediation request started when the page loads, where the browser offers it).
(() => {
  const button = document.getElementById('passkey-login');
  const status = document.getElementById('passkey-status');
  if (!button || !window.SimpleWebAuthnBrowser || !SimpleWebAuthnBrowser.browserSupportsWebAuthn()) {
    if (button) button.hidden = true;
    return;
  }
  // The page's words, in its language (views/login.ejs).
  const failed = button.dataset.failed;
  const cancelled = button.dataset.cancelled;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const returnTo = document.querySelector('input[name="returnTo"]').value || '/';
  const post = (url, body) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify(body ?? {}) });

  async function signIn(useBrowserAutofill) {
    const options = await (await post('/login/passkey/options')).json();
    const response = await SimpleWebAuthnBrowser.startAuthentication({ optionsJSON: options, useBrowserAutofill });
    const answer = await post('/login/passkey', response);
    if (answer.status === 200) return location.assign(returnTo);
    status.textContent = (await answer.json()).error?.message ?? failed;
  }

  button.addEventListener('click', () => {
    status.textContent = '';
    signIn(false).catch((err) => {
      status.textContent = err && err.name === 'NotAllowedError' ? cancelled : failed;
    });
  });
  SimpleWebAuthnBrowser.browserSupportsWebAuthnAutofill()
    .then((yes) => yes && signIn(true))
    // A conditional request is cancelled whenever the button starts a modal one: nothing to say.
    .catch(() => {});
})();
