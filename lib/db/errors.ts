/**
 * A rule of the domain refused the request. `status` is the HTTP status a route
 * should answer with (400, 403, 404, 409); `message` is safe to show to the user.
 * SQL functions raise these as SQLSTATE `RL<status>` (see supabase/migrations).
 */
export class DomainError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

/**
 * Map a database error (pg's `{code, message}` or PostgREST's) to a DomainError when it
 * is one of ours (`RL4xx`) or a constraint/format violation of the input; else return
 * it unchanged so callers answer 5xx.
 */
export function toDomainError(err: unknown): unknown {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : "invalid input";
  const ours = /^RL(4\d\d)$/.exec(code);
  if (ours) return new DomainError(Number(ours[1]), message);
  // check_violation, invalid_text_representation, numeric out of range, not null,
  // invalid datetime format / field (e.g. a tampered list cursor)
  if (["23514", "22P02", "22003", "23502", "22007", "22008"].includes(code)) return new DomainError(400, message);
  return err;
}
