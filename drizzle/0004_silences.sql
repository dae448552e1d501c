CREATE TABLE "silences" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "silences_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"workspace_id" text NOT NULL,
	"rule_id" text NOT NULL,
	"resource_id" text,
	"channel" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"ended_by" text,
	"ended_at" timestamp with time zone,
	"summary_attempts" integer DEFAULT 0 NOT NULL,
	"summary_lease_until" timestamp with time zone,
	"summary_channel_id" text,
	"summary_ts" text,
	"summary_status" text
);
--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "silence_id" integer;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "acknowledged_by" text;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "acknowledged_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "silences_active" ON "silences" USING btree ("workspace_id","rule_id","ends_at") WHERE "silences"."ended_at" is null;--> statement-breakpoint
CREATE INDEX "silences_summary_due" ON "silences" USING btree ("ends_at") WHERE "silences"."summary_status" is null;--> statement-breakpoint
CREATE INDEX "alerts_message" ON "alerts" USING btree ("channel_id","ts") WHERE "alerts"."ts" is not null;--> statement-breakpoint
CREATE INDEX "alerts_workspace_time" ON "alerts" USING btree ("workspace_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "alerts_silence" ON "alerts" USING btree ("silence_id") WHERE "alerts"."silence_id" is not null;