/**
 * The page of the example in headless Chromium (Debian's, through playwright-core): it offers
 * the token as `base64url.bearer.…` next to `chat.v1` and must see only `chat.v1` answered.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`); skipped when it is missing.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import t from 'tap';

/** What the test uses of app.mjs (JavaScript, checked through its JSDoc by ../tsconfig.json). */
interface ChatModule {
  createChatServer(options: { port: number }): Promise<{ port: number; close(): Promise<void> }>;
}
// A computed specifier: tap's TypeScript loader does not read JavaScript types (allowJs is off).
const APP: string = '../app.mjs';
const { createChatServer } = (await import(APP)) as ChatModule;

const CHROMIUM = '/usr/bin/chromium';
/** Longest wait for anything the page shows, in ms. */
const WAIT_MS = 10_000;

async function joinWith(page: Page, token: string): Promise<void> {
  await page.fill('#token', token);
  await page.click('#connect');
}

t.test(
  'the page connects with the token next to chat.v1',
  { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM}` },
  async (t) => {
    const chat = await createChatServer({ port: 0 });
    t.teardown(() => chat.close());
    const profile = await mkdtemp(join(tmpdir(), 'wsroute-express-auth-'));
    t.teardown(() => rm(profile, { recursive: true, force: true }));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    t.teardown(() => context.close());
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
  },
);
