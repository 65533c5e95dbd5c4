-- Live events (GET /api/v1/events): every committed change to what the console shows is announced on the channel
-- `ocdn_events` as `<kind>:<key>`, whatever code made it and on whichever replica. NOTIFY is delivered at commit,
-- and the same payload twice in one transaction is delivered once. Writes that change nothing a client sees (a
-- heartbeat's timestamp, a lease renewal) announce nothing.
CREATE FUNCTION ocdn_announce_node() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status AND NEW.name = OLD.name AND NEW.ip = OLD.ip
     AND NEW.roles = OLD.roles AND NEW.agent_port = OLD.agent_port
     AND NEW.agent_version IS NOT DISTINCT FROM OLD.agent_version
     AND NEW.old_token_until IS NOT DISTINCT FROM OLD.old_token_until THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('ocdn_events', 'node:' || COALESCE(NEW.id, OLD.id));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER nodes_announce AFTER INSERT OR UPDATE OR DELETE ON nodes FOR EACH ROW EXECUTE FUNCTION ocdn_announce_node();
--> statement-breakpoint
CREATE FUNCTION ocdn_announce_domain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Nested IFs: a condition naming a column the other table lacks must not even be planned for it.
  IF TG_OP = 'UPDATE' THEN
    IF TG_TABLE_NAME = 'domains' THEN
      IF NEW.status = OLD.status AND NEW.origins = OLD.origins AND NEW.config_version = OLD.config_version THEN
        RETURN NULL;
      END IF;
    ELSIF NEW.status = OLD.status AND NEW.dns_kept = OLD.dns_kept THEN
      RETURN NULL;
    END IF;
  END IF;
  PERFORM pg_notify('ocdn_events', 'domain:' || COALESCE(NEW.domain, OLD.domain));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER domains_announce AFTER INSERT OR UPDATE OR DELETE ON domains FOR EACH ROW EXECUTE FUNCTION ocdn_announce_domain();
--> statement-breakpoint
CREATE TRIGGER domain_nodes_announce AFTER INSERT OR UPDATE OR DELETE ON domain_nodes FOR EACH ROW EXECUTE FUNCTION ocdn_announce_domain();
--> statement-breakpoint
CREATE FUNCTION ocdn_announce_pipeline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'pipelines' THEN
    IF TG_OP = 'UPDATE' AND NEW.status = OLD.status AND NEW.finished_at IS NOT DISTINCT FROM OLD.finished_at THEN
      RETURN NULL;
    END IF;
    PERFORM pg_notify('ocdn_events', 'pipeline:' || COALESCE(NEW.id, OLD.id));
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status AND NEW.attempts = OLD.attempts
     AND NEW.error IS NOT DISTINCT FROM OLD.error THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('ocdn_events', 'pipeline:' || COALESCE(NEW.pipeline_id, OLD.pipeline_id));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER pipelines_announce AFTER INSERT OR UPDATE OR DELETE ON pipelines FOR EACH ROW EXECUTE FUNCTION ocdn_announce_pipeline();
--> statement-breakpoint
CREATE TRIGGER pipeline_steps_announce AFTER UPDATE ON pipeline_steps FOR EACH ROW EXECUTE FUNCTION ocdn_announce_pipeline();
--> statement-breakpoint
CREATE FUNCTION ocdn_announce_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status AND NEW.bytes_done = OLD.bytes_done
     AND NEW.removed_at IS NOT DISTINCT FROM OLD.removed_at THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('ocdn_events', 'task:' || COALESCE(NEW.id, OLD.id));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER vod_tasks_announce AFTER INSERT OR UPDATE OR DELETE ON vod_tasks FOR EACH ROW EXECUTE FUNCTION ocdn_announce_task();
--> statement-breakpoint
CREATE FUNCTION ocdn_announce_zone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.active = OLD.active AND NEW.forwarder_group_ids = OLD.forwarder_group_ids
     AND NEW.time_scheduler IS NOT DISTINCT FROM OLD.time_scheduler AND NEW.comment = OLD.comment THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('ocdn_events', 'zone:' || COALESCE(NEW.view, OLD.view) || '/' || COALESCE(NEW.id, OLD.id));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER fwd_zones_announce AFTER INSERT OR UPDATE OR DELETE ON fwd_zones FOR EACH ROW EXECUTE FUNCTION ocdn_announce_zone();
