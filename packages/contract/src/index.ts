/** The Standard Schema interface, re-exported for hand-written schemas. */
export type { StandardSchemaV1 } from '@standard-schema/spec';
export { type Codec, jsonCodec, textCodec, type WireData } from './codec.js';
export {
  type AnyContract,
  type ClientMessage,
  type ClientMessageInput,
  type Contract,
  type ContractDefinition,
  type ContractName,
  type DefaultSpec,
  defineContract,
  type InferMessage,
  type InferMessageInput,
  isStandardSchema,
  isToken,
  type MessageSpec,
  type ServerMessage,
  type ServerMessageInput,
  type TypeMarker,
  type,
} from './contract.js';
export {
  checkMessage,
  type ValidationIssue,
  type ValidationResult,
  validateMessage,
} from './validation.js';
