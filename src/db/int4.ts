/** The largest Postgres `integer` (int4): every id column's range. */
export const INT4_MAX = 2_147_483_647;
