CREATE TABLE "nodes" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"ip" text NOT NULL,
	"roles" jsonb NOT NULL,
	"agent_port" integer NOT NULL,
	"status" text NOT NULL,
	"token" text NOT NULL,
	"token_hash" text NOT NULL,
	"agent_version" text,
	"last_heartbeat_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pipeline_steps" (
	"pipeline_id" text NOT NULL,
	"idx" integer NOT NULL,
	"name" text NOT NULL,
	"target" text,
	"params" jsonb NOT NULL,
	"policy" jsonb NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "pipeline_steps_pipeline_id_idx_pk" PRIMARY KEY("pipeline_id","idx")
);
--> statement-breakpoint
CREATE TABLE "pipelines" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"subject" text NOT NULL,
	"status" text NOT NULL,
	"input" jsonb NOT NULL,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "pipeline_steps" ADD CONSTRAINT "pipeline_steps_pipeline_id_pipelines_id_fk" FOREIGN KEY ("pipeline_id") REFERENCES "public"."pipelines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "nodes_live_name" ON "nodes" USING btree ("name") WHERE status <> 'delete';--> statement-breakpoint
CREATE UNIQUE INDEX "nodes_live_ip" ON "nodes" USING btree ("ip") WHERE status <> 'delete';--> statement-breakpoint
CREATE INDEX "pipelines_subject_created" ON "pipelines" USING btree ("subject","created_at");--> statement-breakpoint
CREATE INDEX "pipelines_unfinished" ON "pipelines" USING btree ("status") WHERE status in ('pending', 'running');--> statement-breakpoint
CREATE INDEX "pipelines_kind_created" ON "pipelines" USING btree ("kind","created_at");