CREATE TABLE "alerts" (
	"workspace_id" text NOT NULL,
	"event_id" text NOT NULL,
	"rule_id" text NOT NULL,
	"channel" text NOT NULL,
	"channel_id" text,
	"ts" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"error" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	CONSTRAINT "alerts_pkey" PRIMARY KEY("workspace_id","event_id","rule_id")
);
--> statement-breakpoint
CREATE INDEX "alerts_channel" ON "alerts" USING btree ("channel","created_at" DESC NULLS LAST);