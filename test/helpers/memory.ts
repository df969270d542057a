/**
 * Memory measurements for tests that bound what a peer can make the server hold.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Runs a full garbage collection, so that rss shows memory still held rather than garbage not
 * yet collected. tap starts the process, so `--expose-gc` is set here, at run time.
 */
export function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** The process's resident set size after a full garbage collection, in bytes. */
export function settledRss(): number {
  collectGarbage();
  return process.memoryUsage().rss;
}
