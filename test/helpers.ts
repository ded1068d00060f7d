/**
 * Shared test helpers. Everything real: tokens are ES256 JWTs (jose), webhooks are
 * signed with HMAC-SHA256 per Standard Webhooks, written here from the spec with
 * node:crypto (independently of the app's signing helper), the database is Postgres.
 */
import { createHmac, randomUUID } from "node:crypto";
import pg from "pg";
import { expect, inject } from "vitest";
import { z } from "zod";
import { DomainError, rpc, type RpcBackend } from "../lib/db";
import { createPgBackend } from "../lib/db/pg";
import { paymentSucceededEvent, signUserToken, type PurchaseInput } from "../lib/demo";
import type { SandboxState } from "../lib/demo/sandbox";

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

/** The ids of one test, as ids() makes them. */
export type Ids = ReturnType<typeof ids>;

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

// ── The SQL-tests database (test/db): SQL functions through the app's typed rpc ──

let sqlDbBackend: ReturnType<typeof sqlBackend> | undefined;
/** This test file's RpcBackend on the SQL-tests database, made on first use (the file closes it in afterAll). */
export const sqlDb = () => (sqlDbBackend ??= sqlBackend());

/** Call `public.<name>` with named arguments through `rpc`, on sqlDb() unless another backend is given. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const call = (name: string, args: Record<string, unknown>, backend: RpcBackend = sqlDb()): Promise<any> =>
  rpc(name, args, z.any(), backend);

/** The rows of a query on the SQL-tests database. */
export async function sqlRows<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool(inject("sqlDbUrl")).query(text, params)).rows as T[];
}

/** The rejection of `p` (or undefined when it resolves). */
export const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

/** Assert the promise rejects with DomainError(status, message). */
export async function expectDomainError(p: Promise<unknown>, status: number, message: string | RegExp) {
  const err = await rejection(p);
  expect(err, "expected a DomainError, got success").toBeInstanceOf(DomainError);
  expect((err as DomainError).status).toBe(status);
  if (typeof message === "string") expect((err as DomainError).message).toBe(message);
  else expect((err as DomainError).message).toMatch(message);
}

/** The member's referral code (get_or_create_code), made on first call. */
export const codeOf = async (company: string, userId: string, username: string | null = null): Promise<string> =>
  (await call("get_or_create_code", { p_company_id: company, p_user_id: userId, p_username: username, p_name: null }))
    .code;

/** Process a Whop webhook event's data with process_webhook_event. */
export const webhook = (eventId: string, type: string, company: string | null, data: Record<string, unknown>) =>
  call("process_webhook_event", { p_event_id: eventId, p_type: type, p_company_id: company, p_data: data });

/** A `payment.succeeded` data object shaped like @whop/sdk's Payment (with a product only when `product` is given). */
export function paymentData(o: {
  id?: string;
  user: string;
  total: number;
  tax?: number | null;
  currency?: string;
  code?: string;
  metadata?: Record<string, unknown> | null;
  product?: string;
}) {
  return {
    id: o.id ?? uid("pay_"),
    status: "paid",
    total: o.total,
    subtotal: o.total,
    tax_amount: o.tax ?? 0,
    currency: o.currency ?? "usd",
    user: { id: o.user, username: `name_${o.user.slice(-6)}`, name: "Buyer Person" },
    ...(o.product !== undefined ? { product: { id: o.product } } : {}),
    metadata: o.metadata !== undefined ? o.metadata : o.code ? { referral_code: o.code } : null,
  };
}

/** Process a payment.succeeded event carrying `data`. */
export const pay = (company: string, data: ReturnType<typeof paymentData>, eventId = uid("evt_")) =>
  webhook(eventId, "payment.succeeded", company, data);

// ── The API's database (test/api): set-up and assertions in SQL ──────────────

/** The pg pool on the database the running app uses. */
export const apiDb = () => pool(inject("apiDbUrl"));

/** The rows of a query on the API's database. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function apiRows<T = Record<string, any>>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await apiDb().query(text, params)).rows as T[];
}

/** The one row of a query on the API's database (asserts there is exactly one). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function apiOne<T = Record<string, any>>(text: string, params: unknown[] = []): Promise<T> {
  const r = await apiRows<T>(text, params);
  expect(r, text).toHaveLength(1);
  return r[0];
}

/** The member's referral code in the API's database (made like the member view makes it). */
export async function apiCodeFor(company: string, userId: string, username = "alice"): Promise<string> {
  const r = await apiOne<{ code: string }>(`select public.get_or_create_code($1, $2, $3, null)->>'code' as code`, [
    company,
    userId,
    username,
  ]);
  return r.code;
}

/** Save program settings in the API's database (update_program_settings). */
export async function apiSettings(company: string, s: Record<string, unknown>) {
  await apiDb().query(`select public.update_program_settings($1, $2::jsonb)`, [company, JSON.stringify(s)]);
}

// ── The running app (test/api): pages, webhooks and the Whop stand-in ────────

/** A Whop user token for `userId` signed with the test key (what Whop's proxy sends). */
export function userToken(userId: string, appId = inject("appId"), privateJwk = inject("userTokenPrivateKey")) {
  return signUserToken(privateJwk, userId, appId);
}

/** GET a page of the running app as HTML, with the user token `token` when given (redirects not followed). */
export async function page(path: string, token?: string) {
  const headers: Record<string, string> = { accept: "text/html" };
  if (token) headers["x-whop-user-token"] = token;
  const res = await fetch(`${inject("apiUrl")}${path}`, { headers, redirect: "manual" });
  return { status: res.status, html: await res.text() };
}

/** The text of an HTML fragment: comments and tags dropped, entities decoded. */
export function decode(s: string): string {
  return s
    .replace(/<!--.*?-->/g, "")
    .replace(/<[^>]*>/g, "")
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/** The text of every element with data-testid=`id` (the element's whole content, nested tags stripped). */
export function testIds(html: string, id: string): string[] {
  const re = new RegExp(`<(\\w+)[^>]*data-testid="${id}"[^>]*>([\\s\\S]*?)</\\1>`, "g");
  return [...html.matchAll(re)].map((m) => decode(m[2]).replace(/\s+/g, " ").trim());
}

/** The text of the one element with data-testid=`id`. */
export function testId(html: string, id: string): string {
  const all = testIds(html, id);
  expect(all, `data-testid="${id}"`).toHaveLength(1);
  return all[0];
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

/** A payment.succeeded event in company `c`: by default bob (c.referee) pays $49.99, no tax, no metadata. */
export function paymentEvent(
  c: Ids,
  o: {
    metadata?: Record<string, unknown> | null;
    total?: number;
    taxAmount?: number | null;
    companyId?: string;
    user?: PurchaseInput["user"];
  } = {},
) {
  return paymentSucceededEvent({
    eventId: uid("evt_"),
    paymentId: uid("pay_"),
    membershipId: uid("mem_"),
    companyId: o.companyId ?? c.company,
    user: o.user ?? { id: c.referee, username: "bob", name: "Bob Buyer" },
    planId: "plan_test",
    total: o.total ?? 49.99,
    taxAmount: o.taxAmount ?? null,
    metadata: o.metadata ?? null,
  });
}

/**
 * A program in the API's database for the ids `c` (a fresh ids() when omitted): hold_days 0,
 * fraud off, the company registered in the Whop stand-in with the referrer as a customer,
 * and the referrer's code. `openApp`: the referrer opens the member app first (asserted 200),
 * so the app knows the experience and makes the code from the referrer's Whop username;
 * otherwise the code is made here with username "alice" (apiCodeFor).
 */
export async function apiProgram(o: { openApp?: boolean } = {}): Promise<Ids & { code: string }> {
  const c = ids();
  await apiSettings(c.company, { hold_days: 0, fraud_mode: "off" });
  await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
  if (o.openApp) {
    const home = await page(`/experiences/${c.experience}`, await userToken(c.referrer));
    expect(home.status).toBe(200);
  }
  return { ...c, code: await apiCodeFor(c.company, c.referrer) };
}

/**
 * A new member (a fresh `user_b…`, username "newbie", name `name`) pays `total` decimal
 * currency units (49.99 = $49.99, the default) through `c.code`: a signed payment.succeeded
 * delivered to the running app, `extra` merged into its data; asserts 200; returns the event.
 */
export async function apiReferredPayment(
  c: Ids & { code: string },
  o: { total?: number; name?: string | null; extra?: Record<string, unknown> } = {},
) {
  const e = paymentEvent(c, {
    total: o.total,
    metadata: { referral_code: c.code },
    user: { id: uid("user_b"), username: "newbie", name: o.name === undefined ? null : o.name },
  });
  Object.assign(e.data, o.extra ?? {});
  const r = await deliver(e);
  expect(r.status).toBe(200);
  return e;
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
