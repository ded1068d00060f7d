/**
 * Fraud checks, the eight signals: a clean conversion, then self_referral, ip_duplicate,
 * device_duplicate, email_duplicate, disposable_email, velocity_limit, fast_conversion and
 * ring, each hit and missed, with its weight and evidence.
 * Run for real on the test Postgres (referly_sql) through the same pg backend and typed
 * `rpc` the app uses; data is made only through the real SQL functions (clicks and member-app
 * visits carry keyed hashes, payments carry the signals lib/fraud computes as
 * p_data.referly_signals), time passing is simulated by moving timestamps back in SQL.
 * check_analytics must stay ok for every company a test made (checked after each test).
 * Set-up lives in test/world.ts and test/db/fraud.world.ts.
 */
import { afterAll, describe, expect, inject, it } from "vitest";
import { createPgBackend } from "../../lib/db/pg";
import { call, codeOf, paymentData, sqlDb, sqlRows as rows, uid } from "../helpers";
import { claim, expectConsistent, settings, user, type Signals } from "../world";
import {
  sql,
  type Json,
  h,
  click,
  visit,
  card,
  buy,
  email,
  referral,
  checks,
  flaggedOf,
  brief,
  points,
  decide,
  expectMoneyConsistent,
  awayFromMidnight,
  company,
  THROWAWAY,
  checkCount,
  expectNoCrash,
} from "./fraud.world";

afterAll(async () => {
  await sqlDb().close();
  await sql.end();
});

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
