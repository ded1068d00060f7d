/**
 * Fraud checks and review (supabase/migrations/20261122020000_fraud.sql; see docs/architecture.md,
 * "Fraud", "The payment pipeline" (the fraud step), "Canonical statuses"), run for real on the test Postgres
 * (referly_sql) through the same pg backend and typed `rpc` the app uses. Data is made only
 * through the real SQL functions: clicks and member-app visits carry keyed hashes (any
 * 64-hex string: here sha256 of a label such as "ip:203.0.113.7"), payments carry the
 * signals lib/fraud computes (p_data.referly_signals: normalised email, disposable flag,
 * payment-method hash, card brand and last4). Time passing is simulated by moving
 * timestamps back in SQL.
 *
 * Covered, as a user of the app would notice it: each of the eight signals hit and missed
 * (with its weight and evidence), the capped score, the three modes, the hold threshold,
 * weight overrides, the allow-list; held money (every level, every renewal, no points);
 * approve / reject one or many (statuses, amounts to the cent, ledger rows with the deciding
 * admin and the reason), decisions against payouts (requested, processing, paid) and racing
 * refunds, payout requests and each other (separate connections: no deadlock, consistent
 * money); the review queue and a member's fraud page. check_analytics must stay ok for every
 * company a test made (checked after each test: the rollups follow fraud decisions).
 */
import { createHash, randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { DomainError, type RpcBackend } from "../../lib/db";
import { createPgBackend } from "../../lib/db/pg";
import { call, codeOf, expectDomainError, ids, pay, paymentData, pool, sqlDb, sqlRows as rows, uid, webhook } from "../helpers";
import * as world from "../world";
import {
  availableBalance,
  check,
  claim,
  completePayout,
  consistentAfterEach,
  expectConsistent,
  refund,
  requestPayout,
  settings,
  startPayout,
  user,
  type Net,
  type Signals,
} from "../world";

const sql = pool(inject("sqlDbUrl"));

afterAll(async () => {
  await sqlDb().close();
  await sql.end();
});

/** The companies the running test made: after each test, check_analytics must be ok for every one. */
const made = consistentAfterEach();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

// ── helpers ─────────────────────────────────────────────────────────────────

/** A keyed hash as lib/fraud makes them (64 hex characters) of a label. */
const h = (label: string) => createHash("sha256").update(label).digest("hex");

/** The admin who decides. */
const ADMIN = "user_admin0fraud";

/**
 * A click on `referrer`'s link (world.click) from a visitor with these keyed hashes; returns
 * code and click id. Kept here: it takes the referrer rather than the code, passes the three
 * hashes always, and asserts the code was found.
 */
async function click(company: string, referrer: string, net: Net = {}) {
  const code = await codeOf(company, referrer);
  const r = await world.click(code, { net });
  expect(r.found).toBe(true);
  return { code, clickId: r.click_id as string };
}

/** `member` opened the member app from these keyed hashes (record_member_visit). */
const visit = (company: string, member: string, net: Net) =>
  call("record_member_visit", {
    p_company_id: company,
    p_user_id: member,
    p_ip_hash: net.ip ?? null,
    p_ip_prefix_hash: net.prefix ?? null,
    p_device_hash: net.device ?? null,
  });

/** A card as lib/fraud hashes it (brand + last4 + billing postal code) and the signals a payment with it carries. */
const card = (brand: string, last4: string, postal: string): Signals => ({
  method_hash: h(`card:${brand}:${last4}:${postal}`),
  card_brand: brand,
  card_last4: last4,
});

/**
 * `payer` pays `total` dollars (world.buy): through `code` and/or `clickId` when given
 * (checkout metadata), with `signals` as referly_signals; every payment here is new
 * (asserted). Returns the outcome and the payment id (and the rest of world.buy's answer).
 */
const buy = (company: string, payer: string, total: number, o: { code?: string; clickId?: string; signals?: Signals } = {}) =>
  world.buy(company, { payer, total, ...o, fresh: true });

/** The member's normalised email, as the webhook of their own membership brings it. */
async function email(company: string, member: string, address: string) {
  await webhook(uid("evt_"), "membership.activated", company, {
    id: uid("mem_"),
    status: "active",
    user: { id: member, username: null, name: null },
    metadata: null,
    referly_signals: { email: address },
  });
}

interface Referral {
  id: string;
  referrer: string;
  status: string;
  fraud_status: string;
  fraud_score: number;
  fraud_reason: string | null;
  fraud_decided_by: string | null;
}
/** The referral of `referee`. */
async function referral(company: string, referee: string): Promise<Referral> {
  const [r] = await rows<Referral>(
    `select id::text, referrer_user_id as referrer, status, fraud_status, fraud_score, fraud_reason, fraud_decided_by
     from public.referrals where company_id = $1 and referee_user_id = $2`,
    [company, referee],
  );
  expect(r, `referral of ${referee}`).toBeDefined();
  return r;
}

/** The fraud_checks rows of a referral, by check type: {flagged, weight, details}. */
async function checks(referralId: string): Promise<Record<string, { flagged: boolean; weight: number; details: Json }>> {
  const r = await rows<{ check_type: string; flagged: boolean; weight: number; details: Json }>(
    `select check_type, flagged, weight, details from public.fraud_checks where referral_id = $1`,
    [referralId],
  );
  return Object.fromEntries(r.map((c) => [c.check_type, { flagged: c.flagged, weight: c.weight, details: c.details }]));
}

/** The flagged check types of a referral, sorted. */
const flaggedOf = async (referralId: string) =>
  Object.entries(await checks(referralId))
    .filter(([, c]) => c.flagged)
    .map(([k]) => k)
    .sort();

interface Commission {
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
const commissions = (company: string) =>
  rows<Commission>(
    `select id::text, payment_id, beneficiary_user_id as who, level, kind, amount_cents::int as amount,
            reversed_cents::int as reversed, status, payout_id::text, available_at::text, refund_id,
            reverses_commission_id::text as reverses
     from public.commissions where company_id = $1 order by created_at, kind, level`,
    [company],
  );
/** [beneficiary, level, amount, status] of each commission (kind 'commission'). */
const brief = async (company: string) =>
  (await commissions(company)).filter((c) => c.kind === "commission").map((c) => [c.who, c.level, c.amount, c.status]);

/** The money rows of the ledger. */
const ledger = (company: string) =>
  rows<{ kind: string; user_id: string; amount: number; reference_id: string; memo: string | null; actor: string | null }>(
    `select kind, user_id, amount_cents::int as amount, reference_id, memo, actor_user_id as actor
     from public.transactions where company_id = $1 and kind not in ('points', 'payment') order by id`,
    [company],
  );

/** The points rows of the ledger: [user, points, type]. */
const points = async (company: string) =>
  (
    await rows<{ user_id: string; points: number; type: string }>(
      `select user_id, points::int, points_type as type from public.transactions
       where company_id = $1 and kind = 'points' order by id`,
      [company],
    )
  ).map((p) => [p.user_id, p.points, p.type]);

const decide = (company: string, referralId: string, decision: string, reason: string | null = "checked by hand", actor = ADMIN) =>
  call("decide_referral", {
    p_company_id: company,
    p_referral_id: referralId,
    p_decision: decision,
    p_reason: reason,
    p_actor: actor,
  });

/** world.payouts narrowed to the columns this file asserts: id, user_id, amount (cents), status, reason. */
const payouts = async (company: string) =>
  (await world.payouts(company)).map(({ id, user_id, amount, status, reason }) => ({ id, user_id, amount, status, reason }));

/**
 * Money consistency of a company, as a member would check it: for every member the money
 * ledger equals what is owed and not yet paid (pending/available/on_hold net of reversals),
 * no on_hold or cancelled commission is in a payout, every requested payout asks for what
 * its commissions hold, and check_analytics is ok.
 */
async function expectMoneyConsistent(company: string) {
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
async function awayFromMidnight(s: number) {
  const sinceMidnight = Date.now() % 86_400_000;
  if (sinceMidnight < (s + 2) * 1000) await new Promise((r) => setTimeout(r, (s + 2) * 1000 - sinceMidnight));
}

/**
 * A company whose referrer `r` (with code) is set up, fast_conversion off unless asked
 * (fraud_min_seconds 0) so each signal can be seen alone, plus `extra` settings (on the
 * program's own defaults, not world.QUIET); checked by check_analytics after the test.
 */
const company = (extra: Record<string, unknown> = {}) =>
  world.company({ fraud_min_seconds: 0, ...extra }, { defaults: {}, made, referrerCode: true });

/**
 * A throwaway email (as lib/fraud reports mailinator.com): flags disposable_email (20) and,
 * for a referrer with no email known, nothing else. A conversion keeps its eight checks only
 * when something is flagged, so a "miss" test pays with it to read the missed check's row.
 */
const THROWAWAY: Signals = { email: "zz@mailinator.com", email_disposable: true };

/** The number of fraud_checks rows of a company. */
const checkCount = async (company: string) =>
  (await rows<{ n: number }>(`select count(*)::int as n from public.fraud_checks where company_id = $1`, [company]))[0].n;

// ── 1. the eight signals, each hit and missed ───────────────────────────────

describe("a clean conversion", () => {
  it("stores no fraud_checks rows; score 0, clear; money and points as without fraud checks", async () => {
    const t = await company({ hold_days: 14 });
    const code = await codeOf(t.company, t.referrer);
    const { outcome, id } = await buy(t.company, t.referee, 100, { code });
    expect(outcome).toBe("commission_created");
    const r = await referral(t.company, t.referee);
    expect(r).toMatchObject({ status: "converted", fraud_status: "clear", fraud_score: 0 });
    expect(await checks(r.id)).toEqual({});
    expect(await checkCount(t.company)).toBe(0);
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, "pending"]]);
    expect(await points(t.company)).toEqual([
      [t.referee, 100, "REFERRAL_WELCOME"],
      [t.referrer, 500, "REFERRAL_FIRST_PAYMENT"],
    ]);
    // the stored event leaves the signals out; the referee's email is remembered (normalised as given)
    await buy(t.company, t.other, 5, { signals: { email: "o@example.com", method_hash: h("card:x") } });
    const [ev] = await rows<{ payload: Json }>(
      `select payload from public.webhook_events where company_id = $1 and payload->>'id' = $2`,
      [t.company, id],
    );
    expect(ev.payload).not.toHaveProperty("referly_signals");
    const [u] = await rows<{ email_normalized: string }>(
      `select email_normalized from public.users where company_id = $1 and user_id = $2`,
      [t.company, t.other],
    );
    expect(u.email_normalized).toBe("o@example.com");
    await expectConsistent(t.company);
  });

  it("stores none while a flagged one (same program, same referrer) stores all eight checks with what was checked", async () => {
    const t = await company({ hold_days: 14 });
    const code = await codeOf(t.company, t.referrer);
    // clean: nothing flagged → no rows at all
    await buy(t.company, t.other, 100, { code, signals: { email: "o@example.com", email_disposable: false } });
    const clean = await referral(t.company, t.other);
    expect(clean).toMatchObject({ status: "converted", fraud_status: "clear", fraud_score: 0 });
    expect(await checks(clean.id)).toEqual({});
    // flagged (a throwaway email): all eight rows, the flagged one and the seven that were not
    expect((await buy(t.company, t.referee, 100, { code, signals: THROWAWAY })).outcome).toBe("commission_created");
    const r = await referral(t.company, t.referee);
    expect(r).toMatchObject({ status: "converted", fraud_status: "flagged", fraud_score: 20 });
    expect(await checks(r.id)).toEqual({
      self_referral: { flagged: false, weight: 60, details: { checked: "no_payment_method" } },
      ip_duplicate: { flagged: false, weight: 30, details: { checked: "no_click" } },
      device_duplicate: { flagged: false, weight: 30, details: { checked: "no_click" } },
      email_duplicate: { flagged: false, weight: 60, details: { checked: "no_referrer_email" } },
      disposable_email: { flagged: true, weight: 20, details: { domain: "mailinator.com" } },
      velocity_limit: { flagged: false, weight: 30, details: { last_hour: 2, last_day: 2, limit_hour: 5, limit_day: 20 } },
      fast_conversion: { flagged: false, weight: 20, details: { checked: "no_click" } },
      ring: { flagged: false, weight: 60, details: { checked: "no_loop" } },
    });
    // the company holds exactly those eight
    expect(await checkCount(t.company)).toBe(8);
    // flagged below the hold score: money proceeds like the clean one's
    expect(await brief(t.company)).toEqual([
      [t.referrer, 1, 2000, "pending"],
      [t.referrer, 1, 2000, "pending"],
    ]);
    await expectConsistent(t.company);
  });
});

describe("self_referral", () => {
  it("hit: the referee pays with the card of the referrer's own earlier payment → flagged 60, held", async () => {
    const t = await company();
    const visa = card("visa", "4242", "75001");
    expect((await buy(t.company, t.referrer, 9, { signals: visa })).outcome).toBe("no_attribution");
    const code = await codeOf(t.company, t.referrer);
    expect((await buy(t.company, t.referee, 100, { code, signals: visa })).outcome).toBe("commission_held");
    const r = await referral(t.company, t.referee);
    expect(r).toMatchObject({ fraud_status: "held", fraud_score: 60 });
    const c = await checks(r.id);
    expect(c.self_referral).toEqual({
      flagged: true,
      weight: 60,
      details: {
        match: "payment_method",
        user_id: t.referrer,
        paid_at: expect.any(String),
        card_brand: "visa",
        card_last4: "4242",
      },
    });
    expect(await flaggedOf(r.id)).toEqual(["self_referral"]);
    await expectConsistent(t.company);
  });

  it("hit up the chain: the card of the referrer's own referrer (level 2) counts too", async () => {
    const t = await company();
    const visa = card("visa", "1111", "10001");
    await buy(t.company, t.other, 9, { signals: visa }); // the upline pays for itself
    await claim(t.company, t.referrer, t.other); // the referrer joined through the upline
    const code = await codeOf(t.company, t.referrer);
    await buy(t.company, t.referee, 100, { code, signals: visa });
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).self_referral).toMatchObject({ flagged: true, details: { match: "payment_method", user_id: t.other } });
    expect(r.fraud_status).toBe("held");
  });

  it("miss: another card (same last4, other postal code), or a card another member used, is not flagged", async () => {
    const t = await company();
    await buy(t.company, t.referrer, 9, { signals: card("visa", "4242", "75001") });
    await buy(t.company, t.other, 9, { signals: card("visa", "5555", "75001") }); // not in the chain
    const code = await codeOf(t.company, t.referrer);
    // alone, the other postal code is a clean conversion: clear, nothing stored
    const clean = user("b0");
    await buy(t.company, clean, 100, { code, signals: card("visa", "4242", "75002") });
    const r0 = await referral(t.company, clean);
    expect(r0).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checks(r0.id)).toEqual({});
    // with a throwaway email (flagged 20) the eight rows are kept: self_referral was checked, not matched
    await buy(t.company, t.referee, 100, { code, signals: { ...card("visa", "4242", "75002"), ...THROWAWAY } });
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).self_referral).toEqual({ flagged: false, weight: 60, details: { checked: "payment_method" } });
    expect(await flaggedOf(r.id)).toEqual(["disposable_email"]);
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
    const buyer2 = user("b2");
    await buy(t.company, buyer2, 100, { code, signals: { ...card("visa", "5555", "75001"), ...THROWAWAY } });
    const r2 = await referral(t.company, buyer2);
    expect((await checks(r2.id)).self_referral).toEqual({ flagged: false, weight: 60, details: { checked: "payment_method" } });
    expect(r2).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
    expect(await brief(t.company)).toEqual([
      [t.referrer, 1, 2000, "pending"],
      [t.referrer, 1, 2000, "pending"],
      [t.referrer, 1, 2000, "pending"],
    ]);
  });

  it("miss: a card without a method hash (no billing postal code) never matches, even with the referrer's brand and last4", async () => {
    const t = await company();
    const noPostal: Signals = { card_brand: "visa", card_last4: "4242" }; // lib/fraud gives no method_hash without a postal code
    await buy(t.company, t.referrer, 9, { signals: noPostal });
    await buy(t.company, t.referrer, 9, { signals: card("visa", "4242", "75001") });
    const code = await codeOf(t.company, t.referrer);
    // alone: clean, nothing stored
    await buy(t.company, t.other, 100, { code, signals: noPostal });
    const r0 = await referral(t.company, t.other);
    expect(r0).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checks(r0.id)).toEqual({});
    // with a throwaway email: the row says there was no payment method to compare
    await buy(t.company, t.referee, 100, { code, signals: { ...noPostal, ...THROWAWAY } });
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).self_referral).toEqual({ flagged: false, weight: 60, details: { checked: "no_payment_method" } });
    expect(await flaggedOf(r.id)).toEqual(["disposable_email"]);
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
    const [p] = await rows<{ n: number; hashed: number }>(
      `select count(*)::int as n, count(method_hash)::int as hashed from public.payments where company_id = $1`,
      [t.company],
    );
    expect(p).toEqual({ n: 4, hashed: 1 });
  });
});

describe("ip_duplicate", () => {
  const office = { ip: h("ip:203.0.113.7"), prefix: h("net:203.0.113.0/24") };

  it("hit via the referrer's member-app visit: a shared office IP alone is flagged (30), below the hold score: money proceeds", async () => {
    const t = await company({ hold_days: 0 });
    await visit(t.company, t.referrer, { ...office, device: h("dev:referrer-laptop") });
    const { clickId } = await click(t.company, t.referrer, { ...office, device: h("dev:colleague-phone") });
    expect((await buy(t.company, t.referee, 100, { clickId })).outcome).toBe("commission_created");
    const r = await referral(t.company, t.referee);
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 30 });
    const c = await checks(r.id);
    expect(c.ip_duplicate).toEqual({ flagged: true, weight: 30, details: { seen: "member_app", seen_at: expect.any(String) } });
    expect(c.device_duplicate).toEqual({ flagged: false, weight: 30, details: { checked: "no_match" } });
    expect(await flaggedOf(r.id)).toEqual(["ip_duplicate"]);
    // flagged, not held: the commission is available (hold_days 0) and the points are given
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, "available"]]);
    expect(await points(t.company)).toEqual([
      [t.referee, 100, "REFERRAL_WELCOME"],
      [t.referrer, 500, "REFERRAL_FIRST_PAYMENT"],
    ]);
    await expectConsistent(t.company);
  });

  it("hit via the referrer's own click: the click that brought the referrer in shares the referee's IP", async () => {
    const t = await company();
    const home = { ip: h("ip:198.51.100.23"), prefix: h("net:198.51.100.0/24") };
    // the referrer joined through the upline's link from home, and paid
    const up = await click(t.company, t.other, { ...home, device: h("dev:referrer-phone") });
    expect((await buy(t.company, t.referrer, 50, { clickId: up.clickId })).outcome).toBe("commission_created");
    const sightings = await rows(
      `select kind, source from public.member_sightings where company_id = $1 and user_id = $2 order by kind`,
      [t.company, t.referrer],
    );
    expect(sightings).toEqual([
      { kind: "device", source: "own_click" },
      { kind: "ip", source: "own_click" },
      { kind: "ip_prefix", source: "own_click" },
    ]);
    // now the referee comes through the referrer's link from the same home IP
    const { clickId } = await click(t.company, t.referrer, { ...home, device: h("dev:other-laptop") });
    await buy(t.company, t.referee, 100, { clickId });
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).ip_duplicate).toEqual({
      flagged: true,
      weight: 30,
      details: { seen: "own_click", seen_at: expect.any(String) },
    });
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 30 });
  });

  it("miss: the same /24 only is not flagged but noted as same_network; an unseen network is no_match", async () => {
    const t = await company();
    await visit(t.company, t.referrer, office);
    // alone, the same /24 is a clean conversion: clear, nothing stored
    const alone = await click(t.company, t.referrer, { ip: h("ip:203.0.113.98"), prefix: office.prefix });
    const b0 = user("b0");
    await buy(t.company, b0, 100, { clickId: alone.clickId });
    const r0 = await referral(t.company, b0);
    expect(r0).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checks(r0.id)).toEqual({});
    // with a throwaway email (flagged 20) the rows are kept: the same /24 is noted, not flagged
    const { clickId } = await click(t.company, t.referrer, { ip: h("ip:203.0.113.99"), prefix: office.prefix });
    await buy(t.company, t.referee, 100, { clickId, signals: THROWAWAY });
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).ip_duplicate).toEqual({
      flagged: false,
      weight: 30,
      details: { same_network: true, seen: "member_app", seen_at: expect.any(String) },
    });
    expect(await flaggedOf(r.id)).toEqual(["disposable_email"]);
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });

    const b2 = user("b2");
    const other = await click(t.company, t.referrer, { ip: h("ip:192.0.2.1"), prefix: h("net:192.0.2.0/24") });
    await buy(t.company, b2, 100, { clickId: other.clickId, signals: THROWAWAY });
    expect((await checks((await referral(t.company, b2)).id)).ip_duplicate).toEqual({
      flagged: false,
      weight: 30,
      details: { checked: "no_match" },
    });
    // a click without any hash (no IP header): not known
    const b3 = user("b3");
    const bare = await click(t.company, t.referrer, {});
    await buy(t.company, b3, 100, { clickId: bare.clickId, signals: THROWAWAY });
    const r3 = await referral(t.company, b3);
    expect((await checks(r3.id)).ip_duplicate.details).toEqual({ checked: "not_known" });
    expect(await flaggedOf(r3.id)).toEqual(["disposable_email"]);
    await expectConsistent(t.company);
  });

  it("IPv6 is just another hash: the same /48 is same_network, the same address is flagged", async () => {
    const t = await company();
    const v6 = { ip: h("ip:2001:db8:85a3::8a2e:370:7334"), prefix: h("net:2001:db8:85a3::/48") };
    await visit(t.company, t.referrer, v6);
    const near = await click(t.company, t.referrer, { ip: h("ip:2001:db8:85a3:1::1"), prefix: v6.prefix });
    await buy(t.company, t.referee, 100, { clickId: near.clickId, signals: THROWAWAY });
    const rNear = await referral(t.company, t.referee);
    expect((await checks(rNear.id)).ip_duplicate).toMatchObject({
      flagged: false,
      details: { same_network: true },
    });
    expect(rNear).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
    const same = await click(t.company, t.referrer, v6);
    await buy(t.company, t.other, 100, { clickId: same.clickId });
    const r = await referral(t.company, t.other);
    expect((await checks(r.id)).ip_duplicate).toMatchObject({ flagged: true, details: { seen: "member_app" } });
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 30 });
  });
});

describe("device_duplicate", () => {
  it("hit: the referee's click comes from the referrer's device (another IP) → flagged 30", async () => {
    const t = await company();
    const phone = h("dev:ua=iPhone;ch=…;lang=fr");
    await visit(t.company, t.referrer, { ip: h("ip:192.0.2.10"), device: phone });
    const { clickId } = await click(t.company, t.referrer, { ip: h("ip:198.51.100.77"), device: phone });
    await buy(t.company, t.referee, 100, { clickId });
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).device_duplicate).toEqual({
      flagged: true,
      weight: 30,
      details: { seen: "member_app", seen_at: expect.any(String) },
    });
    expect(await flaggedOf(r.id)).toEqual(["device_duplicate"]);
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 30 });
  });

  it("miss: another device is no_match; a click without a device hash is not_known", async () => {
    const t = await company();
    await visit(t.company, t.referrer, { device: h("dev:referrer") });
    // alone, another device is a clean conversion: clear, nothing stored
    const b0 = user("b0");
    const z = await click(t.company, t.referrer, { device: h("dev:a-stranger") });
    await buy(t.company, b0, 100, { clickId: z.clickId });
    const r0 = await referral(t.company, b0);
    expect(r0).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checks(r0.id)).toEqual({});
    // with a throwaway email (flagged 20) the rows are kept
    const a = await click(t.company, t.referrer, { device: h("dev:someone-else") });
    await buy(t.company, t.referee, 100, { clickId: a.clickId, signals: THROWAWAY });
    expect((await checks((await referral(t.company, t.referee)).id)).device_duplicate).toEqual({
      flagged: false,
      weight: 30,
      details: { checked: "no_match" },
    });
    const b = await click(t.company, t.referrer, { ip: h("ip:192.0.2.55") });
    await buy(t.company, t.other, 100, { clickId: b.clickId, signals: THROWAWAY });
    const r = await referral(t.company, t.other);
    expect((await checks(r.id)).device_duplicate.details).toEqual({ checked: "not_known" });
    expect(await flaggedOf(r.id)).toEqual(["disposable_email"]);
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
  });
});

describe("email_duplicate", () => {
  it("hit, exact: the referee's normalised email is the referrer's → flagged 60, held", async () => {
    const t = await company();
    await email(t.company, t.referrer, "alicesmith@gmail.com");
    const code = await codeOf(t.company, t.referrer);
    expect((await buy(t.company, t.referee, 100, { code, signals: { email: "alicesmith@gmail.com" } })).outcome).toBe(
      "commission_held",
    );
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).email_duplicate).toEqual({ flagged: true, weight: 60, details: { match: "exact" } });
    expect(r).toMatchObject({ fraud_status: "held", fraud_score: 60 });
  });

  it("similar: same domain and local parts 1 edit apart (5+ characters), 2 edits only when both have 8+; another domain or a short name never", async () => {
    // fraud_velocity_hour 1 and one earlier conversion per referrer: velocity_limit (30) flags
    // every case below, so each keeps its eight rows and the email check's verdict can be read
    const t = await company({ fraud_velocity_hour: 1 });
    const cases: [string, string, Json][] = [
      // 8+ characters on both sides: up to 2 edits
      ["alicesmith@example.com", "alicesmith1@example.com", { match: "similar", distance: 1 }],
      ["alicesmith@example.com", "alicesmyth2@example.com", { match: "similar", distance: 2 }],
      ["jsmith12@example.com", "jsmyth13@example.com", { match: "similar", distance: 2 }],
      ["alicesmith@example.com", "alicesmith123@example.com", { checked: "different" }],
      // 5–7 characters: 1 edit only
      ["alice@example.com", "alice1@example.com", { match: "similar", distance: 1 }],
      ["jsmith7@example.com", "jsmith8@example.com", { match: "similar", distance: 1 }],
      ["jsmith7@example.com", "jsmyth8@example.com", { checked: "different" }],
      ["alice@example.com", "alice12@example.com", { checked: "different" }],
      // 8 and 7 characters, 2 edits: the shorter one decides (1 edit)
      ["jsmyth12@example.com", "jsmith1@example.com", { checked: "different" }],
      // under 5 characters: never similar (two people, not one)
      ["amy@gmail.com", "ann@gmail.com", { checked: "different" }],
      ["anna@example.com", "anne@example.com", { checked: "different" }],
      // another domain: never similar, even with the same local part
      ["alicesmith@example.com", "alicesmith1@example.org", { checked: "different" }],
      ["alicesmith@example.com", "alicesmith@example.org", { checked: "different" }],
    ];
    const got: [string, string, Json, string, number, string[]][] = [];
    for (const [referrerEmail, address] of cases) {
      const referrer = user("er");
      await email(t.company, referrer, referrerEmail);
      const code = await codeOf(t.company, referrer);
      await buy(t.company, user("ef"), 10, { code }); // the referrer's first conversion this hour (clean)
      const buyer = user("e");
      await buy(t.company, buyer, 100, { code, signals: { email: address } });
      const r = await referral(t.company, buyer);
      const c = await checks(r.id);
      expect(c.email_duplicate, `${referrerEmail} / ${address}`).toMatchObject({ weight: 60 });
      got.push([referrerEmail, address, c.email_duplicate.details, r.fraud_status, r.fraud_score, await flaggedOf(r.id)]);
    }
    expect(got).toEqual(
      cases.map(([referrerEmail, address, details]) =>
        "match" in details
          ? [referrerEmail, address, details, "held", 90, ["email_duplicate", "velocity_limit"]]
          : [referrerEmail, address, details, "flagged", 30, ["velocity_limit"]],
      ),
    );
    // on its own (no other signal), amy@ buying through ann@'s link is a clean conversion: nothing stored
    const ann = user("ann");
    await email(t.company, ann, "ann@gmail.com");
    const amy = user("amy");
    await buy(t.company, amy, 100, { code: await codeOf(t.company, ann), signals: { email: "amy@gmail.com" } });
    const r = await referral(t.company, amy);
    expect(r).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checks(r.id)).toEqual({});
    await expectConsistent(t.company);
  });

  it("hit: the referee's email remembered from their own membership counts when the payment carries none", async () => {
    const t = await company();
    await email(t.company, t.referrer, "alicesmith@example.com");
    await email(t.company, t.referee, "alicesmith@example.com");
    await buy(t.company, t.referee, 100, { code: await codeOf(t.company, t.referrer) });
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).email_duplicate).toEqual({ flagged: true, weight: 60, details: { match: "exact" } });
    expect(r.fraud_status).toBe("held");
  });

  it("miss: no email known for the referrer (or the referee) is not flagged", async () => {
    const t = await company();
    const code = await codeOf(t.company, t.referrer);
    // alone: clean, nothing stored
    await buy(t.company, t.other, 100, { code, signals: { email: "alicesmith@example.com" } });
    const r0 = await referral(t.company, t.other);
    expect(r0).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checks(r0.id)).toEqual({});
    // a throwaway address (flagged 20) keeps the rows: no referrer email to compare with
    await buy(t.company, t.referee, 100, { code, signals: THROWAWAY });
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).email_duplicate).toEqual({
      flagged: false,
      weight: 60,
      details: { checked: "no_referrer_email" },
    });
    expect(await flaggedOf(r.id)).toEqual(["disposable_email"]);
    // the referrer's email known, the buyer's not: a lowered velocity limit keeps the rows
    await email(t.company, t.referrer, "alicesmith@example.com");
    await settings(t.company, { fraud_velocity_hour: 2 });
    const b3 = user("b3");
    await buy(t.company, b3, 100, { code });
    const r3 = await referral(t.company, b3);
    expect(await flaggedOf(r3.id)).toEqual(["velocity_limit"]);
    expect((await checks(r3.id)).email_duplicate).toEqual({
      flagged: false,
      weight: 60,
      details: { checked: "no_referee_email" },
    });
    expect((await checks(r3.id)).disposable_email).toEqual({
      flagged: false,
      weight: 20,
      details: { checked: "no_referee_email" },
    });
  });
});

describe("disposable_email", () => {
  it("hit: the app found the referee's domain in the throwaway list → flagged 20, with the domain", async () => {
    const t = await company();
    const code = await codeOf(t.company, t.referrer);
    await buy(t.company, t.referee, 100, { code, signals: { email: "zz@mailinator.com", email_disposable: true } });
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).disposable_email).toEqual({ flagged: true, weight: 20, details: { domain: "mailinator.com" } });
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
  });

  it("miss: an ordinary domain is not flagged", async () => {
    const t = await company();
    const code = await codeOf(t.company, t.referrer);
    // alone: clean, nothing stored
    await buy(t.company, t.other, 100, { code, signals: { email: "yy@example.com", email_disposable: false } });
    const r0 = await referral(t.company, t.other);
    expect(r0).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checks(r0.id)).toEqual({});
    // the referrer's own address (email_duplicate, 60) keeps the rows: the domain was checked, not flagged
    await email(t.company, t.referrer, "zz@example.com");
    await buy(t.company, t.referee, 100, { code, signals: { email: "zz@example.com", email_disposable: false } });
    const r = await referral(t.company, t.referee);
    expect((await checks(r.id)).disposable_email).toEqual({ flagged: false, weight: 20, details: { checked: "not_disposable" } });
    expect(await flaggedOf(r.id)).toEqual(["email_duplicate"]);
    expect(r).toMatchObject({ fraud_status: "held", fraud_score: 60 });
  });
});

describe("velocity_limit", () => {
  it("per hour: with fraud_velocity_hour 2 the third conversion within the hour is flagged (30); the first two are not", async () => {
    const t = await company({ fraud_velocity_hour: 2 });
    const code = await codeOf(t.company, t.referrer);
    const [v1, v2, v3] = [user("v1"), user("v2"), user("v3")];
    // v1: clean, nothing stored; v2 (at the limit) pays with a throwaway email so its rows are kept; v3: over the limit
    await buy(t.company, v1, 10, { code });
    await buy(t.company, v2, 10, { code, signals: THROWAWAY });
    await buy(t.company, v3, 10, { code });
    const got = [];
    for (const b of [v1, v2, v3]) {
      const r = await referral(t.company, b);
      got.push([(await checks(r.id)).velocity_limit ?? null, await flaggedOf(r.id), r.fraud_status, r.fraud_score]);
    }
    expect(got).toEqual([
      [null, [], "clear", 0],
      [
        { flagged: false, weight: 30, details: { last_hour: 2, last_day: 2, limit_hour: 2, limit_day: 20 } },
        ["disposable_email"],
        "flagged",
        20,
      ],
      [
        { flagged: true, weight: 30, details: { last_hour: 3, last_day: 3, limit_hour: 2, limit_day: 20 } },
        ["velocity_limit"],
        "flagged",
        30,
      ],
    ]);
    await expectConsistent(t.company);
  });

  it("a burst of 8 conversions at once with fraud_velocity_hour 3: exactly the 5 beyond the limit are flagged", async () => {
    const t = await company({ fraud_velocity_hour: 3 });
    const code = await codeOf(t.company, t.referrer);
    const buyers = Array.from({ length: 8 }, (_, i) => user(`burst${i}`));
    const many = createPgBackend(inject("sqlDbUrl"), 8);
    try {
      const deliver = (b: string) =>
        call(
          "process_webhook_event",
          {
            p_event_id: uid("evt_"),
            p_type: "payment.succeeded",
            p_company_id: t.company,
            p_data: paymentData({ user: b, total: 10, code }),
          },
          many,
        );
      const settled = await Promise.allSettled(buyers.map(deliver));
      expectNoCrash(settled, "concurrent conversions");
    } finally {
      await many.close();
    }
    // only the five flagged ones keep their checks (eight rows each), counted 4th … 8th in the hour
    const got = await rows<{ flagged: boolean; last_hour: number }>(
      `select f.flagged, (f.details->>'last_hour')::int as last_hour from public.fraud_checks f
       join public.referrals r on r.id = f.referral_id
       where r.company_id = $1 and f.check_type = 'velocity_limit' order by 2`,
      [t.company],
    );
    expect(got).toEqual([4, 5, 6, 7, 8].map((n) => ({ flagged: true, last_hour: n })));
    expect(await checkCount(t.company)).toBe(40);
    const statuses = await rows<{ fraud_status: string; fraud_score: number; n: number }>(
      `select fraud_status, fraud_score, count(*)::int as n from public.referrals where company_id = $1
       group by 1, 2 order by 1`,
      [t.company],
    );
    expect(statuses).toEqual([
      { fraud_status: "clear", fraud_score: 0, n: 3 },
      { fraud_status: "flagged", fraud_score: 30, n: 5 },
    ]);
  });

  it("per day: with fraud_velocity_day 2, conversions 3 hours ago count for the day, not the hour; older than a day not at all", async () => {
    const t = await company({ fraud_velocity_hour: 100, fraud_velocity_day: 2 });
    const code = await codeOf(t.company, t.referrer);
    const [b1, b2, b3, b4] = [user("d1"), user("d2"), user("d3"), user("d4")];
    await buy(t.company, b1, 10, { code });
    await buy(t.company, b2, 10, { code });
    await sql.query(
      `update public.referrals set converted_at = converted_at - interval '3 hours' where company_id = $1 and referee_user_id = any($2)`,
      [t.company, [b1, b2]],
    );
    await buy(t.company, b3, 10, { code });
    const r3 = await referral(t.company, b3);
    expect((await checks(r3.id)).velocity_limit).toEqual({
      flagged: true,
      weight: 30,
      details: { last_hour: 1, last_day: 3, limit_hour: 100, limit_day: 2 },
    });
    expect(r3.fraud_status).toBe("flagged");
    // miss: once those are more than a day old, only b3 and b4 count
    await sql.query(
      `update public.referrals set converted_at = converted_at - interval '1 day' where company_id = $1 and referee_user_id = any($2)`,
      [t.company, [b1, b2]],
    );
    // (b4 pays with a throwaway email, flagged 20, so its rows are kept)
    await buy(t.company, b4, 10, { code, signals: THROWAWAY });
    const r4 = await referral(t.company, b4);
    expect((await checks(r4.id)).velocity_limit).toEqual({
      flagged: false,
      weight: 30,
      details: { last_hour: 2, last_day: 2, limit_hour: 100, limit_day: 2 },
    });
    expect(await flaggedOf(r4.id)).toEqual(["disposable_email"]);
    expect(r4).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
    await expectConsistent(t.company);
  });
});

describe("fast_conversion", () => {
  it("hit: paying right after the click (under fraud_min_seconds 10) is flagged 20", async () => {
    const t = await company({ fraud_min_seconds: 10 });
    const { clickId } = await click(t.company, t.referrer);
    await buy(t.company, t.referee, 100, { clickId });
    const r = await referral(t.company, t.referee);
    const c = (await checks(r.id)).fast_conversion;
    expect(c).toMatchObject({ flagged: true, weight: 20, details: { minimum: 10 } });
    expect(c.details.seconds).toBeLessThan(10);
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
  });

  it("miss: a click 30 seconds before the payment is not flagged", async () => {
    const t = await company({ fraud_min_seconds: 10 });
    await awayFromMidnight(30);
    const { clickId } = await click(t.company, t.referrer);
    await sql.query(`update public.referral_clicks set created_at = created_at - interval '30 seconds' where id = $1`, [clickId]);
    // a throwaway email (flagged 20) keeps the rows, so the timing can be read
    await buy(t.company, t.referee, 100, { clickId, signals: THROWAWAY });
    const r = await referral(t.company, t.referee);
    const c = (await checks(r.id)).fast_conversion;
    expect(c).toMatchObject({ flagged: false, weight: 20, details: { minimum: 10 } });
    expect(c.details.seconds).toBeGreaterThanOrEqual(30);
    expect(await flaggedOf(r.id)).toEqual(["disposable_email"]);
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
    // without it, the same slow click is a clean conversion: nothing stored
    const slow = await click(t.company, t.referrer);
    await sql.query(`update public.referral_clicks set created_at = created_at - interval '30 seconds' where id = $1`, [slow.clickId]);
    await buy(t.company, t.other, 100, { clickId: slow.clickId });
    const r2 = await referral(t.company, t.other);
    expect(r2).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checks(r2.id)).toEqual({});
    await expectConsistent(t.company);
  });
});

describe("ring", () => {
  it("hit: A referred B (rejected, cancelled); then B refers A → ring flagged 60 at level 1, held", async () => {
    const t = await company();
    const [a, b] = [t.referrer, t.referee];
    await buy(t.company, b, 100, { code: await codeOf(t.company, a), signals: { email: "b@mailinator.com", email_disposable: true } });
    const ab = await referral(t.company, b);
    expect(ab.fraud_status).toBe("flagged");
    await decide(t.company, ab.id, "reject", "sock puppet");
    expect((await referral(t.company, b)).status).toBe("cancelled");
    // B now refers A
    expect((await buy(t.company, a, 100, { code: await codeOf(t.company, b) })).outcome).toBe("commission_held");
    const ba = await referral(t.company, a);
    expect(ba.referrer).toBe(b);
    expect((await checks(ba.id)).ring).toEqual({ flagged: true, weight: 60, details: { level: 1 } });
    // a buyer in the chain is a ring, not a self-referral: self_referral is the card match only
    expect((await checks(ba.id)).self_referral).toEqual({ flagged: false, weight: 60, details: { checked: "no_payment_method" } });
    expect(await flaggedOf(ba.id)).toEqual(["ring"]);
    expect(ba).toMatchObject({ fraud_status: "held", fraud_score: 60 });
    await expectMoneyConsistent(t.company);
  });

  it("hit at level 2: A → B cancelled, B → C; C refers A", async () => {
    const t = await company();
    const [a, b, c] = [t.referrer, t.referee, t.other];
    await buy(t.company, b, 100, { code: await codeOf(t.company, a), signals: { email: "b@mailinator.com", email_disposable: true } });
    await decide(t.company, (await referral(t.company, b)).id, "reject", "fake");
    await claim(t.company, c, b);
    await buy(t.company, a, 100, { code: await codeOf(t.company, c) });
    expect((await checks((await referral(t.company, a)).id)).ring).toEqual({ flagged: true, weight: 60, details: { level: 2 } });
  });

  it("miss: an ordinary chain (A → B → C) is no_loop", async () => {
    const t = await company();
    await claim(t.company, t.referee, t.referrer);
    // a throwaway email (flagged 20) keeps the rows
    await buy(t.company, t.other, 100, { code: await codeOf(t.company, t.referee), signals: THROWAWAY });
    const r = await referral(t.company, t.other);
    expect((await checks(r.id)).ring).toEqual({
      flagged: false,
      weight: 60,
      details: { checked: "no_loop" },
    });
    expect(await flaggedOf(r.id)).toEqual(["disposable_email"]);
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
  });
});

// ── 2. score, modes, threshold, weights, allow-list ─────────────────────────

/** The referrer paid with `visa` and has email alice…; returns the code. */
async function suspicious(t: ReturnType<typeof ids>, visa: Signals) {
  await email(t.company, t.referrer, "alicesmith@example.com");
  await buy(t.company, t.referrer, 9, { signals: visa });
  return codeOf(t.company, t.referrer);
}

describe("score and modes", () => {
  it("the score is the sum of flagged weights capped at 100 (60 + 60 + 30 + 30 → 100)", async () => {
    const t = await company();
    const visa = card("visa", "4242", "75001");
    await suspicious(t, visa);
    const net = { ip: h("ip:203.0.113.7"), prefix: h("net:203.0.113.0/24"), device: h("dev:x") };
    await visit(t.company, t.referrer, net);
    const { clickId } = await click(t.company, t.referrer, net);
    await buy(t.company, t.referee, 100, { clickId, signals: { ...visa, email: "alicesmith@example.com" } });
    const r = await referral(t.company, t.referee);
    expect(await flaggedOf(r.id)).toEqual(["device_duplicate", "email_duplicate", "ip_duplicate", "self_referral"]);
    expect(r).toMatchObject({ fraud_status: "held", fraud_score: 100 });
  });

  it("fraud_mode off: no checks are stored, clear, money and points as usual", async () => {
    const t = await company({ fraud_mode: "off", hold_days: 0 });
    const visa = card("visa", "4242", "75001");
    const code = await suspicious(t, visa);
    expect((await buy(t.company, t.referee, 100, { code, signals: { ...visa, email: "alicesmith@example.com" } })).outcome).toBe(
      "commission_created",
    );
    const r = await referral(t.company, t.referee);
    expect(r).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checks(r.id)).toEqual({});
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, "available"]]);
    expect(await points(t.company)).toEqual([
      [t.referee, 100, "REFERRAL_WELCOME"],
      [t.referrer, 500, "REFERRAL_FIRST_PAYMENT"],
    ]);
    await expectConsistent(t.company);
  });

  it("fraud_mode flag: a score of 100 is flagged, never held; commissions pending and points given", async () => {
    const t = await company({ fraud_mode: "flag" });
    const visa = card("visa", "4242", "75001");
    const code = await suspicious(t, visa);
    expect((await buy(t.company, t.referee, 100, { code, signals: { ...visa, email: "alicesmith@example.com" } })).outcome).toBe(
      "commission_created",
    );
    const r = await referral(t.company, t.referee);
    expect(r).toMatchObject({ fraud_status: "flagged", fraud_score: 100 });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, "pending"]]);
    expect(await points(t.company)).toEqual([
      [t.referee, 100, "REFERRAL_WELCOME"],
      [t.referrer, 500, "REFERRAL_FIRST_PAYMENT"],
    ]);
  });

  it("fraud_hold_score: a score of 60 is flagged at 70 and held at 60 (≥)", async () => {
    const t = await company({ fraud_hold_score: 70 });
    const visa = card("visa", "4242", "75001");
    const code = await suspicious(t, visa);
    await buy(t.company, t.referee, 100, { code, signals: visa });
    expect(await referral(t.company, t.referee)).toMatchObject({ fraud_status: "flagged", fraud_score: 60 });
    await settings(t.company, { fraud_hold_score: 60 });
    await buy(t.company, t.other, 100, { code, signals: visa });
    expect(await referral(t.company, t.other)).toMatchObject({ fraud_status: "held", fraud_score: 60 });
    expect(await brief(t.company)).toEqual([
      [t.referrer, 1, 2000, "pending"],
      [t.referrer, 1, 2000, "on_hold"],
    ]);
  });

  it("fraud_weights override the defaults per signal (merged), are stored on each check, and are validated", async () => {
    const t = await company();
    const saved = await settings(t.company, { fraud_weights: { self_referral: 10 } });
    expect(saved.fraud_weights).toEqual({ self_referral: 10 });
    expect((await settings(t.company, { fraud_weights: { disposable_email: 80 } })).fraud_weights).toEqual({
      self_referral: 10,
      disposable_email: 80,
    });
    const visa = card("visa", "4242", "75001");
    const code = await suspicious(t, visa);
    await buy(t.company, t.referee, 100, { code, signals: visa });
    const r1 = await referral(t.company, t.referee);
    expect((await checks(r1.id)).self_referral).toMatchObject({ flagged: true, weight: 10 });
    expect(r1).toMatchObject({ fraud_status: "flagged", fraud_score: 10 });
    await buy(t.company, t.other, 100, { code, signals: { email: "x@mailinator.com", email_disposable: true } });
    expect(await referral(t.company, t.other)).toMatchObject({ fraud_status: "held", fraud_score: 80 });
    // a weight of 0 turns a signal off (flagged, but it adds nothing)
    await settings(t.company, { fraud_weights: { disposable_email: 0 } });
    const b3 = user("w3");
    await buy(t.company, b3, 100, { code, signals: { email: "y@mailinator.com", email_disposable: true } });
    const r3 = await referral(t.company, b3);
    expect((await checks(r3.id)).disposable_email).toMatchObject({ flagged: true, weight: 0 });
    expect(r3).toMatchObject({ fraud_status: "flagged", fraud_score: 0 });
    // invalid settings are refused (400) and nothing is written
    for (const bad of [
      { fraud_weights: { bogus: 10 } },
      { fraud_weights: { ring: 101 } },
      { fraud_weights: { ring: 2.5 } },
      { fraud_weights: { ring: "50" } },
      { fraud_mode: "strict" },
      { fraud_hold_score: 0 },
      { fraud_velocity_hour: 0 },
      { fraud_min_seconds: -1 },
    ]) {
      const err = await settings(t.company, bad).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(bad)).toBeInstanceOf(DomainError);
      expect((err as DomainError).status, JSON.stringify(bad)).toBe(400);
    }
    const [p] = await rows<Json>(`select fraud_mode, fraud_hold_score, fraud_weights from public.programs where company_id = $1`, [
      t.company,
    ]);
    expect(p).toEqual({ fraud_mode: "hold", fraud_hold_score: 50, fraud_weights: { self_referral: 10, disposable_email: 0 } });
  });

  it("the allow-list: a trusted referrer's referral is checked but clear, commissions pending; untrusted again → held", async () => {
    const t = await company();
    const visa = card("visa", "4242", "75001");
    const code = await suspicious(t, visa);
    // by username (the referrer's own payment named them name_…)
    const trusted = await call("set_member_trusted", {
      p_company_id: t.company,
      p_member: `NAME_${t.referrer.slice(-6)}`,
      p_trusted: true,
      p_actor: ADMIN,
    });
    expect(trusted).toMatchObject({ user_id: t.referrer, trusted: true, trusted_by: ADMIN, trusted_at: expect.any(String) });
    expect((await buy(t.company, t.referee, 100, { code, signals: visa })).outcome).toBe("commission_created");
    const r = await referral(t.company, t.referee);
    expect(r).toMatchObject({ fraud_status: "clear", fraud_score: 60 });
    expect(await flaggedOf(r.id)).toEqual(["self_referral"]);
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, "pending"]]);
    expect((await points(t.company)).slice(-2)).toEqual([
      [t.referee, 100, "REFERRAL_WELCOME"],
      [t.referrer, 500, "REFERRAL_FIRST_PAYMENT"],
    ]);
    // trusting twice keeps who trusted first; untrusting clears it
    const again = await call("set_member_trusted", { p_company_id: t.company, p_member: t.referrer, p_trusted: true, p_actor: "user_other" });
    expect(again).toMatchObject({ trusted: true, trusted_by: ADMIN, trusted_at: trusted.trusted_at });
    expect(
      await call("set_member_trusted", { p_company_id: t.company, p_member: t.referrer, p_trusted: false, p_actor: ADMIN }),
    ).toEqual({ user_id: t.referrer, trusted: false, trusted_at: null, trusted_by: null });
    await buy(t.company, t.other, 100, { code, signals: visa });
    expect(await referral(t.company, t.other)).toMatchObject({ fraud_status: "held", fraud_score: 60 });
    await expectDomainError(
      call("set_member_trusted", { p_company_id: t.company, p_member: "nobody", p_trusted: true, p_actor: ADMIN }),
      404,
      "No such member",
    );
    await expectConsistent(t.company);
  });
});

// ── 3. held money and decisions ─────────────────────────────────────────────

/**
 * mlm_enabled, max_level 2, hold_days 14: A ← R (R claimed A's code); X pays 100.00 through
 * R's link with R's email → held; X renews 50.00. Returns who is who and the payment ids.
 */
async function heldChain() {
  const t = ids();
  made.push(t.company);
  await settings(t.company, { mlm_enabled: true, max_level: 2, hold_days: 14, fraud_min_seconds: 0 });
  const [a, r, x] = [t.other, t.referrer, t.referee];
  await claim(t.company, r, a);
  await email(t.company, r, "rogue.referrer@example.com");
  const code = await codeOf(t.company, r);
  const first = await buy(t.company, x, 100, { code, signals: { email: "rogue.referrer@example.com" } });
  const renewal = await buy(t.company, x, 50);
  return { t, a, r, x, code, first, renewal, ref: await referral(t.company, x) };
}

describe("held referrals", () => {
  it("every commission of a held referral is on_hold (both levels, renewals too) and no points are given", async () => {
    const { t, a, r, x, first, renewal, ref } = await heldChain();
    expect(first.outcome).toBe("commission_held");
    expect(renewal.outcome).toBe("commission_held");
    expect(ref).toMatchObject({ status: "converted", fraud_status: "held", fraud_score: 60 });
    expect(await brief(t.company)).toEqual([
      [r, 1, 2000, "on_hold"],
      [a, 2, 500, "on_hold"],
      [r, 1, 1000, "on_hold"],
      [a, 2, 250, "on_hold"],
    ]);
    expect(await points(t.company)).toEqual([]);
    // held money is nobody's to withdraw, nor counted as earned
    expect(await availableBalance(t.company, r)).toBe(0);
    expect(await call("get_user_referral_earnings", { p_company_id: t.company, p_user_id: r })).toEqual([
      { currency: "USD", total_earnings: 0, pending_earnings: 0, paid_earnings: 0 },
    ]);
    // the creator's commission decisions leave it to the fraud review
    const [c] = await commissions(t.company);
    await expectDomainError(
      call("decide_commission", { p_company_id: t.company, p_commission_id: c.id, p_decision: "approve", p_reason: "ok" }),
      409,
      "This commission is held for fraud review: decide its referral in Fraud",
    );
    await expectDomainError(
      call("decide_commission", { p_company_id: t.company, p_commission_id: c.id, p_decision: "cancel", p_reason: "no" }),
      409,
      "This commission is held for fraud review: decide its referral in Fraud",
    );
    expect(x).toBeTruthy();
    await expectMoneyConsistent(t.company);
  });

  it("approve: on_hold → pending with the original available_at (available once passed); points granted exactly once", async () => {
    const { t, a, r, x, first, ref } = await heldChain();
    const before = await commissions(t.company);
    // the first payment's hold has passed since
    await sql.query(
      `update public.commissions set available_at = now() - interval '1 minute' where company_id = $1 and payment_id = $2`,
      [t.company, first.id],
    );
    const pastDue = (await commissions(t.company)).filter((c) => c.payment_id === first.id).map((c) => c.available_at);
    expect(await decide(t.company, ref.id, "approve", "  known customer  ")).toEqual({
      id: ref.id,
      fraud_status: "approved",
      status: "converted",
      commissions_moved: 4,
    });
    const after = await commissions(t.company);
    expect(after.map((c) => [c.who, c.level, c.amount, c.status])).toEqual([
      [r, 1, 2000, "available"],
      [a, 2, 500, "available"],
      [r, 1, 1000, "pending"],
      [a, 2, 250, "pending"],
    ]);
    expect(after.map((c) => c.available_at)).toEqual([...pastDue, ...before.slice(2).map((c) => c.available_at)]);
    expect(await referral(t.company, x)).toMatchObject({
      fraud_status: "approved",
      fraud_reason: "known customer",
      fraud_decided_by: ADMIN,
    });
    // one approval row per commission, with the admin and the reason
    expect(await ledger(t.company)).toEqual([
      ...before.map((c) => ({ kind: "commission", user_id: c.who, amount: c.amount, reference_id: c.id, memo: null, actor: null })),
      ...[...before]
        .sort((p, q) => (p.id < q.id ? -1 : 1))
        .map((c) => ({
          kind: "approval",
          user_id: c.who,
          amount: 0,
          reference_id: c.id,
          memo: "fraud review: known customer",
          actor: ADMIN,
        })),
    ]);
    const granted = [
      [x, 100, "REFERRAL_WELCOME"],
      [r, 500, "REFERRAL_FIRST_PAYMENT"],
      [a, 50, "REFERRAL_L2"],
      [r, 100, "REFERRAL_RECURRING"],
      [a, 50, "REFERRAL_L2"],
    ];
    expect(await points(t.company)).toEqual(granted);
    // decided once: a second approval (or a rejection) is refused and grants nothing more
    await expectDomainError(decide(t.company, ref.id, "approve"), 409, "This referral is not waiting for review (it is approved)");
    await expectDomainError(decide(t.company, ref.id, "reject"), 409, "This referral is not waiting for review (it is approved)");
    expect(await points(t.company)).toEqual(granted);
    // later renewals earn as usual
    expect((await buy(t.company, x, 50)).outcome).toBe("commission_created");
    expect((await brief(t.company)).slice(-2)).toEqual([
      [r, 1, 1000, "pending"],
      [a, 2, 250, "pending"],
    ]);
    expect(await points(t.company)).toEqual([...granted, [r, 100, "REFERRAL_RECURRING"], [a, 50, "REFERRAL_L2"]]);
    // approved money can be withdrawn
    expect(await availableBalance(t.company, r)).toBe(2000);
    await expectMoneyConsistent(t.company);
  });

  it("reject: cancelled at every level, the referral cancelled; a later renewal earns nothing; no points ever", async () => {
    const { t, a, r, x, ref } = await heldChain();
    const before = await commissions(t.company);
    expect(await decide(t.company, ref.id, "reject", "same person")).toEqual({
      id: ref.id,
      fraud_status: "rejected",
      status: "cancelled",
      commissions_moved: 4,
    });
    expect(await brief(t.company)).toEqual([
      [r, 1, 2000, "cancelled"],
      [a, 2, 500, "cancelled"],
      [r, 1, 1000, "cancelled"],
      [a, 2, 250, "cancelled"],
    ]);
    expect(await referral(t.company, x)).toMatchObject({
      status: "cancelled",
      fraud_status: "rejected",
      fraud_reason: "same person",
      fraud_decided_by: ADMIN,
    });
    const cancellations = (await ledger(t.company)).filter((l) => l.kind === "cancellation");
    expect(cancellations.sort((p, q) => (p.reference_id < q.reference_id ? -1 : 1))).toEqual(
      [...before]
        .sort((p, q) => (p.id < q.id ? -1 : 1))
        .map((c) => ({
          kind: "cancellation",
          user_id: c.who,
          amount: -c.amount,
          reference_id: c.id,
          memo: "fraud review: same person",
          actor: ADMIN,
        })),
    );
    // the next renewal is recorded but earns nothing
    expect((await buy(t.company, x, 50)).outcome).toBe("referral_cancelled");
    expect(await brief(t.company)).toHaveLength(4);
    expect(await points(t.company)).toEqual([]);
    expect(await call("get_user_referral_earnings", { p_company_id: t.company, p_user_id: r })).toEqual([
      { currency: "USD", total_earnings: 0, pending_earnings: 0, paid_earnings: 0 },
    ]);
    // the referrer's counters drop the cancelled referral
    const [stats] = await rows(`select conversions::int, signups::int from public.referral_stats where company_id = $1 and user_id = $2`, [
      t.company,
      r,
    ]);
    expect(stats).toEqual({ conversions: 0, signups: 0 });
    await expectDomainError(decide(t.company, ref.id, "reject"), 409, "This referral is not waiting for review (it is rejected)");
    await expectMoneyConsistent(t.company);
  });

  it("two admins deciding the same referral at once: one decision applies, the other is refused (409)", async () => {
    const { t, ref } = await heldChain();
    const settled = await Promise.allSettled([
      decide(t.company, ref.id, "approve", "admin one", "user_admin1"),
      decide(t.company, ref.id, "reject", "admin two", "user_admin2"),
    ]);
    const ok = settled.filter((r) => r.status === "fulfilled");
    const refused = settled.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0].reason).toBeInstanceOf(DomainError);
    expect((refused[0].reason as DomainError).status).toBe(409);
    const r = await referral(t.company, t.referee);
    const moved = (await ledger(t.company)).filter((l) => l.kind === "approval" || l.kind === "cancellation");
    expect(moved).toHaveLength(4);
    expect(new Set(moved.map((l) => l.actor))).toEqual(new Set([r.fraud_decided_by]));
    await expectMoneyConsistent(t.company);
  });

  it("a decision needs approve|reject, a reason and the admin; an unknown or clear referral is refused", async () => {
    const { t, ref } = await heldChain();
    await expectDomainError(decide(t.company, ref.id, "approve", "  "), 400, "Give a reason");
    await expectDomainError(decide(t.company, ref.id, "approve", null), 400, "Give a reason");
    await expectDomainError(decide(t.company, ref.id, "maybe"), 400, "Decide approve or reject");
    await expectDomainError(decide(t.company, ref.id, "approve", "ok", ""), 400, "The deciding admin's user id is needed");
    await expectDomainError(decide(t.company, "00000000-0000-0000-0000-000000000000", "approve"), 404, "No such referral");
    // another company's referral is unknown here
    await expectDomainError(decide(ids().company, ref.id, "approve"), 404, "No such referral");
    expect((await referral(t.company, t.referee)).fraud_status).toBe("held");
    expect((await brief(t.company)).map((c) => c[3])).toEqual(["on_hold", "on_hold", "on_hold", "on_hold"]);
    // a clear referral is not waiting for review
    const clean = await company();
    await buy(clean.company, clean.referee, 10, { code: await codeOf(clean.company, clean.referrer) });
    await expectDomainError(
      decide(clean.company, (await referral(clean.company, clean.referee)).id, "reject"),
      409,
      "This referral is not waiting for review (it is clear)",
    );
  });

  it("decide_referrals decides many at once and skips the ones already decided", async () => {
    const t = await company();
    await email(t.company, t.referrer, "rogue.referrer@example.com");
    const code = await codeOf(t.company, t.referrer);
    const buyers = [user("m1"), user("m2"), user("m3")];
    for (const b of buyers) await buy(t.company, b, 100, { code, signals: { email: "rogue.referrer@example.com" } });
    const refs = await Promise.all(buyers.map((b) => referral(t.company, b)));
    expect(refs.map((r) => r.fraud_status)).toEqual(["held", "held", "held"]);
    await decide(t.company, refs[0].id, "approve", "fine");
    const out = await call("decide_referrals", {
      p_company_id: t.company,
      p_referral_ids: [refs[0].id, refs[1].id, refs[2].id, refs[2].id],
      p_decision: "reject",
      p_reason: "bulk: one household",
      p_actor: ADMIN,
    });
    expect(out.skipped).toEqual([{ id: refs[0].id, error: "This referral is not waiting for review (it is approved)" }]);
    expect(new Set(out.decided.map((d: Json) => d.id))).toEqual(new Set([refs[1].id, refs[2].id]));
    for (const d of out.decided) expect(d).toMatchObject({ fraud_status: "rejected", status: "cancelled", commissions_moved: 1 });
    expect(await brief(t.company)).toEqual([
      [t.referrer, 1, 2000, "pending"],
      [t.referrer, 1, 2000, "cancelled"],
      [t.referrer, 1, 2000, "cancelled"],
    ]);
    expect((await ledger(t.company)).filter((l) => l.kind === "cancellation").map((l) => [l.amount, l.memo, l.actor])).toEqual([
      [-2000, "fraud review: bulk: one household", ADMIN],
      [-2000, "fraud review: bulk: one household", ADMIN],
    ]);
    const bulk = (p: Record<string, unknown>) =>
      call("decide_referrals", {
        p_company_id: t.company,
        p_referral_ids: [refs[1].id],
        p_decision: "approve",
        p_reason: "x",
        p_actor: ADMIN,
        ...p,
      });
    await expectDomainError(bulk({ p_reason: "" }), 400, "Give a reason");
    await expectDomainError(bulk({ p_referral_ids: [] }), 400, "Pick at least one referral");
    await expectDomainError(bulk({ p_referral_ids: [refs[1].id, "x'; drop"] }), 400, "Not a referral id");
    await expectDomainError(
      bulk({ p_referral_ids: Array.from({ length: 201 }, () => randomUUID()) }),
      400,
      "Decide at most 200 referrals at once",
    );
    // nothing decidable: all skipped, nothing written
    expect(await bulk({})).toEqual({
      decided: [],
      skipped: [{ id: refs[1].id, error: "This referral is not waiting for review (it is rejected)" }],
    });
    await expectMoneyConsistent(t.company);
  });
});

// ── 4. decisions and payouts ────────────────────────────────────────────────

/**
 * hold_days 0, ledger account set. The referrer earns 10.00 from a clean referral (other)
 * and 20.00 from a flagged one (referee, disposable email). Returns the flagged referral.
 */
async function flaggedWithPayout(extra: Record<string, unknown> = {}) {
  const t = await company({ hold_days: 0, ledger_account_id: "ldgr_test", ...extra });
  const code = await codeOf(t.company, t.referrer);
  await buy(t.company, t.other, 50, { code });
  const flagged = await buy(t.company, t.referee, 100, { code, signals: { email: "q@mailinator.com", email_disposable: true } });
  const ref = await referral(t.company, t.referee);
  expect(ref.fraud_status).toBe("flagged");
  return { t, code, ref, paymentId: flagged.id };
}

describe("decisions and payouts", () => {
  it("rejecting a flagged referral whose commission is in a requested payout removes it; the payout asks for the rest", async () => {
    const { t, ref } = await flaggedWithPayout();
    const po = await requestPayout(t.company, t.referrer);
    expect(po.amount_cents).toBe(3000);
    await decide(t.company, ref.id, "reject", "fake buyer");
    expect((await commissions(t.company)).map((c) => [c.amount, c.status, c.payout_id])).toEqual([
      [1000, "available", po.id],
      [2000, "cancelled", null],
    ]);
    expect(await payouts(t.company)).toEqual([{ id: po.id, user_id: t.referrer, amount: 1000, status: "requested", reason: null }]);
    const items = await rows(`select commission_id::text from public.payout_items where payout_id = $1`, [po.id]);
    expect(items).toHaveLength(1);
    expect(await ledger(t.company)).toContainEqual(
      expect.objectContaining({ kind: "cancellation", amount: -2000, memo: "fraud review: fake buyer", actor: ADMIN }),
    );
    const started = await startPayout(t.company, po.id);
    expect(started).toMatchObject({ status: "processing", amount_cents: 1000 });
    await completePayout(t.company, po.id);
    expect(await availableBalance(t.company, t.referrer)).toBe(0);
    await expectMoneyConsistent(t.company);
  });

  it("rejecting the only commission of a requested payout leaves nothing to pay: the payout is cancelled, the member may ask again", async () => {
    const t = await company({ hold_days: 0, min_payout_cents: 500 });
    const code = await codeOf(t.company, t.referrer);
    await buy(t.company, t.referee, 100, { code, signals: { email: "q@mailinator.com", email_disposable: true } });
    const ref = await referral(t.company, t.referee);
    const po = await requestPayout(t.company, t.referrer);
    await decide(t.company, ref.id, "reject", "fake buyer");
    expect(await payouts(t.company)).toEqual([
      { id: po.id, user_id: t.referrer, amount: 0, status: "cancelled", reason: "nothing left to pay" },
    ]);
    await buy(t.company, t.other, 50, { code });
    expect(await requestPayout(t.company, t.referrer)).toMatchObject({ amount_cents: 1000, status: "requested" });
    await expectMoneyConsistent(t.company);
  });

  it("rejecting after the commission was paid claws it back (refund_id fraud:<referral>); the next payout nets it", async () => {
    const { t, ref, code } = await flaggedWithPayout();
    const po = await requestPayout(t.company, t.referrer);
    await startPayout(t.company, po.id);
    await completePayout(t.company, po.id);
    expect(await decide(t.company, ref.id, "reject", "chargeback ring")).toMatchObject({ commissions_moved: 1 });
    const all = await commissions(t.company);
    const paid = all.find((c) => c.kind === "commission" && c.amount === 2000)!;
    expect(all.map((c) => [c.kind, c.amount, c.status, c.refund_id])).toEqual([
      ["commission", 1000, "paid", null],
      ["commission", 2000, "paid", null],
      ["clawback", -2000, "available", `fraud:${ref.id}`],
    ]);
    expect(all[2].reverses).toBe(paid.id);
    expect(await ledger(t.company)).toContainEqual({
      kind: "clawback",
      user_id: t.referrer,
      amount: -2000,
      reference_id: paid.id,
      memo: "fraud review: chargeback ring",
      actor: ADMIN,
    });
    expect(await availableBalance(t.company, t.referrer)).toBe(-2000);
    expect(await referral(t.company, t.referee)).toMatchObject({ status: "cancelled", fraud_status: "rejected" });
    // a later refund of that payment takes nothing more back
    expect((await refund(t.company, (await commissions(t.company))[1].payment_id, 100)).outcome).toBe("refund_recorded");
    // the next earnings net the clawback
    await buy(t.company, user("n"), 150, { code });
    const po2 = await requestPayout(t.company, t.referrer);
    expect(po2.amount_cents).toBe(1000);
    await expectMoneyConsistent(t.company);
  });

  it("rejecting while the payout is processing claws back; completed → −20.00 owed; failed → nothing owed", async () => {
    for (const end of ["complete", "fail"] as const) {
      const { t, ref } = await flaggedWithPayout();
      const po = await requestPayout(t.company, t.referrer);
      await startPayout(t.company, po.id);
      await decide(t.company, ref.id, "reject", "too late");
      expect((await commissions(t.company)).map((c) => [c.kind, c.amount, c.status, c.payout_id])).toEqual([
        ["commission", 1000, "available", po.id],
        ["commission", 2000, "available", po.id],
        ["clawback", -2000, "available", null],
      ]);
      if (end === "complete") {
        await completePayout(t.company, po.id);
        expect(await availableBalance(t.company, t.referrer)).toBe(-2000);
      } else {
        await call("fail_payout", { p_company_id: t.company, p_payout_id: po.id, p_error: "refused" });
        // the rejected commission and its clawback cancel out: 10.00 left to withdraw
        expect(await availableBalance(t.company, t.referrer)).toBe(1000);
      }
      await expectMoneyConsistent(t.company);
    }
  });

  it("approving a flagged referral moves no money and grants no second round of points", async () => {
    const { t, ref } = await flaggedWithPayout();
    const before = await points(t.company);
    expect(await decide(t.company, ref.id, "approve", "looks fine")).toMatchObject({ fraud_status: "approved", commissions_moved: 0 });
    expect(await points(t.company)).toEqual(before);
    expect((await commissions(t.company)).map((c) => c.status)).toEqual(["available", "available"]);
    await expectMoneyConsistent(t.company);
  });
});

// ── 5. races ────────────────────────────────────────────────────────────────

/** Run `first` in an open transaction, then `second` while it is open; commit after `second` ended or waited 1.5 s. */
async function interleave(first: (c: pg.PoolClient) => Promise<unknown>, second: () => Promise<unknown>) {
  const client = await sql.connect();
  try {
    await client.query("begin");
    const firstResult = await first(client).then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    const secondP = Promise.allSettled([second()]).then((r) => r[0]);
    await Promise.race([secondP, new Promise((r) => setTimeout(r, 1500))]);
    await client.query(firstResult.ok ? "commit" : "rollback");
    return { first: firstResult, second: await secondP };
  } finally {
    client.release();
  }
}

const sqlDecide = (c: pg.PoolClient, company: string, id: string, decision: string) =>
  c.query(`select public.decide_referral($1, $2::uuid, $3, 'race', $4) as v`, [company, id, decision, ADMIN]);
const sqlRefund = (c: pg.PoolClient, company: string, paymentId: string, amount: number) =>
  c.query(`select public.process_webhook_event($1, 'refund.created', $2, $3::jsonb) as v`, [
    uid("evt_"),
    company,
    JSON.stringify({ id: uid("re_"), amount, currency: "usd", status: "succeeded", payment: { id: paymentId } }),
  ]);
const sqlRequest = (c: pg.PoolClient, company: string, member: string) =>
  c.query(`select public.request_payout($1, $2) as v`, [company, member]);

/** Only refusals (DomainError) are allowed outcomes, never a deadlock or another error. */
function expectNoCrash(results: ({ ok: boolean; e?: unknown } | PromiseSettledResult<unknown>)[], what: string) {
  const crashes = results.flatMap((r: Json) => {
    const e = r.status === "rejected" ? r.reason : r.ok === false ? r.e : undefined;
    if (e === undefined || e instanceof DomainError || /^RL4/.test(e?.code ?? "")) return [];
    return [`${e?.code ?? ""} ${e?.message ?? e}`];
  });
  expect(crashes, what).toEqual([]);
}

describe("races", () => {
  it("a rejection racing a refund of the same payment: either order, no deadlock, nothing owed for the sale", async () => {
    for (const order of ["decideFirst", "refundFirst"] as const) {
      for (const amount of [30, 100]) {
        const t = await company({ hold_days: 0, mlm_enabled: true, max_level: 2 });
        await claim(t.company, t.referrer, t.other);
        const code = await codeOf(t.company, t.referrer);
        const { id: paymentId } = await buy(t.company, t.referee, 100, {
          code,
          signals: { email: "q@mailinator.com", email_disposable: true },
        });
        const ref = await referral(t.company, t.referee);
        const { first, second } =
          order === "decideFirst"
            ? await interleave(
                (c) => sqlDecide(c, t.company, ref.id, "reject"),
                () => refund(t.company, paymentId, amount),
              )
            : await interleave(
                (c) => sqlRefund(c, t.company, paymentId, amount),
                () => decide(t.company, ref.id, "reject", "race"),
              );
        expectNoCrash([first, second], `${order} ${amount}`);
        expect(second.status, `${order} ${amount}`).toBe("fulfilled");
        // nothing owed for the rejected sale: every commission cancelled or reversed, net of the ledger 0
        const cs = await commissions(t.company);
        expect(cs.filter((c) => c.kind === "commission").every((c) => ["cancelled", "reversed"].includes(c.status))).toBe(true);
        const [sum] = await rows<{ s: number }>(
          `select coalesce(sum(amount_cents), 0)::int as s from public.transactions
           where company_id = $1 and kind in ('commission', 'reversal', 'clawback', 'cancellation')`,
          [t.company],
        );
        expect(sum.s, `${order} ${amount}`).toBe(0);
        await expectMoneyConsistent(t.company);
      }
    }
  });

  it("an approval racing a partial refund of a held sale: the refunded share is reversed, the rest pending", async () => {
    for (const order of ["decideFirst", "refundFirst"] as const) {
      const t = await company({ hold_days: 14 });
      await email(t.company, t.referrer, "rogue.referrer@example.com");
      const code = await codeOf(t.company, t.referrer);
      const { id: paymentId } = await buy(t.company, t.referee, 100, { code, signals: { email: "rogue.referrer@example.com" } });
      const ref = await referral(t.company, t.referee);
      expect(ref.fraud_status).toBe("held");
      const { first, second } =
        order === "decideFirst"
          ? await interleave(
              (c) => sqlDecide(c, t.company, ref.id, "approve"),
              () => refund(t.company, paymentId, 30),
            )
          : await interleave(
              (c) => sqlRefund(c, t.company, paymentId, 30),
              () => decide(t.company, ref.id, "approve", "race"),
            );
      expectNoCrash([first, second], order);
      expect((await commissions(t.company)).map((c) => [c.amount, c.reversed, c.status])).toEqual([[2000, 600, "pending"]]);
      await expectMoneyConsistent(t.company);
    }
  });

  it("a rejection racing a payout request (20 at once, 3 commissions each): no deadlock, the payout never holds rejected money", async () => {
    const many = createPgBackend(inject("sqlDbUrl"), 50);
    try {
      const cases = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const t = await company({ hold_days: 0 });
          const code = await codeOf(t.company, t.referrer);
          await buy(t.company, t.other, 50, { code });
          await buy(t.company, t.referee, 100, { code, signals: { email: "q@mailinator.com", email_disposable: true } });
          await buy(t.company, t.referee, 100);
          await buy(t.company, t.referee, 100);
          return { t, ref: await referral(t.company, t.referee) };
        }),
      );
      for (const c of cases) expect(c.ref.fraud_status).toBe("flagged");
      const settled = await Promise.allSettled(
        cases.flatMap(({ t, ref }, i) => {
          const d = call(
            "decide_referral",
            { p_company_id: t.company, p_referral_id: ref.id, p_decision: "reject", p_reason: "race", p_actor: ADMIN },
            many,
          );
          const r = requestPayout(t.company, t.referrer, many);
          return i % 2 ? [d, r] : [r, d];
        }),
      );
      expectNoCrash(settled, "decide_referral ∥ request_payout");
      for (const { t, ref } of cases) {
        const cs = await commissions(t.company);
        const rejected = cs.filter((c) => c.kind === "commission" && c.amount === 2000);
        expect(rejected.map((c) => [c.status, c.payout_id])).toEqual([
          ["cancelled", null],
          ["cancelled", null],
          ["cancelled", null],
        ]);
        const open = (await payouts(t.company)).filter((p) => p.status === "requested");
        for (const p of open) expect(p.amount).toBe(1000);
        expect((await referral(t.company, t.referee)).fraud_status).toBe("rejected");
        expect(ref).toBeTruthy();
        await expectMoneyConsistent(t.company);
      }
    } finally {
      await many.close();
    }
  }, 60_000);

  it("a rejection racing a payout request, interleaved both ways: the payout asks for exactly the clean money", async () => {
    for (const order of ["decideFirst", "requestFirst"] as const) {
      const t = await company({ hold_days: 0 });
      const code = await codeOf(t.company, t.referrer);
      await buy(t.company, t.other, 50, { code });
      await buy(t.company, t.referee, 100, { code, signals: { email: "q@mailinator.com", email_disposable: true } });
      await buy(t.company, t.referee, 100);
      const ref = await referral(t.company, t.referee);
      const { first, second } =
        order === "decideFirst"
          ? await interleave(
              (c) => sqlDecide(c, t.company, ref.id, "reject"),
              () => requestPayout(t.company, t.referrer),
            )
          : await interleave(
              (c) => sqlRequest(c, t.company, t.referrer),
              () => decide(t.company, ref.id, "reject", "race"),
            );
      expectNoCrash([first, second], order);
      expect(second.status, order).toBe("fulfilled");
      expect((await payouts(t.company)).map((p) => [p.amount, p.status]), order).toEqual([[1000, "requested"]]);
      await expectMoneyConsistent(t.company);
    }
  });
});

// ── 6. the review queue ─────────────────────────────────────────────────────

describe("review queue", () => {
  /** Referrer R with referees of scores 100, 60, 60, 30, 20 (held, held, held, flagged, flagged) and a clear one; S with one held. */
  async function queueCompany() {
    const t = await company({ fraud_velocity_hour: 100 });
    const visa = card("visa", "4242", "75001");
    const code = await suspicious(t, visa);
    const office = { ip: h("ip:203.0.113.7"), device: h("dev:r") };
    await visit(t.company, t.referrer, office);
    const who: Record<string, string> = {};
    const b = (tag: string) => (who[tag] = user(tag));
    await buy(t.company, b("s100"), 100, { code, signals: { ...visa, email: "alicesmith@example.com" } });
    await buy(t.company, b("s60a"), 100, { code, signals: visa });
    await buy(t.company, b("s60b"), 100, { code, signals: { email: "alicesmith@example.com" } });
    const k = await click(t.company, t.referrer, { ip: office.ip });
    await buy(t.company, b("s30"), 100, { clickId: k.clickId });
    await buy(t.company, b("s20"), 100, { code, signals: { email: "z@mailinator.com", email_disposable: true } });
    await buy(t.company, b("clear"), 100, { code });
    const s = user("s");
    const sCode = await codeOf(t.company, s, `qs${t.company.slice(-6)}`);
    await email(t.company, s, "sam.sharp@example.com");
    await buy(t.company, b("sheld"), 100, { code: sCode, signals: { email: "sam.sharp@example.com" } });
    const ref: Record<string, Referral> = {};
    for (const [tag, u] of Object.entries(who)) ref[tag] = await referral(t.company, u);
    return { t, s, ref, who };
  }
  const queue = (company: string, filter: Record<string, unknown> = {}) =>
    call("list_fraud_queue", { p_company_id: company, p_filter: filter });

  it("lists open items by score (then id), pages with `after`, filters by status and member, counts held and flagged", async () => {
    const { t, s, ref, who } = await queueCompany();
    expect(ref.s100).toMatchObject({ fraud_score: 100, fraud_status: "held" });
    expect(ref.s30).toMatchObject({ fraud_score: 30, fraud_status: "flagged" });
    expect(ref.clear.fraud_status).toBe("clear");
    const all = await queue(t.company);
    expect(all.counts).toEqual({ held: 4, flagged: 2 });
    expect(all.next).toBeNull();
    const sixties = [ref.s60a, ref.s60b, ref.sheld].map((r) => r.id).sort().reverse();
    expect(all.rows.map((r: Json) => r.id)).toEqual([ref.s100.id, ...sixties, ref.s30.id, ref.s20.id]);
    expect(all.rows.map((r: Json) => r.fraud_score)).toEqual([100, 60, 60, 60, 30, 20]);
    // a row explains itself: who, the flagged checks by weight, the money held, the referrer's history
    const top = all.rows[0];
    expect(top).toMatchObject({
      referrer_user_id: t.referrer,
      referee_user_id: who.s100,
      status: "converted",
      fraud_status: "held",
      held_cents: 2000,
      currency: "USD",
      referrer_trusted: false,
      history: { held: 2, flagged: 2, rejected: 0, approved: 0 },
    });
    expect(top.checks.map((c: Json) => [c.check_type, c.weight])).toEqual([
      ["email_duplicate", 60],
      ["self_referral", 60],
    ]);
    // pages of 2: each row once, in order
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page: Json = await queue(t.company, { limit: 2, ...(after ? { after } : {}) });
      seen.push(...page.rows.map((r: Json) => r.id));
      after = page.next;
      if (!after) break;
      expect(after).toMatch(/^\d+\|[0-9a-f-]{36}$/);
    }
    expect(seen).toEqual(all.rows.map((r: Json) => r.id));
    // status and member filters
    expect((await queue(t.company, { status: "flagged" })).rows.map((r: Json) => r.id)).toEqual([ref.s30.id, ref.s20.id]);
    expect((await queue(t.company, { status: "held", member: s })).rows.map((r: Json) => r.id)).toEqual([ref.sheld.id]);
    expect((await queue(t.company, { member: `name_${t.referrer.slice(-6)}` })).rows).toHaveLength(5);
    expect((await queue(t.company, { member: "nobody" })).rows).toEqual([]);
    await expectDomainError(queue(t.company, { status: "bogus" }), 400, 'Unknown review status "bogus"');
    await expectDomainError(queue(t.company, { after: "x|y" }), 400, "Bad page cursor");
    // decided ones leave the open queue for their own status, with who decided and why
    await decide(t.company, ref.s60a.id, "approve", "regular");
    await decide(t.company, ref.s20.id, "reject", "throwaway");
    const open = await queue(t.company);
    expect(open.counts).toEqual({ held: 3, flagged: 1 });
    expect(open.rows.map((r: Json) => r.id)).not.toContain(ref.s60a.id);
    expect((await queue(t.company, { status: "approved" })).rows).toEqual([
      expect.objectContaining({ id: ref.s60a.id, fraud_status: "approved", reason: "regular", decided_by: ADMIN, held_cents: 0 }),
    ]);
    expect((await queue(t.company, { status: "rejected" })).rows).toEqual([
      expect.objectContaining({ id: ref.s20.id, fraud_status: "rejected", status: "cancelled", reason: "throwaway" }),
    ]);
    expect((await queue(t.company)).rows[0].history).toEqual({ held: 1, flagged: 1, rejected: 1, approved: 1 });
    // another company sees none of it
    expect(await queue(ids().company)).toEqual({ rows: [], next: null, counts: { held: 0, flagged: 0 } });
    await expectMoneyConsistent(t.company);
  });

  it("get_member_fraud: a member's trusted flag and their flagged, held or decided referrals, newest first", async () => {
    const { t, s, ref } = await queueCompany();
    await decide(t.company, ref.sheld.id, "reject", "same person");
    await call("set_member_trusted", { p_company_id: t.company, p_member: s, p_trusted: true, p_actor: ADMIN });
    const mf = await call("get_member_fraud", { p_company_id: t.company, p_user_id: s });
    expect(mf).toMatchObject({ trusted: true, trusted_by: ADMIN, trusted_at: expect.any(String) });
    expect(mf.rows).toEqual([expect.objectContaining({ id: ref.sheld.id, fraud_status: "rejected", referrer_trusted: true })]);
    const mr = await call("get_member_fraud", { p_company_id: t.company, p_user_id: t.referrer });
    expect(mr.trusted).toBe(false);
    expect(mr.rows.map((r: Json) => r.id)).toEqual([ref.s20.id, ref.s30.id, ref.s60b.id, ref.s60a.id, ref.s100.id]);
    expect(await call("get_member_fraud", { p_company_id: t.company, p_user_id: "user_nobody" })).toEqual({
      trusted: false,
      trusted_at: null,
      trusted_by: null,
      rows: [],
    });
    await expectMoneyConsistent(t.company);
  });
});
