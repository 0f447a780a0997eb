import { and, asc, count, eq, like } from 'drizzle-orm';
import { variables } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { MAX_VARIABLE_VALUE_BYTES, MAX_VARIABLES_PER_APP, VALUE_TEXT_RULE, VARIABLE_NAME, VARIABLE_NAME_RULE, valueFits, valueIsText } from './variable-rules.js';
import { toVariableView } from './variable-view.js';

/** Names autocomplete offers at most (Discord shows 25 choices). */
const MATCHING_VARIABLES_MAX = 25;

function checkName(name: string) {
  if (!VARIABLE_NAME.test(name)) throw badRequest(`A variable name is ${VARIABLE_NAME_RULE}`, 'VALIDATION_ERROR', [{ path: 'name', message: VARIABLE_NAME_RULE }]);
}

/** A variable of the application by its name (names are unique per application). */
export async function getVariableByName(deps: Deps, actor: SellerActor, applicationId: number, name: string) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  if (!VARIABLE_NAME.test(name)) throw notFound('Variable');
  const [row] = await deps.db.orm
    .select()
    .from(variables)
    .where(and(eq(variables.applicationId, applicationId), eq(variables.name, name)))
    .limit(1);
  if (!row) throw notFound('Variable');
  return toVariableView(row);
}

/** Variable names starting with `prefix`, for autocomplete; each says whether it is public. */
export async function matchingVariables(deps: Deps, actor: SellerActor, applicationId: number, prefix: string) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const start = prefix.trim().slice(0, 64);
  const rows = await deps.db.orm
    .select({ name: variables.name, public: variables.public })
    .from(variables)
    .where(and(eq(variables.applicationId, applicationId), start ? like(variables.name, `${start.replace(/[\\%_]/g, (c) => '\\' + c)}%`) : undefined))
    .orderBy(asc(variables.name))
    .limit(MATCHING_VARIABLES_MAX);
  return rows;
}

/**
 * Creates the variable or changes the one of that name: the value is bounded as the HTTP routes
 * bound it, and `public` left out keeps a variable's visibility (a new one is private). Audited as
 * `variable.created` or `variable.updated`, with the value's size, never its content.
 */
export async function setVariable(deps: Deps, actor: SellerActor, applicationId: number, input: { name: string; value: string; public?: boolean | undefined }) {
  checkName(input.name);
  if (!valueFits(input.value)) throw badRequest(`A value is at most ${MAX_VARIABLE_VALUE_BYTES} bytes (UTF-8)`, 'VALIDATION_ERROR', [{ path: 'value', message: 'too long' }]);
  if (!valueIsText(input.value)) throw badRequest(`A value has ${VALUE_TEXT_RULE}`, 'VALIDATION_ERROR', [{ path: 'value', message: VALUE_TEXT_RULE }]);
  return deps.db.orm.transaction(async (tx) => {
    // Under the application row's lock: a create here counts after every other create of the application.
    await requireApplication(tx, actor, applicationId, 'manage', 'no key update');
    const [current] = await tx
      .select()
      .from(variables)
      .where(and(eq(variables.applicationId, applicationId), eq(variables.name, input.name)))
      .for('update');
    const details = { name: input.name, value_bytes: Buffer.byteLength(input.value) };
    if (current) {
      const [updated] = await tx
        .update(variables)
        .set({ value: input.value, ...(input.public !== undefined ? { public: input.public } : {}), updatedAt: deps.clock.now() })
        .where(eq(variables.id, current.id))
        .returning();
      await writeAudit(tx, actor, {
        applicationId,
        action: 'variable.updated',
        target: `variable:${current.id}`,
        details: { ...details, ...(input.public !== undefined ? { public: input.public } : {}) },
      });
      return { created: false, variable: toVariableView(updated!) };
    }
    const [used] = await tx.select({ n: count() }).from(variables).where(eq(variables.applicationId, applicationId));
    if ((used?.n ?? 0) >= MAX_VARIABLES_PER_APP) throw conflict(`An application may have at most ${MAX_VARIABLES_PER_APP} variables`, 'LIMIT_REACHED');
    const isPublic = input.public ?? false;
    const [created] = await tx.insert(variables).values({ applicationId, name: input.name, value: input.value, public: isPublic }).onConflictDoNothing().returning();
    // Created by another request between the read and the insert.
    if (!created) throw conflict(`The variable "${input.name}" was created meanwhile; try again`);
    await writeAudit(tx, actor, { applicationId, action: 'variable.created', target: `variable:${created.id}`, details: { ...details, public: isPublic } });
    return { created: true, variable: toVariableView(created) };
  });
}
