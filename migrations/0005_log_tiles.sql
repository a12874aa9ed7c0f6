-- The rows of 0004 are single subtree roots, not tiles: dropped; the checkpoint job (or the
-- first proof of an old checkpoint) fills the tiles again from the chain entries.
DELETE FROM "log_subtrees";--> statement-breakpoint
ALTER TABLE "log_subtrees" ADD COLUMN "hashes" "bytea" NOT NULL;--> statement-breakpoint
ALTER TABLE "log_subtrees" DROP COLUMN "hash";