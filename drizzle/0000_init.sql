CREATE TABLE "events" (
	"workspace_id" text NOT NULL,
	"id" text NOT NULL,
	"seq" bigint NOT NULL,
	"type" text NOT NULL,
	"category" text NOT NULL,
	"timestamp" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"actor_type" text NOT NULL,
	"actor_id" text NOT NULL,
	"actor_name" text,
	"actor_email" text,
	"resource_type" text NOT NULL,
	"resource_id" text NOT NULL,
	"resource_name" text,
	"changes" jsonb,
	"context" jsonb,
	"metadata" jsonb,
	"hash" text NOT NULL,
	CONSTRAINT "events_pkey" PRIMARY KEY("workspace_id","id")
);
--> statement-breakpoint
CREATE TABLE "chain_checkpoints" (
	"workspace_id" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"hash" text NOT NULL,
	"purged_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "chain_heads" (
	"workspace_id" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"hash" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "outbox_cursors" (
	"workspace_id" text PRIMARY KEY NOT NULL,
	"relayed_seq" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ingest_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"workspace_id" text NOT NULL,
	"name" text NOT NULL,
	"token_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "events_workspace_seq" ON "events" USING btree ("workspace_id","seq");--> statement-breakpoint
CREATE INDEX "events_workspace_time" ON "events" USING btree ("workspace_id","timestamp" DESC NULLS LAST,"seq" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_workspace_type_time" ON "events" USING btree ("workspace_id","type","timestamp" DESC NULLS LAST,"seq" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_workspace_category_time" ON "events" USING btree ("workspace_id","category","timestamp" DESC NULLS LAST,"seq" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_workspace_actor_time" ON "events" USING btree ("workspace_id","actor_id","timestamp" DESC NULLS LAST,"seq" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_workspace_actor_email_time" ON "events" USING btree ("workspace_id","actor_email","timestamp" DESC NULLS LAST,"seq" DESC NULLS LAST) WHERE "events"."actor_email" is not null;--> statement-breakpoint
CREATE INDEX "events_workspace_resource_time" ON "events" USING btree ("workspace_id","resource_id","timestamp" DESC NULLS LAST,"seq" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_workspace_resource_type_time" ON "events" USING btree ("workspace_id","resource_type","timestamp" DESC NULLS LAST,"seq" DESC NULLS LAST);--> statement-breakpoint
CREATE UNIQUE INDEX "ingest_tokens_hash" ON "ingest_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "ingest_tokens_workspace" ON "ingest_tokens" USING btree ("workspace_id");