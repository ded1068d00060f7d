/**
 * Analytics lists: keyset pagination of members (every sort, search), list_commissions' level
 * filter, the member's Home (get_member_view), tenancy, and malformed cursors.
 * Run for real on the test Postgres (referly_sql) through the same pg backend and typed
 * `rpc` the app uses. Data is seeded only through the real SQL functions; to put rows on
 * given days the test moves their timestamps in SQL and rebuilds the rollups (the ledger is
 * append-only, so its rows are moved with triggers off for that transaction only).
 * check_analytics must be ok after every scenario. Set-up lives in test/world.ts and
 * test/db/analytics.world.ts.
 */
import { afterAll, describe, expect, it } from "vitest";
import { DomainError } from "../../lib/db";
import { displayField } from "../../lib/referrals";
import { call, codeOf, expectDomainError, ids, rejection, sqlDb, sqlRows as rows, uid } from "../helpers";
import { expectConsistent, refund, settings } from "../world";
import {
  sql,
  type Json,
  rebuild,
  overview,
  list,
  pages,
  detail,
  memberRow,
  memberView,
  click,
  buy,
  membership,
  moveReferral,
  plusDays,
  todayUtc,
  keysetOrder,
} from "./analytics.world";

afterAll(async () => {
  await sqlDb().close();
  await sql.end();
});

// ── 2. keyset pagination of members ─────────────────────────────────────────

describe("list_members: keyset pages, every sort, and search", () => {
  it("limit 2 over 5 members: each member exactly once, in order, for every sort, ascending and descending", async () => {
    const s = uid();
    const company = `biz_${s}`;
    const [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map((x) => `user_${x}${s}`);
    const names: Record<string, string> = { [a]: "pag_alpha", [b]: "pag_bravo", [c]: "pag_charlie", [d]: "pag_delta", [e]: "pagxecho" };
    const codeA = await codeOf(company, a, names[a]);
    const codeB = await codeOf(company, b, names[b]);
    const codeC = await codeOf(company, c, names[c]);
    // A ← B, A ← C, B ← D, C ← E; A has 3 clicks, C 1
    for (const [k, code] of [codeA, codeA, codeA, codeC].entries()) {
      expect((await click(code, `pv${k}${s}`, null, "US")).counted).toBe(true);
    }
    const claim = (user: string, code: string) =>
      call("claim_referral", { p_company_id: company, p_user_id: user, p_code: code, p_username: names[user] });
    await claim(b, codeA);
    await claim(c, codeA);
    await claim(d, codeB);
    await claim(e, codeC);
    // B and C pay 10.00 (A: revenue 2000, earned 400), D pays 50.00 (B: 5000, 1000), E pays 30.00 (C: 3000, 600)
    for (const [u, total] of [[b, 10], [c, 10], [d, 50], [e, 30]] as const) {
      expect((await buy(company, u, names[u], total)).outcome).toBe("commission_created");
    }
    await expectConsistent(company);

    const values: Record<string, Record<string, number>> = {
      [a]: { conversions: 2, clicks: 3, signups: 2, active_referrals: 2, revenue: 2000, earned: 400, paid: 0, available: 0 },
      [b]: { conversions: 1, clicks: 0, signups: 1, active_referrals: 1, revenue: 5000, earned: 1000, paid: 0, available: 0 },
      [c]: { conversions: 1, clicks: 1, signups: 1, active_referrals: 1, revenue: 3000, earned: 600, paid: 0, available: 0 },
      [d]: { conversions: 0, clicks: 0, signups: 0, active_referrals: 0, revenue: 0, earned: 0, paid: 0, available: 0 },
      [e]: { conversions: 0, clicks: 0, signups: 0, active_referrals: 0, revenue: 0, earned: 0, paid: 0, available: 0 },
    };
    const col: Record<string, string> = { revenue: "revenue_cents", earned: "earned_cents", paid: "paid_cents", available: "available_cents" };
    for (const u of Object.keys(values)) {
      const m = await memberRow(company, u);
      for (const [k, v] of Object.entries(values[u])) expect(m[col[k] ?? k], `${names[u]} ${k}`).toBe(v);
    }

    for (const sort of ["conversions", "revenue", "clicks", "signups", "active_referrals", "earned", "paid", "available"]) {
      for (const dir of ["desc", "asc"] as const) {
        const got = await pages("list_members", company, { sort, dir }, 2);
        const want = keysetOrder(Object.keys(values), (u) => values[u][sort], (u) => u, dir);
        expect(got.map((p) => p.map((r) => r.user_id)), `${sort} ${dir}`).toEqual([want.slice(0, 2), want.slice(2, 4), want.slice(4)]);
      }
    }
    // the default: conversions, descending
    expect((await pages("list_members", company, {}, 2)).flat().map((r) => r.user_id)).toEqual([a, c, b, e, d]);

    // search: username prefix (case-insensitive, _ and % taken literally) or the exact code
    const search = async (q: string) => {
      const page = await list("list_members", company, { q });
      expect(page.next).toBeNull();
      return page.rows.map((r: Json) => r.user_id).sort();
    };
    expect(await search("pag_")).toEqual([a, b, c, d]);
    expect(await search("PAG_B")).toEqual([b]);
    expect(await search("pagx")).toEqual([e]);
    expect(await search("pag")).toEqual([a, b, c, d, e]);
    expect(await search("%")).toEqual([]);
    expect(await search("p_g")).toEqual([]);
    expect(await search(codeC.toLowerCase())).toEqual([c]);
    expect(await search(` ${codeB} `)).toEqual([b]);
    expect(await search(codeC.slice(0, -1))).toEqual([]);
    expect((await list("list_members", company, { q: "pag_charlie" })).rows).toEqual([await memberRow(company, c)]);
    await expectDomainError(list("list_members", company, { sort: "bogus" }), 400, 'Unknown sort "bogus"');
  });

  it("a search with more than 50 matches gives the member whose code it is, then the first usernames in byte order, 50 in all", async () => {
    const s = uid();
    const company = `biz_${s}`;
    // 60 members created out of order, names in mixed case; '_' sorts before letters in byte order
    const names = Array.from({ length: 60 }, (_, i) => `Many${s}${i % 2 ? "_" : "x"}${String(i).padStart(2, "0")}`);
    const users = names.map((_, i) => `user_n${i}${s}`);
    for (const i of [...names.keys()].sort((x, y) => ((x * 37) % 60) - ((y * 37) % 60))) await codeOf(company, users[i], names[i]);
    const other = `user_o${s}`;
    const code = await codeOf(company, other, `someone${s}`);
    // the prefix and the other member's code are the same text, as a typed search may be
    await call("set_referral_code", { p_company_id: company, p_user_id: other, p_code: `many${s}` });
    const page = await list("list_members", company, { q: `MANY${s}` });
    const byteOrder = [...names.keys()].sort((x, y) => (names[x].toLowerCase() < names[y].toLowerCase() ? -1 : 1));
    expect(page.rows.map((r: Json) => r.user_id)).toEqual([other, ...byteOrder.slice(0, 49).map((i) => users[i])]);
    expect(page.next).toBeNull();
    expect(code).not.toBe(`many${s}`);
  });

  it("a name at the longest Referly keeps (200 characters that do not compress) fits users' key, and the member is found by it", async () => {
    const s = uid();
    const company = `biz_${s}`;
    const user = `user_long${s}`;
    // 4-byte characters in no pattern: 800 bytes each for username and name in the key's entry
    const wide = (seed: number) => displayField(Array.from({ length: 400 }, (_, i) => String.fromCodePoint(0x1f300 + ((i * 7919 + seed) % 700))).join(""));
    const [username, name] = [wide(1), wide(2)];
    expect([...username].length).toBe(100); // 200 UTF-16 units
    await call("get_member_view", { p_company_id: company, p_user_id: user, p_username: username, p_name: name });
    expect((await sql.query(`select username, name from public.users where company_id = $1 and user_id = $2`, [company, user])).rows[0]).toEqual({ username, name });
    expect((await list("list_members", company, { q: username.slice(0, 10) })).rows.map((r: Json) => r.user_id)).toEqual([user]);
  });
});

// ── 3. list_commissions: levels ─────────────────────────────────────────────

describe("list_commissions: level filter with multi-level commissions", () => {
  it("level 1 and level 2 rows, by member, and pages of 1", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 2 });
    // referrer ← other ← referee: other's referee pays 100.00 and 60.00
    await call("claim_referral", {
      p_company_id: t.company,
      p_user_id: t.other,
      p_code: await codeOf(t.company, t.referrer, "upline"),
      p_username: "middle",
    });
    const code = await codeOf(t.company, t.other, "middle");
    await buy(t.company, t.referee, "payer", 100, { referral_code: code });
    await buy(t.company, t.referee, "payer", 60);
    const brief = async (filter: Record<string, unknown>) =>
      (await list("list_commissions", t.company, filter)).rows.map((r: Json) => [r.beneficiary, r.level, r.rate_bp, r.amount_cents]);
    expect(await brief({ level: 1, sort: "amount" })).toEqual([
      ["middle", 1, 2000, 2000],
      ["middle", 1, 2000, 1200],
    ]);
    expect(await brief({ level: 2, sort: "amount" })).toEqual([
      ["upline", 2, 500, 500],
      ["upline", 2, 500, 300],
    ]);
    expect(await brief({ level: 2, member: "middle" })).toEqual([]);
    expect(await brief({ level: 2, member: "UPLINE", sort: "amount", dir: "asc" })).toEqual([
      ["upline", 2, 500, 300],
      ["upline", 2, 500, 500],
    ]);
    const got = await pages("list_commissions", t.company, { level: 2, sort: "amount" }, 1);
    expect(got.map((p) => p.map((r) => r.amount_cents))).toEqual([[500], [300]]);
    // the upline earns without a conversion of their own
    expect(await memberRow(t.company, t.referrer)).toMatchObject({ conversions: 0, signups: 0, earned_cents: 800, pending_cents: 800 });
    expect(await memberRow(t.company, t.other)).toMatchObject({ conversions: 1, revenue_cents: 16000, earned_cents: 3200 });
    await expectConsistent(t.company);
  });
});

// ── 5. the member's Home ────────────────────────────────────────────────────

describe("get_member_view", () => {
  it("funnel with active referrals, this month's net commissions and the 30-day series", async () => {
    const t = ids();
    const [x, y, z] = ["x", "y", "z"].map((v) => `user_${v}${t.company.slice(4)}`);
    const code = await codeOf(t.company, t.referrer, "rita");
    const k = await click(code, `mv${t.company}`, "https://twitter.com/rita", "US");
    // x pays 100.00 today (2000); y 50.00 ten days ago (1000); z 30.00 forty days ago (600)
    expect((await buy(t.company, x, "xavier", 100, { referral_code: code, click_id: k.click_id })).outcome).toBe("commission_created");
    expect((await buy(t.company, y, "yara", 50, { referral_code: code })).outcome).toBe("commission_created");
    const zp = await buy(t.company, z, "zoe", 30, { referral_code: code });
    expect(zp.outcome).toBe("commission_created");
    await moveReferral(t.company, y, new Date(Date.now() - 10 * 86_400_000).toISOString());
    await moveReferral(t.company, z, new Date(Date.now() - 40 * 86_400_000).toISOString());
    await rebuild(t.company);
    // a 15.00 refund of z's old payment today: −300 today
    expect((await refund(t.company, zp.id, 15)).outcome).toBe("refund_reversed");
    await expectConsistent(t.company);

    const [cal] = await rows<{ today: string; d10: string; d10_this_month: boolean }>(
      `select (now() at time zone 'UTC')::date::text as today,
              ((now() - interval '10 days') at time zone 'UTC')::date::text as d10,
              ((now() - interval '10 days') at time zone 'UTC')::date >= date_trunc('month', now() at time zone 'UTC')::date as d10_this_month`,
    );
    const v = await memberView(t.company, t.referrer, "rita");
    expect(v.code).toBe(code);
    expect(v.code_active).toBe(true);
    expect(v.funnel).toEqual({ clicks: 1, signups: 3, conversions: 3, active_referrals: 3 });
    expect(v.earnings).toEqual([{ currency: "USD", total_earnings: 3300, pending_earnings: 3300, paid_earnings: 0 }]);
    expect(v.this_month_cents).toBe(2000 - 300 + (cal.d10_this_month ? 1000 : 0));
    expect(v.series).toEqual(
      Array.from({ length: 30 }, (_, i) => {
        const bucket = plusDays(cal.today, i - 29);
        if (bucket === cal.today) return { bucket, clicks: 1, conversions: 1, commissions_cents: 1700 };
        if (bucket === cal.d10) return { bucket, clicks: 0, conversions: 1, commissions_cents: 1000 };
        return { bucket, clicks: 0, conversions: 0, commissions_cents: 0 };
      }),
    );
    expect(v.program).toEqual({ currency: "USD", min_payout_cents: 1000, timezone: "UTC" });
    expect(v.referrals.map((r: Json) => [r.referee, r.status, r.active])).toEqual([
      ["xavier", "converted", true],
      ["yara", "converted", true],
      ["zoe", "converted", true],
    ]);

    // x's membership ends: the funnel keeps the conversion, not the activity
    await membership("membership.deactivated", t.company, x, "xavier");
    const v2 = await memberView(t.company, t.referrer, "rita");
    expect(v2.funnel).toEqual({ clicks: 1, signups: 3, conversions: 3, active_referrals: 2 });
    expect(v2.referrals[0]).toMatchObject({ referee: "xavier", status: "converted", active: false });
    // the creator switches the code off: the member sees it
    await call("set_code_active", { p_company_id: t.company, p_user_id: t.referrer, p_active: false });
    expect((await memberView(t.company, t.referrer, "rita")).code_active).toBe(false);
    await expectConsistent(t.company);
  });
});

// ── 8. tenancy ──────────────────────────────────────────────────────────────

describe("tenancy", () => {
  it("a company's rows never appear in another company's lists, member pages or overview", async () => {
    const one = ids();
    const two = ids();
    const today = await todayUtc();
    for (const [t, total] of [[one, 10], [two, 99]] as const) {
      await settings(t.company, { hold_days: 0, min_payout_cents: 100 });
      const code = await codeOf(t.company, t.referrer, "sam");
      await click(code, `tn${t.company}`, "https://www.example.org/", "NL");
      await buy(t.company, t.referee, "pat", total, { referral_code: code });
      await call("request_payout", { p_company_id: t.company, p_user_id: t.referrer });
    }
    const codeTwo = await codeOf(two.company, two.referrer, "sam");

    const o = await overview(one.company, today, today);
    expect(o.kpis.current).toEqual({
      clicks: 1, signups: 1, conversions: 1, revenue_cents: 1000, commissions_cents: 200, paid_cents: 0, active_referrers: 1,
    });
    expect(o.owed_cents).toBe(200);
    expect(o.top_by_revenue).toEqual([{ user_id: one.referrer, username: "sam", revenue_cents: 1000, conversions: 1 }]);
    expect(o.top_by_conversions).toEqual([{ user_id: one.referrer, username: "sam", revenue_cents: 1000, conversions: 1 }]);
    expect(o.sources).toEqual([{ value: "example.org", clicks: 1 }]);
    expect(o.countries).toEqual([{ value: "NL", clicks: 1 }]);

    const members = (await list("list_members", one.company, {})).rows.map((r: Json) => r.user_id).sort();
    expect(members).toEqual([one.referee, one.referrer].sort());
    for (const sort of ["revenue", "earned", "available"]) {
      expect((await list("list_members", one.company, { sort })).rows.map((r: Json) => r.user_id).sort()).toEqual(members);
    }
    expect((await list("list_members", one.company, { q: "sam" })).rows.map((r: Json) => r.user_id)).toEqual([one.referrer]);
    expect((await list("list_members", one.company, { q: codeTwo })).rows).toEqual([]);
    expect(await detail(one.company, two.referrer)).toBeNull();

    const commissions = (await list("list_commissions", one.company, {})).rows;
    expect(commissions.map((r: Json) => [r.beneficiary_user_id, r.amount_cents])).toEqual([[one.referrer, 200]]);
    expect((await list("list_commissions", one.company, { member: two.referrer })).rows).toEqual([]);
    expect((await list("list_referrals", one.company, {})).rows.map((r: Json) => r.referee_user_id)).toEqual([one.referee]);
    expect((await list("list_referrals", one.company, { member: two.referrer })).rows).toEqual([]);
    expect((await list("list_payouts", one.company, {})).rows.map((r: Json) => [r.user_id, r.amount_cents])).toEqual([
      [one.referrer, 200],
    ]);
    expect((await list("list_payouts", one.company, { member: two.referrer })).rows).toEqual([]);
    // a cursor taken from the other company's list shows nothing of it
    const otherCursor = (await list("list_members", two.company, { limit: 1 })).next;
    expect(otherCursor).toEqual(expect.any(String));
    const after = (await list("list_members", one.company, { after: otherCursor })).rows.map((r: Json) => r.user_id);
    expect(after.filter((u: string) => !members.includes(u))).toEqual([]);

    await expectConsistent(one.company);
    await expectConsistent(two.company);
  });
});

// ── 11. cursors from the URL ────────────────────────────────────────────────

describe("list cursors", () => {
  // `after` comes from the page's URL (lib/lists: any string up to 200 characters), so a
  // tampered cursor must be refused as bad input (DomainError 400), never a 5xx. KNOWN BUG: a
  // timestamp cursor that is not a timestamp raises SQLSTATE 22007 (invalid_datetime_format),
  // which toDomainError does not map, so list_commissions / list_referrals / list_payouts
  // answer 5xx for it.
  it("a malformed cursor is refused with DomainError 400 by every list", async () => {
    const t = ids();
    await codeOf(t.company, t.referrer, "cur");
    const uuid = "00000000-0000-0000-0000-000000000000";
    const cases: [string, Record<string, unknown>][] = [
      ["list_members", { after: `x|${t.referrer}` }],
      ["list_members", { sort: "revenue", after: `1.5|${t.referrer}` }],
      ["list_commissions", { sort: "amount", after: `x|${uuid}` }],
      ["list_commissions", { after: `2026-01-01|not-a-uuid` }],
      ["list_commissions", { after: `yesterday-ish|${uuid}` }],
      ["list_referrals", { after: `nonsense|${uuid}` }],
      ["list_payouts", { after: `nonsense|${uuid}` }],
    ];
    const answers: string[] = [];
    for (const [fn, filter] of cases) {
      const err = await rejection(list(fn, t.company, filter));
      answers.push(
        `${fn} ${JSON.stringify(filter)} → ${
          err instanceof DomainError ? `DomainError ${err.status}` : err ? `${(err as { code?: string }).code} (5xx)` : "no error"
        }`,
      );
    }
    expect(answers).toEqual(cases.map(([fn, filter]) => `${fn} ${JSON.stringify(filter)} → DomainError 400`));
  });
});
