/**
 * The SQL functions of supabase/schemas (as the migrations build them), run for real on the test Postgres
 * (referly_sql) through the same pg backend and typed `rpc` the app uses. Every test
 * works on its own company and users (ids()), so tests never see each other's rows.
 * Amounts are asserted to the cent.
 */
import { afterAll, describe, expect, inject, it } from "vitest";
import { DomainError } from "../../lib/db";
import {
  call,
  codeOf,
  expectDomainError,
  ids,
  pay,
  paymentData as payment,
  pool,
  sqlDb,
  sqlRows as rows,
  uid,
  webhook,
} from "../helpers";

const sql = pool(inject("sqlDbUrl"));

afterAll(async () => {
  await sqlDb().close();
  await sql.end();
});

// ── helpers ─────────────────────────────────────────────────────────────────

interface CommissionRow {
  payment_id: string;
  beneficiary_user_id: string;
  level: number;
  base_amount_cents: number;
  rate_bp: number;
  amount_cents: number;
  currency: string;
  status: string;
  hold: string;
  secs_to_available: number;
}

const commissions = (company: string) =>
  rows<CommissionRow>(
    `select payment_id, beneficiary_user_id, level, base_amount_cents::int, rate_bp, amount_cents::int, currency,
            status, (available_at - created_at)::text as hold,
            extract(epoch from available_at - now())::float8 as secs_to_available
     from public.commissions where company_id = $1 order by created_at, payment_id`,
    [company],
  );

const referral = async (company: string, referee: string) =>
  (
    await rows<{ status: string; referrer_user_id: string; source: string; signed_up: boolean; converted: boolean }>(
      `select status, referrer_user_id, source, signed_up_at is not null as signed_up, converted_at is not null as converted
       from public.referrals where company_id = $1 and referee_user_id = $2`,
      [company, referee],
    )
  )[0];

/** The money rows of the ledger (points rows are asserted in test/db/lifecycle.test.ts). */
const ledger = (company: string) =>
  rows<{ kind: string; user_id: string; amount_cents: number; currency: string; reference_type: string; reference_id: string }>(
    `select kind, user_id, amount_cents::int, currency, reference_type, reference_id
     from public.transactions where company_id = $1 and kind <> 'points' order by id`,
    [company],
  );

// ── 1. money ────────────────────────────────────────────────────────────────

describe("money rule", () => {
  it("round_half_down rounds halves towards zero and everything else to the nearest cent", async () => {
    const r = await rows<Record<string, string>>(
      `select public.round_half_down(999.5)::text as a, public.round_half_down(1000.5)::text as b,
              public.round_half_down(2.51)::text as c, public.round_half_down(-2.5)::text as d,
              public.round_half_down(2.49)::text as e, public.round_half_down(-2.51)::text as f,
              public.round_half_down(7)::text as g, public.round_half_down(0.5)::text as h`,
    );
    expect(r[0]).toEqual({ a: "999", b: "1000", c: "3", d: "-2", e: "2", f: "-3", g: "7", h: "0" });
  });

  it("to_minor_units converts Whop's decimal amounts by the currency's minor units", async () => {
    const r = await rows<Record<string, string>>(
      `select public.to_minor_units(49.99, 'usd')::text as usd, public.to_minor_units(1000, 'jpy')::text as jpy,
              public.to_minor_units(1.234, 'kwd')::text as kwd, public.to_minor_units(0.07, 'USD')::text as small,
              public.to_minor_units(10.005, 'usd')::text as half, public.to_minor_units(1000000.01, 'eur')::text as big`,
    );
    expect(r[0]).toEqual({ usd: "4999", jpy: "1000", kwd: "1234", small: "7", half: "1000", big: "100000001" });
  });
});

// ── 2. program defaults ─────────────────────────────────────────────────────

describe("programs", () => {
  it("a company seen for the first time gets the default program", async () => {
    const { company } = ids();
    const p = await call("get_program", { p_company_id: company });
    expect(p).toMatchObject({
      company_id: company,
      commission_rate_bp: 2000,
      hold_days: 14,
      min_payout_cents: 1000,
      attribution_window_days: 90,
      recurring_months: 12,
      currency: "USD",
      plan_id: null,
      landing_url: null,
      is_active: true,
    });
    const stored = await rows(`select count(*)::int as n from public.programs where company_id = $1`, [company]);
    expect(stored).toEqual([{ n: 1 }]);
  });

  it("refuses a company id that is not a Whop biz_ id", async () => {
    await expectDomainError(call("get_program", { p_company_id: "acme" }), 400, "company id must look like biz_…");
  });
});

// ── 3. codes ────────────────────────────────────────────────────────────────

describe("referral codes", () => {
  it("get_or_create_code makes a human-friendly code once and returns the same one after", async () => {
    const t = ids();
    const first = await codeOf(t.company, t.referrer, "alice_smith99");
    expect(first).toMatch(/^ALICESMI[A-HJ-NP-Z2-9]{4}$/);
    expect(await codeOf(t.company, t.referrer, "alice_smith99")).toBe(first);
    expect(await codeOf(t.company, t.referrer, "renamed_later")).toBe(first);
    // too short a username falls back to REF…
    expect(await codeOf(t.company, t.other, "a")).toMatch(/^REF[A-HJ-NP-Z2-9]{4}$/);
    const n = await rows(`select count(*)::int as n from public.referral_codes where company_id = $1`, [t.company]);
    expect(n).toEqual([{ n: 2 }]);
  });

  it("a member can switch to a free vanity code, and get_or_create_code then returns it", async () => {
    const t = ids();
    await codeOf(t.company, t.referrer, "alice");
    const vanity = `Van_${uid()}`;
    expect(await call("set_referral_code", { p_company_id: t.company, p_user_id: t.referrer, p_code: vanity })).toEqual({
      code: vanity,
    });
    expect(await codeOf(t.company, t.referrer, "alice")).toBe(vanity);
  });

  it("codes are unique ignoring case, across companies; bad formats are refused", async () => {
    const t = ids();
    const t2 = ids();
    await codeOf(t.company, t.referrer, "alice");
    await codeOf(t.company, t.other, "bob");
    await codeOf(t2.company, t2.referrer, "carol");
    const vanity = `Taken-${uid()}`;
    await call("set_referral_code", { p_company_id: t.company, p_user_id: t.referrer, p_code: vanity });

    // same company, other member, other case
    await expectDomainError(
      call("set_referral_code", { p_company_id: t.company, p_user_id: t.other, p_code: vanity.toLowerCase() }),
      409,
      `The code ${vanity.toLowerCase()} is taken`,
    );
    // another company, other case
    await expectDomainError(
      call("set_referral_code", { p_company_id: t2.company, p_user_id: t2.referrer, p_code: vanity.toUpperCase() }),
      409,
      `The code ${vanity.toUpperCase()} is taken`,
    );
    for (const bad of ["ab", "has space", "x".repeat(33), "émoji", "a/b"]) {
      await expectDomainError(
        call("set_referral_code", { p_company_id: t.company, p_user_id: t.other, p_code: bad }),
        400,
        "A code is 3 to 32 letters, digits, - or _",
      );
    }
    // nothing changed for the refused member
    const codes = await rows<{ user_id: string; code: string }>(
      `select user_id, code from public.referral_codes where lower(code) = lower($1)`,
      [vanity],
    );
    expect(codes).toEqual([{ user_id: t.referrer, code: vanity }]);
  });

  it("20 concurrent first visits of one member make exactly one code", async () => {
    const t = ids();
    const codes = await Promise.all(Array.from({ length: 20 }, () => codeOf(t.company, t.referrer, "rushhour")));
    expect(new Set(codes).size).toBe(1);
    expect(codes[0]).toMatch(/^RUSHHOUR[A-HJ-NP-Z2-9]{4}$/);
    const n = await rows(
      `select count(*)::int as n from public.referral_codes where company_id = $1 and user_id = $2`,
      [t.company, t.referrer],
    );
    expect(n).toEqual([{ n: 1 }]);
    const users = await rows(`select count(*)::int as n from public.users where company_id = $1`, [t.company]);
    expect(users).toEqual([{ n: 1 }]);
  });
});

// ── 4. clicks ───────────────────────────────────────────────────────────────

describe("record_click", () => {
  const click = (code: string, visitor: string, isBot = false) =>
    call("record_click", {
      p_code: code,
      p_visitor_hash: visitor,
      p_user_agent: isBot ? "Googlebot/2.1" : "Mozilla/5.0",
      p_referrer_url: "https://twitter.com/someone",
      p_country: "US",
      p_is_bot: isBot,
    });

  it("an unknown code is not found", async () => {
    expect(await click(`nope${uid()}`, "v1")).toEqual({ found: false });
  });

  it("counts the first click of a visitor, not a repeat within the hour, not a bot; returns where to go", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "clicker");
    await call("update_program_settings", {
      p_company_id: t.company,
      p_settings: { plan_id: "plan_abc123", landing_url: "https://example.com/join" },
    });

    const first = await click(code.toLowerCase(), "visitor-a");
    expect(first).toEqual({
      found: true,
      click_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      counted: true,
      company_id: t.company,
      code,
      plan_id: "plan_abc123",
      landing_url: "https://example.com/join",
      // the visitor's counted click of the hour (itself) and the checkout it opened (none yet)
      first_click_id: first.click_id,
      checkout_url: null,
    });
    // a repeat within the hour points at the first click and reuses its checkout
    await call("set_click_checkout", { p_click_id: first.click_id, p_checkout_url: "https://whop.com/checkout/ch_1" });
    expect(await click(code, "visitor-a")).toMatchObject({
      counted: false,
      first_click_id: first.click_id,
      checkout_url: "https://whop.com/checkout/ch_1",
    });
    expect((await click(code, "visitor-b")).counted).toBe(true);
    const bot = await click(code, "crawler-1", true);
    expect(bot).toMatchObject({ found: true, counted: false, first_click_id: null, checkout_url: null });

    const stored = await rows<{ visitor_hash: string; counted: boolean; is_bot: boolean; country: string }>(
      `select visitor_hash, counted, is_bot, country from public.referral_clicks where company_id = $1 order by created_at`,
      [t.company],
    );
    expect(stored).toEqual([
      { visitor_hash: "visitor-a", counted: true, is_bot: false, country: "US" },
      { visitor_hash: "visitor-a", counted: false, is_bot: false, country: "US" },
      { visitor_hash: "visitor-b", counted: true, is_bot: false, country: "US" },
      { visitor_hash: "crawler-1", counted: false, is_bot: true, country: "US" },
    ]);
    const view = await call("get_member_view", {
      p_company_id: t.company,
      p_user_id: t.referrer,
      p_username: "clicker",
      p_name: null,
    });
    expect(view.funnel).toEqual({ clicks: 2, signups: 0, conversions: 0, active_referrals: 0 });
  });

  it("a repeat click more than an hour later counts again", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "hourly");
    expect((await click(code, "visitor-h")).counted).toBe(true);
    await sql.query(
      `update public.referral_clicks set created_at = now() - interval '61 minutes' where company_id = $1`,
      [t.company],
    );
    expect((await click(code, "visitor-h")).counted).toBe(true);
  });
});

// ── 5. claims ───────────────────────────────────────────────────────────────

describe("claim_referral", () => {
  const claim = (company: string, user: string, code: string) =>
    call("claim_referral", { p_company_id: company, p_user_id: user, p_code: code, p_username: "claimer" });

  it("records who invited a member, once", async () => {
    const t = ids();
    const codeA = await codeOf(t.company, t.referrer, "alice");
    const codeC = await codeOf(t.company, t.other, "carol");
    const r = await claim(t.company, t.referee, ` ${codeA.toLowerCase()} `);
    expect(r).toMatchObject({
      company_id: t.company,
      referrer_user_id: t.referrer,
      referee_user_id: t.referee,
      source: "claim",
      status: "pending",
    });
    await expectDomainError(claim(t.company, t.referee, codeC), 409, "You already have a referrer in this community");
    await expectDomainError(claim(t.company, t.referee, codeA), 409, "You already have a referrer in this community");
    expect(await referral(t.company, t.referee)).toMatchObject({ referrer_user_id: t.referrer, source: "claim" });
  });

  it("refuses the member's own code", async () => {
    const t = ids();
    const own = await codeOf(t.company, t.referrer, "alice");
    await expectDomainError(claim(t.company, t.referrer, own), 400, "You can't use your own referral code");
    expect(await referral(t.company, t.referrer)).toBeUndefined();
  });

  it("refuses a code of another company as unknown here", async () => {
    const t = ids();
    const t2 = ids();
    const foreign = await codeOf(t2.company, t2.referrer, "elsewhere");
    await expectDomainError(claim(t.company, t.referee, foreign), 404, `No referral code "${foreign}" in this community`);
    expect(await referral(t.company, t.referee)).toBeUndefined();
  });

  it("refuses a loop: B joined through A, so B can't become A's referrer", async () => {
    const t = ids();
    const codeA = await codeOf(t.company, t.referrer, "alpha");
    const codeB = await codeOf(t.company, t.referee, "bravo");
    await claim(t.company, t.referee, codeA);
    await expectDomainError(
      claim(t.company, t.referrer, codeB),
      400,
      "That member joined through you, so they can't be your referrer",
    );
    expect(await referral(t.company, t.referrer)).toBeUndefined();
  });

  it("refuses a longer loop: A → B → C, so C can't become A's referrer", async () => {
    const t = ids();
    const codeA = await codeOf(t.company, t.referrer, "alpha");
    const codeB = await codeOf(t.company, t.referee, "bravo");
    const codeC = await codeOf(t.company, t.other, "charlie");
    await claim(t.company, t.referee, codeA);
    await claim(t.company, t.other, codeB);
    await expectDomainError(
      claim(t.company, t.referrer, codeC),
      400,
      "That member joined through you, so they can't be your referrer",
    );
    expect(await referral(t.company, t.referrer)).toBeUndefined();
  });
});

// ── 6. payments and commissions ─────────────────────────────────────────────

describe("process_webhook_event: payment.succeeded", () => {
  it("a $49.99 payment through a code earns the referrer 20% = $10.00, pending for 14 days, and converts the referral", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    const data = payment({ user: t.referee, total: 49.99, code });
    const res = await pay(t.company, data);
    expect(res).toEqual({ duplicate: false, outcome: "commission_created" });

    const c = await commissions(t.company);
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({
      payment_id: data.id,
      beneficiary_user_id: t.referrer,
      level: 1,
      base_amount_cents: 4999,
      rate_bp: 2000,
      amount_cents: 1000,
      currency: "USD",
      status: "pending",
      hold: "14 days",
    });
    // available_at ≈ now + 14 days
    expect(Math.abs(c[0].secs_to_available - 14 * 86400)).toBeLessThan(60);

    expect(await referral(t.company, t.referee)).toEqual({
      status: "converted",
      referrer_user_id: t.referrer,
      source: "link",
      signed_up: false,
      converted: true,
    });
    const p = await rows(
      `select user_id, amount_cents::int, tax_cents::int, currency, referral_id is not null as attributed
       from public.payments where company_id = $1`,
      [t.company],
    );
    expect(p).toEqual([{ user_id: t.referee, amount_cents: 4999, tax_cents: 0, currency: "USD", attributed: true }]);

    const commissionId = (
      await rows<{ id: string }>(`select id::text from public.commissions where company_id = $1`, [t.company])
    )[0].id;
    expect(await ledger(t.company)).toEqual([
      { kind: "payment", user_id: t.referee, amount_cents: 4999, currency: "USD", reference_type: "payment", reference_id: data.id },
      {
        kind: "commission",
        user_id: t.referrer,
        amount_cents: 1000,
        currency: "USD",
        reference_type: "commission",
        reference_id: commissionId,
      },
    ]);
    const ev = await rows(`select type, company_id, outcome from public.webhook_events where company_id = $1`, [t.company]);
    expect(ev).toEqual([{ type: "payment.succeeded", company_id: t.company, outcome: "commission_created" }]);
  });

  it("tax is not commissionable: $110.00 with $10.00 tax earns $20.00", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    expect(await pay(t.company, payment({ user: t.referee, total: 110.0, tax: 10.0, code }))).toEqual({
      duplicate: false,
      outcome: "commission_created",
    });
    const c = await commissions(t.company);
    expect(c.map((x) => [x.base_amount_cents, x.amount_cents])).toEqual([[10000, 2000]]);
    const p = await rows(`select amount_cents::int, tax_cents::int from public.payments where company_id = $1`, [t.company]);
    expect(p).toEqual([{ amount_cents: 11000, tax_cents: 1000 }]);
  });

  it("tiny amounts round to the cent: $0.05 → 1¢; at 25% 10¢ → 2¢ and 30¢ → 7¢ (half down)", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    await pay(t.company, payment({ user: t.referee, total: 0.05, code }));
    expect((await commissions(t.company)).map((x) => [x.base_amount_cents, x.amount_cents])).toEqual([[5, 1]]);

    const u = ids();
    const codeU = await codeOf(u.company, u.referrer, "alice");
    await call("update_program_settings", { p_company_id: u.company, p_settings: { commission_rate_bp: 2500 } });
    await pay(u.company, payment({ id: "pay_a", user: u.referee, total: 0.1, code: codeU }));
    await pay(u.company, payment({ id: "pay_b", user: u.referee, total: 0.3 }));
    expect((await commissions(u.company)).map((x) => [x.payment_id, x.base_amount_cents, x.rate_bp, x.amount_cents])).toEqual([
      ["pay_a", 10, 2500, 2],
      ["pay_b", 30, 2500, 7],
    ]);
  });

  it("the same event delivered again is a duplicate and pays nothing more", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    const data = payment({ user: t.referee, total: 49.99, code });
    const evt = uid("evt_");
    expect(await pay(t.company, data, evt)).toEqual({ duplicate: false, outcome: "commission_created" });
    expect(await pay(t.company, data, evt)).toEqual({ duplicate: true, outcome: "commission_created" });
    // a different event id for the same payment id
    expect(await pay(t.company, data, uid("evt_"))).toEqual({ duplicate: false, outcome: "duplicate_payment" });
    expect((await commissions(t.company)).map((c) => c.amount_cents)).toEqual([1000]);
    expect((await ledger(t.company)).map((l) => l.kind)).toEqual(["payment", "commission"]);
    const ev = await rows(`select count(*)::int as n from public.webhook_events where company_id = $1`, [t.company]);
    expect(ev).toEqual([{ n: 2 }]);
  });

  it("20 concurrent deliveries of one new event make one commission and one event row", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    const data = payment({ user: t.referee, total: 49.99, code });
    const evt = uid("evt_");
    const results = await Promise.all(Array.from({ length: 20 }, () => pay(t.company, data, evt)));
    expect(results.filter((r) => r.duplicate === false)).toEqual([{ duplicate: false, outcome: "commission_created" }]);
    expect(results.filter((r) => r.duplicate === true)).toHaveLength(19);
    expect((await commissions(t.company)).map((c) => c.amount_cents)).toEqual([1000]);
    const ev = await rows(`select count(*)::int as n from public.webhook_events where event_id = $1`, [evt]);
    expect(ev).toEqual([{ n: 1 }]);
    expect((await ledger(t.company)).map((l) => l.kind)).toEqual(["payment", "commission"]);
  });

  it("a referral code of another company attributes nothing", async () => {
    const t = ids();
    const t2 = ids();
    const foreign = await codeOf(t2.company, t2.referrer, "elsewhere");
    expect(await pay(t.company, payment({ user: t.referee, total: 49.99, code: foreign }))).toEqual({
      duplicate: false,
      outcome: "no_attribution",
    });
    expect(await commissions(t.company)).toEqual([]);
    expect(await commissions(t2.company)).toEqual([]);
    expect(await referral(t.company, t.referee)).toBeUndefined();
  });

  it("a buyer paying through their own code is not a referral", async () => {
    const t = ids();
    const own = await codeOf(t.company, t.referee, "buyer");
    expect(await pay(t.company, payment({ user: t.referee, total: 49.99, code: own }))).toEqual({
      duplicate: false,
      outcome: "no_attribution",
    });
    expect(await commissions(t.company)).toEqual([]);
    expect(await referral(t.company, t.referee)).toBeUndefined();
  });

  it("no metadata and no earlier claim: no attribution, but the payment is recorded", async () => {
    const t = ids();
    const data = payment({ user: t.referee, total: 25.0 });
    expect(await pay(t.company, data)).toEqual({ duplicate: false, outcome: "no_attribution" });
    expect(await commissions(t.company)).toEqual([]);
    const p = await rows(
      `select payment_id, user_id, amount_cents::int, currency, referral_id from public.payments where company_id = $1`,
      [t.company],
    );
    expect(p).toEqual([{ payment_id: data.id, user_id: t.referee, amount_cents: 2500, currency: "USD", referral_id: null }]);
    expect(await ledger(t.company)).toEqual([
      { kind: "payment", user_id: t.referee, amount_cents: 2500, currency: "USD", reference_type: "payment", reference_id: data.id },
    ]);
  });

  it("an earlier claim attributes a later payment without metadata", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    await call("claim_referral", { p_company_id: t.company, p_user_id: t.referee, p_code: code, p_username: "bob" });
    expect(await pay(t.company, payment({ user: t.referee, total: 49.99 }))).toEqual({
      duplicate: false,
      outcome: "commission_created",
    });
    expect((await commissions(t.company)).map((c) => [c.beneficiary_user_id, c.amount_cents])).toEqual([[t.referrer, 1000]]);
    expect(await referral(t.company, t.referee)).toMatchObject({ status: "converted", source: "claim" });
  });

  it("a renewal earns again within recurring_months (12), and nothing once recurring_months is 0", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    await pay(t.company, payment({ id: "pay_first", user: t.referee, total: 49.99, code }));
    expect(await pay(t.company, payment({ id: "pay_renew1", user: t.referee, total: 49.99 }))).toEqual({
      duplicate: false,
      outcome: "commission_created",
    });
    expect((await commissions(t.company)).map((c) => [c.payment_id, c.amount_cents])).toEqual([
      ["pay_first", 1000],
      ["pay_renew1", 1000],
    ]);

    const p = await call("update_program_settings", { p_company_id: t.company, p_settings: { recurring_months: 0 } });
    expect(p.recurring_months).toBe(0);
    expect(await pay(t.company, payment({ id: "pay_renew2", user: t.referee, total: 49.99 }))).toEqual({
      duplicate: false,
      outcome: "outside_recurring_window",
    });
    expect((await commissions(t.company)).map((c) => c.payment_id)).toEqual(["pay_first", "pay_renew1"]);
    // the renewal itself is still recorded
    const n = await rows(`select count(*)::int as n from public.payments where company_id = $1`, [t.company]);
    expect(n).toEqual([{ n: 3 }]);
  });

  it("a pending referral past its window expires instead of converting", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    await call("claim_referral", { p_company_id: t.company, p_user_id: t.referee, p_code: code, p_username: "bob" });
    await sql.query(
      `update public.referrals set expires_at = now() - interval '1 day' where company_id = $1 and referee_user_id = $2`,
      [t.company, t.referee],
    );
    expect(await pay(t.company, payment({ user: t.referee, total: 49.99 }))).toEqual({
      duplicate: false,
      outcome: "referral_expired",
    });
    expect(await referral(t.company, t.referee)).toMatchObject({ status: "expired", converted: false });
    expect(await commissions(t.company)).toEqual([]);
    expect((await ledger(t.company)).map((l) => l.kind)).toEqual(["payment"]);
  });

  it("with hold_days 0 the commission is available at once", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    await call("update_program_settings", { p_company_id: t.company, p_settings: { hold_days: 0 } });
    await pay(t.company, payment({ user: t.referee, total: 49.99, code }));
    const c = await commissions(t.company);
    expect(c.map((x) => [x.status, x.amount_cents, x.hold])).toEqual([["available", 1000, "00:00:00"]]);
  });

  it("a JPY payment of ¥1500 earns ¥300 (no minor units)", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    await pay(t.company, payment({ user: t.referee, total: 1500, currency: "jpy", code }));
    const c = await commissions(t.company);
    expect(c.map((x) => [x.base_amount_cents, x.amount_cents, x.currency])).toEqual([[1500, 300, "JPY"]]);
    const p = await rows(`select amount_cents::int, currency from public.payments where company_id = $1`, [t.company]);
    expect(p).toEqual([{ amount_cents: 1500, currency: "JPY" }]);
  });
});

// ── 7. signups and the member funnel ────────────────────────────────────────

describe("membership.activated and the member funnel", () => {
  it("counts a signup, then the payment counts the conversion", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    const membership = {
      id: uid("mem_"),
      status: "active",
      user: { id: t.referee, username: "bobby", name: "Bob" },
      metadata: { referral_code: code },
    };
    expect(await webhook(uid("evt_"), "membership.activated", t.company, membership)).toEqual({
      duplicate: false,
      outcome: "signup_counted",
    });
    expect(await referral(t.company, t.referee)).toMatchObject({ status: "pending", signed_up: true, converted: false });
    // a second activation does not count twice
    expect(await webhook(uid("evt_"), "membership.activated", t.company, membership)).toEqual({
      duplicate: false,
      outcome: "signup_already_counted",
    });

    const view = () =>
      call("get_member_view", { p_company_id: t.company, p_user_id: t.referrer, p_username: "alice", p_name: null });
    const v1 = await view();
    expect(v1.code).toBe(code);
    expect(v1.funnel).toEqual({ clicks: 0, signups: 1, conversions: 0, active_referrals: 0 });
    expect(v1.earnings).toEqual([]);
    expect(v1.referrals).toMatchObject([{ referee: "bobby", status: "pending", source: "link", converted_at: null }]);

    await pay(t.company, payment({ user: t.referee, total: 49.99 }));
    const v2 = await view();
    expect(v2.funnel).toEqual({ clicks: 0, signups: 1, conversions: 1, active_referrals: 1 });
    expect(v2.earnings).toEqual([{ currency: "USD", total_earnings: 1000, pending_earnings: 1000, paid_earnings: 0 }]);
    expect(v2.referrals).toMatchObject([{ status: "converted" }]);
    expect(v2.program).toEqual({ currency: "USD", min_payout_cents: 1000, timezone: "UTC" });
  });
});

// ── 8. earnings ─────────────────────────────────────────────────────────────

describe("get_user_referral_earnings", () => {
  it("total = pending + available + paid; pending = pending + available; one row per currency", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "alice");
    // commissions of 200, 400, 800, 1600, 3200, 6400 cents, and ¥200
    const usd: [string, number, string][] = [
      ["pay_pending", 10, "pending"],
      ["pay_available", 20, "available"],
      ["pay_paid", 40, "paid"],
      ["pay_on_hold", 80, "on_hold"],
      ["pay_reversed", 160, "reversed"],
      ["pay_cancelled", 320, "cancelled"],
    ];
    for (const [i, [id, total]] of usd.entries()) {
      const res = await pay(t.company, payment({ id, user: t.referee, total, code: i === 0 ? code : undefined }));
      expect(res.outcome).toBe("commission_created");
    }
    await pay(t.company, payment({ id: "pay_yen", user: t.referee, total: 1000, currency: "jpy" }));
    for (const [id, , status] of usd) {
      await sql.query(`update public.commissions set status = $3 where company_id = $1 and payment_id = $2`, [
        t.company,
        id,
        status,
      ]);
    }
    const amounts = await rows(
      `select payment_id, amount_cents::int, status from public.commissions where company_id = $1 order by amount_cents, currency`,
      [t.company],
    );
    expect(amounts).toEqual([
      { payment_id: "pay_yen", amount_cents: 200, status: "pending" },
      { payment_id: "pay_pending", amount_cents: 200, status: "pending" },
      { payment_id: "pay_available", amount_cents: 400, status: "available" },
      { payment_id: "pay_paid", amount_cents: 800, status: "paid" },
      { payment_id: "pay_on_hold", amount_cents: 1600, status: "on_hold" },
      { payment_id: "pay_reversed", amount_cents: 3200, status: "reversed" },
      { payment_id: "pay_cancelled", amount_cents: 6400, status: "cancelled" },
    ]);

    const earnings = await call("get_user_referral_earnings", { p_company_id: t.company, p_user_id: t.referrer });
    expect(earnings).toEqual([
      { currency: "JPY", total_earnings: 200, pending_earnings: 200, paid_earnings: 0 },
      { currency: "USD", total_earnings: 1400, pending_earnings: 600, paid_earnings: 800 },
    ]);
    // someone who earned nothing has no rows
    expect(await call("get_user_referral_earnings", { p_company_id: t.company, p_user_id: t.other })).toEqual([]);
  });
});

// ── 9. security ─────────────────────────────────────────────────────────────

describe("security", () => {
  const coreTables = [
    "commissions",
    "payments",
    "programs",
    "referral_clicks",
    "referral_codes",
    "referrals",
    "transactions",
    "users",
    "webhook_events",
  ];

  it("every table in schema public has row level security enabled", async () => {
    const tables = await rows<{ relname: string; rls: boolean }>(
      `select c.relname, c.relrowsecurity as rls from pg_class c
       where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') order by c.relname`,
    );
    expect(tables.map((r) => r.relname)).toEqual(expect.arrayContaining(coreTables));
    expect(tables.filter((r) => !r.rls).map((r) => r.relname)).toEqual([]);
  });

  it("anon and authenticated have no privilege on any table and cannot execute any function", async () => {
    const tablePrivs = await rows(
      `select r.rolname, c.relname from pg_class c cross join (values ('anon'), ('authenticated')) r(rolname)
       where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
         and has_table_privilege(r.rolname, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')`,
    );
    expect(tablePrivs).toEqual([]);
    const fns = await rows<{ fn: string }>(
      `select p.oid::regprocedure::text as fn from pg_proc p where p.pronamespace = 'public'::regnamespace`,
    );
    expect(fns.length).toBeGreaterThanOrEqual(15);
    const fnPrivs = await rows(
      `select r.rolname, p.oid::regprocedure::text as fn from pg_proc p cross join (values ('anon'), ('authenticated')) r(rolname)
       where p.pronamespace = 'public'::regnamespace and has_function_privilege(r.rolname, p.oid, 'EXECUTE')`,
    );
    expect(fnPrivs).toEqual([]);
  });

  it("service_role executes the write and read API", async () => {
    const r = await rows<{ fn: string; ok: boolean }>(
      `select f as fn, has_function_privilege('service_role', f, 'EXECUTE') as ok from unnest(array[
         'public.process_webhook_event(text,text,text,jsonb)',
         'public.get_member_view(text,text,text,text)',
         'public.claim_referral(text,text,text,text)',
         'public.record_click(text,text,text,text,text,boolean,text,text,text)',
         'public.get_user_referral_earnings(text,text)']) f`,
    );
    expect(r.filter((x) => !x.ok)).toEqual([]);
    expect(r).toHaveLength(5);
  });

  it("as anon, reading a table or calling a function is refused", async () => {
    const client = await sql.connect();
    try {
      for (const stmt of ["select * from public.commissions", "select public.get_program('biz_anon')"]) {
        await client.query("begin");
        await client.query("set local role anon");
        const err = await client.query(stmt).then(
          () => null,
          (e: { code?: string }) => e,
        );
        await client.query("rollback");
        expect(err?.code, stmt).toBe("42501");
      }
    } finally {
      client.release();
    }
  });

  it("transactions is append-only: UPDATE and DELETE raise and change nothing", async () => {
    const t = ids();
    const data = payment({ user: t.referee, total: 12.34 });
    await pay(t.company, data);
    const upd = await sql
      .query(`update public.transactions set amount_cents = 1 where company_id = $1`, [t.company])
      .then(() => null, (e: { code?: string; message?: string }) => e);
    expect(upd).toMatchObject({ code: "RL409", message: "transactions is append-only" });
    const del = await sql
      .query(`delete from public.transactions where company_id = $1`, [t.company])
      .then(() => null, (e: { code?: string; message?: string }) => e);
    expect(del).toMatchObject({ code: "RL409", message: "transactions is append-only" });
    expect(await ledger(t.company)).toEqual([
      { kind: "payment", user_id: t.referee, amount_cents: 1234, currency: "USD", reference_type: "payment", reference_id: data.id },
    ]);
  });
});

// ── 10. bad input ───────────────────────────────────────────────────────────

describe("bad input writes nothing", () => {
  it("payment.succeeded without a user is refused (400) and leaves no event row", async () => {
    const t = ids();
    const evt = uid("evt_");
    const { user: _drop, ...noUser } = payment({ user: t.referee, total: 49.99 });
    await expectDomainError(
      webhook(evt, "payment.succeeded", t.company, noUser),
      400,
      "payment needs id, user.id, currency and a numeric total",
    );
    expect(await rows(`select event_id from public.webhook_events where event_id = $1`, [evt])).toEqual([]);
    expect(await rows(`select payment_id from public.payments where company_id = $1`, [t.company])).toEqual([]);
    // Whop retries the same event later with good data: it is processed, not a duplicate
    expect(await webhook(evt, "payment.succeeded", t.company, payment({ user: t.referee, total: 49.99 }))).toEqual({
      duplicate: false,
      outcome: "no_attribution",
    });
  });

  it("payment.succeeded with a string total or no currency is refused (400) and leaves no event row", async () => {
    const t = ids();
    for (const bad of [
      { ...payment({ user: t.referee, total: 1 }), total: "49.99" },
      { ...payment({ user: t.referee, total: 49.99 }), currency: null },
    ]) {
      const evt = uid("evt_");
      const err = await webhook(evt, "payment.succeeded", t.company, bad).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).status).toBe(400);
      expect(await rows(`select event_id from public.webhook_events where event_id = $1`, [evt])).toEqual([]);
    }
    expect(await rows(`select payment_id from public.payments where company_id = $1`, [t.company])).toEqual([]);
  });
});
