CREATE TABLE "api_keys" (
	"prefix" text PRIMARY KEY NOT NULL,
	"key_hash" text NOT NULL,
	"merchant_id" text NOT NULL,
	"role" text NOT NULL,
	"agent_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_role" CHECK ("api_keys"."role" in ('merchant', 'agent', 'auditor')),
	CONSTRAINT "api_keys_agent" CHECK (("api_keys"."role" = 'agent') = ("api_keys"."agent_id" is not null))
);
--> statement-breakpoint
CREATE TABLE "chain_heads" (
	"merchant_id" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"entry_hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "key_snapshots" (
	"period" text NOT NULL,
	"version" integer NOT NULL,
	"document" text NOT NULL,
	"document_hash" text NOT NULL,
	"issued_at" timestamp with time zone NOT NULL,
	CONSTRAINT "key_snapshots_period_version_pk" PRIMARY KEY("period","version")
);
--> statement-breakpoint
CREATE TABLE "merchants" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text,
	"jurisdiction" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "merchants_jurisdiction" CHECK ("merchants"."jurisdiction" in ('EU', 'US', 'BR', 'OTHER'))
);
--> statement-breakpoint
CREATE TABLE "pending_timestamps" (
	"receipt_id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "receipt_bodies" (
	"receipt_id" text NOT NULL,
	"kind" text NOT NULL,
	"vault_key_id" text NOT NULL,
	"iv" "bytea" NOT NULL,
	"ciphertext" "bytea" NOT NULL,
	CONSTRAINT "receipt_bodies_receipt_id_kind_pk" PRIMARY KEY("receipt_id","kind"),
	CONSTRAINT "receipt_bodies_kind" CHECK ("receipt_bodies"."kind" in ('input', 'output'))
);
--> statement-breakpoint
CREATE TABLE "receipts" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"call_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"order_id" text,
	"bucket" text NOT NULL,
	"tool" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"signing_key_kid" text NOT NULL,
	"signed" text NOT NULL,
	"jws" text NOT NULL,
	"legal_posture" text DEFAULT 'signed' NOT NULL,
	"timestamp" jsonb,
	"receipt_hash" text NOT NULL,
	"prev_hash" text NOT NULL,
	"entry_hash" text NOT NULL,
	"content_hash" text NOT NULL,
	"has_bodies" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "receipts_posture" CHECK ("receipts"."legal_posture" in ('signed', 'ades_candidate_timestamped'))
);
--> statement-breakpoint
CREATE TABLE "signing_keys" (
	"kid" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"backend" text NOT NULL,
	"key_ref" text NOT NULL,
	"x" text NOT NULL,
	"nbf" timestamp with time zone NOT NULL,
	"exp" timestamp with time zone,
	"status" text NOT NULL,
	"revoked_at" timestamp with time zone,
	"revocation_reason" text,
	"revocation_statement" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "signing_keys_status" CHECK ("signing_keys"."status" in ('active', 'retired', 'revoked')),
	CONSTRAINT "signing_keys_backend" CHECK ("signing_keys"."backend" in ('local', 'kms'))
);
--> statement-breakpoint
CREATE TABLE "vault_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"month" text NOT NULL,
	"wrapper" text NOT NULL,
	"wrapped_key" "bytea",
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"destroyed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chain_heads" ADD CONSTRAINT "chain_heads_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pending_timestamps" ADD CONSTRAINT "pending_timestamps_receipt_id_receipts_id_fk" FOREIGN KEY ("receipt_id") REFERENCES "public"."receipts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "receipt_bodies" ADD CONSTRAINT "receipt_bodies_receipt_id_receipts_id_fk" FOREIGN KEY ("receipt_id") REFERENCES "public"."receipts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "receipt_bodies" ADD CONSTRAINT "receipt_bodies_vault_key_id_vault_keys_id_fk" FOREIGN KEY ("vault_key_id") REFERENCES "public"."vault_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "receipts" ADD CONSTRAINT "receipts_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "signing_keys" ADD CONSTRAINT "signing_keys_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vault_keys" ADD CONSTRAINT "vault_keys_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_merchant" ON "api_keys" USING btree ("merchant_id");--> statement-breakpoint
CREATE INDEX "pending_timestamps_due" ON "pending_timestamps" USING btree ("next_attempt_at");--> statement-breakpoint
CREATE UNIQUE INDEX "receipts_merchant_seq" ON "receipts" USING btree ("merchant_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "receipts_merchant_call" ON "receipts" USING btree ("merchant_id","call_id");--> statement-breakpoint
CREATE INDEX "receipts_merchant_order" ON "receipts" USING btree ("merchant_id","order_id","seq");--> statement-breakpoint
CREATE INDEX "receipts_merchant_agent" ON "receipts" USING btree ("merchant_id","agent_id","seq");--> statement-breakpoint
CREATE INDEX "signing_keys_merchant" ON "signing_keys" USING btree ("merchant_id","nbf");--> statement-breakpoint
CREATE UNIQUE INDEX "vault_keys_merchant_month" ON "vault_keys" USING btree ("merchant_id","month");