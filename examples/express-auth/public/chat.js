// The page of examples/express-auth. A browser cannot set `Authorization` on a WebSocket, so
// the token travels as a second subprotocol next to the real one:
//
//   new WebSocket(url, ['chat.v1', 'base64url.bearer.<base64url(token), no padding>'])
//
// The server takes the token out of the offer before its auth middleware runs (which reads it
// as `req.websocketToken`), answers 401 for a bad one, and never echoes it: `ws.protocol` is
// 'chat.v1'. The page is served by the chat server itself, so its origin is the server's own
// (the server refuses handshakes from other origins).

const $ = (id) => document.getElementById(id);

/** `base64url.bearer.` + the token's UTF-8 bytes in base64url without padding (RFC 4648 §5). */
function tokenProtocol(token) {
  let binary = '';
  for (const byte of new TextEncoder().encode(token)) binary += String.fromCharCode(byte);
  const base64 = btoa(binary);
  let end = base64.length;
  while (end > 0 && base64[end - 1] === '=') end--;
  return `base64url.bearer.${base64.slice(0, end).replaceAll('+', '-').replaceAll('/', '_')}`;
}

function show(text) {
  const item = document.createElement('li');
  item.textContent = text;
  $('messages').append(item);
}

function describe(message) {
  switch (message.type) {
    case 'welcome':
      return `welcome ${message.user} to ${message.room}; here: ${message.present.join(', ') || 'nobody'}`;
    case 'message':
      return `${message.from}: ${message.text}`;
    case 'joined':
      return `${message.user} joined`;
    case 'left':
      return `${message.user} left`;
    default:
      return JSON.stringify(message);
  }
}

let socket;

function setOpen(isOpen, status) {
  $('status').textContent = status;
  $('text').disabled = !isOpen;
  $('send').disabled = !isOpen;
}

$('join').addEventListener('submit', (event) => {
  event.preventDefault();
  socket?.close(1000);
  const url = new URL(`/chat/${encodeURIComponent($('room').value)}`, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url, ['chat.v1', tokenProtocol($('token').value)]);
  socket = ws;
  setOpen(false, '(connecting)');
  ws.addEventListener('open', () => {
    $('protocol').textContent = ws.protocol;
    setOpen(true, '');
  });
  ws.addEventListener('message', (message) => show(describe(JSON.parse(message.data))));
  // A refused handshake (401 for a bad token) shows as a close with 1006 in every browser.
  ws.addEventListener('close', (close) => {
    if (socket === ws) setOpen(false, `(closed ${close.code})`);
  });
});

$('say').addEventListener('submit', (event) => {
  event.preventDefault();
  socket?.send(JSON.stringify({ type: 'say', text: $('text').value }));
  $('text').value = '';
});
