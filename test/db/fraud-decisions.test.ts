/**
 * Fraud decisions: the capped score, the three modes, the hold threshold, weight overrides and
 * the allow-list; held money (every level, every renewal, no points); approve / reject one or
 * many (statuses, amounts to the cent, ledger rows with the deciding admin and the reason);
 * decisions against payouts (requested, processing, paid).
 * Run for real on the test Postgres (referly_sql) through the same pg backend and typed
 * `rpc` the app uses; data is made only through the real SQL functions (clicks and member-app
 * visits carry keyed hashes, payments carry the signals lib/fraud computes as
 * p_data.referly_signals), time passing is simulated by moving timestamps back in SQL.
 * check_analytics must stay ok for every company a test made (checked after each test).
 * Set-up lives in test/world.ts and test/db/fraud.world.ts.
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { DomainError } from "../../lib/db";
import { call, codeOf, expectDomainError, ids, sqlDb, sqlRows as rows } from "../helpers";
import {
  availableBalance,
  claim,
  completePayout,
  expectConsistent,
  refund,
  requestPayout,
  settings,
  startPayout,
  user,
} from "../world";
import {
  sql,
  made,
  type Json,
  h,
  ADMIN,
  click,
  visit,
  card,
  buy,
  email,
  referral,
  checks,
  flaggedOf,
  commissions,
  brief,
  ledger,
  points,
  decide,
  payouts,
  expectMoneyConsistent,
  company,
  suspicious,
} from "./fraud.world";

afterAll(async () => {
  await sqlDb().close();
  await sql.end();
});

// ── 2. score, modes, threshold, weights, allow-list ─────────────────────────

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
