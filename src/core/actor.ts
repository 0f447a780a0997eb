/** Who is acting. Permission checks and audit entries are decided from this alone. */
export type Actor =
  | { kind: 'developer'; developerId: number; name: string; via: 'session' | 'api_key'; tokenId: number; ip?: string }
  /**
   * A Discord member, acting through a server linked to one application: with the linking
   * developer's rights (customers: none), and only ever inside `applicationId`.
   */
  | { kind: 'discord'; developerId: number; applicationId: number; discordUserId: string; name: string; guildId?: string; ip?: string }
  | { kind: 'client'; applicationId: number; ip?: string }
  | { kind: 'system'; name: string };

/** Actors that act with a developer's rights on the seller side (API or Discord seller commands). */
export type SellerActor = Extract<Actor, { kind: 'developer' | 'discord' }>;

export const system = (name: string): Actor => ({ kind: 'system', name });

export function actorIdentity(actor: Actor): { kind: Actor['kind']; id: string | null; name: string | null; ip: string | null } {
  switch (actor.kind) {
    case 'developer':
      return { kind: 'developer', id: String(actor.developerId), name: actor.name, ip: actor.ip ?? null };
    case 'discord':
      return { kind: 'discord', id: actor.discordUserId, name: actor.name, ip: actor.ip ?? null };
    case 'client':
      return { kind: 'client', id: String(actor.applicationId), name: null, ip: actor.ip ?? null };
    case 'system':
      return { kind: 'system', id: null, name: actor.name, ip: null };
  }
}
