// The live chat. Text is always rendered with textContent, never as HTML.
(() => {
  const list = document.getElementById('messages');
  const online = document.getElementById('online');
  const status = document.getElementById('status');
  const form = document.getElementById('send');
  const input = document.getElementById('text');
  const sendError = document.getElementById('send-error');
  const people = new Map();
  // The page hands over its language and its words (views/chat.ejs): no catalogue lives in here.
  const section = document.querySelector('section.chat');
  const lang = section.dataset.lang;
  const words = JSON.parse(section.dataset.strings);
  const clock = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });

  function setStatus(text, state) {
    status.textContent = text;
    status.dataset.state = state;
  }

  function render(message) {
    if (list.querySelector(`li[data-id="${message.id}"]`)) return;
    const item = document.createElement('li');
    item.dataset.id = String(message.id);
    const author = document.createElement('span');
    author.className = 'author';
    author.textContent = message.user.id === null ? words.deletedUser : message.user.name;
    const time = document.createElement('time');
    time.dateTime = message.sentAt;
    time.textContent = clock.format(new Date(message.sentAt));
    const text = document.createElement('p');
    text.className = 'text';
    text.textContent = message.text;
    item.append(author, ' ', time, text);
    list.append(item);
    list.scrollTop = list.scrollHeight;
  }

  function renderPeople() {
    online.replaceChildren(
      ...[...people.values()].map((user) => {
        const li = document.createElement('li');
        li.textContent = user.name;
        li.title = user.login;
        return li;
      }),
    );
  }

  const socket = io({ path: '/socket.io' });

  socket.on('connect', () => setStatus(words.online, 'online'));
  socket.on('disconnect', (reason) => {
    // The server ends a socket itself only when the session ended; anything else is a lost connection.
    if (reason === 'io server disconnect') setStatus(words.ended, 'ended');
    else setStatus(words.offline, 'offline');
  });
  socket.on('connect_error', (err) => {
    if (err.message === 'unauthorized') {
      setStatus(words.ended, 'ended');
      socket.disconnect();
    } else {
      setStatus(words.offline, 'offline');
    }
  });
  socket.on('chat:history', (messages) => {
    list.replaceChildren();
    messages.forEach(render);
  });
  socket.on('chat:message', render);
  socket.on('presence', ({ users }) => {
    people.clear();
    for (const user of users) people.set(user.id, user);
    renderPeople();
  });
  socket.on('presence:join', ({ user }) => {
    people.set(user.id, user);
    renderPeople();
  });
  socket.on('presence:leave', ({ user }) => {
    people.delete(user.id);
    renderPeople();
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    sendError.textContent = '';
    socket.timeout(5000).emit('chat:send', { text }, (err, reply) => {
      if (err) sendError.textContent = words.noAnswer;
      else if (!reply.ok) sendError.textContent = words.errors[reply.error.code] || words.other;
      // Only what was sent is cleared: a late answer must not wipe what has been typed since.
      else if (input.value === text) input.value = '';
    });
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
