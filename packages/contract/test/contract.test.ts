import { readdir, readFile } from 'node:fs/promises';
import t from 'tap';
import { jsonCodec, textCodec } from '../src/codec.js';
import { defineContract, isStandardSchema, isToken, type } from '../src/contract.js';
import { evenNumber } from './helpers.js';

t.test('defineContract keeps the name, the codec and both specs, frozen', async (t) => {
  const codec = jsonCodec();
  const marker = type<string>();
  const contract = defineContract({ name: 'chat.v2', codec, client: evenNumber, server: marker });
  t.equal(contract.name, 'chat.v2');
  t.equal(contract.codec, codec);
  t.equal(contract.client, evenNumber);
  t.equal(contract.server, marker);
  t.ok(Object.isFrozen(contract));
});

t.test('an omitted side becomes a type marker; an omitted codec means raw', async (t) => {
  const contract = defineContract({ name: 'raw' });
  t.equal(contract.codec, undefined);
  t.notOk(isStandardSchema(contract.client));
  t.notOk(isStandardSchema(contract.server));
  t.equal(contract.client, type<unknown>(), 'the shared marker');
  t.equal(defineContract({ name: 'text', codec: textCodec() }).server, type<unknown>());
});

t.test('refuses a name that is not a token, a codec without methods, a bad spec', async (t) => {
  for (const name of ['', 'chat v2', 'chat,v2', 'chät', '"chat"']) {
    t.throws(() => defineContract({ name }), TypeError, JSON.stringify(name));
  }
  t.throws(
    () =>
      defineContract({
        name: 'x',
        codec: { decode: () => 1 } as unknown as ReturnType<typeof jsonCodec>,
      }),
    TypeError,
  );
  t.throws(
    () => defineContract({ name: 'x', client: {} as unknown as ReturnType<typeof type> }),
    TypeError,
  );
  t.throws(
    () =>
      defineContract({
        name: 'x',
        server: { '~standard': {} } as unknown as ReturnType<typeof type>,
      }),
    TypeError,
  );
});

t.test('isToken follows RFC 7230 tchar', async (t) => {
  t.ok(isToken("a!#$%&'*+-.^_`|~09AZaz"));
  for (const bad of ['', ' ', 'a b', 'a/b', 'a;b', 'a=b', 'a@b', '(a)']) t.notOk(isToken(bad), bad);
});

t.test('the contract sources import nothing from Node', async (t) => {
  const dir = new URL('../src/', import.meta.url);
  for (const file of await readdir(dir)) {
    const source = await readFile(new URL(file, dir), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((match) => match[1]);
    for (const specifier of imports) {
      t.ok(
        specifier?.startsWith('./') || specifier === '@standard-schema/spec',
        `${file} imports ${specifier}`,
      );
    }
  }
});
