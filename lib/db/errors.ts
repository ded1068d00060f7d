/**
 * A rule of the domain refused the request. `status` is the HTTP status a route
 * should answer with (400, 403, 404, 409); `message` is safe to show to the user.
 * SQL functions raise these as SQLSTATE `RL<status>` (supabase/schemas). 503: the database
 * was too busy to answer in time (see `toDomainError`); nothing was written.
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

/** The words of a 503: a bounded wait ran out, nothing was written (toDomainError, withCompanyShare). */
export const BUSY = "Referly's database is busy right now: nothing was saved, try again in a few seconds";

/** Plain words for the check constraints a form can run into (the rest are named by their column). */
const CONSTRAINT_MESSAGES: Record<string, string> = {
  programs_landing_url_https: "The landing URL must be a full https:// address (like https://example.com/join)",
  programs_fraud_weights_check: "Each fraud weight is a whole number from 0 to 100",
  programs_upper_level_rates_bp_check: "Each level rate is between 0% and 100%",
};

/** "relation \"programs\" … constraint \"programs_hold_days_check\"" → "hold days". */
function constraintWords(message: string, constraint: string | undefined): string | null {
  const name = constraint ?? /constraint "([^"]+)"/.exec(message)?.[1];
  if (!name) return null;
  if (CONSTRAINT_MESSAGES[name]) return CONSTRAINT_MESSAGES[name];
  const table = /relation "([^"]+)"/.exec(message)?.[1];
  const column = name.replace(table ? new RegExp(`^${table}_`) : /^$/, "").replace(/_(check|key|fkey)$/, "");
  return /^[a-z0-9_]+$/.test(column) ? `The ${column.replaceAll("_", " ")} value is not allowed` : null;
}

/**
 * Map a database error (pg's `{code, message, constraint}` or PostgREST's) to a DomainError
 * when it is one of ours (`RL4xx`, whose message is written for users) or a constraint or
 * format violation of the input — in plain words, never the database's text with its table
 * and constraint names. Anything else is returned unchanged so callers answer 5xx (and
 * users see a generic error page).
 */
export function toDomainError(err: unknown): unknown {
  const e = err as { code?: unknown; message?: unknown; constraint?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : "";
  const ours = /^RL(4\d\d)$/.exec(code);
  if (ours) return new DomainError(Number(ours[1]), message || "invalid input");
  // a bounded wait ran out (lib/db/pg.ts APP_DB_LIMITS) or a deadlock was broken: the
  // transaction rolled back, so the same request can simply be sent again
  if (["55P03", "57014", "40P01", "40001"].includes(code) || message === "timeout exceeded when trying to connect") {
    return new DomainError(503, BUSY);
  }
  switch (code) {
    case "23514": // check_violation
      return new DomainError(400, constraintWords(message, typeof e?.constraint === "string" ? e.constraint : undefined) ?? "A value is not allowed");
    case "22P02": // invalid_text_representation
      return new DomainError(400, "A value has the wrong format");
    case "22003": // numeric_value_out_of_range
      return new DomainError(400, "A number is too large");
    case "23502": // not_null_violation
      return new DomainError(400, "A required value is missing");
    case "22P05": // untranslatable_character (a NUL in text or jsonb)
    case "22021": // character_not_in_repertoire (a NUL in a text parameter)
      return new DomainError(400, "A value has characters that can't be stored");
    case "54000": // program_limit_exceeded (e.g. a value too long for its index)
      return new DomainError(400, "A value is too long");
    case "54001": // statement_too_complex (nesting too deep)
      return new DomainError(400, "A value is nested too deeply");
    case "22007": // invalid_datetime_format (e.g. a tampered list cursor)
    case "22008": // datetime_field_overflow
      return new DomainError(400, "A date is not valid");
  }
  return err;
}
