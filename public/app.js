// Progressive enhancement only: every page works without this file.
// Keeps a form from being sent twice by a double click.
document.addEventListener('submit', (event) => {
  const form = event.target;
  if (form.dataset.sending) {
    event.preventDefault();
    return;
  }
  form.dataset.sending = '1';
  setTimeout(() => delete form.dataset.sending, 3000);
});
