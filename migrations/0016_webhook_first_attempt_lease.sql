-- A fan-out holds the deliveries it returns for their first attempt until then; recording an attempt clears it.
ALTER TABLE "webhook_deliveries" ADD COLUMN "sending_until" timestamp with time zone;
