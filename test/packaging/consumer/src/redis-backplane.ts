// @wsroute/redis: its options and events, and a RedisBackplane is core's Backplane.
// Nothing connects before open().
import { type Backplane, type PublishReport, topic, WebSocketServer } from '@wsroute/core';
import {
  type RedisBackplane,
  type RedisBackplaneOptions,
  type RedisBackplaneState,
  redisBackplane,
} from '@wsroute/redis';

const options: RedisBackplaneOptions = {
  url: 'redis://127.0.0.1:6379',
  channelPrefix: 'consumer:',
  maxReconnectDelayMs: 1_000,
};

/** A backplane for the topics of every process, observed. */
export function createBackplane(): { backplane: Backplane; state: () => RedisBackplaneState } {
  const backplane: RedisBackplane = redisBackplane(options);
  backplane.on('down', (error) => process.stderr.write(`backplane down: ${error?.message}\n`));
  return { backplane, state: () => backplane.state };
}

/** Attaching it is one option of the entry point; topics are typed by what they carry. */
export function createServer(): WebSocketServer {
  const { backplane } = createBackplane();
  const news = topic<string>('news');
  const wss = new WebSocketServer({ backplane, topics: { slowSubscriber: 'drop' } });
  wss.route('/news', {
    defaultProtocol: {
      onOpen(connection) {
        connection.subscribe(news);
      },
    },
  });
  const report: PublishReport = wss.publish(news, 'hello');
  void report.relay;
  return wss;
}
