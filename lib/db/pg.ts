import pg from "pg";
import type { RpcBackend } from "./index";

// bigint (int8) and numeric come back as strings by default; our functions return
// jsonb, where Postgres already renders numbers exactly, so nothing to configure.

/**
 * An RpcBackend over a plain Postgres connection (DATABASE_URL: Supabase's direct
 * connection, any Postgres, the embedded one, tests). `rpc(name, args)` calls
 * `public.<name>(k => $1, …)` with named arguments and answers like PostgREST would:
 * an array of row objects for set-returning functions, else the single value.
 */
export function createPgBackend(connectionString: string, max = 10): RpcBackend & { pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString, max });
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
