CREATE TABLE "dns_records" (
	"name" text NOT NULL,
	"type" text NOT NULL,
	"value" text NOT NULL,
	"ttl" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "dns_records_name_type_value_pk" PRIMARY KEY("name","type","value")
);
