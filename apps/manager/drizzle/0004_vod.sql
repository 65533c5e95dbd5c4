CREATE TABLE "vod_inventory" (
	"node_id" text PRIMARY KEY NOT NULL,
	"files" jsonb NOT NULL,
	"df" jsonb,
	"files_hash" text NOT NULL,
	"checked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "vod_tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"file" text NOT NULL,
	"size" bigint NOT NULL,
	"node_id" text NOT NULL,
	"source_node_id" text NOT NULL,
	"status" text NOT NULL,
	"bytes_done" bigint DEFAULT 0 NOT NULL,
	"error" text,
	"removed_at" timestamp with time zone,
	"removed_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "vod_inventory" ADD CONSTRAINT "vod_inventory_node_id_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "public"."nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vod_tasks" ADD CONSTRAINT "vod_tasks_node_id_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "public"."nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vod_tasks" ADD CONSTRAINT "vod_tasks_source_node_id_nodes_id_fk" FOREIGN KEY ("source_node_id") REFERENCES "public"."nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "vod_tasks_queued_node" ON "vod_tasks" USING btree ("node_id") WHERE removed_at is null;--> statement-breakpoint
CREATE INDEX "vod_tasks_removed" ON "vod_tasks" USING btree ("removed_at");