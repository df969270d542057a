import { launchChromium } from '@wsroute/test-utils';
import type { Page } from 'playwright-core';
import t from 'tap';

/** What the test uses of app.mjs (JavaScript, checked through its JSDoc by ../tsconfig.json). */
interface ChatModule {
  createChatServer(options: { port: number }): Promise<{ port: number; close(): Promise<void> }>;
}
// A computed specifier: tap's TypeScript loader does not read JavaScript types (allowJs is off).
const APP: string = '../app.mjs';
const { createChatServer } = (await import(APP)) as ChatModule;

/** Longest wait for anything the page shows, in ms. */
const WAIT_MS = 10_000;

async function joinWith(page: Page, token: string): Promise<void> {
  await page.fill('#token', token);
  await page.click('#connect');
}

t.test('the page connects with the token next to chat.v1', async (t) => {
  const chat = await createChatServer({ port: 0 });
  t.teardown(() => chat.close());
  const context = await launchChromium(t, 'wsroute-express-auth');
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`http://127.0.0.1:${chat.port}/`);

  await joinWith(page, 'token-alice');
  await page.locator('#text:enabled').waitFor({ timeout: WAIT_MS });
  t.equal(await page.locator('#protocol').textContent(), 'chat.v1', 'only chat.v1 answered');
  await page
    .locator('#messages li', { hasText: 'welcome alice to lobby' })
    .waitFor({ timeout: WAIT_MS });
  await page.fill('#text', 'hello from chromium');
  await page.click('#send');
  await page
    .locator('#messages li', { hasText: 'alice: hello from chromium' })
    .waitFor({ timeout: WAIT_MS });

  await joinWith(page, 'token-eve');
  await page.locator('#status', { hasText: '(closed 1006)' }).waitFor({ timeout: WAIT_MS });
  t.pass('a bad token: the handshake is refused (401), the page sees 1006');
});
