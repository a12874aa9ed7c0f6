CREATE TABLE "checkpoints" (
	"merchant_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"entry_hash" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"signing_key_kid" text NOT NULL,
	"signed" text NOT NULL,
	"jws" text NOT NULL,
	"timestamp" jsonb,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"leased_until" timestamp with time zone,
	"last_error" text,
	CONSTRAINT "checkpoints_merchant_id_seq_pk" PRIMARY KEY("merchant_id","seq")
);
--> statement-breakpoint
ALTER TABLE "pending_timestamps" ADD COLUMN "leased_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD CONSTRAINT "checkpoints_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "checkpoints_untimestamped" ON "checkpoints" USING btree ("next_attempt_at") WHERE "checkpoints"."timestamp" is null;