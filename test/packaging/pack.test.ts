/**
 * The packages as npm users get them: `pnpm pack` of every published package, then a fresh
 * project outside the workspace that installs those tarballs (and the frameworks from the
 * registry), type-checks its sources under `strict`, `exactOptionalPropertyTypes` and
 * `skipLibCheck: false`, and runs one message each way through every entry point.
 *
 * Needs the npm registry (the pnpm store makes it quick with `--prefer-offline`); without it
 * the install fails and so does this test: it never skips.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { isAbsolute, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';

t.setTimeout(300_000);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONSUMER_FIXTURE = fileURLToPath(new URL('./consumer/', import.meta.url));
const PNPM = ['--yes', 'pnpm@10'];
/** What the consumer installs from the registry, at the versions the workspace uses. */
const REGISTRY_DEPENDENCIES = [
  '@hapi/boom',
  '@koa/router',
  '@types/express',
  '@types/koa',
  '@types/node',
  '@types/ws',
  'express',
  'fastify',
  'koa',
  'typescript',
  'ws',
];

interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly private?: boolean;
  readonly license?: string;
  readonly engines?: Record<string, string>;
  readonly exports?: Record<string, Record<string, string>>;
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>;
}

/** One unpacked tarball. */
interface Packed {
  readonly tarball: string;
  readonly dir: string;
  readonly manifestText: string;
  readonly manifest: PackageJson;
  /** Its files, relative and with `/` separators. */
  readonly files: readonly string[];
}

/**
 * The environment for the child processes, without what tap sets for its own children (its
 * loader in NODE_OPTIONS, coverage, the child id) and the outer `pnpm test`'s script variables.
 * npm_config_* stays: it carries the user's registry settings to npx.
 */
function childEnv(): NodeJS.ProcessEnv {
  const dropped =
    /^(NODE_OPTIONS|NODE_V8_COVERAGE|INIT_CWD|PNPM_SCRIPT_SRC_DIR|PNPM_PACKAGE_NAME|npm_command)$|^npm_(package|lifecycle)_|^_?TAP/;
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !dropped.test(key)));
}

/** Runs a command; on failure throws with its output, so the test says what went wrong. */
function run(
  command: string,
  args: readonly string[],
  cwd: string,
  timeout = 240_000,
): Promise<string> {
  return new Promise((done, fail) => {
    execFile(
      command,
      args,
      { cwd, env: childEnv(), timeout, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) return done(stdout);
        const tail = (text: string) => text.split('\n').slice(-40).join('\n');
        fail(
          new Error(
            `${command} ${args.join(' ')} (in ${cwd}) failed: ${error.message}\n` +
              `--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`,
          ),
        );
      },
    );
  });
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(path, base)));
    else files.push(relative(base, path).split(sep).join('/'));
  }
  return files.sort();
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** The package a bare specifier names: `@scope/name/sub` → `@scope/name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(packageOf(specifier));
}

/** The module specifiers a declaration file imports, comments (and their examples) left out. */
function importsOf(declarations: string): string[] {
  const code = declarations.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/(?!\/).*$/gm, '');
  const pattern =
    /\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s+['"]([^'"]+)['"]|<reference\s+types\s*=\s*['"]([^'"]+)['"]/g;
  return [...code.matchAll(pattern)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4] ?? '');
}

/** The declaration file a package's export resolves to, relative to the package. */
function exportedTypes(manifest: PackageJson, subpath: string): string | undefined {
  const target = manifest.exports?.[subpath]?.types;
  return target === undefined ? undefined : posix.normalize(target);
}

/**
 * Walks the declarations reachable from `start` (relative imports, and `@wsroute/*` imports into
 * the other tarballs) and returns every bare import of a third-party package, with the package
 * whose declaration file makes it.
 */
async function reachableImports(
  packed: ReadonlyMap<string, Packed>,
  startPackage: string,
  startFile: string,
): Promise<{ owner: string; file: string; specifier: string }[]> {
  const found: { owner: string; file: string; specifier: string }[] = [];
  const seen = new Set<string>();
  const queue: [string, string][] = [[startPackage, startFile]];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const [owner, file] = next;
    const key = `${owner}:${file}`;
    const pkg = packed.get(owner);
    if (seen.has(key) || pkg === undefined) continue;
    seen.add(key);
    for (const specifier of importsOf(await readFile(join(pkg.dir, file), 'utf8'))) {
      if (specifier.startsWith('.')) {
        const target = posix.join(posix.dirname(file), specifier).replace(/\.js$/, '');
        queue.push([owner, `${target}.d.ts`]);
      } else if (packed.has(packageOf(specifier))) {
        const name = packageOf(specifier);
        const target = packed.get(name);
        const types = target && exportedTypes(target.manifest, `.${specifier.slice(name.length)}`);
        if (types !== undefined) queue.push([name, types]);
        else found.push({ owner, file, specifier });
      } else if (!isBuiltin(specifier)) {
        found.push({ owner, file, specifier });
      }
    }
  }
  return found;
}

const tmp = await mkdtemp(join(tmpdir(), 'wsroute-pack-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

const rootManifest = await readJson<PackageJson>(join(ROOT, 'package.json'));
const rootLicense = await readFile(join(ROOT, 'LICENSE'), 'utf8');
const workspace = new Map<string, { dir: string; manifest: PackageJson }>();
for (const name of await readdir(join(ROOT, 'packages'))) {
  const dir = join(ROOT, 'packages', name);
  if (!existsSync(join(dir, 'package.json'))) continue;
  const manifest = await readJson<PackageJson>(join(dir, 'package.json'));
  workspace.set(manifest.name, { dir, manifest });
}
const published = [...workspace.values()].filter(({ manifest }) => manifest.private !== true);

/** Asserts what one unpacked tarball holds. */
async function checkTarball(t: Test, name: string, pkg: Packed): Promise<void> {
  const { files, manifest, manifestText } = pkg;
  t.same(
    files.filter((file) => file.endsWith('.tsbuildinfo')),
    [],
    'no .tsbuildinfo',
  );
  t.same(
    files.filter((file) => /(^|\/)(test|tests|__tests__)\//.test(file) || /\.test\./.test(file)),
    [],
    'no test files',
  );
  t.same(
    files.filter((file) => !/^(dist|src)\//.test(file)),
    ['LICENSE', 'README.md', 'package.json'],
    'only dist/, src/ (for the source and declaration maps), LICENSE, README.md, package.json',
  );
  t.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), 'built');
  t.equal(await readFile(join(pkg.dir, 'LICENSE'), 'utf8'), rootLicense, 'the root LICENSE');
  t.equal(manifest.license, 'MIT', 'license: MIT');
  t.equal(manifest.engines?.node, rootManifest.engines?.node, 'engines.node');

  t.notMatch(manifestText, /workspace:/, 'workspace: ranges replaced by versions');
  t.notMatch(manifestText, /@wsroute\/test-utils/, 'the private test-utils is not named');
  for (const [dependency, range] of Object.entries(manifest.dependencies ?? {})) {
    const local = workspace.get(dependency);
    if (local) t.equal(range, local.manifest.version, `${dependency} at its version`);
  }

  for (const [subpath, conditions] of Object.entries(manifest.exports ?? {})) {
    t.equal(Object.keys(conditions)[0], 'types', `exports["${subpath}"] lists types first`);
    for (const target of Object.values(conditions)) {
      t.ok(files.includes(posix.normalize(target)), `exports["${subpath}"] → ${target} exists`);
    }
  }

  // A declaration may import only what the package makes sure its users have.
  const declared = {
    ...manifest.dependencies,
    ...manifest.peerDependencies,
    [name]: manifest.version,
  };
  for (const file of files.filter((file) => file.endsWith('.d.ts'))) {
    const text = await readFile(join(pkg.dir, file), 'utf8');
    for (const specifier of importsOf(text)) {
      if (specifier.startsWith('.') || isBuiltin(specifier)) continue;
      t.ok(packageOf(specifier) in declared, `${file} imports a declared package: ${specifier}`);
    }
  }
  // The main entry's declarations, followed into the other tarballs, never reach an
  // optional peer (ws for the testing subpaths): production code must compile without it.
  const main = exportedTypes(manifest, '.');
  t.ok(main, 'exports["."] has types');
  if (main === undefined) return;
  for (const { owner, file, specifier } of await reachableImports(packed, name, main)) {
    const ownerManifest = packed.get(owner)?.manifest;
    const optional = ownerManifest?.peerDependenciesMeta?.[packageOf(specifier)]?.optional;
    t.notOk(optional, `${owner}/${file} (reached from ${name}'s main) imports ${specifier}`);
  }
}

const packed = new Map<string, Packed>();

t.test('pnpm pack makes one tarball per published package', async (t) => {
  // Build first, so the tarballs hold what the sources say even when tap runs alone.
  const tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
  await run(process.execPath, [tsc, '-b', ...published.map(({ dir }) => dir)], ROOT);

  const tarballs = join(tmp, 'tarballs');
  const filters = published.flatMap(({ manifest }) => ['--filter', manifest.name]);
  await run('npx', [...PNPM, ...filters, 'pack', '--pack-destination', tarballs], ROOT);

  for (const tarball of (await readdir(tarballs)).filter((file) => file.endsWith('.tgz'))) {
    const dir = join(tmp, 'unpacked', tarball.replace(/\.tgz$/, ''));
    await mkdir(dir, { recursive: true });
    await run('tar', ['-xzf', join(tarballs, tarball), '-C', dir, '--strip-components=1'], tmp);
    const manifestText = await readFile(join(dir, 'package.json'), 'utf8');
    const manifest = JSON.parse(manifestText) as PackageJson;
    packed.set(manifest.name, {
      tarball: join(tarballs, tarball),
      dir,
      manifestText,
      manifest,
      files: await listFiles(dir),
    });
  }
  t.same(
    [...packed.keys()].sort(),
    published.map(({ manifest }) => manifest.name).sort(),
    'the published packages, and no private one',
  );
});

t.test('each tarball holds what its users need, and nothing else', async (t) => {
  t.ok(packed.size > 0, 'there are tarballs to check');
  for (const [name, pkg] of packed) t.test(name, (t) => checkTarball(t, name, pkg));
});

t.test('a fresh project installs the tarballs, type-checks and runs', async (t) => {
  if (packed.size === 0) {
    t.fail('no tarballs to install');
    return;
  }
  const consumer = join(tmp, 'consumer');
  const fromRoot = relative(ROOT, consumer);
  t.ok(
    fromRoot.startsWith('..') || isAbsolute(fromRoot),
    'the consumer sits outside the workspace (TMPDIR must not point into it)',
  );
  await cp(CONSUMER_FIXTURE, consumer, { recursive: true });
  // file: tarballs for our packages, also where one of them depends on another: the packed
  // manifests name real versions, which must not come from the registry.
  const local = Object.fromEntries(
    [...packed].map(([name, { tarball }]) => [name, `file:${tarball}`]),
  );
  const fromRegistry = Object.fromEntries(
    REGISTRY_DEPENDENCIES.map((name) => {
      const range = rootManifest.devDependencies?.[name];
      if (range === undefined) throw new Error(`the root package.json lacks ${name}`);
      return [name, range];
    }),
  );
  const manifest = {
    name: 'wsroute-consumer',
    private: true,
    type: 'module',
    dependencies: { ...local, ...fromRegistry },
    pnpm: { overrides: local },
  };
  await writeFile(join(consumer, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  await run(
    'npx',
    [
      ...PNPM,
      'install',
      '--prefer-offline',
      '--ignore-workspace',
      '--no-frozen-lockfile',
      '--reporter=append-only',
    ],
    consumer,
  );
  for (const name of packed.keys()) {
    const installed = await readJson<PackageJson>(
      join(consumer, 'node_modules', name, 'package.json'),
    );
    t.equal(installed.version, packed.get(name)?.manifest.version, `${name} from the tarball`);
  }

  // tsc with noEmitOnError: the type-check fails the test, else it writes the JS to run.
  await run(
    process.execPath,
    [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
    consumer,
  );

  const stdout = await run(process.execPath, [join('dist', 'run.js')], consumer, 60_000);
  const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as unknown;
  t.same(
    summary,
    {
      fastify: { protocol: 'chat.v2', answer: { from: 'alice', room: 'lobby', text: 'hi' } },
      injectWS: { protocol: 'chat.v2', answer: { from: 'alice', room: 'attic', text: 'ho' } },
      node: { protocol: 'chat.v2', answer: { type: 'said', from: 'alice', text: 'hey' } },
      injectWebSocketRefused: 401,
      express: { protocol: 'chat.v1', answer: { type: 'message', from: 'alice', text: 'yo' } },
      koa: { protocol: 'chat.v1', answer: { from: 'alice', text: 'hallo' } },
    },
    'one message each way on every entry point; a refusal before the 101 is a 401',
  );
});
