/** npchat-relay client SDK: keys, posting, and the owner's connection. Node and browsers. */
export { decodeB64url, encodeB64url } from './b64url.js';
export {
  fromKeyFile,
  generateKeys,
  inboxIdOf,
  keysFromPkcs8,
  keysFromPrivate,
  signPost,
  solveChallenge,
  toKeyFile,
  type KeyFile,
  type OwnerKeys,
} from './keys.js';
export { post, RelayRequestError, type PostOptions, type PostResult } from './post.js';
export {
  connect,
  inboxSocketUrl,
  RelayConnection,
  RelayConnectionError,
  type ConnectOptions,
  type RelayMessage,
  type WebSocketConstructor,
  type WebSocketLike,
} from './connection.js';
export {
  fetchKeyBundle,
  fetchShareable,
  OwnerSession,
  type FetchedMessage,
  type HandedBundle,
  type InboxPolicy,
  type KeyBundle,
  type PreKey,
} from './owner.js';
