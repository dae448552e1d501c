ALTER TABLE "alerts" ADD COLUMN "silenced_by" text;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "silenced_for" text;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "silenced_with" integer;