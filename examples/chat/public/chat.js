// The chat page: offers ['chat.v2', 'chat'] (or only `?protocol=…`), shows the negotiated
// protocol, and speaks it: chat.v2 is JSON, chat is plain text.
const params = new URLSearchParams(location.search);
const offered = params.has('protocol') ? [params.get('protocol')] : ['chat.v2', 'chat'];
const name = params.get('name') || `guest-${Math.random().toString(36).slice(2, 6)}`;

const $ = (id) => document.getElementById(id);
$('name').textContent = name;

const url = new URL('/chat', location.href);
url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
url.searchParams.set('name', name);
const ws = new WebSocket(url, offered);

function show(text) {
  const item = document.createElement('li');
  item.textContent = text;
  $('messages').append(item);
}

ws.addEventListener('open', () => {
  $('protocol').textContent = ws.protocol || '(none)';
  $('status').textContent = '';
  $('text').disabled = false;
  $('send').disabled = false;
  $('text').focus();
});

ws.addEventListener('message', (event) => {
  if (ws.protocol === 'chat.v2') {
    const message = JSON.parse(event.data);
    if (message.type === 'message') show(`${message.from}: ${message.text}`);
  } else {
    show(event.data);
  }
});

ws.addEventListener('close', (event) => {
  $('status').textContent = `(closed ${event.code})`;
  $('text').disabled = true;
  $('send').disabled = true;
});

$('form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (text === '' || ws.readyState !== WebSocket.OPEN) return;
  ws.send(ws.protocol === 'chat.v2' ? JSON.stringify({ type: 'message', text }) : text);
  $('text').value = '';
});
