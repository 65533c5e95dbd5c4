-- The caller check now runs as the last statement of a change's transaction (the audit entry's insert, sent with the
-- COMMIT: http/access.ts), so it sees the change's own writes. A change that ends its own caller — a token revoking
-- itself, a console session signing out — made its caller's row in this very transaction (xmin is this
-- transaction's id): that caller was live when the change began, and the change stands. A row ended by anyone else,
-- on any replica, before the check ran still fails it with SQLSTATE OC401, which aborts the change.
-- pg_current_xact_id_if_assigned: NULL when this transaction wrote nothing (then no row is its own).
CREATE OR REPLACE FUNCTION ocdn_caller_live(p_token text, p_session text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
  mine xid := pg_current_xact_id_if_assigned()::xid;
  token_mine boolean;
BEGIN
  IF p_token IS NULL THEN
    RETURN true;
  END IF;
  SELECT coalesce(t.xmin = mine, false) INTO token_mine FROM api_tokens t
    WHERE t.id = p_token AND ((t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())) OR coalesce(t.xmin = mine, false));
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the token was revoked or expired' USING ERRCODE = 'OC401';
  END IF;
  IF p_session IS NOT NULL AND NOT token_mine AND NOT EXISTS (
    SELECT 1 FROM sessions s WHERE s.id = p_session AND s.token_id = p_token AND (s.expires_at > now() OR coalesce(s.xmin = mine, false))
  ) THEN
    RAISE EXCEPTION 'the console session ended' USING ERRCODE = 'OC401';
  END IF;
  RETURN true;
END $$;
