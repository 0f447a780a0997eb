CREATE TABLE "sharing_flags" (
	"id" serial PRIMARY KEY NOT NULL,
	"application_id" integer NOT NULL,
	"license_id" integer NOT NULL,
	"kind" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_end" timestamp with time zone NOT NULL,
	"ips" integer NOT NULL,
	"hwid_mismatches" integer NOT NULL,
	"action" text NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"resolved_by" text,
	"resolved_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sharing_flags_kind_check" CHECK ("sharing_flags"."kind" in ('ips_24h', 'hwid_mismatches_1h')),
	CONSTRAINT "sharing_flags_status_check" CHECK ("sharing_flags"."status" in ('open', 'banned', 'hwid_reset', 'ignored'))
);
--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "sharing" jsonb;--> statement-breakpoint
ALTER TABLE "sharing_flags" ADD CONSTRAINT "sharing_flags_application_id_applications_id_fk" FOREIGN KEY ("application_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sharing_flags" ADD CONSTRAINT "sharing_flags_license_id_licenses_id_fk" FOREIGN KEY ("license_id") REFERENCES "public"."licenses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "sharing_flags_window_key" ON "sharing_flags" USING btree ("license_id","kind","window_start");--> statement-breakpoint
CREATE INDEX "sharing_flags_application_idx" ON "sharing_flags" USING btree ("application_id","created_at");--> statement-breakpoint
CREATE INDEX "validation_logs_license_idx" ON "validation_logs" USING btree ("license_id","created_at") WHERE license_id is not null;