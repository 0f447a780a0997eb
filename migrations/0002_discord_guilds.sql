CREATE TABLE "discord_guilds" (
	"guild_id" text PRIMARY KEY NOT NULL,
	"application_id" integer NOT NULL,
	"developer_id" integer NOT NULL,
	"api_key_id" integer NOT NULL,
	"seller_role_id" text,
	"log_channel_id" text,
	"linked_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "discord_guilds" ADD CONSTRAINT "discord_guilds_application_id_applications_id_fk" FOREIGN KEY ("application_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "discord_guilds" ADD CONSTRAINT "discord_guilds_developer_id_developers_id_fk" FOREIGN KEY ("developer_id") REFERENCES "public"."developers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "discord_guilds" ADD CONSTRAINT "discord_guilds_api_key_id_developer_tokens_id_fk" FOREIGN KEY ("api_key_id") REFERENCES "public"."developer_tokens"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "discord_guilds_application_idx" ON "discord_guilds" USING btree ("application_id");