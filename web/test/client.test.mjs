// Unit tests of pigeonhole-client.js's sync loop, against a scripted fake server.
// Run: node --test web/test/   (Node 18+, no npm packages)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PigeonholeClient, PigeonholeError, backoffDelay, memoryStorage, newClientMsgId } from '../pigeonhole-client.js';

/** A fake fetch: `routes` answers each request (method, path+query, body) in order of arrival. */
function fakeServer(handler) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const u = new URL(url, 'http://h');
    const call = { method: init.method ?? 'GET', path: u.pathname, query: Object.fromEntries(u.searchParams),
      body: init.body ? JSON.parse(init.body) : undefined, auth: init.headers?.Authorization };
    calls.push(call);
    // Like a real fetch, an abort (stop(), a timeout) rejects a request still waiting.
    const aborted = new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    const r = await Promise.race([handler(call, calls.length), aborted]);
    if (r instanceof Error) throw r;
    const [status, body, headers = {}] = r;
    return {
      status,
      headers: { get: (n) => headers[n] ?? null },
      text: async () => (body === undefined ? '' : JSON.stringify(body)),
    };
  };
  return { fetch, calls };
}

const page = (cursor, conversations = []) => ({ conversations, cursor });
const msg = (room, seq, text = `m${seq}`) => ({ id: seq, room_id: room, seq, sender: 'bob', sender_device_id: 1,
  client_msg_id: `c${seq}`, body: { text }, sent_at: '2026-12-03T10:00:00.000Z' });
const never = () => new Promise(() => {});

function client(fetch, extra = {}) {
  const sleeps = [];
  const c = new PigeonholeClient({
    token: 'ph_test', baseUrl: 'http://h', fetch, WebSocket: null, storage: memoryStorage(), random: () => 0.5,
    sleep: async (ms) => { sleeps.push(ms); await new Promise((r) => setTimeout(r, 1)); }, ...extra,
  });
  c.sleeps = sleeps;
  return c;
}

function until(what, fn, ms = 2000) {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (fn()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 2);
    };
    tick();
  });
}

test('without a cursor it bootstraps from the first screen, then pulls from its cursor', async () => {
  const { fetch, calls } = fakeServer((c) => {
    if (c.path === '/v1/conversations') return [200, page('C1', [{ id: 1 }])];
    if (c.path === '/v1/sync' && c.query.cursor === 'C1' && c.query.timeout === '0') return [200, { events: [], cursor: 'C1', has_more: false }];
    return never();
  });
  const c = client(fetch);
  const screens = [];
  c.on('firstScreen', (p, info) => screens.push([p.cursor, info.expired]));
  c.start();
  await until('two pulls', () => calls.filter((x) => x.path === '/v1/sync').length >= 2);
  c.stop();
  assert.deepEqual(screens, [['C1', false]]);
  assert.equal(c.cursor, 'C1');
  assert.equal(calls[0].auth, 'Bearer ph_test');
  const pulls = calls.filter((x) => x.path === '/v1/sync');
  assert.equal(pulls[0].query.timeout, '0', 'catches up at once');
  assert.equal(pulls[1].query.timeout, '25', 'then long-polls (no socket)');
});

test('a stored cursor is used as is; events are handed over before the cursor moves; has_more pulls again at once', async () => {
  const { fetch, calls } = fakeServer((c) => {
    if (c.query.cursor === 'A') return [200, { events: [{ type: 'message', room_id: 1, message: msg(1, 1) }], cursor: 'B', has_more: true }];
    if (c.query.cursor === 'B') return [200, { events: [{ type: 'read', room_id: 1, read_seq: 1 }], cursor: 'C', has_more: false }];
    return never();
  });
  const c = client(fetch);
  c.cursor = 'A';
  const seen = [];
  c.on('events', (events) => seen.push([events[0].type, c.cursor]));
  c.start();
  await until('the pull from C', () => calls.some((x) => x.query.cursor === 'C'));
  c.stop();
  assert.ok(!calls.some((x) => x.path === '/v1/conversations'), 'no bootstrap with a stored cursor');
  assert.deepEqual(seen, [['message', 'A'], ['read', 'B']]);
  assert.equal(calls[1].query.timeout, '0', 'has_more: pull again without waiting');
  assert.equal(c.status, 'idle');
});

test('410 cursor_expired restarts from the first_screen it carries', async () => {
  const { fetch, calls } = fakeServer((c) => {
    if (c.query.cursor === 'OLD') {
      return [410, { error: { code: 'cursor_expired', message: 'pruned' }, first_screen: page('FRESH', [{ id: 7 }]) }];
    }
    if (c.query.cursor === 'FRESH' && c.query.timeout === '0') return [200, { events: [], cursor: 'FRESH', has_more: false }];
    return never();
  });
  const c = client(fetch);
  c.cursor = 'OLD';
  const screens = [];
  c.on('firstScreen', (p, info) => screens.push([p.conversations[0].id, info.expired]));
  c.start();
  await until('a pull from FRESH', () => calls.some((x) => x.query.cursor === 'FRESH'));
  c.stop();
  assert.deepEqual(screens, [[7, true]]);
  assert.equal(c.cursor, 'FRESH');
  assert.ok(!calls.some((x) => x.path === '/v1/conversations'), 'one round trip: no extra first-screen request');
});

test('400 invalid_cursor bootstraps again from a fresh first screen', async () => {
  const { fetch, calls } = fakeServer((c) => {
    if (c.query.cursor === 'BAD') return [400, { error: { code: 'invalid_cursor', message: 'no' } }];
    if (c.path === '/v1/conversations') return [200, page('NEW')];
    if (c.query.cursor === 'NEW' && c.query.timeout === '0') return [200, { events: [], cursor: 'NEW', has_more: false }];
    return never();
  });
  const c = client(fetch);
  c.cursor = 'BAD';
  c.start();
  await until('a pull from NEW', () => calls.some((x) => x.query.cursor === 'NEW'));
  c.stop();
  assert.equal(c.cursor, 'NEW');
});

test('a server that keeps refusing the cursors it hands out is asked again later and later, not in a loop', async () => {
  // Every first screen's cursor is refused (as for a user in too many hot rooms once).
  let screens = 0;
  const { fetch, calls } = fakeServer((c) => {
    if (c.path === '/v1/conversations') { screens++; return [200, page(`C${screens}`)]; }
    if (c.path === '/v1/sync') return [400, { error: { code: 'invalid_cursor', message: 'cursor too long' } }];
    return never();
  });
  const c = client(fetch);
  c.start();
  await until('five restarts', () => screens >= 5);
  c.stop();
  // The first restart goes on at once; each one after it waits, longer each time
  // (backoffDelay with random 0.5: 375, 750, 1500, ... ms).
  const waits = c.sleeps.slice(0, 4);
  assert.equal(waits.length, 4, `waits: ${c.sleeps}`);
  assert.deepEqual(waits, [375, 750, 1500, 3000]);
  assert.ok(calls.filter((x) => x.path === '/v1/conversations').length <= 6);
});

test('401 stops everything: status unauthorized, no further requests', async () => {
  const { fetch, calls } = fakeServer(() => [401, { error: { code: 'unauthorized', message: 'no' } }]);
  const c = client(fetch);
  c.cursor = 'A';
  let unauthorized = 0;
  c.on('unauthorized', () => unauthorized++);
  c.start();
  await until('unauthorized', () => c.status === 'unauthorized');
  const n = calls.length;
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(calls.length, n);
  assert.equal(unauthorized, 1);
  assert.equal(c.running, false);
});

test('network failures back off with growing, jittered delays and end in offline; then live again', async () => {
  let fail = 5;
  const { fetch } = fakeServer((c) => {
    if (fail > 0) { fail--; return new TypeError('connection refused'); }
    if (c.query.timeout === '0') return [200, { events: [], cursor: 'A', has_more: false }];
    return never();
  });
  const c = client(fetch);
  c.cursor = 'A';
  const statuses = [];
  c.on('status', (s) => statuses.push(s));
  c.start();
  await until('live', () => c.status === 'live');
  c.stop();
  assert.deepEqual(c.sleeps, [375, 750, 1500, 3000, 6000]); // random() = 0.5: 3/4 of the full delay
  assert.deepEqual(statuses, ['connecting', 'reconnecting', 'offline', 'live', 'idle']);
});

test('backoffDelay stays between half and all of min(cap, base * 2^(n-1))', () => {
  for (let n = 1; n < 30; n++) {
    const full = Math.min(15000, 500 * 2 ** (n - 1));
    assert.equal(backoffDelay(n, { random: () => 0 }), full / 2);
    assert.equal(backoffDelay(n, { random: () => 0.999999 }), Math.round(full / 2 + 0.999999 * full / 2));
  }
});

test('a 429 on pull waits Retry-After (retry_after_ms)', async () => {
  let first = true;
  const { fetch } = fakeServer((req) => {
    if (first) { first = false; return [429, { error: { code: 'rate_limited', message: 'slow', retry_after_ms: 1234 } }, { 'Retry-After': '2' }]; }
    return req.query.timeout === '0' ? [200, { events: [], cursor: 'A', has_more: false }] : never();
  });
  const c = client(fetch);
  c.cursor = 'A';
  c.start();
  await until('live', () => c.status === 'live');
  c.stop();
  assert.deepEqual(c.sleeps.slice(0, 1), [1234]);
});

test('send: a network failure resends the same request; a 429 waits Retry-After; stored once', async () => {
  const stored = new Map();
  let attempt = 0;
  const { fetch, calls } = fakeServer((c) => {
    if (c.path === '/v1/sync') return never();
    attempt++;
    if (attempt === 1) return new TypeError('connection refused');
    if (attempt === 2) return [429, { error: { code: 'rate_limited', message: 'slow', retry_after_ms: 800 } }, { 'Retry-After': '1' }];
    if (attempt === 3) { stored.set(c.body.client_msg_id, c.body); return new TypeError('response lost'); }
    const duplicate = stored.has(c.body.client_msg_id);
    stored.set(c.body.client_msg_id, c.body);
    return [duplicate ? 200 : 201, { ...msg(1, 1, c.body.body.text), client_msg_id: c.body.client_msg_id, duplicate }];
  });
  const c = client(fetch);
  c.cursor = 'A';
  c.start();
  const queued = [];
  c.on('queued', (item) => queued.push(item.client_msg_id));
  const result = await c.send(1, { text: 'hi' }, { clientMsgId: 'fixed-1' });
  c.stop();
  const sends = calls.filter((x) => x.path === '/v1/rooms/1/messages');
  assert.equal(sends.length, 4);
  assert.ok(sends.every((x) => x.body.client_msg_id === 'fixed-1' && x.body.body.text === 'hi'));
  assert.equal(stored.size, 1);
  assert.equal(result.client_msg_id, 'fixed-1');
  assert.ok(c.sleeps.includes(800), `waited Retry-After: ${c.sleeps}`);
  assert.deepEqual(c.outbox, []);
  assert.deepEqual(queued, ['fixed-1']);
});

test('the outbox is stored: a new client on the same storage sends what was left, in order', async () => {
  const storage = memoryStorage();
  const down = fakeServer((c) => (c.path === '/v1/sync' ? never() : new TypeError('refused')));
  const c1 = client(down.fetch, { storage });
  c1.cursor = 'A';
  c1.start();
  c1.send(1, { text: 'first' }).catch(() => {});
  c1.send(1, { text: 'second' }).catch(() => {});
  await until('a refused send', () => down.calls.some((x) => x.method === 'POST'));
  c1.stop();
  assert.deepEqual(c1.outbox.map((x) => x.body.text), ['first', 'second']);

  const got = [];
  const up = fakeServer((c) => {
    if (c.path === '/v1/sync') return never();
    got.push(c.body.body.text);
    return [201, msg(1, got.length, c.body.body.text)];
  });
  const c2 = client(up.fetch, { storage });
  const sent = [];
  c2.on('sent', (m) => sent.push(m.body.text));
  c2.start();
  await until('both sent', () => sent.length === 2);
  c2.stop();
  assert.deepEqual(got, ['first', 'second']);
  assert.deepEqual(c2.outbox, []);
});

test('a permanent refusal (409) rejects and leaves the outbox', async () => {
  const { fetch } = fakeServer((c) => (c.path === '/v1/sync' ? never()
    : [409, { error: { code: 'idempotency_conflict', message: 'different body' } }]));
  const c = client(fetch);
  c.cursor = 'A';
  c.start();
  await assert.rejects(c.send(1, 'x'), (e) => e instanceof PigeonholeError && e.code === 'idempotency_conflict');
  c.stop();
  assert.deepEqual(c.outbox, []);
});

test('with a socket: it opens with a single-use ticket (never the token in a URL), ready/mail trigger timeout=0 pulls, close falls back to long-poll', async () => {
  const sockets = [];
  class FakeSocket {
    constructor(url) { this.url = url; sockets.push(this); }
    close() { this.onclose?.(); }
    frame(obj) { this.onmessage?.({ data: JSON.stringify(obj) }); }
  }
  let n = 0;
  let tickets = 0;
  const { fetch, calls: all } = fakeServer((c) => {
    if (c.path === '/v1/notify/ticket' && c.method === 'POST') { tickets++; return [201, { ticket: `pht_${tickets}`, expires_in_s: 30 }]; }
    if (c.path !== '/v1/sync') return never();
    n++;
    if (c.query.timeout === '25') return never();
    return [200, { events: n === 2 ? [{ type: 'message', room_id: 1, message: msg(1, 1) }] : [], cursor: `K${n}`, has_more: false }];
  });
  const pulls = () => all.filter((x) => x.path === '/v1/sync');
  const c = client(fetch, { WebSocket: FakeSocket });
  c.cursor = 'K0';
  const events = [];
  c.on('events', (e) => events.push(...e));
  c.start();
  await until('the socket', () => sockets.length === 1);
  assert.equal(sockets[0].url, 'ws://h/v1/notify?ticket=pht_1');
  assert.equal(all.find((x) => x.path === '/v1/notify/ticket').auth, 'Bearer ph_test', 'the ticket is fetched with the bearer token');
  sockets[0].frame({ type: 'ready', cursor: 'X' }); // while the catch-up pull is in flight
  await until('the pull after ready', () => pulls().length >= 2 && events.length === 1);
  assert.equal(c.status, 'live');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(pulls().length, 2, 'no pull without mail');
  sockets[0].frame({ type: 'mail', cursor: 'Y' });
  await until('a pull after mail', () => pulls().length >= 3);
  assert.ok(pulls().slice(0, 3).every((x) => x.query.timeout === '0'), 'socket mode pulls with timeout=0');
  assert.ok(all.every((x) => !('access_token' in x.query) && !x.path.includes('ph_test')), 'the token never goes in a URL');
  sockets[0].onclose();
  await until('a long-poll once the socket closed', () => pulls().some((x) => x.query.timeout === '25'));
  // The next socket asks for a ticket of its own: each works once.
  await until('a second socket', () => sockets.length === 2, 3000);
  assert.equal(sockets[1].url, 'ws://h/v1/notify?ticket=pht_2');
  c.stop();
});

test('newClientMsgId is 1-64 printable ASCII characters and unique', () => {
  const ids = new Set(Array.from({ length: 1000 }, newClientMsgId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^[!-~]{1,64}$/);
});
