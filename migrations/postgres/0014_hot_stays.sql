-- A member's departures from a hot room are kept one per stay, with the inbox seq of the
-- leave's `member` event (left_inbox_seq): see migrations/sqlite/0014_hot_stays.sql for
-- why. The table keeps its name; its key becomes (user_id, room_id, left_seq), so a
-- rejoin no longer drops the stay before it (ph_add_members forgets nothing now) and
-- ph_remove_member records each stay (the leaver's inbox seq is the leave event's, written
-- just before). Both functions are otherwise 0008's, restated whole (a plpgsql function
-- is replaced, not patched); their signatures are unchanged.
ALTER TABLE hot_departures ADD COLUMN left_inbox_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hot_departures DROP CONSTRAINT hot_departures_pkey;
ALTER TABLE hot_departures ADD PRIMARY KEY (user_id, room_id, left_seq);

CREATE OR REPLACE FUNCTION ph_add_members(p_room bigint, p_by bigint, p_names text[], p_payloads text[], p_at bigint,
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

CREATE OR REPLACE FUNCTION ph_remove_member(p_room bigint, p_by bigint, p_name text, p_payload text, p_at bigint,
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
        INSERT INTO hot_departures (user_id, room_id, floor, left_seq, left_at, left_inbox_seq)
        SELECT m.user_id, m.room_id, greatest(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq, p_at, u.inbox_seq
        FROM members m JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id
        WHERE m.room_id = p_room AND m.user_id = v_target
        ON CONFLICT (user_id, room_id, left_seq) DO NOTHING;
    END IF;
    DELETE FROM members WHERE room_id = p_room AND user_id = v_target;
    UPDATE rooms SET member_count = member_count - 1 WHERE id = p_room;
    DELETE FROM receipt_marks WHERE room_id = p_room AND sender_id = v_target;
    o_status := 'removed';
END
$$;
