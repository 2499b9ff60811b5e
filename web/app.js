// The Pigeonhole web client: a small chat UI on top of pigeonhole-client.js.
// Message bodies and every other server string are shown with textContent only,
// never parsed as HTML. Every copy of a message (events, send answers, previews,
// history pages, the answers of edits, recalls and reactions) is kept through
// putMessage/mergeMessage, so whatever order they arrive in, the newest one shows.
import { PigeonholeClient, tokenKey, eventMessage, putMessage, unreadCount } from './pigeonhole-client.js';

const TOKEN_KEY = 'pigeonhole:token';
const $ = (id) => document.getElementById(id);

let client = null;
let me = null; // {user: {id, name}, device: {id, name}}
const rooms = new Map(); // id -> room record (see upsertRoom)
let nextPage = null; // conversations continuation
let listLoaded = false;
let loadingMore = false;
let openRoomId = null;
let renderQueued = false;
let forceBottom = false;
let selected = null; // the message whose actions are shown: `${room_id}:${seq}`
let editing = null; // the message the composer edits: {roomId, seq, body}
// The reactions offered (any key another client used shows too, and toggles the same way).
const REACTIONS = ['👍', '❤️', '😂', '🎉', '😮'];

// ---- sign-in: the token comes from #token=... (never a query string) or storage -------
function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY);
}

// A #token= link signs in, but never silently replaces a sign-in this tab already has:
// a page that opens such a link would otherwise move the person into someone else's
// account (where what they type is read) and lose their own token. They are asked;
// declining keeps the current sign-in.
function takeToken() {
  const current = storedToken();
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return current;
  history.replaceState(null, '', location.pathname); // out of the address bar and history
  let token;
  try { token = decodeURIComponent(m[1]); } catch { return current; }
  if (current && current !== token &&
      !window.confirm('This link signs this tab in with another device token, replacing your current sign-in. Switch?')) {
    return current;
  }
  // Per tab (two tabs can be two devices) and remembered for the next visit.
  sessionStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(TOKEN_KEY, token);
  return token;
}

function showSignIn(message = '') {
  $('app').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  $('who').textContent = '';
  $('signin-error').textContent = message;
  setStatus('idle');
}

function signOut(message = '') {
  if (client) { client.stop(); client.forget(); client = null; }
  const token = sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY);
  if (token) localStorage.removeItem(`pigeonhole:${tokenKey(token)}:me`);
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
  me = null;
  rooms.clear();
  openRoomId = null;
  listLoaded = false;
  stopEditing();
  showSignIn(message);
}

function setStatus(s) {
  const el = $('status');
  el.textContent = s;
  el.dataset.state = s;
}

// ---- session ------------------------------------------------------------------------------
async function startSession(token) {
  $('signin').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  client = new PigeonholeClient({ token, storage: localStorage });
  const meKey = `pigeonhole:${tokenKey(token)}:me`;
  try { me = JSON.parse(localStorage.getItem(meKey) ?? 'null'); } catch { me = null; }
  client.on('status', (s) => {
    setStatus(s);
    if (s === 'live' && !listLoaded) loadConversations();
  });
  client.on('unauthorized', () => signOut('The server refused this token (revoked or wrong). Sign in again.'));
  client.on('firstScreen', (page) => { replaceWithFirstScreen(page); });
  client.on('events', (events) => applyEvents(events));
  client.on('queued', () => scheduleRender(true));
  client.on('sent', (message) => { addMessage(message); scheduleRender(); });
  client.on('failed', (item, e) => { alertIn('room-error', `Not sent: ${e.message}`); scheduleRender(); });
  client.on('receiptsHint', (roomId) => refreshMembersSoon(roomId));
  setStatus('connecting');
  // Who am I (for "mine" and read markers); cached, so a reload while offline still renders.
  while (!me) {
    try {
      me = await client.me();
    } catch (e) {
      if (e.status === 401) return signOut('The server refused this token (revoked or wrong).');
      setStatus('reconnecting');
      await new Promise((r) => setTimeout(r, 1500));
      if (!client) return;
    }
  }
  localStorage.setItem(meKey, JSON.stringify(me));
  $('who').textContent = `${me.user.name} · ${me.device.name}`;
  client.me().then((fresh) => { me = fresh; localStorage.setItem(meKey, JSON.stringify(me)); }).catch(() => {});
  // With a stored cursor, show the first screen and sync on from the stored cursor
  // (events in between are applied again, idempotently); without one, the client
  // bootstraps from the first screen itself.
  if (client.cursor) await loadConversations();
  client.start();
  scheduleRender();
}

async function loadConversations() {
  if (!client) return;
  try {
    const page = await client.conversations();
    replaceWithFirstScreen(page);
  } catch (e) {
    if (e.status === 401) signOut('The server refused this token.');
  }
}

// ---- the local state: idempotent by (room, seq); read markers only move forward ---------
// A room's `messages` holds messages only (seq -> the newest copy); a change (edit,
// recall, reactions) replaces the copy of the message it changes. `last_seq` is the
// room's newest seq, changes included. Unread is counted from the messages (see
// roomUnread), never as last_seq - read_seq: a change takes a seq but is not unread.
function upsertRoom(r) {
  let room = rooms.get(r.id);
  if (!room) {
    room = { id: r.id, kind: 'group', name: null, peer: null, last_seq: 0, read_seq: 0, last_active_at: '',
      member_count: 0, messages: new Map(), historyLoaded: false, nextBefore: null, members: null, markedSeq: 0,
      baseline: null, floor: Infinity };
    rooms.set(r.id, room);
  }
  for (const k of ['kind', 'name', 'peer', 'member_count', 'hot']) if (k in r) room[k] = r[k];
  if (typeof r.last_seq === 'number') room.last_seq = Math.max(room.last_seq, r.last_seq);
  if (typeof r.read_seq === 'number') room.read_seq = Math.max(room.read_seq, r.read_seq);
  if (r.last_active_at && r.last_active_at > room.last_active_at) room.last_active_at = r.last_active_at;
  return room;
}

/** The server's unread count as a first screen gives it: what roomUnread starts from. */
function setBaseline(room, c) {
  room.baseline = { unread: c.unread, last_seq: c.last_seq, read_seq: c.read_seq };
}

/** Unread by the contract: the messages above the read marker (tombstones too), never changes. */
function roomUnread(room) {
  return unreadCount(room.read_seq, room.messages.keys(), room.baseline);
}

/**
 * A page of messages (history, previews): each copy kept by version. The room shows
 * messages from its pages' and message events' lowest seq up (`floor`): together they
 * have no gap, while a change can carry a message from far below them.
 */
function addPage(room, messages) {
  for (const m of messages) {
    putMessage(room.messages, m);
    room.floor = Math.min(room.floor, m.seq);
  }
}

/** A message as sent (a `message` event, a send's answer). */
function addMessage(m) {
  const room = rooms.get(m.room_id) ?? upsertRoom({ id: m.room_id });
  putMessage(room.messages, m);
  room.floor = Math.min(room.floor, m.seq);
  room.last_seq = Math.max(room.last_seq, m.seq);
  if (me && m.sender === me.user.name) room.read_seq = Math.max(room.read_seq, m.seq); // sending reads
  if (m.sent_at > room.last_active_at) room.last_active_at = m.sent_at;
  if (!room.loaded) fetchRoomInfo(room.id);
  return room;
}

/**
 * An edit, recall or reactions event: the message as it is now replaces an older copy
 * (a tombstone is never replaced). A change of a message not held is kept too (a page
 * read earlier may still be on its way), though not shown below the loaded pages.
 * Neither unread nor the room's activity time move.
 */
function applyChange(ev) {
  const room = rooms.get(ev.room_id) ?? upsertRoom({ id: ev.room_id });
  putMessage(room.messages, ev.message);
  if (typeof ev.seq === 'number') room.last_seq = Math.max(room.last_seq, ev.seq);
  if (!room.loaded) fetchRoomInfo(room.id);
}

function replaceWithFirstScreen(page) {
  const open = openRoomId;
  const before = new Map([...rooms].map(([id, r]) => [id, r.messages]));
  rooms.clear();
  for (const c of page.conversations) {
    const room = upsertRoom(c);
    room.loaded = true;
    setBaseline(room, c);
    // A copy held already (e.g. an edit's answer) may be newer than the page's.
    for (const m of c.preview) { const held = before.get(c.id)?.get(m.seq); if (held) room.messages.set(m.seq, held); }
    addPage(room, c.preview);
  }
  nextPage = page.next_page ?? null;
  listLoaded = true;
  if (open !== null && !rooms.has(open)) fetchRoomInfo(open);
  if (open !== null) loadNewest(open);
  scheduleRender();
}

const fetching = new Set();
/** A room we learned of from an event (new, or beyond the loaded pages). */
async function fetchRoomInfo(id) {
  if (fetching.has(id) || !client) return;
  fetching.add(id);
  try {
    const [info, unread] = await Promise.all([client.room(id), client.unread()]);
    const n = unread.rooms.find((x) => x.room_id === id)?.unread ?? 0;
    const room = upsertRoom(info);
    setBaseline(room, { unread: n, last_seq: info.last_seq, read_seq: room.read_seq });
    room.loaded = true;
    scheduleRender();
  } catch (e) {
    if (e.status === 403 || e.status === 404) { rooms.delete(id); scheduleRender(); }
  } finally {
    fetching.delete(id);
  }
}

function applyEvents(events) {
  for (const ev of events) {
    switch (ev.type) {
      case 'message': addMessage(ev.message); break;
      case 'edit': case 'delete': case 'reactions': if (eventMessage(ev)) applyChange(ev); break;
      case 'read': upsertRoom({ id: ev.room_id, read_seq: ev.read_seq }); break;
      case 'member':
        if (me && ev.user === me.user.name && (ev.action === 'left' || ev.action === 'removed')) {
          rooms.delete(ev.room_id);
          if (openRoomId === ev.room_id) closeRoom();
        } else {
          upsertRoom({ id: ev.room_id });
          fetchRoomInfo(ev.room_id);
          refreshMembersSoon(ev.room_id);
        }
        break;
      case 'receipts': refreshMembersSoon(ev.room_id); break;
      default: break; // unknown types are skipped (openapi.yaml: Event)
    }
  }
  scheduleRender();
}

const memberTimers = new Map();
function refreshMembersSoon(roomId) {
  if (roomId !== openRoomId || memberTimers.has(roomId)) return;
  memberTimers.set(roomId, setTimeout(() => { memberTimers.delete(roomId); loadMembers(roomId); }, 200));
}

async function loadMembers(roomId) {
  try {
    const r = await client.members(roomId);
    const room = rooms.get(roomId);
    if (room) {
      // The first page (100 by name); the count is the list's only when nothing follows.
      room.members = r.members;
      if (!r.next_after) room.member_count = r.members.length;
      scheduleRender();
    }
  } catch { /* shown again on the next refresh */ }
}

async function loadNewest(roomId) {
  try {
    const page = await client.history(roomId, { limit: 30 });
    const room = rooms.get(roomId);
    if (!room) return;
    for (const m of page.messages) addMessage(m);
    if (!room.historyLoaded) room.nextBefore = page.next_before ?? null;
    room.historyLoaded = true;
    forceBottom = true;
    scheduleRender();
  } catch { /* retried when the room is opened again */ }
}

async function loadOlder() {
  const room = rooms.get(openRoomId);
  if (!room || room.nextBefore === null || room.loadingOlder) return;
  room.loadingOlder = true;
  const box = $('messages');
  try {
    const page = await client.history(room.id, { before: room.nextBefore, limit: 30 });
    const fromBottom = box.scrollHeight - box.scrollTop;
    addPage(room, page.messages);
    room.nextBefore = page.next_before ?? null;
    render();
    box.scrollTop = box.scrollHeight - fromBottom; // keep the reader's place
  } catch { /* the button stays */ } finally {
    room.loadingOlder = false;
  }
}

async function loadMoreConversations() {
  if (!nextPage || loadingMore) return;
  loadingMore = true;
  $('conversations-more').hidden = false;
  try {
    const page = await client.conversations({ page: nextPage });
    for (const c of page.conversations) {
      const room = upsertRoom(c);
      room.loaded = true;
      setBaseline(room, c);
      addPage(room, c.preview);
    }
    nextPage = page.next_page ?? null;
  } catch { /* try again on the next scroll */ } finally {
    loadingMore = false;
    $('conversations-more').hidden = true;
    scheduleRender();
  }
}

// ---- read markers: the bottom of an open room, in a visible page, is read ---------------
function atBottom() {
  const box = $('messages');
  return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
}

function maybeMarkRead() {
  const room = rooms.get(openRoomId);
  if (!room || !client || document.visibilityState !== 'visible' || !atBottom()) return;
  // Only unread messages call for a marker: a change (an edit, a reaction) never does.
  if (roomUnread(room) === 0 || room.last_seq <= room.read_seq || room.markedSeq >= room.last_seq) return;
  const seq = room.last_seq;
  room.markedSeq = seq;
  room.read_seq = seq; // this device clears at once; the others through the `read` event
  client.markRead(room.id, seq).then((r) => upsertRoom({ id: room.id, read_seq: r.read_seq }))
    .catch(() => { room.markedSeq = 0; });
  scheduleRender();
}

// ---- rendering (textContent only) -----------------------------------------------------------
function scheduleRender(bottom = false) {
  if (bottom) forceBottom = true;
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => { renderQueued = false; render(); }, 0);
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function roomTitle(room) {
  if (room.kind === 'direct') return room.peer ?? 'direct chat';
  return room.name ?? `room ${room.id}`;
}

/** A message body is any JSON value: show its `text`, a string as is, else its JSON. */
function bodyText(body) {
  if (typeof body === 'string') return body;
  if (body && typeof body === 'object' && typeof body.text === 'string') return body.text;
  return JSON.stringify(body);
}

const TOMBSTONE_TEXT = 'message deleted';

/** What a message shows: its body, or for a recalled one (no body left) that it was deleted. */
function messageText(m) {
  return m.deleted ? TOMBSTONE_TEXT : bodyText(m.body);
}

/** An edited body: the text replaced, any other fields of an object body kept. */
function editedBody(body, text) {
  if (body && typeof body === 'object' && !Array.isArray(body)) return { ...body, text };
  return typeof body === 'string' ? text : { text };
}

function shortTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

function sortedRooms() {
  return [...rooms.values()].sort((a, b) =>
    (b.last_active_at > a.last_active_at) - (b.last_active_at < a.last_active_at) || b.id - a.id);
}

function render() {
  if (!client) return;
  renderList();
  renderRoom();
  maybeMarkRead();
  const side = $('sidebar');
  if (nextPage && side.scrollHeight <= side.clientHeight + 10) loadMoreConversations();
}

function renderList() {
  const list = $('conversations');
  const items = sortedRooms().map((room) => {
    const last = room.messages.size ? room.messages.get(Math.max(...room.messages.keys())) : null;
    const unread = roomUnread(room);
    const li = el('li', { class: 'conversation' + (room.id === openRoomId ? ' active' : ''),
      'data-testid': 'conversation', 'data-room-id': String(room.id) },
    el('span', { class: 'title', text: roomTitle(room) }),
    el('span', { class: 'time', text: shortTime(room.last_active_at) }),
    el('span', { class: 'preview', text: last ? `${last.sender}: ${messageText(last)}` : 'No messages yet' }),
    unread > 0 ? el('span', { class: 'unread', 'data-testid': 'unread', text: String(unread) }) : null);
    li.addEventListener('click', () => openRoom(room.id));
    return li;
  });
  list.replaceChildren(...items);
}

function renderRoom() {
  const room = rooms.get(openRoomId);
  $('room').hidden = !room;
  $('empty').hidden = !!room;
  $('app').classList.toggle('in-room', !!room);
  if (!room) return;
  const box = $('messages');
  const wasAtBottom = atBottom();
  $('room-title').textContent = roomTitle(room);
  $('members-toggle').textContent = `${room.members?.length ?? room.member_count ?? ''} members`;
  $('add-member-form').hidden = room.kind !== 'group';
  $('member-list').replaceChildren(...(room.members ?? []).map((m) =>
    el('li', { 'data-testid': 'member', text: m.role === 'owner' ? `${m.user} (owner)` : m.user })));
  $('older').hidden = !(room.historyLoaded && room.nextBefore !== null);
  if (editing && rooms.get(editing.roomId)?.messages.get(editing.seq)?.deleted) {
    stopEditing(); // recalled meanwhile (by the owner, or on another device)
    alertIn('room-error', 'The message you were editing was recalled.');
  }
  const mine = me?.user.name;
  const owner = !!room.members?.some((x) => x.user === mine && x.role === 'owner');
  // Changes of messages below the loaded pages are held, not shown (no gap in the timeline).
  const shown = [...room.messages.values()].filter((m) => m.seq >= room.floor);
  const items = shown.sort((a, b) => a.seq - b.seq).map((m) => renderMessage(room, m, mine, owner));
  for (const p of client.outbox.filter((x) => x.room_id === room.id)) {
    items.push(el('li', { class: 'message mine', 'data-testid': 'message', 'data-room-id': String(room.id),
      'data-pending': 'true', 'data-client-msg-id': p.client_msg_id },
    el('div', { class: 'meta' }, el('span', { class: 'sender', text: mine ?? '' }), el('span', { text: 'sending…' })),
    el('div', { class: 'body', 'data-testid': 'body', text: bodyText(p.body) })));
  }
  $('message-list').replaceChildren(...items);
  if (wasAtBottom || forceBottom) box.scrollTop = box.scrollHeight;
  forceBottom = false;
}

function renderMessage(room, m, mine, owner) {
  let readBy = null;
  if (m.sender === mine && room.members) {
    const n = room.members.filter((x) => x.user !== m.sender && x.read_seq >= m.seq).length;
    readBy = el('span', { class: 'read-by', 'data-testid': 'read-by', text: `read by ${n}` });
  }
  const key = `${m.room_id}:${m.seq}`;
  const isSelected = selected === key;
  const edited = !m.deleted && m.edited_at
    ? el('span', { class: 'edited', 'data-testid': 'edited', text: 'edited', title: `edited ${m.edited_at}` }) : null;
  const toggle = m.deleted ? null : el('button', { type: 'button', class: 'link actions-toggle', 'data-testid': 'actions-toggle',
    text: '⋯', title: 'React, edit or recall', 'aria-label': 'Message actions', 'aria-expanded': String(isSelected),
    onclick: () => { selected = isSelected ? null : key; render(); } });
  const beingEdited = editing && editing.roomId === m.room_id && editing.seq === m.seq;
  const li = el('li', { class: 'message' + (m.sender === mine ? ' mine' : '') + (m.deleted ? ' deleted' : '')
    + (beingEdited ? ' being-edited' : ''),
    'data-testid': 'message', 'data-room-id': String(m.room_id), 'data-seq': String(m.seq), 'data-sender': m.sender },
  el('div', { class: 'meta' }, el('span', { class: 'sender', text: m.sender }),
    el('time', { dateTime: m.sent_at, text: shortTime(m.sent_at), title: m.sent_at }), edited, readBy, toggle),
  el('div', { class: 'body' + (m.deleted ? ' tombstone' : ''), 'data-testid': 'body', text: messageText(m) }));
  if (m.deleted) {
    li.setAttribute('data-deleted', 'true');
    return li;
  }
  const reactions = m.reactions ?? [];
  if (reactions.length) {
    li.append(el('div', { class: 'reactions', 'data-testid': 'reactions' }, ...reactions.map((r) =>
      el('button', { type: 'button', class: 'reaction' + (r.me ? ' me' : ''), 'data-testid': 'reaction',
        'data-key': r.key, 'data-count': String(r.count), 'data-me': String(!!r.me), text: `${r.key} ${r.count}`,
        title: r.me ? 'You reacted; click to take it back' : 'React with this too', 'aria-pressed': String(!!r.me),
        onclick: () => toggleReaction(m, r.key) }))));
  }
  if (isSelected) {
    const actions = el('div', { class: 'actions', 'data-testid': 'actions' }, ...REACTIONS.map((k) =>
      el('button', { type: 'button', class: 'react-option', 'data-testid': 'react-option', 'data-key': k, text: k,
        'aria-label': `React with ${k}`, onclick: () => toggleReaction(m, k) })));
    if (m.sender === mine) {
      actions.append(el('button', { type: 'button', class: 'link', 'data-testid': 'edit', text: 'Edit',
        onclick: () => startEditing(m) }));
    }
    if (m.sender === mine || owner) {
      actions.append(el('button', { type: 'button', class: 'link danger', 'data-testid': 'recall', text: 'Recall',
        onclick: () => recall(m) }));
    }
    li.append(actions);
  }
  return li;
}

// ---- changes: edit (in the composer), recall, react --------------------------------------------
const CHANGE_ERRORS = {
  edit_window_closed: 'Too late to edit this message.',
  recall_window_closed: 'Too late to recall this message.',
  not_sender: 'Only its sender can change this message.',
  message_deleted: 'That message was recalled.',
  message_not_found: 'That message is no longer there.',
  reaction_limit: 'This message has as many different reactions as it can take.',
  rate_limited: 'Slow down a little, then try again.',
};

function changeFailed(what, e) {
  alertIn('room-error', `${what}: ${CHANGE_ERRORS[e.code] ?? e.message}`);
}

/** The server's answer: the message as it now is (kept by version, like every other copy). */
function keepAnswer(m) {
  if (!m || typeof m.seq !== 'number') return;
  const room = rooms.get(m.room_id);
  if (room) putMessage(room.messages, m);
  scheduleRender();
}

function toggleReaction(m, key) {
  if (!client) return;
  const room = rooms.get(m.room_id);
  const current = room?.messages.get(m.seq) ?? m;
  const mine = (current.reactions ?? []).some((r) => r.key === key && r.me);
  const call = mine ? client.unreact(m.room_id, m.seq, key) : client.react(m.room_id, m.seq, key);
  selected = null;
  call.then(keepAnswer, (e) => changeFailed('Not changed', e));
  scheduleRender();
}

function recall(m) {
  if (!client) return;
  if (!window.confirm('Recall this message? Its text is erased for everyone in the room.')) return;
  selected = null;
  if (editing && editing.roomId === m.room_id && editing.seq === m.seq) stopEditing();
  client.deleteMessage(m.room_id, m.seq).then(keepAnswer, (e) => changeFailed('Not recalled', e));
  scheduleRender();
}

function startEditing(m) {
  editing = { roomId: m.room_id, seq: m.seq, body: m.body };
  selected = null;
  $('composer').value = bodyText(m.body);
  $('editing').hidden = false;
  $('send').textContent = 'Save';
  $('composer').focus();
  scheduleRender();
}

function stopEditing() {
  if (!editing) return;
  editing = null;
  $('composer').value = '';
  $('editing').hidden = true;
  $('send').textContent = 'Send';
}

function saveEdit(text) {
  const { roomId, seq, body } = editing;
  stopEditing();
  if (text === bodyText(body)) return; // unchanged: nothing to send
  client.editMessage(roomId, seq, editedBody(body, text)).then(keepAnswer, (e) => changeFailed('Not edited', e));
}

function openRoom(id) {
  if (editing && editing.roomId !== id) stopEditing();
  if (openRoomId !== id) selected = null;
  openRoomId = id;
  const room = rooms.get(id);
  if (room) {
    room.markedSeq = 0;
    loadNewest(id);
    loadMembers(id);
  }
  forceBottom = true;
  render();
  $('composer').focus();
}

function closeRoom() {
  stopEditing();
  openRoomId = null;
  scheduleRender();
}

function alertIn(id, text) {
  $(id).textContent = text;
  setTimeout(() => { if ($(id).textContent === text) $(id).textContent = ''; }, 6000);
}

// ---- wiring ------------------------------------------------------------------------------------
function wire() {
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    if (!token) return;
    $('token').value = '';
    sessionStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(TOKEN_KEY, token);
    startSession(token);
  });
  $('signout').addEventListener('click', () => signOut());
  $('composer-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('composer').value;
    if (!text.trim() || openRoomId === null || !client) return;
    if (editing) { saveEdit(text); return; }
    $('composer').value = '';
    client.send(openRoomId, { text }).catch(() => {});
  });
  $('composer').addEventListener('keydown', (e) => { if (e.key === 'Escape') stopEditing(); });
  $('edit-cancel').addEventListener('click', () => { stopEditing(); $('composer').focus(); });
  $('older').addEventListener('click', loadOlder);
  $('messages').addEventListener('scroll', () => {
    if ($('messages').scrollTop < 40) loadOlder();
    maybeMarkRead();
  });
  $('sidebar').addEventListener('scroll', () => {
    const s = $('sidebar');
    if (s.scrollHeight - s.scrollTop - s.clientHeight < 80) loadMoreConversations();
  });
  $('back').addEventListener('click', closeRoom);
  $('members-toggle').addEventListener('click', () => { $('members').hidden = !$('members').hidden; });
  $('new-chat').addEventListener('click', () => { $('new-panel').hidden = !$('new-panel').hidden; });
  $('direct-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = $('direct-name').value.trim();
    try {
      const room = await client.direct(name);
      $('direct-name').value = '';
      $('new-panel').hidden = true;
      upsertRoom(room);
      fetchRoomInfo(room.id);
      openRoom(room.id);
    } catch (err) { alertIn('new-error', err.code === 'user_not_found' ? `No user named ${name}` : err.message); }
  });
  $('group-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const members = $('group-members').value.split(/[\s,]+/).filter(Boolean);
    try {
      const room = await client.createGroup($('group-name').value.trim(), members);
      $('group-name').value = '';
      $('group-members').value = '';
      $('new-panel').hidden = true;
      upsertRoom(room).loaded = true;
      openRoom(room.id);
    } catch (err) { alertIn('new-error', err.message); }
  });
  $('add-member-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = $('add-member-name').value.trim();
    try {
      await client.addMembers(openRoomId, [name]);
      $('add-member-name').value = '';
      loadMembers(openRoomId);
    } catch (err) { alertIn('members-error', err.code === 'user_not_found' ? `No user named ${name}` : err.message); }
  });
  document.addEventListener('visibilitychange', maybeMarkRead);
  window.addEventListener('online', () => client?.reconnectNow());
  window.addEventListener('hashchange', () => {
    if (!/token=/.test(location.hash)) return;
    const before = client ? storedToken() : null;
    const token = takeToken();
    if (token === before) return; // declined, or the same token: nothing changes
    if (client) { client.stop(); client = null; }
    me = null;
    rooms.clear();
    if (token) startSession(token); else showSignIn();
  });
}

function boot() {
  const token = takeToken();
  if (token) startSession(token);
  else showSignIn();
}

wire();
boot();
