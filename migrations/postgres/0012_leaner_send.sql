-- A send and its receipts, for less (issue 19). First ph_receipts. Measured with
-- pg_stat_statements (track = all) under dm sends alone: ph_receipts ran on 58% of sends
-- at 0.134 ms, a fifth of ph_send's time, and almost always had nothing to emit (a room
-- that keeps talking emits a sender's receipts once per window):
--   * the emission (0011's nested call of ph_emit_receipts, 0.066 ms) runs only when one
--     of the room's marks is due: one probe of the room's marks first;
--   * a mark already pending is not written again (ON CONFLICT ... WHERE NOT pending): the
--     same state without a new row version and its index entries.
-- The outcomes are 0011's: marked when a current member other than the reader sent in
-- (p_from, p_to] (whether or not the mark was pending already); the room's due marks
-- emitted; pending when any mark is. The caller holds the room row's lock, as before.
CREATE OR REPLACE FUNCTION ph_receipts(p_room bigint, p_reader bigint, p_from bigint, p_to bigint, p_due bigint, p_at bigint,
                                       p_pos bigint,
                                       OUT o_marked boolean, OUT o_users bigint[], OUT o_seqs bigint[], OUT o_pending boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_n bigint;
BEGIN
    o_marked := false;
    o_pending := false;
    o_users := '{}';
    o_seqs := '{}';
    WITH senders AS (SELECT DISTINCT msg.sender_id FROM messages msg
                     WHERE msg.room_id = p_room AND msg.seq > p_from AND msg.seq <= p_to AND msg.sender_id <> p_reader
                       AND msg.kind = 'message'
                       AND msg.sender_id IN (SELECT mb.user_id FROM members mb WHERE mb.room_id = p_room)),
         marked AS (INSERT INTO receipt_marks AS rm (room_id, sender_id, emitted_at, pending)
                    SELECT p_room, senders.sender_id, 0::bigint, true FROM senders ORDER BY 2
                    ON CONFLICT (room_id, sender_id) DO UPDATE SET pending = true WHERE NOT rm.pending)
    SELECT count(*) INTO v_n FROM senders;
    IF v_n = 0 THEN
        RETURN;
    END IF;
    o_marked := true;
    IF EXISTS (SELECT 1 FROM receipt_marks rm WHERE rm.room_id = p_room AND rm.pending AND rm.emitted_at <= p_due) THEN
        SELECT e.o_users, e.o_seqs INTO o_users, o_seqs FROM ph_emit_receipts(p_room, p_due, p_at, p_pos) e;
    END IF;
    o_pending := EXISTS (SELECT 1 FROM receipt_marks rm WHERE rm.pending);
END
$$;

-- One send, as 0008's ph_send (same arguments, outcomes and lock order), in fewer
-- statements: the sender's member row is updated inside the fan-out's statement, and the
-- receipts step (ph_receipts above, the same outcomes) runs inline instead of as a
-- nested call. pg_stat_statements put plpgsql's own work at about a quarter of
-- ph_send's time: each statement and nested call it saves counts.
CREATE OR REPLACE FUNCTION ph_send(p_room bigint, p_sender bigint, p_device bigint, p_key text, p_body text, p_at bigint,
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
    v_marked boolean;
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
                 RETURNING inbox.user_id, inbox.seq),
         -- The sender's activity and read marker (everyone else's activity: once per
         -- room per batch, RoomActivity), in the same statement.
         snd AS (UPDATE members SET last_active_at = greatest(last_active_at, p_at), read_seq = greatest(read_seq, o_seq)
                 WHERE room_id = p_room AND user_id = p_sender)
    SELECT array_agg(ins.user_id ORDER BY ins.user_id), array_agg(ins.seq ORDER BY ins.user_id)
      INTO o_recipients, o_recipient_seqs FROM ins;
    IF coalesce(array_length(o_recipients, 1), 0) <> array_length(v_users, 1) THEN
        RAISE EXCEPTION 'ph_send: fan-out wrote % rows for % members', coalesce(array_length(o_recipients, 1), 0),
            array_length(v_users, 1);
    END IF;

    -- Sending reads what came before: the senders of those messages get new counts.
    -- ph_receipts(p_room, p_sender, o_read_before, o_seq - 1, ...) inline: a nested
    -- plpgsql call cost 0.04 ms of its 0.08 on 58% of sends.
    IF o_read_before < o_seq - 1 THEN
        WITH senders AS (SELECT DISTINCT msg.sender_id FROM messages msg
                         WHERE msg.room_id = p_room AND msg.seq > o_read_before AND msg.seq < o_seq
                           AND msg.sender_id <> p_sender AND msg.kind = 'message'
                           AND msg.sender_id IN (SELECT mb.user_id FROM members mb WHERE mb.room_id = p_room)),
             marked AS (INSERT INTO receipt_marks AS rm (room_id, sender_id, emitted_at, pending)
                        SELECT p_room, senders.sender_id, 0::bigint, true FROM senders ORDER BY 2
                        ON CONFLICT (room_id, sender_id) DO UPDATE SET pending = true WHERE NOT rm.pending)
        SELECT count(*) > 0 INTO v_marked FROM senders;
        IF v_marked THEN
            IF EXISTS (SELECT 1 FROM receipt_marks rm WHERE rm.room_id = p_room AND rm.pending AND rm.emitted_at <= p_due) THEN
                SELECT e.o_users, e.o_seqs INTO o_receipt_users, o_receipt_seqs FROM ph_emit_receipts(p_room, p_due, p_at, o_id) e;
            END IF;
            o_receipts_pending := EXISTS (SELECT 1 FROM receipt_marks rm WHERE rm.pending);
        END IF;
    END IF;
END
$$;
