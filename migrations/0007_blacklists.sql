CREATE TABLE "blacklist_entries" (
	"id" serial PRIMARY KEY NOT NULL,
	"application_id" integer NOT NULL,
	"type" text NOT NULL,
	"value" text NOT NULL,
	"network" "cidr",
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "blacklist_entries_network_check" CHECK (("blacklist_entries"."type" = 'ip') = ("blacklist_entries"."network" is not null))
);
--> statement-breakpoint
ALTER TABLE "applications" ADD COLUMN "blacklist_version" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "blacklist_entries" ADD CONSTRAINT "blacklist_entries_application_id_applications_id_fk" FOREIGN KEY ("application_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "blacklist_entries_value_key" ON "blacklist_entries" USING btree ("application_id","type","value");