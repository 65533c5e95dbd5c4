-- The claim also says whether the run is as it was written: no step of it started (every step `pending`, none
-- tried). The replica that wrote such a run holds its steps already and runs them without reading its 250-odd rows
-- back (pipelines/engine.ts). Replicas of the version before select the first two columns and go on as they did.
DROP FUNCTION ocdn_claim_lease(text, text, integer);
--> statement-breakpoint
CREATE FUNCTION ocdn_claim_lease(p_id text, p_owner text, p_lease_ms integer)
RETURNS TABLE (run_kind text, run_subject text, run_fresh boolean) LANGUAGE plpgsql VOLATILE AS $$
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
    RETURNING p.kind, p.subject,
      NOT EXISTS (SELECT 1 FROM pipeline_steps st WHERE st.pipeline_id = p.id AND (st.status <> 'pending' OR st.attempts > 0));
END $$;
