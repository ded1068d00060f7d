/**
 * Shared test helpers. Everything real: tokens are ES256 JWTs (jose), webhooks are
 * signed with HMAC-SHA256 per Standard Webhooks, written here from the spec with
 * node:crypto (independently of the app's signing helper), the database is Postgres.
 */
import { createHmac, randomUUID } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { createPgBackend } from "../lib/db/pg";
import { signUserToken } from "../lib/whop/demo";
import type { SandboxState } from "../lib/whop/sandbox";

export const uid = (prefix = "") => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;

/** A fresh company id and its users, unique per test so tests never see each other's rows. */
export function ids() {
  const s = uid();
  return {
    company: `biz_${s}`,
    experience: `exp_${s}`,
    referrer: `user_ref${s}`,
    referee: `user_buy${s}`,
    other: `user_oth${s}`,
  };
}

const pools = new Map<string, pg.Pool>();
/** A pg pool on one of the test databases, for asserting rows. */
export function pool(url: string): pg.Pool {
  let p = pools.get(url);
  if (!p) {
    p = new pg.Pool({ connectionString: url, max: 25 });
    pools.set(url, p);
  }
  return p;
}

/** RpcBackend on the SQL-tests database. */
export const sqlBackend = () => createPgBackend(inject("sqlDbUrl"), 25);

/** A Whop user token for `userId` signed with the test key (what Whop's proxy sends). */
export function userToken(userId: string, appId = inject("appId"), privateJwk = inject("userTokenPrivateKey")) {
  return signUserToken(privateJwk, userId, appId);
}

/**
 * Standard Webhooks headers computed from the spec: v1,base64(HMAC-SHA256(key, "id.ts.body")),
 * key = the secret's bytes as Whop's dashboard shows it.
 */
export function signedHeaders(body: string, opts: { id: string; secret?: string; timestamp?: number }) {
  const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const sig = createHmac("sha256", Buffer.from(opts.secret ?? inject("webhookSecret"), "utf8"))
    .update(`${opts.id}.${ts}.${body}`)
    .digest("base64");
  return {
    "content-type": "application/json",
    "webhook-id": opts.id,
    "webhook-timestamp": String(ts),
    "webhook-signature": `v1,${sig}`,
  };
}

/** POST a signed event to the app's webhook endpoint. */
export async function deliver(event: { id: string }, opts: { secret?: string; timestamp?: number } = {}) {
  const body = JSON.stringify(event);
  const res = await fetch(`${inject("apiUrl")}/api/webhooks/whop`, {
    method: "POST",
    headers: signedHeaders(body, { id: event.id, ...opts }),
    body,
  });
  return { status: res.status, json: (await res.json().catch(() => null)) as Record<string, unknown> | null };
}

/** Tell the Whop stand-in about companies, experiences, users, access or failures. */
export async function whopState(patch: Partial<SandboxState>) {
  const res = await fetch(`${inject("sandboxUrl")}/__sandbox/state`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(patch),
  });
  if (!res.ok) throw new Error(`sandbox state: ${res.status}`);
}

/** What the app sent to the Whop stand-in. */
export async function whopRequests(): Promise<{ method: string; path: string; body: any }[]> {
  return (await fetch(`${inject("sandboxUrl")}/__sandbox/requests`)).json();
}

/** Register a company with an experience, an admin and members in the Whop stand-in. */
export async function whopCompany(
  company: string,
  experience: string,
  users: Record<string, "admin" | "customer" | "no_access">,
) {
  await whopState({
    companies: { [company]: { title: `Company ${company}` } },
    experiences: { [experience]: { companyId: company, name: "Refer & earn" } },
    users: Object.fromEntries(Object.keys(users).map((u) => [u, { username: u.slice(5, 17), name: null }])),
    access: { [company]: users },
  });
}
