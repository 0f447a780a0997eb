-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension (13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
CREATE INDEX "licenses_key_trgm_idx" ON "licenses" USING gin ("license_key" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "licenses_notes_trgm_idx" ON "licenses" USING gin ("notes" gin_trgm_ops);