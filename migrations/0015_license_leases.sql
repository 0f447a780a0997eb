CREATE TABLE "license_leases" (
	"license_id" integer NOT NULL,
	"hwid" text NOT NULL,
	"issued_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "license_leases_license_id_hwid_pk" PRIMARY KEY("license_id","hwid")
);
--> statement-breakpoint
ALTER TABLE "license_leases" ADD CONSTRAINT "license_leases_license_id_licenses_id_fk" FOREIGN KEY ("license_id") REFERENCES "public"."licenses"("id") ON DELETE cascade ON UPDATE no action;
