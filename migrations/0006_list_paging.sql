-- Licenses are counted as the counter starts: no key lands or goes between the backfill and the triggers.
LOCK TABLE "licenses" IN SHARE ROW EXCLUSIVE MODE;--> statement-breakpoint
CREATE TABLE "license_counts" (
	"application_id" integer PRIMARY KEY NOT NULL,
	"licenses" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "license_counts" ADD CONSTRAINT "license_counts_application_id_applications_id_fk" FOREIGN KEY ("application_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_logs_application_id_idx" ON "audit_logs" USING btree ("application_id","id");--> statement-breakpoint
CREATE INDEX "licenses_application_id_idx" ON "licenses" USING btree ("application_id","id");--> statement-breakpoint
CREATE INDEX "validation_logs_application_id_idx" ON "validation_logs" USING btree ("application_id","id");
--> statement-breakpoint
-- A list's X-Total-Count reads license_counts instead of counting the application's keys. The
-- triggers are per statement, over transition tables: a batch of 1,000 new keys is one upsert.
CREATE FUNCTION "license_counts_add"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "license_counts" ("application_id", "licenses")
    SELECT "application_id", count(*) FROM "added" GROUP BY "application_id" ORDER BY "application_id"
  ON CONFLICT ("application_id") DO UPDATE SET "licenses" = "license_counts"."licenses" + excluded."licenses";
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION "license_counts_remove"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A row already gone with its application (a cascade) needs no update.
  UPDATE "license_counts" c SET "licenses" = c."licenses" - r.n
    FROM (SELECT "application_id", count(*) AS n FROM "removed" GROUP BY "application_id") r
    WHERE c."application_id" = r."application_id";
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "licenses_count_insert" AFTER INSERT ON "licenses" REFERENCING NEW TABLE AS "added" FOR EACH STATEMENT EXECUTE FUNCTION "license_counts_add"();--> statement-breakpoint
CREATE TRIGGER "licenses_count_delete" AFTER DELETE ON "licenses" REFERENCING OLD TABLE AS "removed" FOR EACH STATEMENT EXECUTE FUNCTION "license_counts_remove"();--> statement-breakpoint
INSERT INTO "license_counts" ("application_id", "licenses") SELECT "application_id", count(*) FROM "licenses" GROUP BY "application_id";
