CREATE TABLE "log_subtrees" (
	"merchant_id" text NOT NULL,
	"level" integer NOT NULL,
	"index" bigint NOT NULL,
	"hash" text NOT NULL,
	CONSTRAINT "log_subtrees_merchant_id_level_index_pk" PRIMARY KEY("merchant_id","level","index")
);
--> statement-breakpoint
ALTER TABLE "log_subtrees" ADD CONSTRAINT "log_subtrees_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;