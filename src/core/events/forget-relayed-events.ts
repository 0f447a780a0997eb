import { and, isNotNull, lt } from 'drizzle-orm';
import { outbox } from '../../db/schema.js';
import type { Deps } from '../deps.js';

/** How long a relayed event stays in the outbox (the reconciler and redeliveries look back this far). */
const RELAYED_EVENTS_KEPT_MS = 7 * 86_400_000;

/** Drops outbox rows relayed more than RELAYED_EVENTS_KEPT_MS ago (the maintenance job). */
export async function forgetRelayedEvents(deps: Deps): Promise<void> {
  const before = new Date(deps.clock.now().getTime() - RELAYED_EVENTS_KEPT_MS);
  await deps.db.orm.delete(outbox).where(and(isNotNull(outbox.relayedAt), lt(outbox.relayedAt, before)));
}
