-- A run's steps are kept with the run, as one JSON array (pipelines.steps), and a step's row in pipeline_steps is
-- written when something happens to it (its first outcome, a retry, a cancellation): a row's absence means `pending`,
-- never tried. Before, the POST of a domain onto fifty nodes inserted its 253 pending rows in the request's
-- transaction, the longest statement of that transaction on the embedded database, and every step was then written a
-- second time with its outcome. A row written this way carries its state only (name, target, group, params and
-- policy stay null: they are the run's). Runs written before this migration keep their full rows (steps is null).
-- run_steps is every step of every run, written or not, as pipeline_steps showed them before.
ALTER TABLE pipelines ADD COLUMN steps jsonb;
--> statement-breakpoint
ALTER TABLE pipeline_steps ALTER COLUMN name DROP NOT NULL, ALTER COLUMN params DROP NOT NULL, ALTER COLUMN policy DROP NOT NULL;
--> statement-breakpoint
CREATE VIEW run_steps AS
  SELECT p.id AS pipeline_id, (e.ord - 1)::integer AS idx, e.step->>'name' AS name, e.step->>'target' AS target,
    e.step->>'group' AS "group", e.step->'params' AS params, e.step->'policy' AS policy,
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
--> statement-breakpoint
-- A step's row may now be inserted by a writer other than the step log (a cancellation writes the steps it ends):
-- such inserts are announced too, as updates are.
DROP TRIGGER pipeline_steps_announce ON pipeline_steps;
--> statement-breakpoint
CREATE TRIGGER pipeline_steps_announce AFTER INSERT OR UPDATE ON pipeline_steps FOR EACH ROW
  WHEN (current_setting('ocdn.steps_announced', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ocdn_announce_pipeline();
