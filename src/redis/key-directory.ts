/** Challenge public keys shared through Redis: `P ckey:<key id>` = SPKI DER, with an expiry. */
import type { KeyDirectory } from '../auth/keyring.js';
import type { RedisClient } from './connect.js';
import { challengeKeyKey } from './keys.js';

export class RedisKeyDirectory implements KeyDirectory {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async publish(keyId: string, spki: Buffer, untilMs: number): Promise<void> {
    await this.redis.set(
      challengeKeyKey(this.prefix, keyId),
      spki,
      'PX',
      Math.max(untilMs - Date.now(), 1),
    );
  }

  lookup(keyId: string): Promise<Buffer | null> {
    return this.redis.getBuffer(challengeKeyKey(this.prefix, keyId));
  }
}
