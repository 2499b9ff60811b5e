// Unit tests of pigeonhole-client.js's sync loop, against a scripted fake server.
// Run: node --test web/test/   (Node 18+, no npm packages)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PigeonholeClient, PigeonholeError, backoffDelay, memoryStorage, newClientMsgId,
  mergeMessage, messageVersion, eventMessage, putMessage, unreadCount,
} from '../pigeonhole-client.js';

/** A fake fetch: `routes` answers each request (method, path+query, body) in order of arrival. */
function fakeServer(handler) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const u = new URL(url, 'http://h');
    const call = { method: init.method ?? 'GET', path: u.pathname, query: Object.fromEntries(u.searchParams),
      body: init.body ? JSON.parse(init.body) : undefined, auth: init.headers?.Authorization,
      contentType: init.headers?.['Content-Type'], url };
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

// ---- edits, recalls, reactions (docs/message-changes.md) ------------------------------

// Copies of message 12 of room 7 as the server would hand them out.
const v0 = msg(7, 12, 'hello'); // as sent: no version field (0)
const edited = (version, text, extra = {}) => ({ ...msg(7, 12, text), edited_at: '2026-12-03T10:05:00.000Z',
  edit_count: version, version, ...extra });
const tombstone = (version) => {
  const t = { ...msg(7, 12), deleted: true, deleted_at: '2026-12-03T10:09:00.000Z', version };
  delete t.body;
  return t;
};
const change = (type, seq, message) => ({ type, room_id: message.room_id, seq, message });

/** The apply path the header comment gives: every event's message through putMessage. */
function applyAll(rooms, events) {
  for (const ev of events) {
    const m = eventMessage(ev);
    if (!m) continue;
    if (!rooms.has(ev.room_id)) rooms.set(ev.room_id, new Map());
    putMessage(rooms.get(ev.room_id), m);
  }
  return rooms;
}

test('messageVersion: absent is 0', () => {
  assert.equal(messageVersion(v0), 0);
  assert.equal(messageVersion(edited(3, 'x')), 3);
  assert.equal(messageVersion(undefined), 0);
});

test('mergeMessage keeps the higher version whichever arrives first; equal versions keep the incoming', () => {
  const a = edited(1, 'first edit');
  const b = edited(2, 'second edit');
  assert.equal(mergeMessage(a, b), b);
  assert.equal(mergeMessage(b, a), b, 'an older copy arriving later loses');
  assert.equal(mergeMessage(v0, a), a, 'absent version counts as 0');
  assert.equal(mergeMessage(a, v0), a);
  const again = edited(2, 'second edit', { reactions: [{ key: '👍', count: 1, me: true }] });
  assert.equal(mergeMessage(b, again), again, 'equal versions: the incoming copy');
  assert.equal(mergeMessage(undefined, a), a, 'nothing stored: the incoming copy');
  assert.equal(mergeMessage(a, undefined), a);
});

test('mergeMessage: a tombstone is final, even against a copy with a higher version', () => {
  const t = tombstone(2);
  assert.equal(mergeMessage(t, edited(1, 'older edit')), t);
  assert.equal(mergeMessage(t, edited(5, 'a higher version')), t, 'a tombstone is never replaced by text');
  assert.equal(mergeMessage(edited(5, 'x'), t), t, 'a tombstone replaces any copy with text');
  assert.equal(mergeMessage(v0, t), t);
});

test('eventMessage: message and change events carry a message; others none', () => {
  const m = msg(7, 12);
  assert.equal(eventMessage({ type: 'message', room_id: 7, message: m }), m);
  for (const type of ['edit', 'delete', 'reactions']) assert.equal(eventMessage(change(type, 13, m)), m, type);
  assert.equal(eventMessage({ type: 'read', room_id: 7, read_seq: 3 }), null);
  assert.equal(eventMessage({ type: 'member', room_id: 7, action: 'added', user: 'bob' }), null);
  assert.equal(eventMessage({ type: 'future', room_id: 7, message: m }), null, 'unknown types are skipped');
});

test('apply path: the same events twice (a replay after a crash) give the same state', () => {
  const events = [
    { type: 'message', room_id: 7, message: v0 },
    change('edit', 13, edited(1, 'hello, edited')),
    change('reactions', 14, edited(2, 'hello, edited', { reactions: [{ key: '👍', count: 1, me: false }] })),
  ];
  const once = applyAll(new Map(), events);
  const twice = applyAll(applyAll(new Map(), events), events);
  assert.deepEqual(twice, once);
  const kept = once.get(7).get(12);
  assert.equal(kept.body.text, 'hello, edited');
  assert.equal(kept.version, 2);
  assert.equal(once.get(7).size, 1, 'changes are kept under the message seq, not their own');
  // A crash before the cursor moved past the first two: they come again, after the third.
  applyAll(once, events.slice(0, 2));
  assert.deepEqual(once, twice, 'replaying older events changes nothing');
});

test('apply path: a history page read later (higher version) arriving before an older edit event keeps the newer copy', () => {
  const room = new Map();
  // The page, read after the second edit, is applied first...
  for (const m of [msg(7, 11), edited(2, 'second edit')]) putMessage(room, m);
  // ...then a pull page read earlier hands over the message and its first edit.
  applyAll(new Map([[7, room]]), [
    { type: 'message', room_id: 7, message: v0 },
    change('edit', 13, edited(1, 'first edit')),
  ]);
  assert.equal(room.get(12).body.text, 'second edit');
  assert.equal(room.get(12).version, 2);
  assert.equal(room.get(11).body.text, 'm11');
  // And the other way round gives the same.
  const other = new Map();
  applyAll(new Map([[7, other]]), [{ type: 'message', room_id: 7, message: v0 }, change('edit', 13, edited(1, 'first edit'))]);
  for (const m of [msg(7, 11), edited(2, 'second edit')]) putMessage(other, m);
  assert.deepEqual(other.get(12), room.get(12));
});

test('apply path: a tombstone, then an older edit or page, stays a tombstone with no text', () => {
  const room = new Map();
  const rooms = new Map([[7, room]]);
  applyAll(rooms, [change('delete', 15, tombstone(3))]); // a change of a message not held yet is kept
  applyAll(rooms, [{ type: 'message', room_id: 7, message: v0 }, change('edit', 13, edited(1, 'secret draft'))]);
  putMessage(room, edited(2, 'secret draft, v2')); // a history page read before the recall
  const kept = room.get(12);
  assert.equal(kept.deleted, true);
  assert.equal('body' in kept, false, 'no text survives in the tombstone');
  assert.ok(!JSON.stringify([...room.values()]).includes('secret'), 'the text is nowhere in the state');
});

test('apply path: reactions with `me`, the newest count wins and a replayed older count does not', () => {
  const room = new Map();
  const rooms = new Map([[7, room]]);
  const mine = edited(1, 'hello', { reactions: [{ key: '👍', count: 1, me: true }] });
  const both = edited(2, 'hello', { reactions: [{ key: '❤️', count: 1, me: false }, { key: '👍', count: 2, me: true }] });
  const gone = edited(3, 'hello', { reactions: [{ key: '❤️', count: 1, me: false }] });
  applyAll(rooms, [change('reactions', 13, both), change('reactions', 14, gone), change('reactions', 13, both),
    change('reactions', 12, mine)]);
  assert.deepEqual(room.get(12).reactions, [{ key: '❤️', count: 1, me: false }], 'my 👍 is gone: the newest copy');
  applyAll(rooms, [change('reactions', 15, edited(4, 'hello', {}))]);
  assert.equal(room.get(12).reactions, undefined, 'no reactions left: the field is absent');
});

test('unreadCount counts messages above the read marker, never changes', () => {
  // A room: messages 1-4, then an edit (seq 5) and a reaction (seq 6) of message 2,
  // then message 7 and its recall (seq 8). Held message seqs: 1, 2, 3, 4, 7.
  const seqs = [1, 2, 3, 4, 7];
  assert.equal(unreadCount(0, seqs), 5);
  assert.equal(unreadCount(4, seqs), 1, 'seqs 5 and 6 are changes: not counted');
  assert.equal(unreadCount(6, seqs), 1, 'the recalled message 7 counts until read');
  assert.equal(unreadCount(7, seqs), 0);
  assert.equal(unreadCount(8, seqs), 0);
  // The same room from a first screen read at last_seq 6 with read_seq 1: the server
  // counted 3 unread (messages 2, 3, 4); held: its preview (3, 4) and message 7 since.
  const baseline = { unread: 3, last_seq: 6, read_seq: 1 };
  assert.equal(unreadCount(1, [3, 4, 7], baseline), 4, "the baseline's 3, and message 7");
  assert.equal(unreadCount(1, [2, 3, 4, 7], baseline), 4, 'a held message the baseline counted is not counted twice');
  assert.equal(unreadCount(6, [3, 4, 7], baseline), 1, 'read past the baseline: only the newer messages');
  assert.equal(unreadCount(3, [3, 4, 7], baseline), 2, 'read part of the way: what is held of the rest (4), and 7');
  assert.equal(unreadCount(8, [3, 4, 7], baseline), 0);
});

test('editMessage, deleteMessage, react and unreact: method, path (key percent-encoded), body; resolve with the message', async () => {
  const answers = [];
  const { fetch, calls } = fakeServer((call, n) => {
    const a = { ...edited(n, `answer ${n}`), reactions: [{ key: '👍', count: 1, me: true }] };
    answers.push(a);
    return [200, a];
  });
  const c = client(fetch);
  assert.deepEqual(await c.editMessage(7, 12, { text: 'fixed' }), answers[0]);
  assert.deepEqual(await c.deleteMessage(7, 12), answers[1]);
  assert.deepEqual(await c.react(7, 12, '👍'), answers[2]);
  assert.deepEqual(await c.unreact(7, 12, '❤️'), answers[3]);
  await c.react(7, 12, 'a/b?c#d%');
  await c.unreact(7, 12, ':+1:');
  assert.deepEqual(calls.map((x) => [x.method, x.url, x.body]), [
    ['PATCH', 'http://h/v1/rooms/7/messages/12', { body: { text: 'fixed' } }],
    ['DELETE', 'http://h/v1/rooms/7/messages/12', undefined],
    ['PUT', 'http://h/v1/rooms/7/messages/12/reactions/%F0%9F%91%8D', undefined],
    ['DELETE', 'http://h/v1/rooms/7/messages/12/reactions/%E2%9D%A4%EF%B8%8F', undefined],
    ['PUT', 'http://h/v1/rooms/7/messages/12/reactions/a%2Fb%3Fc%23d%25', undefined],
    ['DELETE', 'http://h/v1/rooms/7/messages/12/reactions/%3A%2B1%3A', undefined],
  ]);
  assert.ok(calls.every((x) => x.auth === 'Bearer ph_test'));
  assert.equal(calls[0].contentType, 'application/json');
  assert.ok(calls.slice(1).every((x) => x.contentType === undefined), 'no body, no Content-Type');
});

test('a refused change rejects with a PigeonholeError carrying the code', async () => {
  const refusals = {
    PATCH: [403, { error: { code: 'edit_window_closed', message: 'too late' } }],
    DELETE: [409, { error: { code: 'message_deleted', message: 'recalled' } }],
    PUT: [409, { error: { code: 'reaction_limit', message: '20 keys' } }],
  };
  const { fetch } = fakeServer((call) => refusals[call.method]);
  const c = client(fetch);
  const refused = (status, code) => (e) => e instanceof PigeonholeError && e.status === status && e.code === code && !e.retryable;
  await assert.rejects(c.editMessage(7, 12, 'x'), refused(403, 'edit_window_closed'));
  await assert.rejects(c.deleteMessage(7, 12), refused(409, 'message_deleted'));
  await assert.rejects(c.react(7, 12, '👍'), refused(409, 'reaction_limit'));
  await assert.rejects(c.unreact(7, 12, '👍'), refused(409, 'message_deleted'));
  const down = client(fakeServer(() => new TypeError('refused')).fetch);
  await assert.rejects(down.react(7, 12, '👍'), (e) => e instanceof PigeonholeError && e.status === 0 && e.retryable);
});
