CREATE TABLE "store_integrations" (
	"id" serial PRIMARY KEY NOT NULL,
	"application_id" integer NOT NULL,
	"provider" text NOT NULL,
	"secret_enc" text NOT NULL,
	"products" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "store_integrations_provider_check" CHECK ("store_integrations"."provider" in ('sellix', 'sellauth', 'stripe'))
);
--> statement-breakpoint
CREATE TABLE "store_orders" (
	"id" serial PRIMARY KEY NOT NULL,
	"integration_id" integer NOT NULL,
	"order_id" text NOT NULL,
	"line_id" text DEFAULT '' NOT NULL,
	"status" text DEFAULT 'fulfilled' NOT NULL,
	"plan_id" integer,
	"license_ids" integer[] DEFAULT '{}' NOT NULL,
	"discord_user_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"refunded_at" timestamp with time zone,
	CONSTRAINT "store_orders_status_check" CHECK ("store_orders"."status" in ('fulfilled', 'refunded'))
);
--> statement-breakpoint
ALTER TABLE "store_integrations" ADD CONSTRAINT "store_integrations_application_id_applications_id_fk" FOREIGN KEY ("application_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "store_orders" ADD CONSTRAINT "store_orders_integration_id_store_integrations_id_fk" FOREIGN KEY ("integration_id") REFERENCES "public"."store_integrations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "store_integrations_application_idx" ON "store_integrations" USING btree ("application_id");--> statement-breakpoint
CREATE UNIQUE INDEX "store_orders_order_key" ON "store_orders" USING btree ("integration_id","order_id","line_id");
