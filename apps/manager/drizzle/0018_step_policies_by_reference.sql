-- A run's retry policies are kept once per run (pipelines.policies, a JSON array of the distinct ones) and each of its
-- steps names its own by its place there ("p") instead of repeating it: a domain's run onto fifty nodes repeats one of
-- three policies in its 252 steps, a third of the steps' JSON, and that JSON is the largest write of a domain's POST.
-- A step that carries its policy itself (a run written by a replica of the code before) is read as it was. run_steps
-- reads both, so every replica, of this code or of the code before, reads the same steps.
ALTER TABLE pipelines ADD COLUMN policies jsonb;
--> statement-breakpoint
CREATE OR REPLACE VIEW run_steps AS
  SELECT p.id AS pipeline_id, (e.ord - 1)::integer AS idx, e.step->>'name' AS name, e.step->>'target' AS target,
    e.step->>'group' AS "group", e.step->'params' AS params,
    coalesce(e.step->'policy', p.policies->((e.step->>'p')::integer)) AS policy,
    coalesce(s.status, 'pending') AS status, coalesce(s.attempts, 0) AS attempts, s.error, s.started_at, s.finished_at
  FROM pipelines p
  CROSS JOIN LATERAL jsonb_array_elements(p.steps) WITH ORDINALITY AS e(step, ord)
  LEFT JOIN pipeline_steps s ON s.pipeline_id = p.id AND s.idx = e.ord - 1
  WHERE p.steps IS NOT NULL
  UNION ALL
  SELECT s.pipeline_id, s.idx, s.name, s.target, s."group", s.params, s.policy, s.status, s.attempts, s.error, s.started_at, s.finished_at
  FROM pipeline_steps s
  JOIN pipelines p ON p.id = s.pipeline_id
  WHERE p.steps IS NULL;
