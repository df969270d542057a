/**
 * Starts the example echo server (examples/echo/echo.mjs) in-process on 127.0.0.1:0, the
 * server that conformance tools are pointed at.
 */
import type { Test } from 'tap';

/** What examples/echo/echo.mjs exports (it is plain JavaScript, so its type is declared here). */
interface EchoModule {
  startEchoServer(options: {
    port: number;
    host?: string;
    deflate?: boolean;
    adapter?: string;
  }): Promise<{ port: number; close(): Promise<void> }>;
}

const ECHO_MODULE = new URL('../../examples/echo/echo.mjs', import.meta.url).href;

/** A running echo server. */
export interface EchoServer {
  readonly port: number;
  /** Graceful shutdown (1001 to every client); safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Starts the echo server; it is closed on the test's teardown.
 * @param t - the owning test
 * @returns its port and an idempotent close
 */
export async function startEcho(t: Test): Promise<EchoServer> {
  const { startEchoServer } = (await import(ECHO_MODULE)) as EchoModule;
  const server = await startEchoServer({ port: 0 });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= server.close();
    return closing;
  };
  t.teardown(close);
  return { port: server.port, close };
}
