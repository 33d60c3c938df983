/** The CLI end to end: keygen, id, listen in a child process, send, usage errors. */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromKeyFile } from '../../src/client/keys.js';
import { runMain, spawnRelay } from '../helpers/spawn.js';
import { tempDir } from '../helpers/cleanup.js';

const dir = tempDir('npchat-cli-');
let relay: Awaited<ReturnType<typeof spawnRelay>>;
beforeAll(async () => {
  relay = await spawnRelay();
});
afterAll(async () => {
  relay.child.proc.kill('SIGTERM');
  await relay.child.exited;
});

/** A new key file (made by keygen) and its inbox URL (from id) on the test relay. */
async function newInbox(name: string): Promise<{ keyFile: string; inbox: string }> {
  const keyFile = join(dir, name);
  expect(await runMain(['keygen', '--out', keyFile]).exited).toBe(0);
  const id = runMain(['id', keyFile]);
  expect(await id.exited).toBe(0);
  return { keyFile, inbox: `${relay.url}/${id.stdout().trim()}` };
}

describe('CLI', () => {
  it('keygen writes a valid key file (mode 600) and id prints its inbox id', async () => {
    const keyFile = join(dir, 'k1.json');
    expect(await runMain(['keygen', '--out', keyFile]).exited).toBe(0);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const keys = fromKeyFile(JSON.parse(readFileSync(keyFile, 'utf8')));
    const id = runMain(['id', keyFile]);
    expect(await id.exited).toBe(0);
    expect(id.stdout().trim()).toBe(keys.id);
  });

  it('keygen without --out prints the key file', async () => {
    const c = runMain(['keygen']);
    expect(await c.exited).toBe(0);
    expect(fromKeyFile(JSON.parse(c.stdout())).id).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('listen prints one line per message: stored, then live, text and JSON', async () => {
    const { keyFile, inbox } = await newInbox('k2.json');
    const sent = runMain(['send', inbox, 'stored before listening']);
    expect(await sent.exited).toBe(0);
    expect(JSON.parse(sent.stdout())).toMatchObject({ message: 'sent' });

    const listen = runMain(['listen', '--key', keyFile, relay.url]);
    expect(await listen.line(/^stored before listening$/)).toBeTruthy();
    const piped = runMain(['send', inbox, '-']);
    piped.proc.stdin!.end('line one\nline two');
    expect(await piped.exited).toBe(0);
    expect(await listen.line(/^line one\\nline two$/)).toBeTruthy();
    listen.proc.kill('SIGINT');
    expect(await listen.exited).toBe(0);

    const json = runMain(['listen', '--json', '--key', keyFile, relay.url]);
    await new Promise((r) => setTimeout(r, 50));
    const bin = runMain(['send', '--binary', inbox, 'bytes']);
    await bin.exited;
    const line = await json.line(/binary/);
    expect(JSON.parse(line)).toEqual({ data: 'Ynl0ZXM', binary: true });
    json.proc.kill('SIGTERM');
    await json.exited;
  });

  it.each([
    [['frobnicate']],
    [['id']],
    [['listen', 'http://x']],
    [['send', 'http://x']],
    [['keygen', 'extra']],
    [['send', '--ttl', 'soon', 'http://127.0.0.1:1/x', 'hi']],
  ])('usage error %j prints help and exits 2', async (args) => {
    const c = runMain(args);
    expect(await c.exited).toBe(2);
    expect(c.stderr()).toContain('Usage:');
  });

  it('a bad setting exits 2 with one sentence', async () => {
    const c = runMain(['--port', 'x']);
    expect(await c.exited).toBe(2);
    expect(c.stderr().trim().split('\n')).toHaveLength(1);
    expect(c.stderr()).toMatch(/NPCHAT_PORT/);
  });

  it('--help lists every setting', async () => {
    const c = runMain(['--help']);
    expect(await c.exited).toBe(0);
    for (const env of [
      'NPCHAT_PORT',
      'NPCHAT_MSG_TTL',
      'NPCHAT_FRESHKEY',
      'NPCHAT_MAX_BUFFERED_BYTES',
      'NPCHAT_CONFIG',
    ]) {
      expect(c.stdout()).toContain(env);
    }
  });

  it('send reports a relay error and exits 1', async () => {
    const c = runMain(['send', `${relay.url}/not-an-id`, 'hi']);
    expect(await c.exited).toBe(1);
    expect(c.stderr()).toContain('invalid_id');
  });

  it('a message cannot drive the terminal: controls, DEL, C1 and bidi overrides print escaped', async () => {
    const { keyFile, inbox } = await newInbox('k-term.json');
    // Clear screen, retitle, bell, carriage return, backspace, DEL, 8-bit CSI, RTL override.
    const hostile = 'a\x1b[2J\x1b]0;pwned\x07b\rc\x08d\x7fe\u009b31mf\u202eg\\h\ti';
    // eslint-disable-next-line no-control-regex -- looking for raw control characters
    const raw = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
    for (const json of [false, true]) {
      expect((await fetch(inbox, { method: 'POST', body: hostile })).status).toBe(200);
      const args = ['fetch', '--once', ...(json ? ['--json'] : []), '--key', keyFile, relay.url];
      const fetched = runMain(args);
      expect(await fetched.exited).toBe(0);
      expect(fetched.stdout()).not.toMatch(raw);
      if (json) {
        expect(JSON.parse(fetched.stdout())).toEqual({ data: hostile });
      } else {
        expect(fetched.stdout()).toBe(
          'a\\u001b[2J\\u001b]0;pwned\\u0007b\\rc\\u0008d\\u007fe\\u009b31mf\\u202eg\\\\h\\ti\n',
        );
      }
    }
  });

  it('login prints a token; fetch prints and acks over the owner API; keys counts prekeys', async () => {
    const { keyFile, inbox } = await newInbox('k-owner.json');
    const login = runMain(['login', '--key', keyFile, relay.url]);
    expect(await login.exited).toBe(0);
    const token = login.stdout().trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const res = await fetch(`${inbox}/messages`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);

    for (const text of ['first', 'second\nline']) {
      expect(await runMain(['send', inbox, text]).exited).toBe(0);
    }
    const fetched = runMain(['fetch', '--once', '--key', keyFile, relay.url]);
    expect(await fetched.exited).toBe(0);
    expect(fetched.stdout()).toBe('first\nsecond\\nline\n');
    // acknowledged: nothing the second time
    const again = runMain(['fetch', '--once', '--json', '--key', keyFile, relay.url]);
    expect(await again.exited).toBe(0);
    expect(again.stdout()).toBe('');

    // without --once it long-polls until a message comes, prints it, and stops on SIGINT
    const polling = runMain(['fetch', '--key', keyFile, relay.url]);
    await new Promise((r) => setTimeout(r, 500));
    await runMain(['send', inbox, 'while polling']).exited;
    expect(await polling.line(/^while polling$/)).toBeTruthy();
    polling.proc.kill('SIGINT');
    expect(await polling.exited).toBe(0);

    const keys = runMain(['keys', '--key', keyFile, relay.url]);
    expect(await keys.exited).toBe(0);
    expect(JSON.parse(keys.stdout())).toEqual({ count: 0 });
    const usage = runMain(['fetch', relay.url]);
    expect(await usage.exited).toBe(2);
  });

  it('policy sets who may post; send --sign is accepted and fetch --json shows from', async () => {
    const ownerFile = join(dir, 'k-policy-owner.json');
    const friendFile = join(dir, 'k-policy-friend.json');
    await Promise.all([
      runMain(['keygen', '--out', ownerFile]).exited,
      runMain(['keygen', '--out', friendFile]).exited,
    ]);
    const friendId = fromKeyFile(JSON.parse(readFileSync(friendFile, 'utf8'))).id;
    const ownerId = fromKeyFile(JSON.parse(readFileSync(ownerFile, 'utf8'))).id;
    const inbox = `${relay.url}/${ownerId}`;
    const set = runMain(['policy', '--key', ownerFile, '--accept', friendId, relay.url]);
    expect(await set.exited).toBe(0);
    expect(JSON.parse(set.stdout())).toEqual({ requireSignature: false, acceptFrom: [friendId] });
    const anonymous = runMain(['send', inbox, 'from nobody']);
    expect(await anonymous.exited).toBe(1);
    expect(anonymous.stderr()).toMatch(/refused|policy/i);
    expect(await runMain(['send', '--sign', friendFile, inbox, 'from a friend']).exited).toBe(0);
    const fetched = runMain(['fetch', '--once', '--json', '--key', ownerFile, relay.url]);
    expect(await fetched.exited).toBe(0);
    expect(JSON.parse(fetched.stdout())).toEqual({ data: 'from a friend', from: friendId });
    const show = runMain(['policy', '--key', ownerFile, relay.url]);
    expect(await show.exited).toBe(0);
    expect(JSON.parse(show.stdout()).acceptFrom).toEqual([friendId]);
  });
});
