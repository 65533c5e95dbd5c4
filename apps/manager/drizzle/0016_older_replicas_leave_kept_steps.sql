-- A rolling upgrade across drizzle/0015 must not let a replica of the code before it run a run that keeps its steps
-- (pipelines.steps): such a replica reads a run's steps from its rows only, and would find none for the steps not yet
-- written (nothing to do: the run would end `succeeded` with its steps never run). The claim keeps its body under a
-- new name, ocdn_claim_run, which replicas of this code call; ocdn_claim_lease, which the replicas before call, now
-- claims only runs whose steps are rows (steps is null; a run's steps are written with it and never change), so until
-- every replica is upgraded the older ones leave the newer runs to the newer replicas.
ALTER FUNCTION ocdn_claim_lease(text, text, integer) RENAME TO ocdn_claim_run;
--> statement-breakpoint
CREATE FUNCTION ocdn_claim_lease(p_id text, p_owner text, p_lease_ms integer)
RETURNS TABLE (run_kind text, run_subject text, run_fresh boolean) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pipelines p WHERE p.id = p_id AND p.steps IS NULL) THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT * FROM ocdn_claim_run(p_id, p_owner, p_lease_ms);
END $$;
