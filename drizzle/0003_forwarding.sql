CREATE TABLE "forwarding" (
	"workspace_id" text PRIMARY KEY NOT NULL,
	"enabled" boolean NOT NULL,
	"write_key" text NOT NULL,
	"name" text,
	"changed_by" text NOT NULL,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_seq" bigint NOT NULL,
	"started_seq" bigint NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_count" bigint DEFAULT 0 NOT NULL,
	"failed_count" bigint DEFAULT 0 NOT NULL,
	"last_error" text,
	"last_error_at" timestamp with time zone,
	"last_delivered_at" timestamp with time zone,
	"retry_at" timestamp with time zone,
	"retry_attempts" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "forwarding_failures" (
	"id" serial PRIMARY KEY NOT NULL,
	"workspace_id" text NOT NULL,
	"from_seq" bigint NOT NULL,
	"to_seq" bigint NOT NULL,
	"status" integer NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "forwarding_failures_workspace_time" ON "forwarding_failures" USING btree ("workspace_id","created_at" DESC NULLS LAST);