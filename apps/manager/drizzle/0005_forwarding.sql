CREATE TABLE "fwd_domain_groups" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"domains" jsonb NOT NULL,
	"comment" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fwd_domain_groups_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "fwd_forwarder_groups" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"addresses" jsonb NOT NULL,
	"comment" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fwd_forwarder_groups_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "fwd_time_schedulers" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"time_type" text NOT NULL,
	"time_periods" jsonb NOT NULL,
	"timezone" text,
	"comment" text DEFAULT '' NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fwd_time_schedulers_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "fwd_views" (
	"name" text PRIMARY KEY NOT NULL,
	"match_clients" jsonb NOT NULL,
	"comment" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "fwd_zones" (
	"id" text PRIMARY KEY NOT NULL,
	"view" text NOT NULL,
	"forward_item_type" text NOT NULL,
	"domain" text,
	"domain_group_ids" jsonb NOT NULL,
	"forwarder_group_ids" jsonb NOT NULL,
	"time_scheduler" text,
	"forward_style" text NOT NULL,
	"comment" text DEFAULT '' NOT NULL,
	"active" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "fwd_zones" ADD CONSTRAINT "fwd_zones_view_fwd_views_name_fk" FOREIGN KEY ("view") REFERENCES "public"."fwd_views"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fwd_zones" ADD CONSTRAINT "fwd_zones_time_scheduler_fwd_time_schedulers_id_fk" FOREIGN KEY ("time_scheduler") REFERENCES "public"."fwd_time_schedulers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "fwd_zones_view" ON "fwd_zones" USING btree ("view");--> statement-breakpoint
INSERT INTO "fwd_views" ("name", "match_clients", "comment") VALUES ('default', '["any"]', 'matches every client') ON CONFLICT DO NOTHING;
