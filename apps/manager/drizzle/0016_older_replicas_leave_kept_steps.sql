-- A rolling upgrade across drizzle/0015 must not let a replica of the code before it run a run that keeps its steps
-- (pipelines.steps): such a replica reads a run's steps from its rows only, and would find none for the steps not yet
-- written (nothing to do: the run would end `succeeded` with its steps never run). Replicas of this code claim runs
-- through ocdn_claim_run; ocdn_claim_lease, which the replicas before call, now claims only runs whose steps are rows
-- (steps is null), so until every replica is upgraded the older ones leave the newer runs to the newer replicas.
CREATE FUNCTION ocdn_claim_run(p_id text, p_owner text, p_lease_ms integer)
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
--> statement-breakpoint
CREATE OR REPLACE FUNCTION ocdn_claim_lease(p_id text, p_owner text, p_lease_ms integer)
RETURNS TABLE (run_kind text, run_subject text, run_fresh boolean) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  s text;
BEGIN
  SELECT p.subject INTO s FROM pipelines p WHERE p.id = p_id AND p.status IN ('pending', 'running') AND p.steps IS NULL;
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
