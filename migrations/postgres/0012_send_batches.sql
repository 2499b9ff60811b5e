-- The sends of one batch in one call (issue 19): the group-commit writer pipelines the
-- first statement of every unit of a batch (Sources/PostgresBackend/GroupCommitWriter+
-- Pipeline.swift); consecutive sends among them (ph_send, ph_send_limited) go out as ONE
-- call of this function instead of one call each (SendBatches.swift). On a 2-core
-- machine the database's CPU was the ceiling of PostgreSQL sends: each of a send's ten
-- or so statements paid its executor start-up, its relation locks and its plan-cache
-- lookup, and the small tables were scanned once per send. Here every step is one
-- set-based statement for the whole run of sends, whatever its length.
--
-- The outcome is the one ph_send_limited would give run for each unit in order (the
-- pipeline's serial equivalence), with these differences, none visible in what a unit
-- answers or in what is stored for a message:
--   * locks are taken per step for all units: buckets in unit order, rooms in id order,
--     users in id order (one statement each), then member rows: the order every unit
--     keeps, kept across the whole batch;
--   * receipts: the marks of all the sends first, then the due marks of the rooms that
--     marked any emitted once per room (a room's receipts events are answered to its last
--     send of the run): two jumps of one reader in one batch make one `receipts` event, as
--     two within the receipts interval would. The emission uses the run's latest time
--     (created_at, emitted_at), latest due bound and largest message id (pos), and takes
--     at most 1000 marks for the whole run (the periodic flush takes the rest);
--   * a unit whose (sender, client_msg_id) another unit of the run repeats is never
--     merged (the caller keeps such a run per unit), and a message another writer
--     inserted meanwhile with the same key makes this call fail (PH002): the batch then
--     runs again a unit at a time, where ph_send answers it as a duplicate.
--   * a unit on its first attempt (p_patient false) whose room another writer holds is
--     'busy' (nothing written): the caller carries it to the next batch, patient there.
-- One row per unit, in unit order, with ph_send's columns.
CREATE FUNCTION ph_send_batch(p_bucket_keys text[], p_rates double precision[], p_bursts double precision[],
                              p_rooms bigint[], p_senders bigint[], p_devices bigint[], p_keys text[], p_bodies text[],
                              p_ats bigint[], p_dues bigint[], p_patient boolean[])
RETURNS TABLE (o_status text, o_id bigint, o_room bigint, o_seq bigint, o_sender_name text, o_device bigint, o_key text,
               o_body text, o_sent_at bigint, o_hot boolean, o_read_before bigint, o_recipients bigint[],
               o_recipient_seqs bigint[], o_receipt_users bigint[], o_receipt_seqs bigint[], o_receipts_pending boolean)
LANGUAGE plpgsql VOLATILE
-- Every join here starts from the run's few units and must reach rows through their keys
-- (a nested loop over an index), whatever the tables hold: a hash join would read a whole
-- table (all members, all messages) per batch, which the planner may choose when it
-- cannot tell how many elements an array parameter has.
SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
    v_dups bigint[];
    d_id bigint[]; d_room bigint[]; d_seq bigint[]; d_name text[]; d_device bigint[]; d_body text[]; d_sent bigint[];
    v_marked bigint[];
    v_held bigint[];
    v_status text[];
    a_i bigint[]; a_room bigint[]; a_sender bigint[]; a_seq bigint[]; a_hot boolean[]; a_rb bigint[]; a_at bigint[];
    a_id bigint[];
    f_id bigint[]; f_user bigint[]; f_seq bigint[];
    r_room bigint[]; r_user bigint[]; r_seq bigint[];
    v_expected bigint;
    v_pending boolean := false;
    v_waits bigint[];
    v_wait bigint;
    v_due bigint := (SELECT max(d) FROM unnest(p_dues) d);
    v_at bigint := (SELECT max(t) FROM unnest(p_ats) t);
BEGIN
    -- The devices' send buckets, in unit order, before any room or user row
    -- (ph_send_limited): a unit refused here is 'rate_limited', its wait in o_id.
    v_waits := array_fill(NULL::bigint, ARRAY[array_length(p_rooms, 1)]);
    FOR i IN 1 .. array_length(p_rooms, 1) LOOP
        IF p_bucket_keys[i] IS NOT NULL THEN
            v_wait := ph_take_tokens(p_bucket_keys[i], p_rates[i], p_bursts[i], 1, p_ats[i], false);
            IF v_wait > 0 THEN
                v_waits[i] := v_wait;
            END IF;
        END IF;
    END LOOP;

    -- Already sent (sender, client_msg_id): the original is the answer, without a room lock.
    -- Found by key first (the common case: none); the originals read only if some are.
    SELECT coalesce(array_agg(u.i ORDER BY u.i), '{}') INTO v_dups
      FROM unnest(p_senders, p_keys) WITH ORDINALITY AS u(sender, key, i)
     WHERE v_waits[u.i] IS NULL
       AND EXISTS (SELECT 1 FROM messages m WHERE m.sender_id = u.sender AND m.client_msg_id = u.key);
    IF cardinality(v_dups) > 0 THEN
        SELECT array_agg(m.id ORDER BY d.k), array_agg(m.room_id ORDER BY d.k), array_agg(m.seq ORDER BY d.k),
               array_agg(su.name ORDER BY d.k), array_agg(m.sender_device_id ORDER BY d.k), array_agg(m.body ORDER BY d.k),
               array_agg(m.sent_at ORDER BY d.k)
          INTO d_id, d_room, d_seq, d_name, d_device, d_body, d_sent
          FROM unnest(v_dups) WITH ORDINALITY AS d(i, k)
          JOIN messages m ON m.sender_id = p_senders[d.i] AND m.client_msg_id = p_keys[d.i]
          CROSS JOIN LATERAL (SELECT u.name FROM users u WHERE u.id = m.sender_id) su;
        IF coalesce(cardinality(d_id), 0) <> cardinality(v_dups) THEN
            -- An original went meanwhile (retention): a unit at a time answers it right.
            RAISE EXCEPTION 'ph_send_batch: % of % originals found', coalesce(cardinality(d_id), 0), cardinality(v_dups)
                USING ERRCODE = 'PH002';
        END IF;
    END IF;

    -- The rooms' locks, in id order: last_seq + 1 onwards are this run's seqs until COMMIT.
    -- A room wanted only by units on their first attempt is skipped if another writer
    -- holds it (another node's batch, the receipts flush): those units are 'busy' and go
    -- to the next batch, where they wait for it (p_patient), rather than the whole run
    -- waiting for the other transaction's commit. The waits first, while this call holds
    -- no room, then the rooms taken only if free: no lock cycle the one-statement order
    -- did not have.
    WITH want AS (SELECT u.room, bool_or(coalesce(p_patient[u.i], true)) AS patient
                    FROM unnest(p_rooms) WITH ORDINALITY AS u(room, i)
                   WHERE v_waits[u.i] IS NULL AND u.i <> ALL (v_dups) GROUP BY u.room),
         waited AS (SELECT r.id FROM rooms r WHERE r.id IN (SELECT want.room FROM want WHERE want.patient)
                     ORDER BY r.id FOR NO KEY UPDATE)
    SELECT coalesce(array_agg(waited.id), '{}') INTO v_held FROM waited;
    WITH want AS (SELECT u.room FROM unnest(p_rooms) WITH ORDINALITY AS u(room, i)
                   WHERE v_waits[u.i] IS NULL AND u.i <> ALL (v_dups) AND u.room <> ALL (v_held)),
         free AS (SELECT r.id FROM rooms r WHERE r.id IN (SELECT want.room FROM want)
                   ORDER BY r.id FOR NO KEY UPDATE SKIP LOCKED)
    SELECT v_held || coalesce(array_agg(free.id), '{}') INTO v_held FROM free;

    -- Each unit's fate, and the appended ones' seqs and read markers before, read after the
    -- locks (each statement of a VOLATILE function takes a fresh snapshot: 0008's header).
    WITH u AS (SELECT u.room, u.sender, u.i FROM unnest(p_rooms, p_senders) WITH ORDINALITY AS u(room, sender, i)),
         x AS (SELECT u.i, u.room, u.sender, r.last_seq, r.hot, mb.read_seq,
                      CASE WHEN v_waits[u.i] IS NOT NULL THEN 'rate_limited'
                           WHEN u.i = ANY (v_dups) THEN 'duplicate' WHEN r.id IS NULL THEN 'no_room'
                           WHEN u.room <> ALL (v_held) THEN 'busy'
                           WHEN mb.user_id IS NULL THEN 'not_member' ELSE 'appended' END AS status
                 FROM u LEFT JOIN rooms r ON r.id = u.room
                 LEFT JOIN members mb ON mb.room_id = u.room AND mb.user_id = u.sender),
         a AS (SELECT x.i, x.room, x.sender, x.hot, x.read_seq,
                      x.last_seq + row_number() OVER (PARTITION BY x.room ORDER BY x.i) AS seq
                 FROM x WHERE x.status = 'appended'),
         b AS (SELECT a.*, coalesce(lag(a.seq) OVER (PARTITION BY a.room, a.sender ORDER BY a.i), a.read_seq) AS rb FROM a)
    SELECT (SELECT array_agg(x.status ORDER BY x.i) FROM x),
           array_agg(b.i ORDER BY b.i), array_agg(b.room ORDER BY b.i), array_agg(b.sender ORDER BY b.i),
           array_agg(b.seq ORDER BY b.i), array_agg(b.hot ORDER BY b.i), array_agg(b.rb ORDER BY b.i),
           array_agg(p_ats[b.i] ORDER BY b.i)
      INTO v_status, a_i, a_room, a_sender, a_seq, a_hot, a_rb, a_at FROM b;

    IF a_i IS NOT NULL THEN
        -- The messages.
        WITH ins AS (INSERT INTO messages AS m (room_id, seq, sender_id, sender_device_id, client_msg_id, body, sent_at)
                     SELECT a.room, a.seq, a.sender, p_devices[a.i], p_keys[a.i], p_bodies[a.i], p_ats[a.i]
                       FROM unnest(a_i, a_room, a_sender, a_seq) AS a(i, room, sender, seq) ORDER BY a.i
                     ON CONFLICT (sender_id, client_msg_id) DO NOTHING RETURNING m.id, m.room_id, m.seq)
        SELECT array_agg(ins.id ORDER BY a.i) INTO a_id
          FROM unnest(a_i, a_room, a_seq) AS a(i, room, seq) JOIN ins ON ins.room_id = a.room AND ins.seq = a.seq;
        IF coalesce(array_length(a_id, 1), 0) <> array_length(a_i, 1) THEN
            RAISE EXCEPTION 'ph_send_batch: % of % messages inserted', coalesce(array_length(a_id, 1), 0), array_length(a_i, 1)
                USING ERRCODE = 'PH002';
        END IF;
        UPDATE rooms r SET last_seq = t.seq, last_active_at = greatest(r.last_active_at, t.at)
          FROM (SELECT a.room, max(a.seq) AS seq, max(a.at) AS at FROM unnest(a_room, a_seq, a_at) AS a(room, seq, at)
                 GROUP BY a.room) t
         WHERE r.id = t.room;

        -- Write diffusion: each member's next inbox seqs under the users rows' locks, in id
        -- order. Each member's messages travel as arrays (unit order) from the grouping to
        -- the insert, so no step joins two intermediate results (a nested loop over both:
        -- quadratic for a big group).
        WITH p AS (SELECT a.i, a.room, a.seq, a.id, a.at, mb.user_id
                     FROM unnest(a_i, a_room, a_seq, a_id, a_at, a_hot) AS a(i, room, seq, id, at, hot)
                     JOIN members mb ON mb.room_id = a.room WHERE NOT a.hot),
             c AS (SELECT p.user_id, count(*) AS n, array_agg(p.room ORDER BY p.i) AS rooms,
                          array_agg(p.seq ORDER BY p.i) AS seqs, array_agg(p.id ORDER BY p.i) AS ids,
                          array_agg(p.at ORDER BY p.i) AS ats
                     FROM p GROUP BY p.user_id),
             l AS (SELECT u.id, c.n, c.rooms, c.seqs, c.ids, c.ats FROM c JOIN users u ON u.id = c.user_id
                    ORDER BY u.id FOR NO KEY UPDATE OF u),
             up AS (UPDATE users u SET inbox_seq = u.inbox_seq + l.n FROM l WHERE u.id = l.id
                    RETURNING u.id, u.inbox_seq - l.n AS base, l.rooms, l.seqs, l.ids, l.ats),
             ins AS (INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
                     SELECT up.id, up.base + x.k, 'message', x.room, x.seq, NULL, x.at, x.id
                       FROM up CROSS JOIN LATERAL unnest(up.rooms, up.seqs, up.ats, up.ids)
                                                  WITH ORDINALITY AS x(room, seq, at, id, k)
                     RETURNING inbox.pos, inbox.user_id, inbox.seq)
        SELECT array_agg(ins.pos), array_agg(ins.user_id), array_agg(ins.seq), (SELECT count(*) FROM p)
          INTO f_id, f_user, f_seq, v_expected FROM ins;
        IF coalesce(array_length(f_id, 1), 0) <> v_expected THEN
            RAISE EXCEPTION 'ph_send_batch: fan-out wrote % rows for % members', coalesce(array_length(f_id, 1), 0), v_expected;
        END IF;

        -- The senders' activity and read markers.
        UPDATE members mb SET last_active_at = CASE WHEN t.hot THEN mb.last_active_at ELSE greatest(mb.last_active_at, t.at) END,
                              read_seq = greatest(mb.read_seq, t.seq)
          FROM (SELECT a.room, a.sender, bool_or(a.hot) AS hot, max(a.seq) AS seq, max(a.at) AS at
                  FROM unnest(a_room, a_sender, a_seq, a_at, a_hot) AS a(room, sender, seq, at, hot) GROUP BY a.room, a.sender) t
         WHERE mb.room_id = t.room AND mb.user_id = t.sender AND (NOT t.hot OR mb.read_seq < t.seq);

        -- Sending reads what came before: receipts marks, then the due marks of the rooms
        -- that marked any emitted.
        WITH marked AS (
        INSERT INTO receipt_marks (room_id, sender_id, emitted_at, pending)
        SELECT DISTINCT msg.room_id, msg.sender_id, 0::bigint, true
          FROM unnest(a_room, a_sender, a_rb, a_seq, a_hot) AS r(room, reader, rb, seq, hot)
          CROSS JOIN LATERAL (SELECT m.room_id, m.sender_id FROM messages m
                               WHERE m.room_id = r.room AND m.seq > r.rb AND m.seq < r.seq AND m.sender_id <> r.reader
                                 AND m.kind = 'message' OFFSET 0) msg   -- the range first, then its senders
         WHERE NOT r.hot AND r.rb < r.seq - 1
           AND EXISTS (SELECT 1 FROM members mb WHERE mb.room_id = r.room AND mb.user_id = msg.sender_id)
         ORDER BY 1, 2
        ON CONFLICT (room_id, sender_id) DO UPDATE SET pending = true
        RETURNING receipt_marks.room_id)
        SELECT array_agg(DISTINCT marked.room_id) INTO v_marked FROM marked;
        IF v_marked IS NOT NULL THEN
            WITH due AS (SELECT rm.room_id, rm.sender_id FROM receipt_marks rm
                          WHERE rm.pending AND rm.emitted_at <= v_due AND rm.room_id = ANY (v_marked)
                          ORDER BY rm.room_id, rm.sender_id LIMIT 1000 FOR NO KEY UPDATE),
                 c AS (SELECT due.sender_id AS user_id, count(*) AS n, array_agg(due.room_id ORDER BY due.room_id) AS rooms
                         FROM due GROUP BY due.sender_id),
                 l AS (SELECT u.id, c.n, c.rooms FROM c JOIN users u ON u.id = c.user_id ORDER BY u.id FOR NO KEY UPDATE OF u),
                 up AS (UPDATE users u SET inbox_seq = u.inbox_seq + l.n FROM l WHERE u.id = l.id
                        RETURNING u.id, u.inbox_seq - l.n AS base, l.rooms),
                 ins AS (INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
                         SELECT up.id, up.base + x.k, 'receipts', x.room, NULL, NULL, v_at, (SELECT max(t) FROM unnest(a_id) t)
                           FROM up CROSS JOIN LATERAL unnest(up.rooms) WITH ORDINALITY AS x(room, k)
                         RETURNING inbox.room_id, inbox.user_id, inbox.seq),
                 em AS (UPDATE receipt_marks rm SET pending = false, emitted_at = v_at FROM due
                         WHERE rm.room_id = due.room_id AND rm.sender_id = due.sender_id)
            SELECT array_agg(ins.room_id), array_agg(ins.user_id), array_agg(ins.seq) INTO r_room, r_user, r_seq FROM ins;
            v_pending := EXISTS (SELECT 1 FROM receipt_marks rm WHERE rm.pending);
        END IF;
    END IF;

    -- One row per unit, in order.
    RETURN QUERY
    WITH a AS (SELECT * FROM unnest(a_i, a_room, a_seq, a_id, a_hot, a_rb) AS a(i, room, seq, id, hot, rb)),
         lastr AS (SELECT a.room, max(a.i) AS i FROM a GROUP BY a.room),
         f AS (SELECT f.id, array_agg(f.user_id ORDER BY f.user_id) AS users, array_agg(f.seq ORDER BY f.user_id) AS seqs
                 FROM unnest(f_id, f_user, f_seq) AS f(id, user_id, seq) GROUP BY f.id),
         rc AS (SELECT r.room, array_agg(r.user_id ORDER BY r.user_id) AS users, array_agg(r.seq ORDER BY r.user_id) AS seqs
                  FROM unnest(r_room, r_user, r_seq) AS r(room, user_id, seq) GROUP BY r.room)
    SELECT s.status, coalesce(a.id, d_id[d.k], v_waits[s.i]), d_room[d.k], coalesce(a.seq, d_seq[d.k]), d_name[d.k],
           d_device[d.k], CASE WHEN d.k IS NOT NULL THEN p_keys[s.i] END, d_body[d.k], d_sent[d.k], a.hot, a.rb,
           coalesce(f.users, '{}'), coalesce(f.seqs, '{}'), coalesce(rc.users, '{}'), coalesce(rc.seqs, '{}'),
           CASE WHEN a.i IS NULL THEN NULL
                WHEN NOT a.hot AND a.rb < a.seq - 1 AND a.room = ANY (v_marked) THEN v_pending ELSE false END
      FROM unnest(v_status) WITH ORDINALITY AS s(status, i)
      LEFT JOIN a ON a.i = s.i
      LEFT JOIN f ON f.id = a.id
      LEFT JOIN lastr ON lastr.room = a.room AND lastr.i = a.i
      LEFT JOIN rc ON rc.room = lastr.room
      LEFT JOIN LATERAL (SELECT array_position(v_dups, s.i) AS k WHERE s.status = 'duplicate') d ON true
     ORDER BY s.i;
END
$$;
