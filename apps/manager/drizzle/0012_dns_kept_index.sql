-- The addresses a domain keeps only because every node of it was down (fail open) are few: DomainDns asks for those
-- of a batch's domains with every publish, and without this index PostgreSQL read the whole of domain_nodes for them
-- (50,000 rows for 1,000 domains on 50 nodes).
CREATE INDEX domain_nodes_kept ON domain_nodes (domain) WHERE dns_kept;
