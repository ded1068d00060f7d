/**
 * The database (see docs/architecture.md, "Data rules"): SQL functions are the write API and the
 * read API, called through one typed `rpc(name, args, schema)`.
 *
 * Backend, from the environment (lib/env.ts): SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY →
 * supabase-js; DATABASE_URL → pg. The embedded Postgres is started by the launcher
 * (lib/launch.ts), which hands Next its DATABASE_URL, so the app only sees these two.
 */
import type { ZodType } from "zod";
import { env } from "../env";
import { BUSY, DomainError, toDomainError } from "./errors";

export { DomainError } from "./errors";

export interface RpcBackend {
  kind: "pg" | "supabase";
  /** Call `public.<name>` with named arguments; resolves to its JSON result. */
  rpc(name: string, args: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

let backend: RpcBackend | undefined;
let pending: Promise<RpcBackend> | undefined;

async function makeBackend(): Promise<RpcBackend> {
  const e = env();
  if (e.SUPABASE_URL && e.SUPABASE_SERVICE_ROLE_KEY) {
    const { createSupabaseBackend } = await import("./supabase");
    return createSupabaseBackend(e.SUPABASE_URL, e.SUPABASE_SERVICE_ROLE_KEY);
  }
  if (e.DATABASE_URL) {
    const { APP_DB_LIMITS, createPgBackend } = await import("./pg");
    return createPgBackend(e.DATABASE_URL, 10, APP_DB_LIMITS);
  }
  throw new Error(
    "No database configured: set DATABASE_URL or SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY, or start with `npm run dev`, which starts an embedded Postgres.",
  );
}

/** The process-wide backend (made on first use). */
export function getBackend(): Promise<RpcBackend> {
  if (backend) return Promise.resolve(backend);
  pending ??= makeBackend().then((b) => (backend = b));
  return pending;
}

/**
 * How many of this process's database calls one company may have in flight at once: half the
 * app's pool (lib/db/pg.ts, 10 connections), so while one company's work is stuck (its locks
 * held, a burst of its webhooks) the other half serves every other company at its normal speed.
 */
export const COMPANY_SHARE = 5;

interface Share {
  active: number;
  waiting: (() => void)[];
}
const shares = new Map<string, Share>();

/**
 * Run `fn` (one company's database work) within the company's share of this process's
 * connections: at most `share` at once; beyond that it waits up to `waitMs` for a slot, then
 * throws DomainError 503 (lib/db/errors.ts BUSY) without running. A finished call hands its slot to
 * the first waiter.
 */
export async function withCompanyShare<T>(companyId: string, fn: () => Promise<T>, share = COMPANY_SHARE, waitMs = 10_000): Promise<T> {
  let s = shares.get(companyId);
  if (!s) shares.set(companyId, (s = { active: 0, waiting: [] }));
  const slot = s;
  if (slot.active < share) slot.active++;
  else {
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        slot.waiting.splice(slot.waiting.indexOf(wake), 1);
        reject(new DomainError(503, BUSY));
      }, waitMs);
      slot.waiting.push(wake);
    });
  }
  try {
    return await fn();
  } finally {
    const next = slot.waiting.shift();
    if (next) next(); // the slot passes on, still counted
    else if (--slot.active === 0) shares.delete(companyId);
  }
}

/**
 * Call the SQL function `public.<name>` and parse its result with `schema`.
 * Throws DomainError (status 400/403/404/409, user-facing message) when the function
 * refuses the input, DomainError 503 when the database is busy (a lock, statement or pool
 * wait ran out, or a deadlock: nothing was written, try again); any other error propagates
 * (routes answer 5xx).
 */
export async function rpc<T>(
  name: string,
  args: Record<string, unknown>,
  schema: ZodType<T>,
  db?: RpcBackend,
): Promise<T> {
  const b = db ?? (await getBackend());
  let data: unknown;
  try {
    data = await b.rpc(name, args);
  } catch (err) {
    throw toDomainError(err);
  }
  return schema.parse(data);
}
