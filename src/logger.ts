/**
 * pino, JSON to stdout (or a given stream). Privacy rules (DESIGN.md): never
 * bodies, tokens or full keys; no (address, inbox) pairs at info level.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, name: 'npchat-relay' }, destination ?? pino.destination(1));
}
