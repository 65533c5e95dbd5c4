CREATE TABLE "domain_nodes" (
	"domain" text NOT NULL,
	"node_id" text NOT NULL,
	"status" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "domain_nodes_domain_node_id_pk" PRIMARY KEY("domain","node_id")
);
--> statement-breakpoint
CREATE TABLE "domains" (
	"domain" text PRIMARY KEY NOT NULL,
	"sub_domain" text NOT NULL,
	"origins" jsonb NOT NULL,
	"status" text NOT NULL,
	"config_version" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "pipeline_steps" ADD COLUMN "group" text;--> statement-breakpoint
ALTER TABLE "domain_nodes" ADD CONSTRAINT "domain_nodes_domain_domains_domain_fk" FOREIGN KEY ("domain") REFERENCES "public"."domains"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "domain_nodes" ADD CONSTRAINT "domain_nodes_node_id_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "public"."nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "domain_nodes_node" ON "domain_nodes" USING btree ("node_id");--> statement-breakpoint
CREATE UNIQUE INDEX "domains_live_sub_domain" ON "domains" USING btree ("sub_domain") WHERE status <> 'delete';