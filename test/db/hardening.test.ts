/**
 * Hardening (supabase/schemas/00_core.sql), on the test
 * Postgres through the typed rpc: retired codes stay their owner's, a member who has paid
 * can't add a referrer (no cash-back through an accomplice's code), landing URLs are https,
 * and database refusals reach users in plain words (lib/db/errors.ts).
 */
import { afterAll, describe, expect, inject, it } from "vitest";
import { call, codeOf, expectDomainError, ids, pay, paymentData, pool, sqlDb, sqlRows as rows, uid } from "../helpers";
import { click } from "../world";

const sql = pool(inject("sqlDbUrl"));
afterAll(async () => {
  await sqlDb().close();
  await sql.end();
});

const commissionsOf = (company: string) =>
  rows<{ beneficiary_user_id: string; amount_cents: string }>(
    `select beneficiary_user_id, amount_cents::text from public.commissions where company_id = $1 order by created_at`,
    [company],
  );

describe("retired codes", () => {
  it("a changed code keeps attributing to its owner (clicks, checkout metadata, claims) and nobody else can take it", async () => {
    const t = ids();
    const old = await codeOf(t.company, t.referrer, "alice");
    const vanity = `AL${uid().slice(0, 8)}`;
    expect(await call("set_referral_code", { p_company_id: t.company, p_user_id: t.referrer, p_code: vanity })).toEqual({ code: vanity });

    // the old link still works and counts for alice, under her current code
    const k = await click(old.toLowerCase());
    expect(k).toMatchObject({ found: true, counted: true, company_id: t.company, code: vanity });
    const [owner] = await rows<{ user_id: string }>(
      `select c.user_id from public.referral_clicks k join public.referral_codes c on c.id = k.code_id where k.id = $1`,
      [k.click_id],
    );
    expect(owner.user_id).toBe(t.referrer);

    // a payment whose checkout carried the old code pays alice
    expect((await pay(t.company, paymentData({ user: t.referee, total: 50, code: old }))).outcome).toBe("commission_created");
    expect(await commissionsOf(t.company)).toEqual([{ beneficiary_user_id: t.referrer, amount_cents: "1000" }]);

    // a claim with the old code is a claim on alice
    const ref = await call("claim_referral", { p_company_id: t.company, p_user_id: t.other, p_code: old, p_username: "bob" });
    expect(ref.referrer_user_id).toBe(t.referrer);

    // someone else (any company, any case) can't take it; alice can take it back
    const u = ids();
    await codeOf(u.company, u.referrer, "mallory");
    await expectDomainError(
      call("set_referral_code", { p_company_id: u.company, p_user_id: u.referrer, p_code: old.toLowerCase() }),
      409,
      `The code ${old.toLowerCase()} is taken`,
    );
    expect(await call("set_referral_code", { p_company_id: t.company, p_user_id: t.referrer, p_code: old })).toEqual({ code: old });
    // now the vanity one is retired to her
    expect((await click(vanity)).code).toBe(old);
    await expectDomainError(
      call("set_referral_code", { p_company_id: u.company, p_user_id: u.referrer, p_code: vanity }),
      409,
      `The code ${vanity} is taken`,
    );
    const retired = await rows(`select code from public.retired_codes where company_id = $1 order by retired_at`, [t.company]);
    expect(retired).toEqual([{ code: vanity }]);
  });

  it("a switched-off code's retired codes are off too", async () => {
    const t = ids();
    const old = await codeOf(t.company, t.referrer, "carol");
    await call("set_referral_code", { p_company_id: t.company, p_user_id: t.referrer, p_code: `CA${uid().slice(0, 8)}` });
    await call("set_code_active", { p_company_id: t.company, p_user_id: t.referrer, p_active: false });
    expect(await click(old)).toEqual({ found: false });
    expect((await pay(t.company, paymentData({ user: t.referee, total: 50, code: old }))).outcome).toBe("no_attribution");
  });
});

describe("late claims", () => {
  it("a member who has already paid can't add a referrer, and their renewals pay nobody", async () => {
    const t = ids();
    const accomplice = await codeOf(t.company, t.referrer, "accomplice");
    expect((await pay(t.company, paymentData({ user: t.referee, total: 100 }))).outcome).toBe("no_attribution");
    await expectDomainError(
      call("claim_referral", { p_company_id: t.company, p_user_id: t.referee, p_code: accomplice, p_username: "member" }),
      409,
      "You've already paid in this community, so a referrer can't be added now",
    );
    expect(await rows(`select 1 from public.referrals where company_id = $1`, [t.company])).toEqual([]);
    expect((await pay(t.company, paymentData({ user: t.referee, total: 100 }))).outcome).toBe("no_attribution");
    expect(await commissionsOf(t.company)).toEqual([]);
    // no welcome points for the member either
    expect(await rows(`select 1 from public.transactions where company_id = $1 and kind = 'points'`, [t.company])).toEqual([]);
  });

  it("a claim before the first payment still works and earns on that payment", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer, "friend");
    await call("claim_referral", { p_company_id: t.company, p_user_id: t.referee, p_code: code, p_username: "member" });
    expect((await pay(t.company, paymentData({ user: t.referee, total: 100 }))).outcome).toBe("commission_created");
    expect(await commissionsOf(t.company)).toEqual([{ beneficiary_user_id: t.referrer, amount_cents: "2000" }]);
  });
});

describe("landing URLs and plain error messages", () => {
  const save = (company: string, s: Record<string, unknown>) =>
    call("update_program_settings", { p_company_id: company, p_settings: s });

  it("only a full https URL is saved; anything else is refused in plain words and writes nothing", async () => {
    const t = ids();
    await save(t.company, { landing_url: "https://example.com/join?from=ref#top" });
    for (const bad of ["http://[", "http://example.com/join", "javascript:alert(1)", "https://", "https:///x", "https://exa mple.com", "//example.com"]) {
      await expectDomainError(
        save(t.company, { landing_url: bad }),
        400,
        "The landing URL must be a full https:// address (like https://example.com/join)",
      );
    }
    const [p] = await rows<{ landing_url: string }>(`select landing_url from public.programs where company_id = $1`, [t.company]);
    expect(p.landing_url).toBe("https://example.com/join?from=ref#top");
    await save(t.company, { landing_url: "" });
  });

  it("a database refusal never shows table or constraint names", async () => {
    const t = ids();
    await expectDomainError(save(t.company, { hold_days: -1 }), 400, "The hold days value is not allowed");
    await expectDomainError(save(t.company, { commission_rate_bp: "lots" }), 400, "A value has the wrong format");
    await expectDomainError(save(t.company, { commission_rate_bp: 1e12 }), 400, /^A (number is too large|value has the wrong format)$/);
  });
});
