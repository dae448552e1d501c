ALTER TABLE "alert_groups" ADD COLUMN "revert_holder" text;--> statement-breakpoint
ALTER TABLE "alert_groups" ADD COLUMN "revert_lease_until" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "alert_groups_revert_unfinished" ON "alert_groups" USING btree ("id") WHERE "alert_groups"."revert_state" in ('queued', 'running');