// Bundles @wsroute/client (with @wsroute/contract inlined) for browsers, minified, and reports
// its gzip size; fails when it exceeds the budget.
//
//   node packages/client/scripts/bundle.mjs [--write] [--budget 5120]
//
// --write keeps the bundle as dist/browser/wsroute-client.min.js. Run `tsc -b` first: the
// contract package is taken from its dist, as an installed package would be.
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The gzip budget of the browser bundle, in bytes. */
export const BUDGET = 5 * 1024;

/**
 * Bundles the client.
 * @returns {Promise<{ code: string, bytes: number, gzipBytes: number }>}
 */
export async function bundleClient() {
  const result = await build({
    entryPoints: [new URL('../src/index.ts', import.meta.url).pathname],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output');
  return {
    code: file.text,
    bytes: file.contents.byteLength,
    gzipBytes: gzipSync(file.contents, { level: 9 }).byteLength,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { write: { type: 'boolean', default: false }, budget: { type: 'string' } },
  });
  const budget = Number(values.budget ?? BUDGET);
  const { code, bytes, gzipBytes } = await bundleClient();
  process.stdout.write(
    `@wsroute/client browser bundle: ${bytes} B minified, ${gzipBytes} B gzip (budget ${budget} B)\n`,
  );
  if (values.write) {
    const out = new URL('../dist/browser/', import.meta.url);
    await mkdir(out, { recursive: true });
    await writeFile(new URL('wsroute-client.min.js', out), code);
  }
  if (gzipBytes > budget) process.exit(1);
}
