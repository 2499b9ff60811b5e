// pigeonhole-client.js: the reference sync client for Pigeonhole (openapi.yaml is the
// contract). One ES module, no dependencies; runs in a browser and in Node 18+ (pass
// `WebSocket` where there is no global one; without it the client long-polls).
//
// The sync loop, done right:
//   - one stored cursor (storage: anything with getItem/setItem/removeItem, e.g.
//     localStorage); events are handed to you BEFORE the cursor moves past them, so
//     a crash repeats events but never loses one: apply them idempotently (by room
//     and seq; read markers only move forward);
//   - no cursor yet: bootstrap from the first screen (GET /v1/conversations) and sync
//     from its cursor;
//   - pull GET /v1/sync with has_more (pull again at once while it is true);
//   - "you have mail" (GET /v1/notify WebSocket): a `ready`/`mail` frame triggers a
//     timeout=0 pull; while the socket is not open the client long-polls instead;
//   - failures back off exponentially with jitter; 429/503 wait Retry-After;
//   - 401 stops everything (status "unauthorized"): the token is revoked or wrong;
//   - 410 cursor_expired restarts from the `first_screen` the answer carries, and
//     400 invalid_cursor/cursor_required from a fresh first screen;
//   - sends carry a client_msg_id, wait in a stored outbox (one at a time, in order)
//     and are resent with the same id after a network failure, so the server
//     stores each exactly once.
//
//   const client = new PigeonholeClient({ baseUrl: 'http://127.0.0.1:8080', token, storage: localStorage });
//   client.on('firstScreen', (page) => showConversations(page));   // replace local state
//   client.on('events', (events) => events.forEach(apply));        // messages, changes, reads, members, receipts
//   client.on('status', (s) => indicator.textContent = s);         // connecting, live, reconnecting, offline, unauthorized
//   client.start();
//   await client.send(roomId, { text: 'hello' });                  // resolves with the stored message
//
// Edits, recalls and reactions (docs/message-changes.md): editMessage, deleteMessage,
// react and unreact resolve with the message as the server now has it. Every device,
// the one that made the change included, also gets an event for it, handed over with
// the others: `edit`, `delete` or `reactions`, carrying `message`, the changed message
// as it is now (its `seq` and the event's `room_id` say which one; the event's own `seq`
// is the change's place in the room). A copy of a message reaches you in many ways (the
// send's answer, `message` and change events, previews, history pages, the answers
// above), in any order and more than once: keep each copy through mergeMessage (a
// tombstone is final, else the higher `version` wins), e.g.
//
//   const m = eventMessage(ev);                    // message/edit/delete/reactions, else null
//   if (m) putMessage(messagesOf(ev.room_id), m);  // a Map seq -> message of that room
//
// and apply every history page and preview the same way, so all copies converge.
// Unread counts `message` events (messages, tombstones included) above the read marker,
// never change events: a room's seqs are no longer all messages (see unreadCount).

/** An HTTP answer that was not 2xx (or no answer: status 0). */
export class PigeonholeError extends Error {
  constructor(status, code, message, body = null, retryAfterMs = null) {
    super(message || code || `HTTP ${status}`);
    this.name = 'PigeonholeError';
    this.status = status;
    this.code = code;
    this.body = body;
    this.retryAfterMs = retryAfterMs;
  }
  /** A network failure or a server-side hiccup: the same request may be tried again. */
  get retryable() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/** An in-memory stand-in for localStorage (Node, tests). */
export function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => { m.set(k, String(v)); },
    removeItem: (k) => { m.delete(k); },
  };
}

/** Exponential backoff with jitter: between half and all of min(cap, base * 2^(n-1)). */
export function backoffDelay(failures, { base = 500, cap = 15000, random = Math.random } = {}) {
  const full = Math.min(cap, base * 2 ** Math.max(0, Math.min(failures - 1, 20)));
  return Math.round(full / 2 + random() * (full / 2));
}

/** A fresh client_msg_id: 1-64 printable ASCII characters (here 24 hex digits). */
export function newClientMsgId() {
  const bytes = new Uint8Array(12);
  if (globalThis.crypto?.getRandomValues) globalThis.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A short, stable storage key for a token (the token itself never becomes a key). */
export function tokenKey(token) {
  let h = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) h = Math.imul(h ^ token.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

// ---- messages that change (docs/message-changes.md) ----------------------------------

/** A copy's version: how many changes it has seen (absent = 0). */
export function messageVersion(m) {
  return typeof m?.version === 'number' ? m.version : 0;
}

/**
 * Of two copies of one message, the one to keep, whatever order they arrived in: a
 * tombstone is final (a copy that is not deleted never replaces one that is);
 * otherwise the higher `version`; equal versions keep the incoming copy. Pure: returns
 * one of its arguments, never a mix.
 */
export function mergeMessage(stored, incoming) {
  if (!stored) return incoming;
  if (!incoming) return stored;
  if (stored.deleted && !incoming.deleted) return stored;
  if (incoming.deleted && !stored.deleted) return incoming;
  return messageVersion(incoming) >= messageVersion(stored) ? incoming : stored;
}

/** The event types whose `message` is a change of an earlier message. */
export const CHANGE_EVENT_TYPES = Object.freeze(['edit', 'delete', 'reactions']);

/** The message an event carries (`message`, `edit`, `delete`, `reactions`), else null. */
export function eventMessage(ev) {
  if (!ev || !ev.message || typeof ev.message !== 'object') return null;
  return ev.type === 'message' || CHANGE_EVENT_TYPES.includes(ev.type) ? ev.message : null;
}

/**
 * Keeps `incoming` in `messages` (one room's Map seq -> message) by mergeMessage and
 * returns the copy kept. A change of a message not held yet is kept too: it is the
 * newest copy, and a page read earlier that arrives later must not win over it.
 */
export function putMessage(messages, incoming) {
  const kept = mergeMessage(messages.get(incoming.seq), incoming);
  messages.set(incoming.seq, kept);
  return kept;
}

/**
 * A room's unread count by the contract: the messages above the read marker, tombstones
 * included, changes never. `messageSeqs`: the seqs of the room's messages held locally
 * (from `message` events, pages and previews; a change's `message.seq` is a message's
 * seq too, its event's own `seq` is not). `baseline`: the server's count for the part
 * not held, `{unread, last_seq, read_seq}` as a first-screen conversation gives it
 * (messages up to `last_seq` are counted by it, newer ones from `messageSeqs`).
 */
export function unreadCount(readSeq, messageSeqs, baseline = null) {
  const top = baseline ? baseline.last_seq : 0;
  let above = 0; // held messages above both the marker and the baseline
  let between = 0; // held messages above the marker, at or below the baseline's last_seq
  for (const s of messageSeqs) {
    if (s > readSeq && s > top) above++;
    else if (s > readSeq) between++;
  }
  if (!baseline || readSeq >= top) return above;
  // Read up to where the baseline was taken or less: its count stands. Read part of the
  // way since: what is held of the rest, never more than the baseline counted.
  const counted = readSeq <= (baseline.read_seq ?? 0) ? baseline.unread : Math.min(baseline.unread, between);
  return above + Math.max(0, counted);
}

const defaultSleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

export class PigeonholeClient {
  /**
   * @param {object} o
   * @param {string} o.token          the device's bearer token
   * @param {string} [o.baseUrl]      e.g. 'http://127.0.0.1:8080' ('' = this page's origin)
   * @param {object} [o.storage]      getItem/setItem/removeItem (default: in memory)
   * @param {number} [o.pollTimeout]  long-poll wait in seconds (default 25)
   * @param {Function} [o.fetch], [o.WebSocket], [o.random], [o.sleep]: injectable for tests
   */
  constructor(o) {
    if (!o || !o.token) throw new Error('PigeonholeClient needs a token');
    this.token = o.token;
    this.baseUrl = (o.baseUrl ?? '').replace(/\/$/, '');
    this.storage = o.storage ?? memoryStorage();
    this.pollTimeout = o.pollTimeout ?? 25;
    this.firstScreenLimit = o.firstScreenLimit ?? 20;
    this.preview = o.preview ?? 3;
    this.fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.WebSocket = o.WebSocket === undefined ? globalThis.WebSocket : o.WebSocket;
    this.random = o.random ?? Math.random;
    this.sleep = o.sleep ?? defaultSleep;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 15000;
    this.prefix = `pigeonhole:${tokenKey(this.token)}:`;
    this.listeners = new Map();
    this.status = 'idle';
    this.running = false;
    this.failures = 0;
    this.mailPending = false;
    this.socket = null;
    this.socketReady = false;
    this.socketOpening = false;
    this.socketWaiters = new Set();
    this.socketFailures = 0;
    this.wakers = new Set(); // pauses (backoff): woken by reconnectNow(), stop() and a socket's `ready`
    this.mailWaiters = new Set(); // the loop waiting for `mail`
    this.deliveries = new Map(); // client_msg_id -> {resolve, reject}
    this.flushing = false;
  }

  // ---- events ---------------------------------------------------------------
  /** Subscribes; returns the unsubscribe function. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }
  emit(type, ...args) {
    for (const fn of this.listeners.get(type) ?? []) {
      try { fn(...args); } catch (e) { console.error(`pigeonhole-client: ${type} listener failed`, e); }
    }
  }
  setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.emit('status', s);
  }

  // ---- stored state -----------------------------------------------------------
  get cursor() { return this.storage.getItem(this.prefix + 'cursor'); }
  set cursor(c) {
    if (c) this.storage.setItem(this.prefix + 'cursor', c);
    else this.storage.removeItem(this.prefix + 'cursor');
  }
  /** Unsent messages, oldest first: [{room_id, client_msg_id, body, queued_at}]. */
  get outbox() {
    try { return JSON.parse(this.storage.getItem(this.prefix + 'outbox') ?? '[]'); } catch { return []; }
  }
  set outbox(list) {
    if (list.length) this.storage.setItem(this.prefix + 'outbox', JSON.stringify(list));
    else this.storage.removeItem(this.prefix + 'outbox');
  }
  /** Forgets this device's stored cursor and outbox (sign-out). */
  forget() {
    this.cursor = null;
    this.outbox = [];
  }

  // ---- HTTP -------------------------------------------------------------------
  /** One API request; resolves with the parsed JSON (null for 204), throws PigeonholeError. */
  async request(method, path, body, { timeoutMs = this.requestTimeoutMs, signal } = {}) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    const onAbort = () => ctl.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let res;
    try {
      const headers = { Authorization: `Bearer ${this.token}` };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      res = await this.fetch(this.baseUrl + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctl.signal, cache: 'no-store',
      });
    } catch (e) {
      throw new PigeonholeError(0, 'network', `network: ${e?.message ?? e}`);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    let data = null;
    const text = await res.text().catch(() => '');
    if (text) { try { data = JSON.parse(text); } catch { data = null; } }
    if (res.status >= 200 && res.status < 300) return data;
    const err = data?.error ?? {};
    let retryAfterMs = typeof err.retry_after_ms === 'number' ? err.retry_after_ms : null;
    const header = res.headers?.get?.('Retry-After');
    if (retryAfterMs === null && header && /^\d+$/.test(header)) retryAfterMs = Number(header) * 1000;
    throw new PigeonholeError(res.status, err.code ?? `http_${res.status}`, err.message, data, retryAfterMs);
  }

  me() { return this.request('GET', '/v1/me'); }
  conversations({ limit = this.firstScreenLimit, preview = this.preview, page } = {}) {
    const q = new URLSearchParams({ limit: String(limit), preview: String(preview) });
    if (page) q.set('page', page);
    return this.request('GET', `/v1/conversations?${q}`);
  }
  room(id) { return this.request('GET', `/v1/rooms/${id}`); }
  /** One page of a room's members by name; pass the previous page's `next_after` as `after`. */
  members(id, { after, limit } = {}) {
    const q = new URLSearchParams();
    if (limit) q.set('limit', String(limit));
    if (after) q.set('after', after);
    const s = q.toString();
    return this.request('GET', `/v1/rooms/${id}/members${s ? `?${s}` : ''}`);
  }
  history(id, { before, limit = 30 } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before) q.set('before', String(before));
    return this.request('GET', `/v1/rooms/${id}/messages?${q}`);
  }
  receipts(id, seq) { return this.request('GET', `/v1/rooms/${id}/receipts?seq=${seq}`); }
  unread() { return this.request('GET', '/v1/unread'); }
  markRead(id, seq) { return this.request('POST', `/v1/rooms/${id}/read`, { seq }); }
  direct(userName) { return this.request('POST', `/v1/direct/${encodeURIComponent(userName)}`); }
  createGroup(name, members = []) { return this.request('POST', '/v1/rooms', { name, members }); }
  addMembers(id, names) { return this.request('POST', `/v1/rooms/${id}/members`, { members: names }); }

  // Changes to a message (docs/message-changes.md). Each resolves with the message as
  // the server now has it (keep it through mergeMessage); repeating one is harmless.
  // Refusals: 403 not_sender / edit_window_closed / recall_window_closed, 404
  // message_not_found, 409 message_deleted / reaction_limit, 400 invalid_request.
  /** Replaces a message's body (the sender, within the edit window). */
  editMessage(roomId, seq, body) {
    return this.request('PATCH', `/v1/rooms/${roomId}/messages/${seq}`, { body });
  }
  /** Recalls a message (the sender within the recall window, or the room's owner): resolves with the tombstone. */
  deleteMessage(roomId, seq) { return this.request('DELETE', `/v1/rooms/${roomId}/messages/${seq}`); }
  /** Adds the caller's reaction `key` (e.g. an emoji; 1-64 bytes, no whitespace). */
  react(roomId, seq, key) {
    return this.request('PUT', `/v1/rooms/${roomId}/messages/${seq}/reactions/${encodeURIComponent(key)}`);
  }
  /** Removes the caller's reaction `key`. */
  unreact(roomId, seq, key) {
    return this.request('DELETE', `/v1/rooms/${roomId}/messages/${seq}/reactions/${encodeURIComponent(key)}`);
  }

  // ---- the sync loop ------------------------------------------------------------
  /** Starts syncing (and sending what the outbox still holds). */
  start() {
    if (this.running) return;
    this.running = true;
    this.failures = 0;
    this.stopper = new AbortController();
    this.setStatus('connecting');
    this.openSocket();
    this.loop = this.run();
    this.flushOutbox();
  }

  /** Stops the loop, the socket and the outbox (which stays stored). */
  stop() {
    this.running = false;
    this.stopper?.abort();
    this.closeSocket();
    this.wake();
    if (this.status !== 'unauthorized') this.setStatus('idle');
  }

  /** Cuts a backoff short (e.g. the browser says it is online again). */
  reconnectNow() {
    this.failures = 0;
    this.socketFailures = 0;
    this.wake();
    if (this.running && !this.socket) this.openSocket();
  }

  wake() {
    this.wakeMail();
    for (const w of this.wakers) w();
    this.wakers.clear();
  }

  wakeMail() {
    for (const w of this.mailWaiters) w();
    this.mailWaiters.clear();
  }

  /** Sleeps up to `ms`, or until wake()/stop(). */
  pause(ms) {
    return new Promise((resolve) => {
      const ctl = new AbortController();
      const done = () => { ctl.abort(); resolve(); };
      this.wakers.add(done);
      this.sleep(ms, ctl.signal).then(() => { this.wakers.delete(done); resolve(); });
    });
  }

  async run() {
    // Catch up at once (timeout=0) after a start or a failure; then wait for mail on
    // the socket, or long-poll while there is no socket.
    let catchUp = true;
    while (this.running) {
      try {
        if (!this.cursor) await this.bootstrap();
        // A socket on its way (its ticket being fetched, or opened and not yet `ready`):
        // wait for its `ready` (or up to 2 s) rather than start a long-poll that would
        // hold the loop for its whole timeout.
        if (!catchUp && !this.socketReady && (this.socketOpening || this.socket)) await this.socketSettled(2000);
        const viaSocket = this.socketReady;
        this.mailPending = false;
        const r = await this.pull(catchUp || viaSocket ? 0 : this.pollTimeout);
        if (!this.running) break;
        this.failures = 0;
        this.restarts = 0;
        if (r.events.length) this.emit('events', r.events, r);
        this.cursor = r.cursor; // only after the events were handed over
        if (r.has_more) continue;
        catchUp = false;
        this.setStatus('live'); // caught up with the server
        if (viaSocket) await this.waitForMail();
      } catch (e) {
        if (!this.running) break;
        catchUp = true;
        if (e.status === 401) return this.unauthorized();
        if (e.status === 410 && e.code === 'cursor_expired' && e.body?.first_screen) {
          this.restartFrom(e.body.first_screen, true);
          await this.restartPause();
          continue;
        }
        if (e.status === 400 && (e.code === 'invalid_cursor' || e.code === 'cursor_required')) {
          this.cursor = null; // bootstrap again from a fresh first screen
          await this.restartPause();
          continue;
        }
        this.failures++;
        this.setStatus(this.failures >= 4 ? 'offline' : 'reconnecting');
        const wait = e.retryAfterMs ?? backoffDelay(this.failures, { random: this.random });
        this.emit('error', e);
        await this.pause(wait);
      }
    }
  }

  /**
   * After a restart from a fresh first screen (an expired or refused cursor): the first
   * goes on at once; another before any page was pulled waits, longer each time. A
   * server that keeps refusing what it just handed out (once seen: every cursor of a
   * user in too many rooms) must not be asked hundreds of times a second.
   */
  async restartPause() {
    this.restarts = (this.restarts ?? 0) + 1;
    if (this.restarts > 1) await this.pause(backoffDelay(this.restarts - 1, { random: this.random }));
  }

  async bootstrap() {
    const page = await this.request('GET',
      `/v1/conversations?limit=${this.firstScreenLimit}&preview=${this.preview}`, undefined,
      { signal: this.stopper.signal });
    this.restartFrom(page, false);
  }

  /** Replaces the local state: first screen, then sync from its cursor. */
  restartFrom(page, expired) {
    this.emit('firstScreen', page, { expired });
    this.cursor = page.cursor;
  }

  pull(timeout) {
    const q = new URLSearchParams({ cursor: this.cursor, timeout: String(timeout) });
    return this.request('GET', `/v1/sync?${q}`, undefined,
      { timeoutMs: (timeout + 10) * 1000, signal: this.stopper.signal });
  }

  unauthorized() {
    this.running = false;
    this.closeSocket();
    this.setStatus('unauthorized');
    this.emit('unauthorized');
    for (const d of this.deliveries.values()) d.reject(new PigeonholeError(401, 'unauthorized', 'token rejected'));
    this.deliveries.clear();
  }

  // ---- "you have mail" ---------------------------------------------------------------
  waitForMail() {
    if (this.mailPending || !this.socketReady || !this.running) return Promise.resolve();
    return new Promise((resolve) => this.mailWaiters.add(resolve));
  }

  /** Resolves once the socket on its way is `ready` or gone, or after `ms` (wall clock). */
  socketSettled(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() { clearTimeout(timer); self.socketWaiters.delete(done); resolve(); }
      this.socketWaiters.add(done);
    });
  }

  settleSocketWaiters() {
    for (const w of [...this.socketWaiters]) w();
  }

  socketURL(ticket) {
    let base = this.baseUrl;
    if (!base && globalThis.location) base = globalThis.location.origin;
    // Browsers cannot set headers on a WebSocket, and the device token must never be in
    // a URL (proxies log URLs): the socket opens with a single-use ticket, valid 30 s.
    return base.replace(/^http/, 'ws') + `/v1/notify?ticket=${encodeURIComponent(ticket)}`;
  }

  async openSocket() {
    if (!this.WebSocket || !this.running || this.socket || this.socketOpening) return;
    this.socketOpening = true;
    let ticket;
    try {
      ({ ticket } = await this.request('POST', '/v1/notify/ticket'));
    } catch (e) {
      this.socketOpening = false;
      this.settleSocketWaiters(); // a loop waiting for this socket long-polls instead
      if (e?.status === 401) return; // the pulls report it; the session ends
      this.socketFailures++;
      this.socketFailed();
      return;
    }
    this.socketOpening = false;
    if (!this.running || this.socket) return;
    let ws;
    try { ws = new this.WebSocket(this.socketURL(ticket)); } catch { this.socketFailed(); return; }
    this.socket = ws;
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(typeof ev.data === 'string' ? ev.data : String(ev.data)); } catch { return; }
      if (m.type === 'ready') {
        // The server is reachable again: end any backoff and pull now.
        this.socketReady = true;
        this.socketFailures = 0;
        this.mailPending = true;
        this.settleSocketWaiters();
        this.wake();
      } else if (m.type === 'mail') {
        this.mailPending = true;
        this.wakeMail(); // a long-poll in flight finishes by itself; a waiting loop pulls now
      } else if (m.type === 'receipts') {
        this.emit('receiptsHint', m.room_id);
      }
    };
    ws.onclose = () => {
      if (this.socket !== ws) return;
      this.socket = null;
      const wasReady = this.socketReady;
      this.socketReady = false;
      this.settleSocketWaiters();
      this.wakeMail(); // the loop falls back to long-polling
      if (!wasReady) this.socketFailures++;
      this.socketFailed();
    };
    ws.onerror = () => {}; // onclose follows
  }

  socketFailed() {
    if (!this.running) return;
    const wait = backoffDelay(Math.max(1, this.socketFailures), { base: 1000, cap: 30000, random: this.random });
    this.pause(wait).then(() => this.openSocket());
  }

  closeSocket() {
    const ws = this.socket;
    this.socket = null;
    this.socketReady = false;
    this.settleSocketWaiters();
    if (ws) { try { ws.close(1000); } catch { /* already closed */ } }
  }

  // ---- sends ----------------------------------------------------------------------------
  /**
   * Queues a message (stored, so it survives a reload) and resolves with the stored
   * message once the server has it. Network failures are retried with the same
   * client_msg_id; a 429 waits Retry-After. Rejects on a permanent refusal (403, 409, 413...).
   */
  send(roomId, body, { clientMsgId = newClientMsgId() } = {}) {
    const item = { room_id: roomId, client_msg_id: clientMsgId, body, queued_at: new Date().toISOString() };
    this.outbox = [...this.outbox, item];
    this.emit('queued', item);
    const p = new Promise((resolve, reject) => this.deliveries.set(clientMsgId, { resolve, reject }));
    this.flushOutbox();
    return p;
  }

  async flushOutbox() {
    if (this.flushing) return;
    this.flushing = true;
    let failures = 0;
    try {
      while (this.running && this.status !== 'unauthorized') {
        const item = this.outbox[0];
        if (!item) break;
        try {
          const message = await this.request('POST', `/v1/rooms/${item.room_id}/messages`,
            { client_msg_id: item.client_msg_id, body: item.body });
          failures = 0;
          this.dequeue(item);
          this.emit('sent', message, item);
          this.deliveries.get(item.client_msg_id)?.resolve(message);
          this.deliveries.delete(item.client_msg_id);
        } catch (e) {
          if (e.status === 401) { this.unauthorized(); break; }
          if (!e.retryable) {
            this.dequeue(item);
            this.emit('failed', item, e);
            this.deliveries.get(item.client_msg_id)?.reject(e);
            this.deliveries.delete(item.client_msg_id);
            continue;
          }
          failures++;
          await this.pause(e.retryAfterMs ?? backoffDelay(failures, { random: this.random }));
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  dequeue(item) {
    this.outbox = this.outbox.filter((x) => x.client_msg_id !== item.client_msg_id);
  }
}
