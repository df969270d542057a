/**
 * The chat in a real browser (Debian's chromium through playwright-core): two pages talk
 * through `server.mjs`, one of them possibly speaking only the plain-text `chat` protocol.
 *
 * Needs `/usr/bin/chromium` (`apt-get install -y chromium`; `.ci/run` does it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '@wsroute/test-utils';
import type { BrowserContext, Page } from 'playwright-core';
import t, { type Test } from 'tap';

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url));
/** Longest wait for anything the page shows, in ms. */
const WAIT_MS = 10_000;

/** Starts `server.mjs --port 0` and reads the URL it prints; killed on teardown. */
async function startServer(t: Test): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [SERVER, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
  let output = '';
  for await (const chunk of child.stdout ?? []) {
    output += String(chunk);
    const match = /listening on (http:\/\/\S+)/.exec(output);
    if (match?.[1]) return match[1];
  }
  throw new Error(`server.mjs did not start: ${output}`);
}

/** Opens the chat page and waits until its websocket is open. */
async function openChat(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.locator('#text:enabled').waitFor({ timeout: WAIT_MS });
  return page;
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#send');
}

async function protocolOf(page: Page): Promise<string> {
  return (await page.locator('#protocol').textContent()) ?? '';
}

/** Waits until the page lists `text` among its messages. */
async function expectMessage(page: Page, text: string): Promise<void> {
  await page.locator('#messages li', { hasText: text }).first().waitFor({ timeout: WAIT_MS });
}

t.test('the chat in chromium', async (t) => {
  t.test('two pages negotiate chat.v2 and see each other', async (t) => {
    const base = await startServer(t);
    const context = await launchChromium(t, 'wsroute-chat');
    const alice = await openChat(context, `${base}?name=alice`);
    const bob = await openChat(context, `${base}?name=bob`);
    t.equal(await protocolOf(alice), 'chat.v2');
    t.equal(await protocolOf(bob), 'chat.v2');
    await say(alice, 'hello bob');
    await expectMessage(bob, 'alice: hello bob');
    await expectMessage(alice, 'alice: hello bob');
    await say(bob, 'hi alice');
    await expectMessage(alice, 'bob: hi alice');
    t.pass('messages crossed between the pages');
  });

  t.test('a page that offers only chat talks with a chat.v2 page', async (t) => {
    const base = await startServer(t);
    const context = await launchChromium(t, 'wsroute-chat');
    const modern = await openChat(context, `${base}?name=carol`);
    const plain = await openChat(context, `${base}?name=dave&protocol=chat`);
    t.equal(await protocolOf(modern), 'chat.v2');
    t.equal(await protocolOf(plain), 'chat');
    await say(modern, 'json to text');
    await expectMessage(plain, 'carol: json to text');
    await say(plain, 'text to json');
    await expectMessage(modern, 'dave: text to json');
    t.pass("each page got the other one's message in its own protocol");
  });
});
