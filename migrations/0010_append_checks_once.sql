-- The foreign keys of the three tables quittance_append fills checked every row again, with
-- a trigger and a query each: six per receipt (its merchant; each body's receipt and vault
-- key; its pending timestamp's receipt), about 60 us of PostgreSQL CPU a receipt, a quarter
-- of the function's cost (issue 14; measured with 32-receipt batches, 118-177 us without them,
-- 160-245 us with). The function is the only writer of these tables, and nothing deletes
-- from them:
-- - a receipt is appended only under its merchant's chain head, read under lock, and
--   chain_heads keeps its foreign key to merchants;
-- - bodies and pending timestamps are inserted only for receipts the same call inserted;
-- - the vault keys the bodies name are now checked once a batch, below (a missing key fails
--   the batch, as the foreign key did).
-- Everything else is 0009's function unchanged.
ALTER TABLE "pending_timestamps" DROP CONSTRAINT "pending_timestamps_receipt_id_receipts_id_fk";
--> statement-breakpoint
ALTER TABLE "receipt_bodies" DROP CONSTRAINT "receipt_bodies_receipt_id_receipts_id_fk";
--> statement-breakpoint
ALTER TABLE "receipt_bodies" DROP CONSTRAINT "receipt_bodies_vault_key_id_vault_keys_id_fk";
--> statement-breakpoint
ALTER TABLE "receipts" DROP CONSTRAINT "receipts_merchant_id_merchants_id_fk";--> statement-breakpoint
CREATE OR REPLACE FUNCTION quittance_append(
  p_merchants text[],
  p_ids text[], p_call_ids text[], p_agent_ids text[], p_order_ids text[], p_buckets text[],
  p_tools text[], p_created_at text[], p_kids text[], p_signed text[], p_jws text[],
  p_receipt_hashes text[], p_content_hashes text[], p_has_bodies int4[],
  p_body_receipt_ids text[], p_body_kinds text[], p_body_vault_key_ids text[],
  p_body_data text, p_body_offsets int4[], p_body_iv_lengths int4[], p_body_lengths int4[]
) RETURNS TABLE (item int4, outcome text, chain_seq int8, chain_prev text, chain_entry text,
  existing_id text)
LANGUAGE plpgsql AS $$
DECLARE
  v_merchant text;
  v_usable boolean;
  v_changed boolean := false;
  v_seq int8;
  v_hash text;
  v_frontier text[];
  v_at timestamptz;
  v_node bytea;
  v_size int8;
  v_key text;
  v_found_id text;
  v_found_content text;
  v_kid text;
  v_key_merchant text;
  v_nbf timestamptz;
  v_exp timestamptz;
  v_revoked timestamptz;
  v_status text;
  v_pos int4;
  v_bodies bytea;
  -- receipts already in the chains with one of the batch's (merchant, callId) pairs
  e_keys text[];
  e_ids text[];
  e_contents text[];
  -- what was created in this batch: item numbers, (merchant, callId) keys, chain positions
  c_items int4[] := '{}';
  c_keys text[] := '{}';
  c_seq int8[] := '{}';
  c_prev text[] := '{}';
  c_entry text[] := '{}';
  -- the answer, one row per item
  o_outcome text[] := '{}';
  o_seq int8[] := '{}';
  o_prev text[] := '{}';
  o_entry text[] := '{}';
  o_existing text[] := '{}';
BEGIN
  PERFORM 1 FROM chain_heads h
    WHERE h.merchant_id = ANY (p_merchants) ORDER BY h.merchant_id FOR UPDATE;
  -- Read after the locks, planned afresh each time (EXECUTE) so it always takes the
  -- (merchant_id, call_id) index: a plan cached while the table was empty once scanned a
  -- whole merchant per item.
  EXECUTE 'SELECT coalesce(array_agg(r.merchant_id || chr(31) || r.call_id), ''{}''),
      coalesce(array_agg(r.id), ''{}''), coalesce(array_agg(r.content_hash), ''{}'')
    FROM receipts r JOIN unnest($1::text[], $2::text[]) AS k(m, c)
      ON r.merchant_id = k.m AND r.call_id = k.c'
    INTO e_keys, e_ids, e_contents USING p_merchants, p_call_ids;

  FOR i IN 1 .. coalesce(cardinality(p_ids), 0) LOOP
    IF p_merchants[i] IS DISTINCT FROM v_merchant THEN
      IF v_changed THEN
        UPDATE chain_heads SET seq = v_seq, entry_hash = v_hash, frontier = v_frontier
          WHERE merchant_id = v_merchant;
      END IF;
      v_merchant := p_merchants[i];
      v_changed := false;
      SELECT h.seq, h.entry_hash, h.frontier INTO v_seq, v_hash, v_frontier
        FROM chain_heads h WHERE h.merchant_id = v_merchant;
      v_usable := FOUND AND cardinality(v_frontier)
        = length(replace(v_seq::bit(64)::text, '0', ''));
    END IF;
    IF NOT v_usable THEN
      o_outcome := o_outcome || 'fallback'::text;
      o_seq := o_seq || NULL::int8; o_prev := o_prev || NULL::text;
      o_entry := o_entry || NULL::text; o_existing := o_existing || NULL::text;
      CONTINUE;
    END IF;

    -- An earlier receipt with this callId, in the chain or earlier in this batch.
    v_key := v_merchant || chr(31) || p_call_ids[i];
    v_found_id := NULL;
    v_pos := array_position(c_keys, v_key);
    IF v_pos IS NOT NULL THEN
      v_found_id := p_ids[c_items[v_pos]];
      v_found_content := p_content_hashes[c_items[v_pos]];
    ELSE
      v_pos := array_position(e_keys, v_key);
      IF v_pos IS NOT NULL THEN
        v_found_id := e_ids[v_pos];
        v_found_content := e_contents[v_pos];
      END IF;
    END IF;
    IF v_found_id IS NOT NULL THEN
      o_outcome := o_outcome || CASE WHEN v_found_content = p_content_hashes[i]
        THEN 'replay' ELSE 'conflict' END;
      o_seq := o_seq || NULL::int8; o_prev := o_prev || NULL::text;
      o_entry := o_entry || NULL::text; o_existing := o_existing || v_found_id;
      CONTINUE;
    END IF;

    -- The key's window at createdAt, compared at millisecond precision as the API reads it,
    -- and the key still the merchant's active one now, under the chain lock (migration 0009).
    IF v_kid IS DISTINCT FROM p_kids[i] THEN
      v_kid := p_kids[i];
      SELECT k.merchant_id, date_trunc('milliseconds', k.nbf), date_trunc('milliseconds', k.exp),
          date_trunc('milliseconds', k.revoked_at), k.status
        INTO v_key_merchant, v_nbf, v_exp, v_revoked, v_status
        FROM signing_keys k WHERE k.kid = v_kid;
      IF NOT FOUND THEN v_key_merchant := NULL; END IF;
    END IF;
    v_at := p_created_at[i]::timestamptz;
    IF v_key_merchant IS DISTINCT FROM v_merchant OR v_status IS DISTINCT FROM 'active'
        OR v_at < v_nbf
        OR (v_exp IS NOT NULL AND v_at >= v_exp)
        OR (v_revoked IS NOT NULL AND v_at >= v_revoked) THEN
      o_outcome := o_outcome || 'key_invalid'::text;
      o_seq := o_seq || NULL::int8; o_prev := o_prev || NULL::text;
      o_entry := o_entry || NULL::text; o_existing := o_existing || NULL::text;
      CONTINUE;
    END IF;

    v_size := v_seq;
    v_seq := v_seq + 1;
    c_prev := c_prev || v_hash;
    v_hash := encode(sha256(convert_to('{"prevHash":"' || v_hash || '","receiptHash":"'
      || p_receipt_hashes[i] || '","receiptId":"' || p_ids[i] || '","seq":' || v_seq || '}',
      'UTF8')), 'hex');
    -- RFC 9162 leaf, merged with the frontier's equal-sized subtrees (the low set bits).
    v_node := sha256('\x00'::bytea || decode(v_hash, 'hex'));
    WHILE v_size % 2 = 1 LOOP
      v_node := sha256('\x01'::bytea || decode(v_frontier[cardinality(v_frontier)], 'hex')
        || v_node);
      v_frontier := v_frontier[1 : cardinality(v_frontier) - 1];
      v_size := v_size / 2;
    END LOOP;
    v_frontier := v_frontier || encode(v_node, 'hex');
    v_changed := true;

    c_items := c_items || i; c_keys := c_keys || v_key;
    c_seq := c_seq || v_seq; c_entry := c_entry || v_hash;
    o_outcome := o_outcome || 'created'::text; o_seq := o_seq || v_seq;
    o_prev := o_prev || c_prev[cardinality(c_prev)]; o_entry := o_entry || v_hash;
    o_existing := o_existing || NULL::text;
  END LOOP;
  IF v_changed THEN
    UPDATE chain_heads SET seq = v_seq, entry_hash = v_hash, frontier = v_frontier
      WHERE merchant_id = v_merchant;
  END IF;

  IF cardinality(c_items) > 0 THEN
    INSERT INTO receipts (id, merchant_id, seq, call_id, agent_id, order_id, bucket, tool,
        created_at, signing_key_kid, signed, jws, legal_posture, receipt_hash, prev_hash,
        entry_hash, content_hash, has_bodies)
      SELECT p_ids[c.i], p_merchants[c.i], c.seq, p_call_ids[c.i], p_agent_ids[c.i],
          p_order_ids[c.i], p_buckets[c.i], p_tools[c.i], p_created_at[c.i]::timestamptz,
          p_kids[c.i], p_signed[c.i], p_jws[c.i], 'signed', p_receipt_hashes[c.i], c.prev,
          c.entry, p_content_hashes[c.i], p_has_bodies[c.i]
        FROM unnest(c_items, c_seq, c_prev, c_entry) AS c(i, seq, prev, entry);
    -- Each vault key named once, not a foreign-key check per body (see above).
    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT v.id FROM unnest(p_body_vault_key_ids) AS v(id)) d
        WHERE NOT EXISTS (SELECT 1 FROM vault_keys k WHERE k.id = d.id)) THEN
      RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
        MESSAGE = 'a body names a vault key that does not exist';
    END IF;
    v_bodies := decode(p_body_data, 'base64');
    INSERT INTO receipt_bodies (receipt_id, kind, vault_key_id, iv, ciphertext)
      SELECT b.receipt_id, b.kind, b.vault_key_id,
          substring(v_bodies FROM b.offset_bytes + 1 FOR b.iv_bytes),
          substring(v_bodies FROM b.offset_bytes + b.iv_bytes + 1 FOR b.ciphertext_bytes)
        FROM unnest(p_body_receipt_ids, p_body_kinds, p_body_vault_key_ids, p_body_offsets,
          p_body_iv_lengths, p_body_lengths) AS b(receipt_id, kind, vault_key_id, offset_bytes,
          iv_bytes, ciphertext_bytes)
        WHERE b.receipt_id = ANY (SELECT p_ids[x.i] FROM unnest(c_items) AS x(i));
    INSERT INTO pending_timestamps (receipt_id, merchant_id, next_attempt_at)
      SELECT p_ids[x.i], p_merchants[x.i], p_created_at[x.i]::timestamptz
        FROM unnest(c_items) AS x(i);
  END IF;

  RETURN QUERY SELECT o.n::int4, o.outcome, o.seq, o.prev, o.entry, o.existing
    FROM unnest(o_outcome, o_seq, o_prev, o_entry, o_existing)
      WITH ORDINALITY AS o(outcome, seq, prev, entry, existing, n);
END;
$$;
