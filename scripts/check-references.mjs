// Keeps the root tsconfig.json's project references in sync with the folders: every package
// and its test project must be listed, so `tsc -b` builds and type-checks all of them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const root = JSON.parse(readFileSync(new URL('../tsconfig.json', import.meta.url), 'utf8'));
const listed = new Set((root.references ?? []).map((reference) => reference.path));
const expected = [];
for (const name of readdirSync(new URL('../packages/', import.meta.url))) {
  for (const project of [`packages/${name}`, `packages/${name}/test`]) {
    if (existsSync(new URL(`../${project}/tsconfig.json`, import.meta.url))) expected.push(project);
  }
}
if (existsSync(new URL('../test/tsconfig.json', import.meta.url))) expected.push('test');
const missing = expected.filter((project) => !listed.has(project));
const stale = [...listed].filter((project) => !expected.includes(project));
if (missing.length > 0 || stale.length > 0) {
  if (missing.length)
    process.stderr.write(`tsconfig.json lacks references: ${missing.join(', ')}\n`);
  if (stale.length)
    process.stderr.write(`tsconfig.json references missing projects: ${stale.join(', ')}\n`);
  process.exit(1);
}
