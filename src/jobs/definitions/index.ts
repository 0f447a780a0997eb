/**
 * Keycord's jobs, one file each (payload schema, job id rule, retry policy, the try), in the one
 * list the providers read: BullMQ makes a worker per entry; the local provider runs the same tries.
 */
import { deliverWebhookJob } from './deliver-webhook.js';
import { dispatchEventJob } from './dispatch-event.js';
import { generateLicensesJob } from './generate-licenses.js';
import type { JobDefinition } from './job-definition.js';
import { maintenanceJob } from './maintenance.js';

export const JOBS: readonly JobDefinition[] = [dispatchEventJob, deliverWebhookJob, generateLicensesJob, maintenanceJob];
