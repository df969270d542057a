/** The browser bundle stays small: `scripts/bundle.mjs` prints its size and enforces the budget. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const SCRIPT = fileURLToPath(new URL('../scripts/bundle.mjs', import.meta.url));

t.test('the minified browser bundle is under 5 KiB gzip', async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, [SCRIPT]);
  const match = /(\d+) B minified, (\d+) B gzip \(budget (\d+) B\)/.exec(stdout);
  t.ok(match, stdout);
  const [, minified, gzip, budget] = match ?? [];
  t.comment(stdout.trim());
  t.equal(Number(budget), 5120);
  t.ok(Number(gzip) <= 5120, `${gzip} B gzip`);
  t.ok(Number(minified) > Number(gzip), 'sizes are plausible');
});

t.test('the script fails when the bundle is over the budget', async (t) => {
  await t.rejects(promisify(execFile)(process.execPath, [SCRIPT, '--budget', '100']), {
    code: 1,
  });
});
