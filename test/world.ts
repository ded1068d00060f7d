/**
 * The shared world of the SQL tests (test/db): programs, clicks, payments, refunds,
 * disputes and payouts, each made through the real SQL functions on the SQL-tests database
 * (referly_sql) with the typed `rpc` the app uses (helpers.ts `call`). One version of each
 * set-up step, so the test files say only what differs.
 *
 * Units, exactly:
 *  - amounts going *in* as webhook data (`buy`'s `total`, `refund`'s and `dispute`'s
 *    `amount`) are decimal currency units as Whop sends them: 49.99 means $49.99;
 *  - amounts coming *out* of the database (`payouts()[].amount`, `availableBalance`) are
 *    integer cents (minor units): 4999 means $49.99;
 *  - settings are passed as update_program_settings takes them (`hold_days` in days,
 *    `commission_rate_bp` in basis points, `*_cents` in cents).
 */
import { afterEach, expect } from "vitest";
import type { RpcBackend } from "../lib/db";
import { call, codeOf, ids, pay, paymentData, sqlRows as rows, uid, webhook, type Ids } from "./helpers";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

// ── members and programs ────────────────────────────────────────────────────

/** A fresh Whop user id, `user_<tag><12 hex>`. */
export const user = (tag: string) => `user_${tag}${uid()}`;

/** Save program settings (update_program_settings); `s` is a partial settings object. */
export const settings = (company: string, s: Record<string, unknown>) =>
  call("update_program_settings", { p_company_id: company, p_settings: s });

/** The settings `company()` starts from unless told otherwise: commissions available at once, no fraud checks. */
export const QUIET = { hold_days: 0, fraud_mode: "off" } as const;

/**
 * A fresh company (ids(): company, experience, referrer, referee, other) whose program is
 * saved with `{...defaults, ...s}`; `defaults` is QUIET unless given (pass `{}` for the
 * program's own defaults).
 *  - `made`: the company id is pushed onto it first (see consistentAfterEach);
 *  - `referrerCode`: the referrer's code is made at once, with username `r<last 6 of the company id>`.
 */
export async function company(
  s: Record<string, unknown> = {},
  o: { defaults?: Record<string, unknown>; made?: string[]; referrerCode?: boolean } = {},
): Promise<Ids> {
  const t = ids();
  o.made?.push(t.company);
  await settings(t.company, { ...(o.defaults ?? QUIET), ...s });
  if (o.referrerCode) await codeOf(t.company, t.referrer, `r${t.company.slice(-6)}`);
  return t;
}

/** `member` enters `referrer`'s code ("who invited you?"): `referrer` becomes member's referrer (claim_referral). */
export const claim = async (company: string, member: string, referrer: string) =>
  call("claim_referral", {
    p_company_id: company,
    p_user_id: member,
    p_code: await codeOf(company, referrer),
    p_username: null,
  });

// ── analytics consistency ───────────────────────────────────────────────────

/** check_analytics(company): {ok, differences}. */
export const check = (company: string) => call("check_analytics", { p_company_id: company });

/** check_analytics(company) finds no difference between the rollups and the source rows (message `check_analytics <when>`). */
export async function expectConsistent(company: string, when = "") {
  expect(await check(company), `check_analytics ${when}`).toEqual({ ok: true, differences: [] });
}

/**
 * Register an afterEach that runs expectConsistent on every company the test pushed onto
 * the returned list (and empties it); `when(company)` names the check in its message.
 * Call once at a file's top level.
 */
export function consistentAfterEach(when: (company: string) => string = (c) => `after the test (${c})`): string[] {
  const made: string[] = [];
  afterEach(async () => {
    for (const c of made.splice(0)) await expectConsistent(c, when(c));
  });
  return made;
}

// ── clicks ──────────────────────────────────────────────────────────────────

/** Keyed hashes of a visitor's network (64 hex characters each, as lib/fraud makes them). */
export interface Net {
  ip?: string;
  prefix?: string;
  device?: string;
}

/**
 * A click on /r/`code` as record_click sees it; returns record_click's answer ({found,
 * click_id, counted, …}). Defaults: a fresh visitor hash, a browser (`bot` true: Googlebot's
 * user agent and p_is_bot), no referring URL, no country. `net` (even `{}`) passes the three
 * keyed hashes (absent ones as null); without it they are left to the function's defaults.
 */
export const click = (
  code: string,
  o: { visitor?: string; referrer?: string | null; country?: string | null; bot?: boolean; net?: Net } = {},
): Promise<Json> =>
  call("record_click", {
    p_code: code,
    p_visitor_hash: o.visitor ?? uid("visitor"),
    p_user_agent: o.bot ? "Googlebot/2.1" : "Mozilla/5.0",
    p_referrer_url: o.referrer ?? null,
    p_country: o.country ?? null,
    p_is_bot: o.bot ?? false,
    ...(o.net
      ? { p_ip_hash: o.net.ip ?? null, p_ip_prefix_hash: o.net.prefix ?? null, p_device_hash: o.net.device ?? null }
      : {}),
  });

// ── payments ────────────────────────────────────────────────────────────────

/** The signals lib/fraud adds to a payment's data as `referly_signals`. */
export interface Signals {
  email?: string;
  email_disposable?: boolean;
  method_hash?: string;
  card_brand?: string;
  card_last4?: string;
}

/** What `buy` pays. */
export interface Purchase {
  /** Whop user id of the buyer; a fresh `user_b…` when omitted. */
  payer?: string;
  /** The payment's total (and subtotal) in decimal currency units as Whop sends them: 49.99 = $49.99, not cents. */
  total: number;
  /** A referrer whose code (codeOf(company, via, viaUsername)) goes into metadata.referral_code. */
  via?: string;
  /** The username codeOf makes `via`'s code from, on first call (null: none). */
  viaUsername?: string | null;
  /** A referral code for metadata.referral_code (instead of `via`). */
  code?: string;
  /** A click id for metadata.click_id (beside the code, when one is given). */
  clickId?: string;
  /** The whole metadata object (overrides code, via and clickId; null: none). */
  metadata?: Record<string, unknown> | null;
  /** Show the buyer as {id: payer, username, name: username} instead of paymentData's default. */
  username?: string;
  /** The payment's product id (none when omitted). */
  product?: string;
  /** Fraud signals, as referly_signals. */
  signals?: Signals;
  /** Fields spread over the data last (e.g. a given `id` to redeliver a payment). */
  extra?: Record<string, unknown>;
  /** Assert the event is new (process_webhook_event answered duplicate: false). */
  fresh?: boolean;
}

/**
 * `payer` pays: a payment.succeeded event (paymentData, a fresh event id) through
 * process_webhook_event — a referred first payment when the metadata carries a code or
 * click, a renewal or a non-referred payment otherwise. Returns the payment id, the
 * pipeline's outcome (e.g. "commission_created"), whether it was a duplicate, and the data sent.
 */
export async function buy(
  company: string,
  p: Purchase,
): Promise<{ id: string; outcome: string; duplicate: boolean; data: ReturnType<typeof paymentData> & Record<string, unknown> }> {
  const code = p.code ?? (p.via !== undefined ? await codeOf(company, p.via, p.viaUsername ?? null) : undefined);
  const payer = p.payer ?? uid("user_b");
  const metadata =
    p.metadata !== undefined
      ? p.metadata
      : code || p.clickId
        ? { ...(code ? { referral_code: code } : {}), ...(p.clickId ? { click_id: p.clickId } : {}) }
        : null;
  const data = {
    ...paymentData({ user: payer, total: p.total, metadata, product: p.product }),
    ...(p.username !== undefined ? { user: { id: payer, username: p.username, name: p.username } } : {}),
    ...(p.signals ? { referly_signals: p.signals } : {}),
    ...p.extra,
  };
  const r = await pay(company, data);
  if (p.fresh) expect(r.duplicate).toBe(false);
  return { id: data.id as string, outcome: r.outcome as string, duplicate: r.duplicate as boolean, data };
}

// ── refunds and disputes ────────────────────────────────────────────────────

/**
 * refund.created (or `type` refund.updated): a Whop Refund {id, amount, currency "usd",
 * status, payment: {id}} of `amount` decimal currency units (25 = $25.00) against `paymentId`.
 * Defaults: a fresh `re_…` id, status "succeeded", a fresh event id.
 */
export const refund = (
  company: string,
  paymentId: string,
  amount: number,
  o: { id?: string; status?: string; type?: "refund.created" | "refund.updated"; eventId?: string } = {},
) =>
  webhook(o.eventId ?? uid("evt_"), o.type ?? "refund.created", company, {
    id: o.id ?? uid("re_"),
    amount,
    currency: "usd",
    status: o.status ?? "succeeded",
    payment: { id: paymentId },
  });

/** dispute.created: a Whop Dispute {id, amount (decimal units), currency "usd", status needs_response, payment: {id}}. */
export const dispute = (company: string, paymentId: string, amount: number, o: { id?: string } = {}) =>
  webhook(uid("evt_"), "dispute.created", company, {
    id: o.id ?? uid("dp_"),
    amount,
    currency: "usd",
    status: "needs_response",
    payment: { id: paymentId },
  });

// ── balances and payouts ────────────────────────────────────────────────────

/** get_user_referral_earnings(company, member). */
export const earnings = (company: string, member: string) =>
  call("get_user_referral_earnings", { p_company_id: company, p_user_id: member });

/** available_balance(company, member), in cents. */
export const availableBalance = (company: string, member: string): Promise<number> =>
  call("available_balance", { p_company_id: company, p_user_id: member });

/** request_payout(company, member), on `backend` (another connection) when given. */
export const requestPayout = (company: string, member: string, backend?: RpcBackend) =>
  call("request_payout", { p_company_id: company, p_user_id: member }, backend);
export const startPayout = (company: string, payoutId: string) =>
  call("start_payout", { p_company_id: company, p_payout_id: payoutId });
/** complete_payout with Whop's transfer id (a fresh `xfer_…` when omitted). */
export const completePayout = (company: string, payoutId: string, transferId = uid("xfer_")) =>
  call("complete_payout", { p_company_id: company, p_payout_id: payoutId, p_transfer_id: transferId });
export const failPayout = (company: string, payoutId: string, error: string) =>
  call("fail_payout", { p_company_id: company, p_payout_id: payoutId, p_error: error });
export const cancelPayout = (company: string, payoutId: string, reason: string) =>
  call("cancel_payout", { p_company_id: company, p_payout_id: payoutId, p_reason: reason });

/** A payouts row; `amount` in cents. */
export interface Payout {
  id: string;
  user_id: string;
  amount: number;
  status: string;
  error: string | null;
  reason: string | null;
  attempts: number;
  whop_transfer_id: string | null;
}

/** The company's payouts, oldest request first. */
export const payouts = (company: string) =>
  rows<Payout>(
    `select id::text, user_id, amount_cents::int as amount, status, error, reason, attempts, whop_transfer_id
     from public.payouts where company_id = $1 order by requested_at, id`,
    [company],
  );
