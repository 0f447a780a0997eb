/**
 * The slash commands, one file each (DESIGN.md). Both the deploy script and the interaction
 * router read this list; the Discord bot fills it.
 */
export const commands = [] as const;
