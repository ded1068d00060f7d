/**
 * supabase/migrations and supabase/schemas describe the same database: one built from the
 * migrations and one built from the schema files have no difference the diff tool can see
 * (privileges included) and the same catalog fingerprint (columns in order, constraint
 * names, indexes, triggers, RLS, functions' bodies and ACLs, default privileges). A change
 * to a schema file without its generated migration fails here. Also: a database that
 * records migrations the repository no longer has is refused, with nothing applied.
 */
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { migrate, UnknownMigrationsError } from "../../lib/db/migrate";
import { applySchemaFiles, catalogFingerprint, diffDatabases, SCHEMAS_DIR } from "../../lib/db/schema";

const NAMES = ["referly_drift_migrations", "referly_drift_schemas", "referly_drift_changed", "referly_drift_old"];
const urlOf = (name: string) => {
  const u = new URL(inject("sqlDbUrl"));
  u.pathname = `/${name}`;
  return u.toString();
};
async function admin(sql: string) {
  const client = new pg.Client({ connectionString: inject("sqlDbUrl") });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
const recreate = async (name: string) => {
  await admin(`drop database if exists ${name} with (force)`);
  await admin(`create database ${name}`);
};

const [fromMigrations, fromSchemas, changed, old] = NAMES.map(urlOf);

beforeAll(async () => {
  for (const n of NAMES) await recreate(n);
  await migrate(fromMigrations);
  await applySchemaFiles(fromSchemas);
}, 120_000);
afterAll(async () => {
  for (const n of NAMES) await admin(`drop database if exists ${n} with (force)`);
});

describe("the migrations build what supabase/schemas declares", () => {
  it("the diff tool sees no difference, either way", async () => {
    expect(await diffDatabases(fromMigrations, fromSchemas)).toBe("");
    expect(await diffDatabases(fromSchemas, fromMigrations)).toBe("");
  });

  it("the catalogs are equal, section by section", async () => {
    const [a, b] = await Promise.all([catalogFingerprint(fromMigrations), catalogFingerprint(fromSchemas)]);
    expect(Object.keys(a.functions).length).toBeGreaterThan(100);
    expect(Object.keys(a.columns).length).toBeGreaterThan(300);
    for (const section of Object.keys(a)) expect(b[section], section).toEqual(a[section]);
  });

  it.each([
    ["built from the migrations", () => fromMigrations],
    ["built from the schema files", () => fromSchemas],
  ])("%s: every table has row-level security, nothing is granted to anon or authenticated, no function to PUBLIC", async (_, url) => {
    const fp = await catalogFingerprint(url());
    const tables = Object.entries(fp.relations).filter(([, d]) => String(d).startsWith("r "));
    expect(tables.length).toBeGreaterThan(30);
    for (const [name, d] of tables) {
      expect(String(d), name).toContain("rls=true");
      expect(String(d), name).not.toMatch(/\b(anon|authenticated)=/);
    }
    for (const [sig, d] of Object.entries(fp.functions)) {
      expect(String(d), sig).toContain("service_role=X/");
      expect(String(d), sig).not.toMatch(/(^|[|,]\s*)=X\/|\b(anon|authenticated)=X/);
    }
  });

  it("a schema change without its migration is seen by both checks", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "referly-schemas-"));
    await cp(SCHEMAS_DIR, dir, { recursive: true });
    const file = path.join(dir, "70_notifications.sql");
    const sql = await readFile(file, "utf8");
    await writeFile(file, sql.replace("create table public.notifications (", "create table public.notifications (\n  drift_probe text,"));
    await applySchemaFiles(changed, dir);
    expect(await diffDatabases(fromMigrations, changed)).toContain('add column "drift_probe" text');
    const [a, b] = await Promise.all([catalogFingerprint(fromMigrations), catalogFingerprint(changed)]);
    expect(b.columns).not.toEqual(a.columns);
  });
});

describe("a database migrated before the squash", () => {
  it("is refused with the versions it has that the repository does not, and nothing is applied", async () => {
    const client = new pg.Client({ connectionString: old });
    await client.connect();
    try {
      await client.query(`create schema supabase_migrations;
        create table supabase_migrations.schema_migrations (version text primary key, statements text[], name text);
        insert into supabase_migrations.schema_migrations (version, name) values ('20261121000000', 'core'), ('20261122100000', 'member_reads');
        create table public.programs (company_id text primary key)`);
    } finally {
      await client.end();
    }
    const err = await migrate(old).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnknownMigrationsError);
    expect((err as UnknownMigrationsError).versions).toEqual(["20261121000000", "20261122100000"]);
    expect((err as Error).message).toMatch(/before the schema was squashed/);
    const fp = await catalogFingerprint(old);
    expect(Object.keys(fp.functions)).toEqual([]);
    expect(Object.keys(fp.relations)).toEqual(["programs"]);
  });
});
