-- A run's lease claimed in one call instead of a transaction of five round trips (pipelines/leases.ts): when a whole
-- fleet's FAULT_NODE and RECOVER_NODE runs were claimed at once, each claim held a connection across its round
-- trips through a busy event loop, and claims were most of what the database did. The claim is the same: runs on
-- one subject take the subject's advisory lock (held to the end of the calling transaction), and the update, which
-- this VOLATILE function runs with a fresh snapshot taken after the lock, finds no earlier unfinished run on the
-- subject and no live lease of another owner.
CREATE FUNCTION ocdn_claim_lease(p_id text, p_owner text, p_lease_ms integer)
RETURNS TABLE (run_kind text, run_subject text) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  s text;
BEGIN
  SELECT p.subject INTO s FROM pipelines p WHERE p.id = p_id AND p.status IN ('pending', 'running');
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('ocdn.pipeline:' || s));
  RETURN QUERY
    UPDATE pipelines p SET status = 'running', lease_owner = p_owner,
      lease_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
    WHERE p.id = p_id AND p.status IN ('pending', 'running')
      AND (p.lease_owner IS NULL OR p.lease_until < now() OR p.lease_owner = p_owner)
      AND NOT EXISTS (
        SELECT 1 FROM pipelines o
        WHERE o.subject = p.subject AND o.id <> p.id AND o.status IN ('pending', 'running')
          AND ((o.created_at, o.id) < (p.created_at, p.id) OR (o.status = 'running' AND o.lease_until > now()))
      )
    RETURNING p.kind, p.subject;
END $$;
