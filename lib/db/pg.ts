import pg from "pg";
import type { RpcBackend } from "./index";

// bigint (int8) and numeric come back as strings by default; our functions return
// jsonb, where Postgres already renders numbers exactly, so nothing to configure.

/** Bounds on a connection's waits, in milliseconds (0 = unbounded). */
export interface DbLimits {
  /** waiting for a pooled connection (the pool is full) */
  acquireMs: number;
  /** waiting for a row or advisory lock (Postgres lock_timeout: SQLSTATE 55P03) */
  lockMs: number;
  /** one statement, a whole SQL function call included (statement_timeout: 57014) */
  statementMs: number;
  /** a transaction left open with nothing running (idle_in_transaction_session_timeout) */
  idleInTransactionMs: number;
}

/**
 * The app's bounds: a webhook that can't get its locks within lockMs answers 503 with
 * Retry-After and writes nothing (Whop redelivers); a page or action gets an error in words
 * (lib/db/errors.ts); either way the connection goes back to the pool. Sent as startup
 * parameters: through a transaction-mode pooler that drops them, set the same on the
 * database role (`alter role … set lock_timeout = '5s'`, and so on).
 */
export const APP_DB_LIMITS: DbLimits = { acquireMs: 10_000, lockMs: 5_000, statementMs: 30_000, idleInTransactionMs: 15_000 };

/**
 * An RpcBackend over a plain Postgres connection (DATABASE_URL: Supabase's direct
 * connection, any Postgres, the embedded one, tests). `rpc(name, args)` calls
 * `public.<name>(k => $1, …)` with named arguments and answers like PostgREST would:
 * an array of row objects for set-returning functions, else the single value. `limits`
 * bound its waits (none by default: tests and benchmarks; the app passes APP_DB_LIMITS).
 */
export function createPgBackend(connectionString: string, max = 10, limits?: DbLimits): RpcBackend & { pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString,
    max,
    ...(limits && {
      connectionTimeoutMillis: limits.acquireMs,
      lock_timeout: limits.lockMs,
      statement_timeout: limits.statementMs,
      idle_in_transaction_session_timeout: limits.idleInTransactionMs,
    }),
  });
  // an idle connection dropped by the server (restart, failover) must not crash the process
  pool.on("error", (err) => console.error("postgres pool:", err.message));
  const retset = new Map<string, boolean>();

  async function returnsSet(name: string): Promise<boolean> {
    let v = retset.get(name);
    if (v === undefined) {
      const r = await pool.query<{ proretset: boolean }>(
        "select proretset from pg_proc where proname = $1 and pronamespace = 'public'::regnamespace",
        [name],
      );
      if (r.rowCount === 0) throw new Error(`no SQL function public.${name}`);
      v = r.rows[0].proretset;
      retset.set(name, v);
    }
    return v;
  }

  return {
    kind: "pg",
    pool,
    async rpc(name, args) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad function name ${name}`);
      const keys = Object.keys(args);
      const params = keys.map((k) => {
        const v = args[k];
        return v !== null && typeof v === "object" ? JSON.stringify(v) : v;
      });
      const call = `public.${name}(${keys.map((k, i) => `${k} => $${i + 1}`).join(", ")})`;
      if (await returnsSet(name)) {
        const r = await pool.query(`select coalesce(jsonb_agg(to_jsonb(t)), '[]') as v from ${call} t`, params);
        return r.rows[0].v;
      }
      const r = await pool.query(`select to_jsonb(${call}) as v`, params);
      return r.rows[0].v;
    },
    async close() {
      await pool.end();
    },
  };
}
