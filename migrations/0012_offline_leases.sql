ALTER TABLE "plans" ADD COLUMN "max_offline_hours" integer;--> statement-breakpoint
ALTER TABLE "plans" ADD CONSTRAINT "plans_max_offline_hours_check" CHECK ("plans"."max_offline_hours" is null or "plans"."max_offline_hours" between 0 and 8760);
