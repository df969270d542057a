// Two backplanes (as if in two processes) relaying through Redis.
// Build first (`npx tsc -b` at the root), then: REDIS_URL=redis://127.0.0.1:6379 node relay.mjs
import { once } from 'node:events';
import { redisBackplane } from '@wsroute/redis';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const alice = redisBackplane({ url });
const bob = redisBackplane({ url });
for (const backplane of [alice, bob]) {
  backplane.on('error', (error) => process.stderr.write(`${error.code}: ${error.message}\n`));
  backplane.on('down', () => process.stderr.write('down\n'));
}

let delivered;
const received = new Promise((resolve) => {
  delivered = resolve;
});
alice.open({ receive: () => {} });
bob.open({
  receive(topic, payload) {
    process.stdout.write(`bob got ${payload.length} bytes on ${topic}: ${payload.toString()}\n`);
    delivered();
  },
});
await Promise.all([once(alice, 'up'), once(bob, 'up')]);

bob.subscribe('lobby');
await bob.sync(); // the channel is subscribed: what alice publishes now reaches bob
process.stdout.write(`${alice.publish('lobby', Buffer.from('hello'))}\n`); // sent
process.stdout.write(`${alice.publish('elsewhere', Buffer.from('nobody'))}\n`); // sent, unheard

await received;
await alice.close(); // waits for Redis to confirm both publications
await bob.close();
process.stdout.write(`${JSON.stringify(alice.stats)}\n`);
