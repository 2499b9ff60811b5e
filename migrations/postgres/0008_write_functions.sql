-- Writes in one round trip (issue 19): a send, a read-marker move, a join, a leave and
-- the periodic receipts flush are each ONE call of a server-side function instead of
-- 4-15 statements run one after another by the node's writer thread. The steps, their
-- order and their locks are exactly those the domain's fine-grained store operations take
-- (Sources/SyncEngine/Store, the default implementations of `sendMessage`,
-- `moveReadMarker`, `addMembersToGroup`, `removeMemberFromGroup` and `flushReceipts`),
-- which the SQLite backend runs: the room row first, then users rows in id order, then
-- member rows.
--
-- Why a PL/pgSQL function and not one statement of data-modifying CTEs: a send must read
-- the room's members AFTER it holds the room row's lock (a join that committed while it
-- waited must get the message). All sub-statements of one statement share the snapshot
-- taken when the statement started, before the lock wait, so a CTE could miss that
-- member. In READ COMMITTED each statement inside a VOLATILE function takes a fresh
-- snapshot, so the members read after the lock is the membership as of the lock.
--
-- No EXCEPTION block: that would open a subtransaction per call (a subxid per send; past
-- 64 per transaction the snapshot cache overflows for every other session). A lost lock
-- wait (lock_timeout) or a deadlock aborts the batch's transaction instead, and the
-- writer (GroupCommitWriter) rolls back and replays the batch with a savepoint per unit,
-- carrying the unit that lost to the next batch, as it does for any unit that fails
-- after writing.
--
-- Inbox rows carry `pos` (the commit position): a message's rows its id; other events
-- the messages_id_seq position (MessagesWrites.commitPosition).

-- Emits p_room's due receipt marks (pending, last emitted at or before p_due) as
-- `receipts` events in their senders' inboxes at p_pos; the marks are no longer pending.
-- The marks are locked in sender order, each sender's inbox seq taken under its users
-- row's lock (rows in id order). The caller holds the room row's lock.
CREATE FUNCTION ph_emit_receipts(p_room bigint, p_due bigint, p_at bigint, p_pos bigint,
                                 OUT o_users bigint[], OUT o_seqs bigint[])
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    WITH due AS (SELECT rm.sender_id FROM receipt_marks rm
                 WHERE rm.pending AND rm.emitted_at <= p_due AND rm.room_id = p_room
                 ORDER BY rm.sender_id LIMIT 1000 FOR NO KEY UPDATE),
         l AS (SELECT u.id FROM users u WHERE u.id IN (SELECT due.sender_id FROM due) ORDER BY u.id FOR NO KEY UPDATE),
         up AS (UPDATE users u SET inbox_seq = u.inbox_seq + 1 FROM l WHERE u.id = l.id RETURNING u.id, u.inbox_seq),
         ins AS (INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
                 SELECT up.id, up.inbox_seq, 'receipts', p_room, NULL, NULL, p_at, p_pos FROM up
                 RETURNING inbox.user_id, inbox.seq),
         em AS (UPDATE receipt_marks rm SET pending = false, emitted_at = p_at FROM due
                WHERE rm.room_id = p_room AND rm.sender_id = due.sender_id)
    SELECT coalesce(array_agg(ins.user_id ORDER BY ins.user_id), '{}'), coalesce(array_agg(ins.seq ORDER BY ins.user_id), '{}')
      INTO o_users, o_seqs FROM ins;
END
$$;

-- Receipts after a reader's marker moved from p_from to p_to in p_room (Receipts.markAndEmit):
-- marks (room, sender) pending for every current member other than the reader who sent
-- in the range, then, if any was marked, emits the room's due marks. The caller holds the
-- room row's lock.
CREATE FUNCTION ph_receipts(p_room bigint, p_reader bigint, p_from bigint, p_to bigint, p_due bigint, p_at bigint,
                            p_pos bigint,
                            OUT o_marked boolean, OUT o_users bigint[], OUT o_seqs bigint[], OUT o_pending boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_n bigint;
BEGIN
    o_marked := false;
    o_pending := false;
    INSERT INTO receipt_marks (room_id, sender_id, emitted_at, pending)
    SELECT DISTINCT p_room, msg.sender_id, 0::bigint, true FROM messages msg
    WHERE msg.room_id = p_room AND msg.seq > p_from AND msg.seq <= p_to AND msg.sender_id <> p_reader
      AND msg.sender_id IN (SELECT mb.user_id FROM members mb WHERE mb.room_id = p_room)
    ORDER BY 2
    ON CONFLICT (room_id, sender_id) DO UPDATE SET pending = true;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n = 0 THEN
        RETURN;
    END IF;
    o_marked := true;
    SELECT e.o_users, e.o_seqs INTO o_users, o_seqs FROM ph_emit_receipts(p_room, p_due, p_at, p_pos) e;
    o_pending := EXISTS (SELECT 1 FROM receipt_marks rm WHERE rm.pending);
END
$$;

-- The periodic receipts flush (Receipts.flush; ReceiptsWrites.flushReceipts): up to 1000
-- due marks' rooms, in room id order, each under its room row's lock (the order every
-- unit of a room keeps; the marks are read again under it, so another node's flush of the
-- same room leaves nothing to emit twice), emitted at the commit position. Returns the
-- events written (o_rooms, o_users, o_seqs: one entry per event) and how many marks are
-- still pending.
CREATE FUNCTION ph_flush_receipts(p_due bigint, p_at bigint,
                                  OUT o_rooms bigint[], OUT o_users bigint[], OUT o_seqs bigint[], OUT o_pending bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_room bigint;
    v_pos bigint;
    v_users bigint[];
    v_seqs bigint[];
BEGIN
    o_rooms := '{}';
    o_users := '{}';
    o_seqs := '{}';
    FOR v_room IN SELECT DISTINCT c.room_id FROM (SELECT rm.room_id FROM receipt_marks rm
                                                  WHERE rm.pending AND rm.emitted_at <= p_due
                                                  ORDER BY rm.room_id, rm.sender_id LIMIT 1000) c
                  ORDER BY 1 LOOP
        PERFORM 1 FROM rooms r WHERE r.id = v_room FOR NO KEY UPDATE;
        IF v_pos IS NULL THEN
            SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO v_pos FROM messages_id_seq s;
        END IF;
        SELECT e.o_users, e.o_seqs INTO v_users, v_seqs FROM ph_emit_receipts(v_room, p_due, p_at, v_pos) e;
        o_rooms := o_rooms || array_fill(v_room, ARRAY[coalesce(array_length(v_users, 1), 0)]);
        o_users := o_users || v_users;
        o_seqs := o_seqs || v_seqs;
    END LOOP;
    SELECT count(*) INTO o_pending FROM receipt_marks rm WHERE rm.pending;
END
$$;

-- One send (Messages.send's data step; MessagesWrites.sendMessage):
--   o_status 'duplicate' (o_id .. o_sent_at: the original message, nothing written),
--   'no_room', 'not_member' (nothing written), or 'appended': the message at the room's
--   next seq, and for a normal room one inbox row per member (o_recipients with their new
--   inbox seqs, o_recipient_seqs), the sender's activity and read marker, and receipts
--   (o_receipt_users/o_receipt_seqs, o_receipts_pending) when the sender's marker jumped;
--   for a hot room the sender's read marker only. o_read_before: the sender's read marker
--   before the send.
CREATE FUNCTION ph_send(p_room bigint, p_sender bigint, p_device bigint, p_key text, p_body text, p_at bigint,
                        p_due bigint,
                        OUT o_status text, OUT o_id bigint, OUT o_room bigint, OUT o_seq bigint, OUT o_sender_name text,
                        OUT o_device bigint, OUT o_key text, OUT o_body text, OUT o_sent_at bigint, OUT o_hot boolean,
                        OUT o_read_before bigint, OUT o_recipients bigint[], OUT o_recipient_seqs bigint[],
                        OUT o_receipt_users bigint[], OUT o_receipt_seqs bigint[], OUT o_receipts_pending boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_last bigint;
    v_users bigint[];
    v_member boolean;
    v_r record;
BEGIN
    -- The same (sender, client_msg_id) is the same message: answered without the room lock.
    SELECT m.id, m.room_id, m.seq, su.name, m.sender_device_id, m.client_msg_id, m.body, m.sent_at
      INTO o_id, o_room, o_seq, o_sender_name, o_device, o_key, o_body, o_sent_at
      FROM messages m JOIN users su ON su.id = m.sender_id WHERE m.sender_id = p_sender AND m.client_msg_id = p_key;
    IF FOUND THEN
        o_status := 'duplicate';
        RETURN;
    END IF;

    -- The room row's lock: last_seq + 1 is this send's seq until COMMIT.
    SELECT r.last_seq, r.hot INTO v_last, o_hot FROM rooms r WHERE r.id = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        o_status := 'no_room';
        RETURN;
    END IF;

    -- The members, read after the lock (a fresh snapshot: see the top of this file).
    IF o_hot THEN
        SELECT mb.read_seq INTO o_read_before FROM members mb WHERE mb.room_id = p_room AND mb.user_id = p_sender;
        v_member := FOUND;
    ELSE
        SELECT array_agg(mb.user_id ORDER BY mb.user_id), coalesce(bool_or(mb.user_id = p_sender), false),
               max(mb.read_seq) FILTER (WHERE mb.user_id = p_sender)
          INTO v_users, v_member, o_read_before FROM members mb WHERE mb.room_id = p_room;
    END IF;
    IF NOT v_member THEN
        o_status := 'not_member';
        RETURN;
    END IF;

    -- The message. A concurrent send with the same key (another writer) makes this wait
    -- for its commit, then find it: exactly one message per (sender, client_msg_id), and
    -- the room's counter moves only with an inserted message.
    o_seq := v_last + 1;
    INSERT INTO messages AS m (room_id, seq, sender_id, sender_device_id, client_msg_id, body, sent_at)
    VALUES (p_room, o_seq, p_sender, p_device, p_key, p_body, p_at)
    ON CONFLICT (sender_id, client_msg_id) DO NOTHING RETURNING m.id INTO o_id;
    IF NOT FOUND THEN
        SELECT m.id, m.room_id, m.seq, su.name, m.sender_device_id, m.client_msg_id, m.body, m.sent_at
          INTO STRICT o_id, o_room, o_seq, o_sender_name, o_device, o_key, o_body, o_sent_at
          FROM messages m JOIN users su ON su.id = m.sender_id WHERE m.sender_id = p_sender AND m.client_msg_id = p_key;
        o_status := 'duplicate';
        RETURN;
    END IF;
    UPDATE rooms SET last_seq = o_seq, last_active_at = greatest(last_active_at, p_at) WHERE id = p_room;
    o_status := 'appended';
    o_recipients := '{}';
    o_recipient_seqs := '{}';
    o_receipt_users := '{}';
    o_receipt_seqs := '{}';
    o_receipts_pending := false;

    IF o_hot THEN
        -- Read diffusion: stored once; the sender's own marker moves to the message.
        UPDATE members SET read_seq = o_seq WHERE room_id = p_room AND user_id = p_sender AND read_seq < o_seq;
        RETURN;
    END IF;

    -- Write diffusion: each member's next inbox seq under the users row's lock, rows
    -- locked in user id order.
    WITH l AS (SELECT u.id FROM users u WHERE u.id = ANY (v_users) ORDER BY u.id FOR NO KEY UPDATE),
         up AS (UPDATE users u SET inbox_seq = u.inbox_seq + 1 FROM l WHERE u.id = l.id RETURNING u.id, u.inbox_seq),
         ins AS (INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
                 SELECT up.id, up.inbox_seq, 'message', p_room, o_seq, NULL, p_at, o_id FROM up
                 RETURNING inbox.user_id, inbox.seq)
    SELECT array_agg(ins.user_id ORDER BY ins.user_id), array_agg(ins.seq ORDER BY ins.user_id)
      INTO o_recipients, o_recipient_seqs FROM ins;
    IF coalesce(array_length(o_recipients, 1), 0) <> array_length(v_users, 1) THEN
        RAISE EXCEPTION 'ph_send: fan-out wrote % rows for % members', coalesce(array_length(o_recipients, 1), 0),
            array_length(v_users, 1);
    END IF;

    -- The sender's activity and read marker (everyone else's activity: once per room per
    -- batch, RoomActivity).
    UPDATE members SET last_active_at = greatest(last_active_at, p_at), read_seq = greatest(read_seq, o_seq)
    WHERE room_id = p_room AND user_id = p_sender;

    -- Sending reads what came before: the senders of those messages get new counts.
    IF o_read_before < o_seq - 1 THEN
        SELECT * INTO v_r FROM ph_receipts(p_room, p_sender, o_read_before, o_seq - 1, p_due, p_at, o_id);
        IF v_r.o_marked THEN
            o_receipt_users := v_r.o_users;
            o_receipt_seqs := v_r.o_seqs;
            o_receipts_pending := v_r.o_pending;
        END IF;
    END IF;
END
$$;

-- A read marker moved forward (Conversations.markRead's data step;
-- ConversationsWrites.moveReadMarker): o_status 'no_room', 'not_member', 'out_of_range'
-- (o_last_seq), 'unchanged' (already at or past p_seq: o_read_before), 'raced' (moved by
-- another writer meanwhile) or 'moved': the marker, receipts as in ph_send, and the
-- reader's `read` event (o_read_event_seq, payload p_payload) at the commit position.
CREATE FUNCTION ph_mark_read(p_room bigint, p_user bigint, p_seq bigint, p_at bigint, p_due bigint, p_payload text,
                             OUT o_status text, OUT o_last_seq bigint, OUT o_read_before bigint,
                             OUT o_receipt_users bigint[], OUT o_receipt_seqs bigint[], OUT o_receipts_pending boolean,
                             OUT o_read_event_seq bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_pos bigint;
    v_r record;
BEGIN
    SELECT r.last_seq INTO o_last_seq FROM rooms r WHERE r.id = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        o_status := 'no_room';
        RETURN;
    END IF;
    SELECT mb.read_seq INTO o_read_before FROM members mb WHERE mb.room_id = p_room AND mb.user_id = p_user;
    IF NOT FOUND THEN
        o_status := 'not_member';
        RETURN;
    END IF;
    IF p_seq < 0 OR p_seq > o_last_seq THEN
        o_status := 'out_of_range';
        RETURN;
    END IF;
    IF p_seq <= o_read_before THEN
        o_status := 'unchanged';
        RETURN;
    END IF;
    UPDATE members SET read_seq = p_seq WHERE room_id = p_room AND user_id = p_user AND read_seq < p_seq;
    IF NOT FOUND THEN
        o_status := 'raced';
        RETURN;
    END IF;
    o_status := 'moved';
    o_receipt_users := '{}';
    o_receipt_seqs := '{}';
    o_receipts_pending := false;
    -- Message ids come from one sequence: the last one handed out on any node.
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO v_pos FROM messages_id_seq s;
    SELECT * INTO v_r FROM ph_receipts(p_room, p_user, o_read_before, p_seq, p_due, p_at, v_pos);
    IF v_r.o_marked THEN
        o_receipt_users := v_r.o_users;
        o_receipt_seqs := v_r.o_seqs;
        o_receipts_pending := v_r.o_pending;
    END IF;
    WITH u AS (UPDATE users SET inbox_seq = inbox_seq + 1 WHERE id = p_user RETURNING id, inbox_seq)
    INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
    SELECT u.id, u.inbox_seq, 'read', p_room, p_seq, p_payload, p_at, v_pos FROM u
    RETURNING inbox.seq INTO o_read_event_seq;
END
$$;

-- Members added to a group (Rooms.addMembers' data step; RoomsWrites.addMembersToGroup):
-- o_status 'no_room', 'not_member' (p_by is not in the room), 'not_group', 'no_user'
-- (o_name: the first of p_names that names nobody; nothing written) or 'added': each of
-- p_names (distinct, in order) not yet a member joins at the room's last seq (o_joined)
-- and forgets an old hot departure; its `member` event (payload p_payloads[i]) goes to
-- every member of a normal room, or only to the joiner in a hot room (o_event_users,
-- o_event_seqs); the room turns hot once it has p_threshold members. o_users, o_names:
-- who joined, in the order named.
CREATE FUNCTION ph_add_members(p_room bigint, p_by bigint, p_names text[], p_payloads text[], p_at bigint,
                               p_threshold bigint,
                               OUT o_status text, OUT o_name text, OUT o_users bigint[], OUT o_names text[], OUT o_joined bigint,
                               OUT o_event_users bigint[], OUT o_event_seqs bigint[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_hot boolean;
    v_kind text;
    v_ids bigint[] := '{}';
    v_id bigint;
    v_pos bigint;
    v_u bigint[];
    v_s bigint[];
BEGIN
    o_users := '{}';
    o_names := '{}';
    o_event_users := '{}';
    o_event_seqs := '{}';
    SELECT r.last_seq, r.hot, r.kind INTO o_joined, v_hot, v_kind FROM rooms r WHERE r.id = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        o_status := 'no_room';
        RETURN;
    END IF;
    PERFORM 1 FROM members mb WHERE mb.room_id = p_room AND mb.user_id = p_by;
    IF NOT FOUND THEN
        o_status := 'not_member';
        RETURN;
    END IF;
    IF v_kind <> 'group' THEN
        o_status := 'not_group';
        RETURN;
    END IF;
    FOR i IN 1..coalesce(array_length(p_names, 1), 0) LOOP
        SELECT u.id INTO v_id FROM users u WHERE u.name = p_names[i];
        IF NOT FOUND THEN
            o_status := 'no_user';
            o_name := p_names[i];
            RETURN;
        END IF;
        v_ids := v_ids || v_id;
    END LOOP;
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO v_pos FROM messages_id_seq s;
    FOR i IN 1..coalesce(array_length(v_ids, 1), 0) LOOP
        PERFORM 1 FROM members mb WHERE mb.room_id = p_room AND mb.user_id = v_ids[i];
        CONTINUE WHEN FOUND;
        UPDATE rooms SET member_count = member_count + 1 WHERE id = p_room;
        INSERT INTO members (room_id, user_id, joined_seq, read_seq, last_active_at, role, hot)
        VALUES (p_room, v_ids[i], o_joined, o_joined, p_at, 'member', v_hot);
        DELETE FROM hot_departures WHERE user_id = v_ids[i] AND room_id = p_room;
        o_users := o_users || v_ids[i];
        o_names := o_names || p_names[i];
        WITH l AS (SELECT u.id FROM users u
                   WHERE u.id IN (SELECT mb.user_id FROM members mb WHERE mb.room_id = p_room AND (NOT v_hot OR mb.user_id = v_ids[i]))
                   ORDER BY u.id FOR NO KEY UPDATE),
             up AS (UPDATE users u SET inbox_seq = u.inbox_seq + 1 FROM l WHERE u.id = l.id RETURNING u.id, u.inbox_seq),
             ins AS (INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
                     SELECT up.id, up.inbox_seq, 'member', p_room, NULL, p_payloads[i], p_at, v_pos FROM up
                     RETURNING inbox.user_id, inbox.seq)
        SELECT coalesce(array_agg(ins.user_id), '{}'), coalesce(array_agg(ins.seq), '{}') INTO v_u, v_s FROM ins;
        o_event_users := o_event_users || v_u;
        o_event_seqs := o_event_seqs || v_s;
    END LOOP;
    UPDATE rooms SET hot = true, hot_since_seq = last_seq WHERE id = p_room AND NOT hot AND member_count >= p_threshold;
    IF FOUND THEN
        UPDATE members SET hot = true WHERE room_id = p_room;
    END IF;
    o_status := 'added';
END
$$;

-- A member leaves or is removed from a group (Rooms.removeMember's data step;
-- RoomsWrites.removeMemberFromGroup): o_status 'no_room', 'not_member' (p_by),
-- 'not_group', 'no_user', 'not_owner' (p_by removes someone else without owning the
-- room), 'target_not_member' (nothing written) or 'removed': the `member` event (payload
-- p_payload) to every member, the leaver included (in a hot room only the leaver, and a
-- departure recording what stays deliverable to them), the membership and the count, and
-- the leaver's pending receipt marks.
CREATE FUNCTION ph_remove_member(p_room bigint, p_by bigint, p_name text, p_payload text, p_at bigint,
                                 OUT o_status text, OUT o_event_users bigint[], OUT o_event_seqs bigint[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_hot boolean;
    v_kind text;
    v_role text;
    v_target bigint;
    v_pos bigint;
BEGIN
    o_event_users := '{}';
    o_event_seqs := '{}';
    SELECT r.hot, r.kind INTO v_hot, v_kind FROM rooms r WHERE r.id = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        o_status := 'no_room';
        RETURN;
    END IF;
    SELECT mb.role INTO v_role FROM members mb WHERE mb.room_id = p_room AND mb.user_id = p_by;
    IF NOT FOUND THEN
        o_status := 'not_member';
        RETURN;
    END IF;
    IF v_kind <> 'group' THEN
        o_status := 'not_group';
        RETURN;
    END IF;
    SELECT u.id INTO v_target FROM users u WHERE u.name = p_name;
    IF NOT FOUND THEN
        o_status := 'no_user';
        RETURN;
    END IF;
    IF v_target <> p_by AND v_role <> 'owner' THEN
        o_status := 'not_owner';
        RETURN;
    END IF;
    PERFORM 1 FROM members mb WHERE mb.room_id = p_room AND mb.user_id = v_target;
    IF NOT FOUND THEN
        o_status := 'target_not_member';
        RETURN;
    END IF;
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO v_pos FROM messages_id_seq s;
    WITH l AS (SELECT u.id FROM users u
               WHERE u.id IN (SELECT mb.user_id FROM members mb WHERE mb.room_id = p_room AND (NOT v_hot OR mb.user_id = v_target))
               ORDER BY u.id FOR NO KEY UPDATE),
         up AS (UPDATE users u SET inbox_seq = u.inbox_seq + 1 FROM l WHERE u.id = l.id RETURNING u.id, u.inbox_seq),
         ins AS (INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
                 SELECT up.id, up.inbox_seq, 'member', p_room, NULL, p_payload, p_at, v_pos FROM up
                 RETURNING inbox.user_id, inbox.seq)
    SELECT coalesce(array_agg(ins.user_id), '{}'), coalesce(array_agg(ins.seq), '{}') INTO o_event_users, o_event_seqs FROM ins;
    IF v_hot THEN
        INSERT INTO hot_departures (user_id, room_id, floor, left_seq, left_at)
        SELECT m.user_id, m.room_id, greatest(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq, p_at
        FROM members m JOIN rooms r ON r.id = m.room_id WHERE m.room_id = p_room AND m.user_id = v_target
        ON CONFLICT (user_id, room_id) DO UPDATE
          SET floor = excluded.floor, left_seq = excluded.left_seq, left_at = excluded.left_at;
    END IF;
    DELETE FROM members WHERE room_id = p_room AND user_id = v_target;
    UPDATE rooms SET member_count = member_count - 1 WHERE id = p_room;
    DELETE FROM receipt_marks WHERE room_id = p_room AND sender_id = v_target;
    o_status := 'removed';
END
$$;
