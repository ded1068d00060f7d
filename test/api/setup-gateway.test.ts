/**
 * The setup checklist's Whop look-ups (lib/whop/gateway.ts): the real @whop/sdk talking
 * HTTP to the Whop stand-in (lib/demo/sandbox.ts) that the global setup started.
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import { NotFoundError } from "@whop/sdk";
import { ids, whopRequests, whopState } from "../helpers";
import type { SandboxPlan } from "../../lib/demo/sandbox";

let gateway: typeof import("../../lib/whop/gateway");

beforeAll(async () => {
  // the app's whop() client reads these once, on first use
  process.env.WHOP_BASE_URL = `${inject("sandboxUrl")}/api/v1`;
  process.env.WHOP_API_KEY = "test_api_key";
  process.env.NEXT_PUBLIC_WHOP_APP_ID = inject("appId");
  gateway = await import("../../lib/whop/gateway");
});

const plan = (id: string, over: Partial<SandboxPlan> = {}): SandboxPlan => ({
  id,
  title: null,
  initial_price: 49.99,
  renewal_price: 49.99,
  currency: "usd",
  billing_period: 30,
  plan_type: "renewal",
  product: { id: `prod_${id}`, title: "Pro membership" },
  ...over,
});

describe("listCompanyPlans", () => {
  it("lists the company's own plans with exact prices and labels, not another company's, nor archived ones", async () => {
    const a = ids().company;
    const b = ids().company;
    await whopState({
      companies: { [a]: { title: "A" }, [b]: { title: "B" } },
      plans: {
        [a]: [
          plan("plan_monthly", { title: "Monthly" }),
          plan("plan_setup", { initial_price: 10, renewal_price: 19.9, billing_period: 365 }),
          plan("plan_once", { title: "Lifetime", initial_price: 299, renewal_price: 0, billing_period: null, plan_type: "one_time" }),
          plan("plan_old", { title: "Old", visibility: "archived" }),
        ],
        [b]: [plan("plan_b_only", { title: "B's" })],
      },
    });
    const plans = await gateway.listCompanyPlans(a);
    expect(plans.map((p) => p.id)).toEqual(["plan_monthly", "plan_setup", "plan_once"]);
    expect(plans[0]).toMatchObject({
      title: "Monthly",
      product: "Pro membership",
      currency: "USD",
      initial_cents: 4999,
      renewal_cents: 4999,
      billing_period_days: 30,
      label: "$49.99 / month",
    });
    // untitled plans fall back to the product's title
    expect(plans[1]).toMatchObject({ title: "Pro membership", initial_cents: 1000, renewal_cents: 1990, label: "$10.00 then $19.90 / year" });
    expect(plans[2]).toMatchObject({ title: "Lifetime", billing_period_days: null, label: "$299.00 once" });
  });

  it("follows Whop's cursor pages and stops at MAX_PLANS", async () => {
    const c = ids().company;
    const many = Array.from({ length: gateway.MAX_PLANS + 5 }, (_, i) => plan(`plan_${i}`, { title: `P${i}` }));
    // two archived plans on the first page push the 100th listable plan onto the second page
    many[0].visibility = "archived";
    many[1].visibility = "archived";
    await whopState({ companies: { [c]: { title: "Big" } }, plans: { [c]: many } });
    const plans = await gateway.listCompanyPlans(c);
    expect(plans).toHaveLength(gateway.MAX_PLANS);
    expect(plans[0].id).toBe("plan_2");
    expect(plans.at(-1)!.id).toBe(`plan_${gateway.MAX_PLANS + 1}`);
  });

  it("a company with no plans lists none; an unknown company is Whop's NotFoundError", async () => {
    const c = ids().company;
    await whopState({ companies: { [c]: { title: "Empty" } } });
    expect(await gateway.listCompanyPlans(c)).toEqual([]);
    await expect(gateway.listCompanyPlans(ids().company)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("companyStoreUrl", () => {
  it("is https://whop.com/<route>, cached per company", async () => {
    const c = ids().company;
    await whopState({ companies: { [c]: { title: "Acme", route: "acme" } } });
    expect(await gateway.companyStoreUrl(c)).toBe("https://whop.com/acme");
    const path = `/companies/${c}`;
    const before = (await whopRequests()).filter((r) => r.path === path).length;
    // a changed route is seen only after the cache expires: the hot /r path asks Whop once
    await whopState({ companies: { [c]: { title: "Acme", route: "acme-2" } } });
    expect(await gateway.companyStoreUrl(c)).toBe("https://whop.com/acme");
    expect((await whopRequests()).filter((r) => r.path === path).length).toBe(before);
  });

  it("refuses a route that is not a plain slug (no open redirect) and is NotFoundError for an unknown company", async () => {
    const c = ids().company;
    for (const route of ["//evil.example", "@evil.example", "a/../b", "x?y", ""]) {
      const d = `${c}${route.length}${Math.random().toString(36).slice(2, 6)}`;
      await whopState({ companies: { [d]: { title: "Bad", route } } });
      await expect(gateway.companyStoreUrl(d), route).rejects.toThrow(/unusable store route/);
    }
    await expect(gateway.companyStoreUrl(ids().company)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("companyLedgerAccount", () => {
  it("is the company's ldgr_ account with balances in exact minor units", async () => {
    const c = ids().company;
    await whopState({
      companies: { [c]: { title: "Rich" } },
      ledgerAccounts: {
        [c]: {
          id: "ldgr_rich",
          balances: [
            { currency: "usd", balance: 1234.56 },
            { currency: "eur", balance: 0.29 },
            { currency: "jpy", balance: 5000 },
            { currency: "usdt", balance: 3.5 },
          ],
        },
      },
    });
    expect(await gateway.companyLedgerAccount(c)).toEqual({
      id: "ldgr_rich",
      balances: [
        { currency: "USD", balance_cents: 123456 },
        { currency: "EUR", balance_cents: 29 },
        { currency: "JPY", balance_cents: 5000 },
      ],
    });
  });

  it("is null when Whop has no account for the company or the app may not read it", async () => {
    expect(await gateway.companyLedgerAccount(ids().company)).toBeNull();
    const c = ids().company;
    await whopState({
      companies: { [c]: { title: "Private" } },
      ledgerAccounts: { [c]: { id: "ldgr_private", balances: [] } },
      fail: { [`GET /ledger_accounts/${c}`]: { status: 403, message: "missing company:balance:read" } },
    });
    expect(await gateway.companyLedgerAccount(c)).toBeNull();
    await whopState({ fail: { [`GET /ledger_accounts/${c}`]: null } as any });
    expect(await gateway.companyLedgerAccount(c)).toEqual({ id: "ldgr_private", balances: [] });
  });
});

describe("amountToMinorUnits", () => {
  it("converts Whop's decimal amounts exactly, rounding half down like SQL to_minor_units", () => {
    const f = gateway.amountToMinorUnits;
    expect(f(0.29, "USD")).toBe(29); // 0.29 * 100 = 28.999999999999996 in floats
    expect(f(1234.56, "usd")).toBe(123456);
    expect(f(19.99, "USD")).toBe(1999);
    expect(f(5000, "JPY")).toBe(5000);
    expect(f(1.234, "KWD")).toBe(1234);
    expect(f(0.005, "USD")).toBe(0);
    expect(f(0.0051, "USD")).toBe(1);
    expect(f(-2.505, "USD")).toBe(-250);
    expect(f(1e-7, "USD")).toBe(0);
    expect(f(0, "USD")).toBe(0);
    expect(() => f(Number.NaN, "USD")).toThrow();
    expect(() => f(1e21, "USD")).toThrow();
  });
});
