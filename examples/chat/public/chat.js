// The chat page: offers the contracts ['chat.v2', 'chat'] (or only `?protocol=…`) with
// @wsroute/client, shows the negotiated protocol, and speaks it; reconnects after a drop.
import { connect } from '@wsroute/client';
import { chat, chatV2 } from '/contract.mjs';

const params = new URLSearchParams(location.search);
const contracts = [chatV2, chat].filter(
  (c) => !params.has('protocol') || c.name === params.get('protocol'),
);
const name = params.get('name') || `guest-${Math.random().toString(36).slice(2, 6)}`;

const $ = (id) => document.getElementById(id);
$('name').textContent = name;

const url = new URL('/chat', location.href);
url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
url.searchParams.set('name', name);

function show(text) {
  const item = document.createElement('li');
  item.textContent = text;
  $('messages').append(item);
}

function setOpen(isOpen, status) {
  $('status').textContent = status;
  $('text').disabled = !isOpen;
  $('send').disabled = !isOpen;
  if (isOpen) $('text').focus();
}

try {
  const client = await connect(url, contracts, { reconnect: true });
  $('protocol').textContent = client.protocol;
  setOpen(true, '');
  // Validated by the contract: a ChatOut for chat.v2, a string for chat.
  client.onMessage((message) =>
    show(typeof message === 'string' ? message : `${message.from}: ${message.text}`),
  );
  client.on('open', () => setOpen(true, ''));
  client.on('reconnecting', ({ attempt, delay }) =>
    setOpen(false, `(reconnecting #${attempt} in ${delay} ms)`),
  );
  client.on('close', (close) =>
    setOpen(false, close.willReconnect ? '(reconnecting)' : `(closed ${close.code})`),
  );
  client.on('error', (error) => show(`[${error.code}] ${error.message}`));

  $('form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('text').value.trim();
    if (text === '') return;
    const sent =
      client.protocol === 'chat.v2' ? client.send({ type: 'message', text }) : client.send(text);
    if (sent) $('text').value = '';
  });
} catch (error) {
  $('protocol').textContent = '(none)';
  setOpen(false, `(failed: ${error.code ?? error.message})`);
}
