-- A domain's POST inserts its 50 domain_nodes rows in one statement, and on the embedded database each row cost two
-- foreign-key checks (a query and a row lock each, run one row at a time) and a call of the live-events trigger: 4.5 ms
-- of that statement against 0.6 ms without them — the longest statement of the POST's transaction, which a health
-- decision on the embedded database waits for (one connection). The same checks now run once per statement, over the
-- statement's rows (a transition table): the referenced domains and nodes are locked FOR KEY SHARE as the keys'
-- checks lock them, and a row whose domain or node is missing fails the statement with the same SQLSTATE (23503). A
-- domain deleted still takes its nodes' rows with it (the cascade), and a node that a domain is on cannot be deleted.
-- A key changed is checked as the keys checked it: a row's new domain or node must exist, and a domain or node that a
-- row refers to keeps its key (NO ACTION). Those checks run per row, on the rare update that changes a key.
ALTER TABLE domain_nodes DROP CONSTRAINT domain_nodes_domain_domains_domain_fk;
--> statement-breakpoint
ALTER TABLE domain_nodes DROP CONSTRAINT domain_nodes_node_id_nodes_id_fk;
--> statement-breakpoint
CREATE FUNCTION ocdn_domain_nodes_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing text;
BEGIN
  -- Lock what the rows refer to, as the keys' checks did: a domain or node deleted meanwhile waits for this
  -- transaction, and one deleted before is not found.
  PERFORM 1 FROM domains d WHERE d.domain IN (SELECT a.domain FROM added a) FOR KEY SHARE;
  PERFORM 1 FROM nodes n WHERE n.id IN (SELECT a.node_id FROM added a) FOR KEY SHARE;
  SELECT 'domain ' || a.domain INTO missing FROM added a WHERE NOT EXISTS (SELECT 1 FROM domains d WHERE d.domain = a.domain) LIMIT 1;
  IF missing IS NULL THEN
    SELECT 'node ' || a.node_id INTO missing FROM added a WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = a.node_id) LIMIT 1;
  END IF;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'insert on table "domain_nodes" refers to % that does not exist', missing USING ERRCODE = 'foreign_key_violation';
  END IF;
  -- The live events (drizzle/0007): one announcement per domain, not one per row.
  PERFORM pg_notify('ocdn_events', 'domain:' || s.domain) FROM (SELECT DISTINCT a.domain FROM added a) s;
  RETURN NULL;
END $$;
--> statement-breakpoint
DROP TRIGGER domain_nodes_announce ON domain_nodes;
--> statement-breakpoint
CREATE TRIGGER domain_nodes_announce AFTER UPDATE OR DELETE ON domain_nodes FOR EACH ROW EXECUTE FUNCTION ocdn_announce_domain();
--> statement-breakpoint
CREATE TRIGGER domain_nodes_added AFTER INSERT ON domain_nodes REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ocdn_domain_nodes_added();
--> statement-breakpoint
CREATE FUNCTION ocdn_domains_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM domain_nodes dn USING gone g WHERE dn.domain = g.domain;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER domains_delete_nodes AFTER DELETE ON domains REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ocdn_domains_deleted();
--> statement-breakpoint
CREATE FUNCTION ocdn_nodes_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  used text;
BEGIN
  SELECT g.id INTO used FROM gone g WHERE EXISTS (SELECT 1 FROM domain_nodes dn WHERE dn.node_id = g.id) LIMIT 1;
  IF used IS NOT NULL THEN
    RAISE EXCEPTION 'node % is still referred to from table "domain_nodes"', used USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER nodes_delete_check AFTER DELETE ON nodes REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ocdn_nodes_deleted();
--> statement-breakpoint
CREATE FUNCTION ocdn_domain_nodes_rekeyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM domains d WHERE d.domain = NEW.domain FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'update on table "domain_nodes" refers to domain % that does not exist', NEW.domain USING ERRCODE = 'foreign_key_violation';
  END IF;
  PERFORM 1 FROM nodes n WHERE n.id = NEW.node_id FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'update on table "domain_nodes" refers to node % that does not exist', NEW.node_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER domain_nodes_rekeyed AFTER UPDATE ON domain_nodes FOR EACH ROW
  WHEN (OLD.domain IS DISTINCT FROM NEW.domain OR OLD.node_id IS DISTINCT FROM NEW.node_id)
  EXECUTE FUNCTION ocdn_domain_nodes_rekeyed();
--> statement-breakpoint
CREATE FUNCTION ocdn_referenced_rekeyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'domains' THEN
    IF EXISTS (SELECT 1 FROM domain_nodes dn WHERE dn.domain = OLD.domain) THEN
      RAISE EXCEPTION 'domain % is still referred to from table "domain_nodes"', OLD.domain USING ERRCODE = 'foreign_key_violation';
    END IF;
  ELSIF EXISTS (SELECT 1 FROM domain_nodes dn WHERE dn.node_id = OLD.id) THEN
    RAISE EXCEPTION 'node % is still referred to from table "domain_nodes"', OLD.id USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER domains_rekeyed AFTER UPDATE ON domains FOR EACH ROW WHEN (OLD.domain IS DISTINCT FROM NEW.domain) EXECUTE FUNCTION ocdn_referenced_rekeyed();
--> statement-breakpoint
CREATE TRIGGER nodes_rekeyed AFTER UPDATE ON nodes FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION ocdn_referenced_rekeyed();
