CREATE TABLE "alert_queue" (
	"workspace_id" text NOT NULL,
	"event_id" text NOT NULL,
	"rule_id" text NOT NULL,
	"channel" text NOT NULL,
	"priority" smallint NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"seq" bigint NOT NULL,
	"group_id" bigint,
	"attempts" integer DEFAULT 0 NOT NULL,
	"not_before" timestamp with time zone DEFAULT now() NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "alert_queue_pkey" PRIMARY KEY("workspace_id","event_id","rule_id")
);
--> statement-breakpoint
CREATE TABLE "alert_group_members" (
	"workspace_id" text NOT NULL,
	"event_id" text NOT NULL,
	"rule_id" text NOT NULL,
	"group_id" bigint NOT NULL,
	"ordinal" integer NOT NULL,
	"seq" bigint NOT NULL,
	"revert_run" integer DEFAULT 0 NOT NULL,
	"revert_outcome" text,
	"revert_reason" text,
	CONSTRAINT "alert_group_members_pkey" PRIMARY KEY("workspace_id","event_id","rule_id")
);
--> statement-breakpoint
CREATE TABLE "alert_groups" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "alert_groups_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"workspace_id" text NOT NULL,
	"rule_id" text NOT NULL,
	"channel" text NOT NULL,
	"severity" text NOT NULL,
	"kind" text NOT NULL,
	"group_by" text,
	"group_value" text,
	"group_key" text NOT NULL,
	"within_ms" integer NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"count" integer DEFAULT 0 NOT NULL,
	"first_received_at" timestamp with time zone NOT NULL,
	"last_received_at" timestamp with time zone NOT NULL,
	"closes_at" timestamp with time zone NOT NULL,
	"head_event_id" text NOT NULL,
	"channel_id" text,
	"ts" text,
	"version" integer DEFAULT 1 NOT NULL,
	"shown_version" integer DEFAULT 0 NOT NULL,
	"update_not_before" timestamp with time zone DEFAULT now() NOT NULL,
	"update_error" text,
	"revert_run" integer DEFAULT 0 NOT NULL,
	"revert_state" text,
	"revert_scope" text,
	"revert_by" text,
	"revert_total" integer,
	"revert_started_at" timestamp with time zone,
	"revert_finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "alert_queue_channel_order" ON "alert_queue" USING btree ("channel","priority","received_at","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "alert_group_members_ordinal" ON "alert_group_members" USING btree ("group_id","ordinal");--> statement-breakpoint
CREATE INDEX "alert_group_members_group_seq" ON "alert_group_members" USING btree ("group_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "alert_groups_open_key" ON "alert_groups" USING btree ("rule_id","group_key") WHERE "alert_groups"."status" = 'open';--> statement-breakpoint
CREATE INDEX "alert_groups_stale" ON "alert_groups" USING btree ("id") WHERE "alert_groups"."version" > "alert_groups"."shown_version" and "alert_groups"."ts" is not null;--> statement-breakpoint
CREATE INDEX "alert_groups_closing" ON "alert_groups" USING btree ("closes_at") WHERE "alert_groups"."status" = 'open';