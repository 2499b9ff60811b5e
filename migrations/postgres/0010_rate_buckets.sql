-- Rate limits shared by the cluster's nodes (issue 20, item 5; Sources/SyncEngine/Store/
-- RateBucketsStore.swift). Each node's buckets in memory refuse a flood before it costs
-- anything, but over one database N nodes would each allow the whole rate: one device
-- alternating between two nodes got 43 sends/s through a 20/s limit. So a limited write
-- also takes its token from a bucket here, inside its own unit: a send in the same
-- statement (ph_send_limited), a room or a membership change one statement more in its
-- unit; no request gets a round trip of its own for it.
CREATE TABLE rate_buckets (
    key text PRIMARY KEY,                 -- 'send:d<device>', 'rooms:d<device>', 'members:d<device>', 'membership:r<room>'
    tokens double precision NOT NULL,
    at bigint NOT NULL                    -- milliseconds of the last charge (the nodes' clocks)
);

-- Takes p_cost tokens from p_key's bucket (p_rate a second, at most p_burst), refilled to
-- p_at (a clock behind the last charge refills nothing): 0 when taken, else the
-- milliseconds until they would be (nothing taken). p_debt: taken whatever is left, down
-- to one burst below zero, and 0. The bucket's row stays locked to the commit: units
-- take buckets before any room or user row.
CREATE FUNCTION ph_take_tokens(p_key text, p_rate double precision, p_burst double precision, p_cost double precision,
                               p_at bigint, p_debt boolean) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_tokens double precision;
    v_wait bigint := 0;
BEGIN
    INSERT INTO rate_buckets AS b (key, tokens, at) VALUES (p_key, p_burst, p_at)
    ON CONFLICT (key) DO UPDATE
        SET tokens = least(p_burst, b.tokens + greatest(0, p_at - b.at) * p_rate / 1000.0), at = greatest(b.at, p_at)
    RETURNING b.tokens INTO v_tokens;
    IF p_debt THEN
        v_tokens := greatest(-p_burst, v_tokens - p_cost);
    ELSIF v_tokens >= p_cost THEN
        v_tokens := v_tokens - p_cost;
    ELSE
        v_wait := ceil((p_cost - v_tokens) * 1000.0 / p_rate)::bigint;
    END IF;
    UPDATE rate_buckets SET tokens = v_tokens WHERE key = p_key;
    RETURN v_wait;
END
$$;

-- A send that first takes a token from the device's send bucket (p_key ..): o_status
-- 'rate_limited' with the wait in o_id (nothing written), else ph_send's answer.
CREATE FUNCTION ph_send_limited(p_key text, p_rate double precision, p_burst double precision,
                                p_room bigint, p_sender bigint, p_device bigint, p_msg_key text, p_body text, p_at bigint,
                                p_due bigint,
                                OUT o_status text, OUT o_id bigint, OUT o_room bigint, OUT o_seq bigint, OUT o_sender_name text,
                                OUT o_device bigint, OUT o_key text, OUT o_body text, OUT o_sent_at bigint, OUT o_hot boolean,
                                OUT o_read_before bigint, OUT o_recipients bigint[], OUT o_recipient_seqs bigint[],
                                OUT o_receipt_users bigint[], OUT o_receipt_seqs bigint[], OUT o_receipts_pending boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_wait bigint;
BEGIN
    v_wait := ph_take_tokens(p_key, p_rate, p_burst, 1, p_at, false);
    IF v_wait > 0 THEN
        o_status := 'rate_limited';
        o_id := v_wait;
        RETURN;
    END IF;
    SELECT s.o_status, s.o_id, s.o_room, s.o_seq, s.o_sender_name, s.o_device, s.o_key, s.o_body, s.o_sent_at, s.o_hot,
           s.o_read_before, s.o_recipients, s.o_recipient_seqs, s.o_receipt_users, s.o_receipt_seqs, s.o_receipts_pending
      INTO o_status, o_id, o_room, o_seq, o_sender_name, o_device, o_key, o_body, o_sent_at, o_hot,
           o_read_before, o_recipients, o_recipient_seqs, o_receipt_users, o_receipt_seqs, o_receipts_pending
      FROM ph_send(p_room, p_sender, p_device, p_msg_key, p_body, p_at, p_due) s;
END
$$;
