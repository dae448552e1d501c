CREATE TABLE "reverts" (
	"workspace_id" text NOT NULL,
	"event_id" text NOT NULL,
	"status" text NOT NULL,
	"requested_by" text NOT NULL,
	"reason" text,
	"revert_event_id" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "reverts_pkey" PRIMARY KEY("workspace_id","event_id")
);
