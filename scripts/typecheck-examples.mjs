// Type-checks every example that has a tsconfig.json (JSDoc-typed .mjs and its tests):
// examples are not composite projects, so `tsc -b` at the root does not reach them.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const examples = new URL('../examples/', import.meta.url);
for (const name of readdirSync(examples)) {
  const config = new URL(`${name}/tsconfig.json`, examples);
  if (!existsSync(config)) continue;
  execFileSync(process.execPath, [tsc, '-p', config.pathname], { stdio: 'inherit' });
}
