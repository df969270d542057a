/** An `UpgradeLifecycle` attached to a real `node:http` server at 127.0.0.1:0. */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Test } from 'tap';
import type { ResponseBinding, UpgradeExchange } from '../../src/upgrade-exchange.js';
import { UpgradeLifecycle } from '../../src/upgrade-lifecycle.js';
import { portOf } from './wire.js';

/**
 * A server whose upgrades begin an exchange handed to `onExchange`; released on teardown.
 * @param t - the test owning the server
 * @param binding - how the exchange binds its response
 * @param onExchange - receives each exchange `begin()` did not refuse
 * @param options - the lifecycle's entry options
 * @returns the port and the lifecycle
 */
export async function serveExchanges(
  t: Test,
  binding: ResponseBinding,
  onExchange: (exchange: UpgradeExchange, request: IncomingMessage) => void,
  options: ConstructorParameters<typeof UpgradeLifecycle>[0] = {},
): Promise<{ port: number; lifecycle: UpgradeLifecycle }> {
  const lifecycle = new UpgradeLifecycle(options, { name: 'test' });
  const server = createServer();
  lifecycle.attach(server, (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const exchange = lifecycle.begin(request, socket, head, binding);
    if (exchange) onExchange(exchange, request);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    await lifecycle.shutdown({ timeout: 100 });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: portOf(server), lifecycle };
}
