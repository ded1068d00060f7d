/**
 * The fraud review queue and a member's fraud page, as the creator reads them.
 * Run for real on the test Postgres (referly_sql) through the same pg backend and typed
 * `rpc` the app uses; data is made only through the real SQL functions (clicks and member-app
 * visits carry keyed hashes, payments carry the signals lib/fraud computes as
 * p_data.referly_signals), time passing is simulated by moving timestamps back in SQL.
 * check_analytics must stay ok for every company a test made (checked after each test).
 * Set-up lives in test/world.ts and test/db/fraud.world.ts.
 */
import { afterAll, describe, expect, it } from "vitest";
import { call, codeOf, expectDomainError, ids, sqlDb, sqlRows as rows } from "../helpers";
import { user } from "../world";
import {
  sql,
  type Json,
  h,
  ADMIN,
  click,
  visit,
  card,
  buy,
  email,
  type Referral,
  referral,
  decide,
  expectMoneyConsistent,
  company,
  suspicious,
} from "./fraud.world";

afterAll(async () => {
  await sqlDb().close();
  await sql.end();
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
