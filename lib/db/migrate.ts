/**
 * Apply supabase/migrations/*.sql in file-name order to a Postgres, once each.
 * Applied versions are recorded where the Supabase CLI records them
 * (supabase_migrations.schema_migrations), so `supabase db push` and this runner agree.
 * A session advisory lock makes concurrent runners (parallel test workers, two
 * launchers) wait for each other instead of racing.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";

export const MIGRATIONS_DIR = path.join(process.cwd(), "supabase", "migrations");
const LOCK_KEY = 4_242_001;

/**
 * A database that records migrations this repository no longer has: made before the
 * migrations were squashed into one baseline (or by another branch). Nothing is applied to
 * it. The launcher rebuilds its own embedded demo database when it meets one; any other
 * database is the operator's to look at.
 */
export class UnknownMigrationsError extends Error {
  override name = "UnknownMigrationsError";
  constructor(readonly versions: string[]) {
    super(
      `the database records migrations this repository does not have (${versions.join(", ")}): ` +
        "it was made before the schema was squashed into one baseline. Rebuild it from supabase/migrations " +
        "(for the embedded demo database: rm -rf .data).",
    );
  }
}

/**
 * Returns the versions it applied (empty when the database was up to date). Throws
 * UnknownMigrationsError (and applies nothing) when the database records a version that is
 * not in `dir`; `Error("migration <file> failed: …")` when one fails (that one is rolled back).
 */
export async function migrate(connectionString: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("select pg_advisory_lock($1)", [LOCK_KEY]);
    await client.query(`create schema if not exists supabase_migrations;
      create table if not exists supabase_migrations.schema_migrations
        (version text primary key, statements text[], name text)`);
    const done = new Set(
      (await client.query<{ version: string }>("select version from supabase_migrations.schema_migrations")).rows.map(
        (r) => r.version,
      ),
    );
    const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
    const known = new Set(files.map((f) => f.split("_")[0]));
    const unknown = [...done].filter((v) => !known.has(v)).sort();
    if (unknown.length) throw new UnknownMigrationsError(unknown);
    const applied: string[] = [];
    for (const file of files) {
      const [version, ...rest] = file.replace(/\.sql$/, "").split("_");
      if (done.has(version)) continue;
      const sql = await readFile(path.join(dir, file), "utf8");
      await client.query("begin");
      try {
        await client.query(sql);
        await client.query(
          "insert into supabase_migrations.schema_migrations (version, statements, name) values ($1, $2, $3)",
          [version, [sql], rest.join("_")],
        );
        await client.query("commit");
      } catch (err) {
        await client.query("rollback");
        throw new Error(`migration ${file} failed: ${(err as Error).message}`);
      }
      applied.push(version);
    }
    return applied;
  } finally {
    await client.query("select pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => {});
    await client.end();
  }
}

/** Run a SQL file (supabase/seed.sql) as one transaction. */
export async function runSqlFile(connectionString: string, file: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`begin; ${await readFile(file, "utf8")}; commit;`);
  } finally {
    await client.end();
  }
}
