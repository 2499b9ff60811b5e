-- The periodic receipts flush passes over rooms another writer holds (issue 19, two
-- nodes). ph_flush_receipts (0008) waited for each room's lock in turn, and a room is
-- held by whichever batch is writing to it: on two nodes each node's flush, run by that
-- node's writer, waited room by room for the other node's batches, and every send queued
-- on that writer waited with it (the flush was half of the writers' row-lock waits). A
-- room held elsewhere is now skipped (`SKIP LOCKED`): its marks stay pending and are
-- counted in o_pending, so the next flush (the node's timer, 250 ms) comes back for them,
-- and a send into the room emits them itself when it marks. So that a room that is never
-- free cannot put its receipts off forever, marks due for more than four receipts windows
-- (at least 1 s) are waited for, as before. Everything else is 0008's function: rooms in
-- id order, each under its row lock, marks read again under it, emitted at the commit
-- position. Same signature; SQLite has one writer, so nothing to skip there.
CREATE OR REPLACE FUNCTION ph_flush_receipts(p_due bigint, p_at bigint,
                                             OUT o_rooms bigint[], OUT o_users bigint[], OUT o_seqs bigint[],
                                             OUT o_pending bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_room bigint;
    v_oldest bigint;
    v_pos bigint;
    v_users bigint[];
    v_seqs bigint[];
    v_overdue bigint := p_due - greatest(4 * (p_at - p_due), 1000);
BEGIN
    o_rooms := '{}';
    o_users := '{}';
    o_seqs := '{}';
    FOR v_room, v_oldest IN SELECT c.room_id, min(c.emitted_at) FROM (SELECT rm.room_id, rm.emitted_at FROM receipt_marks rm
                                                                   WHERE rm.pending AND rm.emitted_at <= p_due
                                                                   ORDER BY rm.room_id, rm.sender_id LIMIT 1000) c
                            GROUP BY 1 ORDER BY 1 LOOP
        IF v_oldest <= v_overdue THEN
            PERFORM 1 FROM rooms r WHERE r.id = v_room FOR NO KEY UPDATE;
        ELSE
            PERFORM 1 FROM rooms r WHERE r.id = v_room FOR NO KEY UPDATE SKIP LOCKED;
            CONTINUE WHEN NOT FOUND;
        END IF;
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
