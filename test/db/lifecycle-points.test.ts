/**
 * The money lifecycle, points and expiry: the points economy (ledger, balance cache,
 * redemptions, expiry) and the referral expiry job (expire_referrals).
 * Run for real on the test Postgres (referly_sql) through the same pg backend and typed
 * `rpc` the app uses; every test works on its own company and users and asserts amounts to
 * the cent and statuses exactly. Time passing is simulated by moving timestamps back in SQL.
 * Set-up lives in test/world.ts and test/db/lifecycle.world.ts.
 */
import { afterAll, describe, expect, it } from "vitest";
import { call, codeOf, expectDomainError, ids, pay, sqlRows as rows } from "../helpers";
import { claim, settings, user } from "../world";
import {
  db,
  sql,
  payment,
  backdateConversion,
  points,
  pointsBalance,
  expectCacheMatchesLedger,
  backdateLedger,
} from "./lifecycle.world";

afterAll(async () => {
  await db.close();
  await sql.end();
});

// ── 10. points ──────────────────────────────────────────────────────────────

describe("points", () => {
  it("a conversion gives the referee REFERRAL_WELCOME 100 and the referrer REFERRAL_FIRST_PAYMENT 500, once", async () => {
    const t = ids();
    const p = payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) });
    await pay(t.company, p);
    expect(await points(t.company)).toEqual([
      { user_id: t.referee, points: 100, type: "REFERRAL_WELCOME", reference_type: "payment", reference_id: p.id, memo: null },
      { user_id: t.referrer, points: 500, type: "REFERRAL_FIRST_PAYMENT", reference_type: "payment", reference_id: p.id, memo: null },
    ]);
    expect(await pay(t.company, p)).toEqual({ duplicate: false, outcome: "duplicate_payment" });
    expect((await points(t.company)).length).toBe(2);
    expect(await pointsBalance(t.company, t.referee)).toBe(100);
    expect(await pointsBalance(t.company, t.referrer)).toBe(500);
    const wallet = await call("get_member_wallet", { p_company_id: t.company, p_user_id: t.referrer });
    expect(wallet.points.balance).toBe(500);
    await expectCacheMatchesLedger(t.company);
  });

  it("renewals give REFERRAL_RECURRING 100, not after points_recurring_months", async () => {
    const t = ids();
    await settings(t.company, { points_recurring_months: 2 });
    await pay(t.company, payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) }));
    const r1 = payment({ user: t.referee, total: 100 });
    await pay(t.company, r1);
    await backdateConversion(t.company, t.referee, "3 months");
    const r2 = payment({ user: t.referee, total: 100 });
    // still earns commission (recurring_months 12) but no more points
    expect(await pay(t.company, r2)).toEqual({ duplicate: false, outcome: "commission_created" });
    expect((await points(t.company)).filter((x) => x.user_id === t.referrer).map((x) => [x.type, x.points, x.reference_id])).toEqual([
      ["REFERRAL_FIRST_PAYMENT", 500, expect.any(String)],
      ["REFERRAL_RECURRING", 100, r1.id],
    ]);
    expect(await pointsBalance(t.company, t.referrer)).toBe(600);
    await expectCacheMatchesLedger(t.company);
  });

  it("the level-2 ancestor gets REFERRAL_L2 50, not after level2_months", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 2 });
    const zz = user("z");
    const a = user("a");
    const c = user("c");
    await claim(t.company, a, zz);
    const first = payment({ user: c, total: 100, code: await codeOf(t.company, a) });
    await pay(t.company, first);
    const r1 = payment({ user: c, total: 100 });
    await pay(t.company, r1);
    await backdateConversion(t.company, c, "7 months");
    const r2 = payment({ user: c, total: 100 });
    await pay(t.company, r2);
    expect((await points(t.company)).map((x) => [x.user_id, x.type, x.points, x.reference_id])).toEqual([
      [c, "REFERRAL_WELCOME", 100, first.id],
      [a, "REFERRAL_FIRST_PAYMENT", 500, first.id],
      [zz, "REFERRAL_L2", 50, first.id],
      [a, "REFERRAL_RECURRING", 100, r1.id],
      [zz, "REFERRAL_L2", 50, r1.id],
      [a, "REFERRAL_RECURRING", 100, r2.id],
    ]);
    expect(await pointsBalance(t.company, zz)).toBe(100);
    expect(await pointsBalance(t.company, a)).toBe(700);
    await expectCacheMatchesLedger(t.company);
  });

  it("a points setting of 0 turns that kind off", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 2, points_welcome: 0, points_l2: 0, points_recurring: 0 });
    const zz = user("z");
    const a = user("a");
    const c = user("c");
    await claim(t.company, a, zz);
    await pay(t.company, payment({ user: c, total: 100, code: await codeOf(t.company, a) }));
    await pay(t.company, payment({ user: c, total: 100 }));
    expect((await points(t.company)).map((x) => [x.user_id, x.type, x.points])).toEqual([[a, "REFERRAL_FIRST_PAYMENT", 500]]);
    expect(await pointsBalance(t.company, c)).toBeUndefined();
    expect(await pointsBalance(t.company, zz)).toBeUndefined();
    await expectCacheMatchesLedger(t.company);
  });

  it("grant_points by username or user id with a reason; a deduction below zero is refused and writes nothing", async () => {
    const t = ids();
    await pay(t.company, payment({ user: t.referee, total: 10 })); // caches the member and username
    const username = `name_${t.referee.slice(-6)}`;
    const grant = (member: string, delta: number, reason: string | null) =>
      call("grant_points", { p_company_id: t.company, p_member: member, p_delta: delta, p_reason: reason });

    expect(await grant(` ${username.toUpperCase()} `, 250, "contest winner")).toBe(250);
    expect(await grant(t.referee, -50, "correction")).toBe(200);
    await expectDomainError(grant(t.referee, -1000, "too much"), 400, "Not enough points: the balance is 200 and this needs 1000");
    await expectDomainError(grant(t.referee, 10, "  "), 400, "Give a reason");
    await expectDomainError(grant(t.referee, 0, "nothing"), 400, "Grant or deduct at least one point");
    await expectDomainError(grant("nobody_here", 10, "who?"), 404, 'No member "nobody_here" in this community');

    expect((await points(t.company)).map((x) => [x.user_id, x.type, x.points, x.reference_type, x.memo])).toEqual([
      [t.referee, "ADMIN_GRANT", 250, "admin", "contest winner"],
      [t.referee, "ADMIN_GRANT", -50, "admin", "correction"],
    ]);
    expect(await pointsBalance(t.company, t.referee)).toBe(200);
    await expectCacheMatchesLedger(t.company);
  });

  it("redeeming an item spends its cost and opens a pending redemption; a failed one refunds the points", async () => {
    const t = ids();
    await pay(t.company, payment({ user: t.referee, total: 10 }));
    await call("grant_points", { p_company_id: t.company, p_member: t.referee, p_delta: 500, p_reason: "seed" });
    const promo = await call("create_points_item", {
      p_company_id: t.company,
      p_item: { name: "20% off", cost_points: 300, grant_type: "discount", grant_config: { percent_off: 20 } },
    });
    expect(promo).toMatchObject({ name: "20% off", cost_points: 300, grant_type: "discount", is_active: true });
    const access = await call("create_points_item", {
      p_company_id: t.company,
      p_item: { name: "Free month", cost_points: 150, grant_type: "product_unlock", grant_config: { plan_id: "plan_x" } },
    });
    const redeem = (itemId: string) =>
      call("redeem_points_item", { p_company_id: t.company, p_user_id: t.referee, p_item_id: itemId });

    const r1 = await redeem(promo.id);
    expect(r1.redemption).toMatchObject({ user_id: t.referee, item_id: promo.id, cost_points: 300, status: "pending" });
    expect(await pointsBalance(t.company, t.referee)).toBe(200);

    // 300 more than the 200 left: refused, nothing written
    await expectDomainError(redeem(promo.id), 400, "Not enough points: the balance is 200 and this needs 300");
    expect(
      await rows(`select count(*)::int as n from public.redemptions where company_id = $1`, [t.company]),
    ).toEqual([{ n: 1 }]);

    const r2 = await redeem(access.id);
    expect(await pointsBalance(t.company, t.referee)).toBe(50);

    const settle = (id: string, status: string, result: unknown, error: string | null) =>
      call("settle_redemption", { p_company_id: t.company, p_redemption_id: id, p_status: status, p_result: result, p_error: error });
    expect(await settle(r1.redemption.id, "failed", null, "promo API down")).toMatchObject({
      status: "failed",
      error: "promo API down",
    });
    expect(await pointsBalance(t.company, t.referee)).toBe(350);
    await expectDomainError(settle(r1.redemption.id, "failed", null, "again"), 409, "A failed redemption can't become failed");
    expect(await settle(r2.redemption.id, "granted", { membership: "mem_1" }, null)).toMatchObject({ status: "granted" });
    expect(await settle(r2.redemption.id, "claimed", null, null)).toMatchObject({
      status: "claimed",
      result: { membership: "mem_1" },
    });
    expect(await pointsBalance(t.company, t.referee)).toBe(350);

    expect((await points(t.company)).map((x) => [x.type, x.points, x.reference_id, x.memo])).toEqual([
      ["ADMIN_GRANT", 500, expect.any(String), "seed"],
      ["REDEMPTION_DISCOUNT", -300, r1.redemption.id, "20% off"],
      ["REDEMPTION_PRODUCT_UNLOCK", -150, r2.redemption.id, "Free month"],
      ["REDEMPTION_REFUND", 300, r1.redemption.id, "promo API down"],
    ]);
    await expectCacheMatchesLedger(t.company);
  });

  it("expire_points expires exactly the old unspent points, once", async () => {
    const t = ids();
    await pay(t.company, payment({ user: t.referee, total: 10 }));
    await pay(t.company, payment({ user: t.other, total: 10 }));
    const grant = (member: string, delta: number) =>
      call("grant_points", { p_company_id: t.company, p_member: member, p_delta: delta, p_reason: "grant" });
    // referee: 500 + 100 old; other: 300 old, all of it spent since
    await grant(t.referee, 500);
    await grant(t.referee, 100);
    await grant(t.other, 300);
    const old = await rows<{ id: string }>(`select id::text from public.transactions where company_id = $1 and kind = 'points'`, [
      t.company,
    ]);
    expect(old).toHaveLength(3);
    await backdateLedger(
      old.map((r) => r.id),
      "31 days",
    );
    await grant(t.referee, -200); // spent recently
    await grant(t.referee, 100); // earned recently
    await grant(t.other, -300);
    expect(await pointsBalance(t.company, t.referee)).toBe(500);

    await call("expire_points", {}); // whatever other tests left due (this program has no expiry yet)
    await settings(t.company, { points_expiry_days: 30 });
    // old 600 − spent 200 = 400 expire; the recent 100 stays
    expect(await call("expire_points", {})).toBe(400);
    expect(await pointsBalance(t.company, t.referee)).toBe(100);
    expect(await pointsBalance(t.company, t.other)).toBe(0);
    expect((await points(t.company)).filter((x) => x.type === "EXPIRY").map((x) => [x.user_id, x.points, x.reference_type])).toEqual([
      [t.referee, -400, "expiry"],
    ]);
    expect(await call("expire_points", {})).toBe(0);
    expect(await pointsBalance(t.company, t.referee)).toBe(100);
    expect((await points(t.company)).filter((x) => x.type === "EXPIRY")).toHaveLength(1);
    await expectCacheMatchesLedger(t.company);
  });
});

// ── 11. referral expiry ─────────────────────────────────────────────────────

describe("expire_referrals", () => {
  it("moves pending referrals past expires_at to expired; running it twice changes nothing", async () => {
    const t = ids();
    const late1 = user("l1");
    const late2 = user("l2");
    const fresh = user("f");
    await claim(t.company, late1, t.referrer);
    await claim(t.company, late2, t.referrer);
    await claim(t.company, fresh, t.referrer);
    await pay(t.company, payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) }));
    await call("expire_referrals", {}); // whatever other tests left due
    await sql.query(
      `update public.referrals set expires_at = now() - interval '1 minute'
       where company_id = $1 and referee_user_id = any($2::text[])`,
      [t.company, [late1, late2, t.referee]],
    );
    expect(await call("expire_referrals", {})).toBe(2);
    const statuses = async () =>
      Object.fromEntries(
        (
          await rows<{ referee_user_id: string; status: string }>(
            `select referee_user_id, status from public.referrals where company_id = $1`,
            [t.company],
          )
        ).map((r) => [r.referee_user_id, r.status]),
      );
    const expected = { [late1]: "expired", [late2]: "expired", [fresh]: "pending", [t.referee]: "converted" };
    expect(await statuses()).toEqual(expected);
    expect(await call("expire_referrals", {})).toBe(0);
    expect(await statuses()).toEqual(expected);
  });
});
