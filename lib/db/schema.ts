/**
 * The declarative schema and the tools that keep the migrations equal to it.
 *
 * `supabase/schemas/<NN>_<domain>.sql` is the live schema, applied in file-name order (the
 * order Supabase's declarative schemas use). A migration is generated from a change to those
 * files (`npm run db:diff -- <name>`, lib/db/diff-cli.ts): two scratch databases are built,
 * one from `supabase/migrations`, one from the schema files, and the diff tool
 * (`@pgkit/migra`, the TypeScript port of the migra differ that Supabase's own `db diff`
 * used) writes the statements that turn the first into the second. The drift test
 * (test/db/schema-drift.test.ts) builds both and requires `diffDatabases` to be empty and
 * `catalogFingerprint` to be equal. See docs/architecture.md, "Changing the schema".
 */
import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";

export const SCHEMAS_DIR = path.join(process.cwd(), "supabase", "schemas");

/** The schema files in the order they apply: `[{file, sql}]`. */
export async function schemaFiles(dir = SCHEMAS_DIR): Promise<{ file: string; sql: string }[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{2}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(files.map(async (file) => ({ file, sql: await readFile(path.join(dir, file), "utf8") })));
}

/**
 * Build the schema from the files into an empty database, in one transaction.
 * Throws `Error("schema file <file> failed: <Postgres message>")`, and writes nothing then.
 */
export async function applySchemaFiles(connectionString: string, dir = SCHEMAS_DIR): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("begin");
    for (const { file, sql } of await schemaFiles(dir)) {
      try {
        await client.query(sql);
      } catch (err) {
        throw new Error(`schema file ${file} failed: ${(err as Error).message}`);
      }
    }
    await client.query("commit");
  } catch (err) {
    await client.query("rollback").catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
}

const execFileAsync = promisify(execFile);

/**
 * The SQL that turns database `from` into database `to` (empty when their schemas are the
 * same), privileges included, drops allowed (`--unsafe`: the statements are read by hand
 * before they land); the migration runner's own bookkeeping schema is left out. Runs the `@pgkit/migra` command in a child process, so its
 * connections end with it.
 */
export async function diffDatabases(fromUrl: string, toUrl: string): Promise<string> {
  const bin = createRequire(import.meta.url).resolve("@pgkit/migra/dist/command.js");
  const { stdout } = await execFileAsync(process.execPath, [bin, "run", fromUrl, toUrl, "--unsafe", "--with-privileges", "--exclude-schema", "supabase_migrations"], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout.trim();
}

/**
 * What a schema is, in a form two databases can be compared by: the public schema's
 * columns in order (type, not null, default, identity), constraints (with their names and
 * whether validated), indexes, triggers, tables' RLS flags and ACLs, policies, functions
 * (signature, result, language, security, volatility, settings, ACL and a hash of the body),
 * default privileges, extensions and schemas. `{section: {key: description}}`.
 */
export async function catalogFingerprint(connectionString: string): Promise<Record<string, Record<string, unknown>>> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("set search_path = ''");
    const { rows } = await client.query<{ fp: Record<string, Record<string, unknown>> }>(FINGERPRINT_SQL);
    return rows[0].fp;
  } finally {
    await client.end();
  }
}

const acl = (col: string) => `(select string_agg(x::text, ',' order by x::text) from unnest(${col}) x)`;
const FINGERPRINT_SQL = `
select json_build_object(
 'columns', (select coalesce(json_object_agg(c.relname || '.' || lpad(a.attnum::text, 3, '0') || '.' || a.attname,
     concat_ws(' | ', format_type(a.atttypid, a.atttypmod), case when a.attnotnull then 'not null' end,
       pg_get_expr(d.adbin, d.adrelid), nullif(a.attidentity, ''), nullif(a.attgenerated, ''))), '{}')
   from pg_attribute a join pg_class c on c.oid = a.attrelid left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm') and a.attnum > 0 and not a.attisdropped),
 'constraints', (select coalesce(json_object_agg(conrelid::regclass::text || '.' || conname,
     contype::text || ' ' || pg_get_constraintdef(oid) || case when convalidated then '' else ' NOT VALID' end), '{}')
   from pg_constraint where connamespace = 'public'::regnamespace),
 'indexes', (select coalesce(json_object_agg(indexrelid::regclass::text, pg_get_indexdef(indexrelid)), '{}')
   from pg_index x join pg_class c on c.oid = x.indrelid where c.relnamespace = 'public'::regnamespace),
 'triggers', (select coalesce(json_object_agg(tgname, pg_get_triggerdef(t.oid)), '{}')
   from pg_trigger t join pg_class c on c.oid = t.tgrelid where c.relnamespace = 'public'::regnamespace and not tgisinternal),
 'relations', (select coalesce(json_object_agg(relname, concat_ws(' ', relkind::text, 'rls=' || relrowsecurity,
     'force=' || relforcerowsecurity, 'acl=' || ${acl("relacl")})), '{}')
   from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p', 'v', 'm', 'S')),
 'policies', (select coalesce(json_object_agg(polrelid::regclass::text || '.' || polname,
     concat_ws(' ', polcmd::text, pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid))), '{}') from pg_policy),
 'functions', (select coalesce(json_object_agg(p.oid::regprocedure::text, concat_ws(' | ', pg_get_function_result(p.oid), l.lanname,
     case when p.prosecdef then 'security definer' end, p.provolatile::text, p.proconfig::text,
     case when p.proisstrict then 'strict' end, p.proparallel::text, ${acl("p.proacl")}, md5(p.prosrc))), '{}')
   from pg_proc p join pg_language l on l.oid = p.prolang where p.pronamespace = 'public'::regnamespace),
 'default_acl', (select coalesce(json_object_agg(defaclobjtype::text || ' ' || coalesce(defaclnamespace::regnamespace::text, '-'),
     ${acl("defaclacl")}), '{}') from pg_default_acl),
 'extensions', (select coalesce(json_object_agg(extname, extnamespace::regnamespace::text), '{}') from pg_extension),
 'schemas', (select coalesce(json_object_agg(nspname, nspowner::regrole::text), '{}')
   from pg_namespace where nspname !~ '^pg_' and nspname not in ('information_schema', 'supabase_migrations'))
) as fp`;
