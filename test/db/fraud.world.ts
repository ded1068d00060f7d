/**
 * The fraud tests' own world, shared by test/db/fraud-*.test.ts: keyed hashes, clicks and
 * member-app visits from a network, cards and emails as lib/fraud reports them, payments with
 * signals, a company with fast_conversion off, the referral / fraud_checks / commission /
 * ledger / points / payout rows as the tests read them, decide_referral, and the money
 * consistency check. The generic set-up is test/world.ts.
 *
 * Importing this module registers, in the importing test file (each file has its own module
 * instance), an afterEach that runs check_analytics on every company `company()` made.
 */
import { createHash } from "node:crypto";
import { expect, inject } from "vitest";
import { DomainError } from "../../lib/db";
import { call, codeOf, ids, pool, sqlRows as rows, uid, webhook } from "../helpers";
import * as world from "../world";
import { consistentAfterEach, expectConsistent, user, type Net, type Signals } from "../world";

export const sql = pool(inject("sqlDbUrl"));

/**
 * The companies the running test made: after each test, check_analytics must be ok for every
 * one (the afterEach is registered in the test file importing this module).
 */
export const made = consistentAfterEach();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** A keyed hash as lib/fraud makes them (64 hex characters) of a label. */
export const h = (label: string) => createHash("sha256").update(label).digest("hex");

/** The admin who decides. */
export const ADMIN = "user_admin0fraud";

/**
 * A click on `referrer`'s link (world.click) from a visitor with these keyed hashes; returns
 * code and click id. Kept here: it takes the referrer rather than the code, passes the three
 * hashes always, and asserts the code was found.
 */
export async function click(company: string, referrer: string, net: Net = {}) {
  const code = await codeOf(company, referrer);
  const r = await world.click(code, { net });
  expect(r.found).toBe(true);
  return { code, clickId: r.click_id as string };
}

/** `member` opened the member app from these keyed hashes (record_member_visit). */
export const visit = (company: string, member: string, net: Net) =>
  call("record_member_visit", {
    p_company_id: company,
    p_user_id: member,
    p_ip_hash: net.ip ?? null,
    p_ip_prefix_hash: net.prefix ?? null,
    p_device_hash: net.device ?? null,
  });

/** A card as lib/fraud hashes it (brand + last4 + billing postal code) and the signals a payment with it carries. */
export const card = (brand: string, last4: string, postal: string): Signals => ({
  method_hash: h(`card:${brand}:${last4}:${postal}`),
  card_brand: brand,
  card_last4: last4,
});

/**
 * `payer` pays `total` dollars (world.buy): through `code` and/or `clickId` when given
 * (checkout metadata), with `signals` as referly_signals; every payment here is new
 * (asserted). Returns the outcome and the payment id (and the rest of world.buy's answer).
 */
export const buy = (company: string, payer: string, total: number, o: { code?: string; clickId?: string; signals?: Signals } = {}) =>
  world.buy(company, { payer, total, ...o, fresh: true });

/** The member's normalised email, as the webhook of their own membership brings it. */
export async function email(company: string, member: string, address: string) {
  await webhook(uid("evt_"), "membership.activated", company, {
    id: uid("mem_"),
    status: "active",
    user: { id: member, username: null, name: null },
    metadata: null,
    referly_signals: { email: address },
  });
}

export interface Referral {
  id: string;
  referrer: string;
  status: string;
  fraud_status: string;
  fraud_score: number;
  fraud_reason: string | null;
  fraud_decided_by: string | null;
}
/** The referral of `referee`. */
export async function referral(company: string, referee: string): Promise<Referral> {
  const [r] = await rows<Referral>(
    `select id::text, referrer_user_id as referrer, status, fraud_status, fraud_score, fraud_reason, fraud_decided_by
     from public.referrals where company_id = $1 and referee_user_id = $2`,
    [company, referee],
  );
  expect(r, `referral of ${referee}`).toBeDefined();
  return r;
}

/** The fraud_checks rows of a referral, by check type: {flagged, weight, details}. */
export async function checks(referralId: string): Promise<Record<string, { flagged: boolean; weight: number; details: Json }>> {
  const r = await rows<{ check_type: string; flagged: boolean; weight: number; details: Json }>(
    `select check_type, flagged, weight, details from public.fraud_checks where referral_id = $1`,
    [referralId],
  );
  return Object.fromEntries(r.map((c) => [c.check_type, { flagged: c.flagged, weight: c.weight, details: c.details }]));
}

/** The flagged check types of a referral, sorted. */
export const flaggedOf = async (referralId: string) =>
  Object.entries(await checks(referralId))
    .filter(([, c]) => c.flagged)
    .map(([k]) => k)
    .sort();

export interface Commission {
  id: string;
  payment_id: string;
  who: string;
  level: number;
  kind: string;
  amount: number;
  reversed: number;
  status: string;
  payout_id: string | null;
  available_at: string;
  refund_id: string | null;
  reverses: string | null;
}
export const commissions = (company: string) =>
  rows<Commission>(
    `select id::text, payment_id, beneficiary_user_id as who, level, kind, amount_cents::int as amount,
            reversed_cents::int as reversed, status, payout_id::text, available_at::text, refund_id,
            reverses_commission_id::text as reverses
     from public.commissions where company_id = $1 order by created_at, kind, level`,
    [company],
  );
/** [beneficiary, level, amount, status] of each commission (kind 'commission'). */
export const brief = async (company: string) =>
  (await commissions(company)).filter((c) => c.kind === "commission").map((c) => [c.who, c.level, c.amount, c.status]);

/** The money rows of the ledger. */
export const ledger = (company: string) =>
  rows<{ kind: string; user_id: string; amount: number; reference_id: string; memo: string | null; actor: string | null }>(
    `select kind, user_id, amount_cents::int as amount, reference_id, memo, actor_user_id as actor
     from public.transactions where company_id = $1 and kind not in ('points', 'payment') order by id`,
    [company],
  );

/** The points rows of the ledger: [user, points, type]. */
export const points = async (company: string) =>
  (
    await rows<{ user_id: string; points: number; type: string }>(
      `select user_id, points::int, points_type as type from public.transactions
       where company_id = $1 and kind = 'points' order by id`,
      [company],
    )
  ).map((p) => [p.user_id, p.points, p.type]);

export const decide = (company: string, referralId: string, decision: string, reason: string | null = "checked by hand", actor = ADMIN) =>
  call("decide_referral", {
    p_company_id: company,
    p_referral_id: referralId,
    p_decision: decision,
    p_reason: reason,
    p_actor: actor,
  });

/** world.payouts narrowed to the columns this file asserts: id, user_id, amount (cents), status, reason. */
export const payouts = async (company: string) =>
  (await world.payouts(company)).map(({ id, user_id, amount, status, reason }) => ({ id, user_id, amount, status, reason }));

/**
 * Money consistency of a company, as a member would check it: for every member the money
 * ledger equals what is owed and not yet paid (pending/available/on_hold net of reversals),
 * no on_hold or cancelled commission is in a payout, every requested payout asks for what
 * its commissions hold, and check_analytics is ok.
 */
export async function expectMoneyConsistent(company: string) {
  const off = await rows(
    `select m.user_id, l.s::int as ledger, o.s::int as owed from
       (select distinct user_id from public.transactions where company_id = $1 and kind <> 'payment') m
       left join lateral (select coalesce(sum(amount_cents), 0) as s from public.transactions t
                          where t.company_id = $1 and t.user_id = m.user_id
                            and t.kind in ('commission', 'reversal', 'clawback', 'cancellation', 'payout')) l on true
       left join lateral (select coalesce(sum(amount_cents - reversed_cents), 0) as s from public.commissions c
                          where c.company_id = $1 and c.beneficiary_user_id = m.user_id
                            and c.status in ('pending', 'available', 'on_hold')) o on true
     where l.s <> o.s`,
    [company],
  );
  expect(off, "Σ money ledger = Σ owed").toEqual([]);
  const misplaced = await rows(
    `select id, status, payout_id from public.commissions
     where company_id = $1 and payout_id is not null and status in ('on_hold', 'cancelled', 'pending')`,
    [company],
  );
  expect(misplaced, "no on_hold, pending or cancelled commission in a payout").toEqual([]);
  const wrongAmount = await rows(
    `select o.id, o.amount_cents::int as amount,
            (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions c
             where c.payout_id = o.id and c.status = 'available')::int as holds
     from public.payouts o where o.company_id = $1 and o.status = 'requested'
       and o.amount_cents <> (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions c
                              where c.payout_id = o.id and c.status = 'available')`,
    [company],
  );
  expect(wrongAmount, "a requested payout asks for what it holds").toEqual([]);
  await expectConsistent(company);
}

/** Wait until the program's day (UTC) is at least `s` seconds old, so moving a click `s` seconds back keeps its day. */
export async function awayFromMidnight(s: number) {
  const sinceMidnight = Date.now() % 86_400_000;
  if (sinceMidnight < (s + 2) * 1000) await new Promise((r) => setTimeout(r, (s + 2) * 1000 - sinceMidnight));
}

/**
 * A company whose referrer `r` (with code) is set up, fast_conversion off unless asked
 * (fraud_min_seconds 0) so each signal can be seen alone, plus `extra` settings (on the
 * program's own defaults, not world.QUIET); checked by check_analytics after the test.
 */
export const company = (extra: Record<string, unknown> = {}) =>
  world.company({ fraud_min_seconds: 0, ...extra }, { defaults: {}, made, referrerCode: true });

/**
 * A throwaway email (as lib/fraud reports mailinator.com): flags disposable_email (20) and,
 * for a referrer with no email known, nothing else. A conversion keeps its eight checks only
 * when something is flagged, so a "miss" test pays with it to read the missed check's row.
 */
export const THROWAWAY: Signals = { email: "zz@mailinator.com", email_disposable: true };

/** The number of fraud_checks rows of a company. */
export const checkCount = async (company: string) =>
  (await rows<{ n: number }>(`select count(*)::int as n from public.fraud_checks where company_id = $1`, [company]))[0].n;

/** The referrer paid with `visa` and has email alice…; returns the code. */
export async function suspicious(t: ReturnType<typeof ids>, visa: Signals) {
  await email(t.company, t.referrer, "alicesmith@example.com");
  await buy(t.company, t.referrer, 9, { signals: visa });
  return codeOf(t.company, t.referrer);
}

/** Only refusals (DomainError) are allowed outcomes, never a deadlock or another error. */
export function expectNoCrash(results: ({ ok: boolean; e?: unknown } | PromiseSettledResult<unknown>)[], what: string) {
  const crashes = results.flatMap((r: Json) => {
    const e = r.status === "rejected" ? r.reason : r.ok === false ? r.e : undefined;
    if (e === undefined || e instanceof DomainError || /^RL4/.test(e?.code ?? "")) return [];
    return [`${e?.code ?? ""} ${e?.message ?? e}`];
  });
  expect(crashes, what).toEqual([]);
}
