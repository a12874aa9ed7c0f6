CREATE TABLE "wrapped_keys" (
	"name" text PRIMARY KEY NOT NULL,
	"kek_id" text NOT NULL,
	"wrapped" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "exports" ADD COLUMN "bundle_key" text;--> statement-breakpoint
-- Bundles built before the bundle store lay at <data folder>/exports/<id>.zip: that is their key.
UPDATE "exports" SET "bundle_key" = "id" || '.zip' WHERE "status" = 'done';
