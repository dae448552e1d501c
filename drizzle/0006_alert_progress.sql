CREATE TABLE "alert_progress" (
	"workspace_id" text PRIMARY KEY NOT NULL,
	"alerted_seq" bigint NOT NULL,
	"done_above" "int8multirange" DEFAULT '{}'::int8multirange NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "redis_epochs" (
	"queue_prefix" text PRIMARY KEY NOT NULL,
	"epoch" text NOT NULL,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "lease_until" timestamp with time zone;