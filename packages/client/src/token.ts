/**
 * The credential carrier: browsers cannot set an `Authorization` header on a WebSocket, so the
 * token travels as one more offered subprotocol, `<prefix><base64url(token)>` (the scheme
 * Kubernetes uses). The server removes it before selecting and never echoes it.
 * @module
 */
import { isToken } from '@wsroute/contract';

/** The default prefix of the token's subprotocol. */
export const DEFAULT_TOKEN_PREFIX = 'base64url.bearer.';

/**
 * Encodes a token as a subprotocol: the prefix, then the token's UTF-8 bytes in base64url
 * (RFC 4648 §5) without padding, so the result is an RFC 7230 token.
 * @param token - the credential, a non-empty string
 * @param prefix - what precedes the encoded token
 * @default prefix `'base64url.bearer.'`
 * @returns the subprotocol to offer
 * @throws TypeError for an empty token or a prefix that is not a token
 */
export function encodeTokenProtocol(token: string, prefix: string = DEFAULT_TOKEN_PREFIX): string {
  if (typeof token !== 'string' || token === '') throw new TypeError('token must not be empty');
  if (!isToken(prefix))
    throw new TypeError(`token prefix ${JSON.stringify(prefix)} is not a token`);
  let binary = '';
  for (const byte of new TextEncoder().encode(token)) binary += String.fromCharCode(byte);
  return prefix + btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
