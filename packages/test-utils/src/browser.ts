/**
 * Debian's Chromium, driven through playwright-core, for the tests that need a real browser.
 * @module
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import type { TeardownHost } from './exchange.js';

/** Where Debian's `chromium` package installs the browser (`.ci/run` installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless, no sandbox (containers), and nothing that reaches for the network on its own. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches a headless Chromium with a fresh profile directory; the browser is closed and the
 * profile removed on teardown.
 * @param t - the test whose teardown ends the browser
 * @param name - prefix of the profile directory, to tell the tests' profiles apart
 * @returns the browser's persistent context (it has one page open)
 * @throws an Error naming the package to install when Chromium is missing
 */
export async function launchChromium(t: TeardownHost, name = 'wsroute'): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium chromium-driver`);
  }
  const profile = await mkdtemp(join(tmpdir(), `${name}-chromium-`));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  t.teardown(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return context;
}
