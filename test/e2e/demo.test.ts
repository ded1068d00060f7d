/**
 * The app in a real browser (Debian's chromium driven by playwright-core) against the
 * app launched in demo mode by test/global-setup.ts, at desktop width (1100 px) and on a
 * phone (375 px, where no page may scroll sideways). On every page visited, nothing one can
 * use and no table cell may be cut off by a box that clips (checkLayout).
 *
 *  - The creator walks the dashboard: Overview (every range, KPIs, charts, rankings,
 *    sources, countries), the setup checklist on Settings, the time zone and program
 *    settings, Members (sort, search, a member's page and its actions), Referrals,
 *    Commissions (filters, approve, cancel), Payouts (cancel, approve & pay), Rewards
 *    (grant points, fulfil a custom reward) and the members CSV export.
 *  - The member walks Home, Earnings and Rewards; copies their link, a purchase through it
 *    converts; "who invited you?"; a vanity code; a points redemption.
 *
 * Figures are never hardcoded from the seed: each expectation is read from the demo
 * database with the same SQL functions the pages read through (get_overview,
 * list_members, get_member_detail, get_member_view, get_member_wallet, list_commissions,
 * list_payouts, list_referrals, get_rewards_admin) and compared to the cent, and actions
 * are checked by their deltas (+1 conversion, +$10.00, …). Tests that need money or points
 * make them first (a purchase through the demo checkout, a grant), so they do not depend
 * on each other's order (and leave the program as they found it). Identities are the
 * demo's (lib/demo/index.ts DEMO_USERS) through the cookie the landing page's "view as"
 * sets. Screenshots of every section at both widths go to test-results/.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Locator, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { DEMO_EXPERIENCE_ID, DEMO_LEDGER_ACCOUNT_ID, demoSandboxState } from "../../lib/demo";
import {
  addDays, ALEX, base, CASEY, change, checkLayout, codeOf, commissionOfBuyer, COMPANY, countedClicks, DASH, day, expectDefaultRate,
  expectSections, fn, HOME, listCommissions, listMembers, listPayouts, listReferrals, memberDetail, memberView, money, nav, open,
  percent, program, purchaseThrough, referralOfBuyer, rows, SAM, says, shot, shows, sql, table, text, useBrowser, useFraudSettings,
  visit, wallet, WIDTHS, useProgramTermsOnly,
} from "./browser";

useBrowser();
useProgramTermsOnly();
// The walk buys through two members' links many times within minutes, more than a real
// referrer would: it raises the velocity limits for its run (test/e2e/fraud.test.ts checks
// them) and otherwise keeps the default fraud checks — hold at 50, fast purchase under 10 s.
useFraudSettings({ fraud_mode: "hold", fraud_hold_score: 50, fraud_min_seconds: 10, fraud_velocity_hour: 1000, fraud_velocity_day: 10000 });

// ── The overview's expectations ─────────────────────────────────────────────

/** Check every figure of the Overview on screen against get_overview for the range the page says it shows. */
async function checkOverview(page: Page) {
  const range = (await text(page, "range"))!;
  const m = /^(\d{4}-\d{2}-\d{2}) – (\d{4}-\d{2}-\d{2}) \(([^,)]+)(, by week)?\)/.exec(range);
  expect(m, `range line: ${range}`).toBeTruthy();
  const [, from, to, tz, week] = m!;
  const o = await fn("get_overview", COMPANY, from, to);
  expect(tz).toBe(o.timezone);
  expect(Boolean(week)).toBe(o.granularity === "week");
  const c = o.kpis.current;
  const p = o.kpis.previous;
  const rate = (k: typeof c) => (k.clicks ? (k.conversions / k.clicks) * 100 : 0);
  const epc = (k: typeof c) => (k.clicks ? Math.round(k.commissions_cents / k.clicks) : 0);
  const expected: Record<string, [string, string]> = {
    "kpi-clicks": [String(c.clicks), change(c.clicks, p.clicks)],
    "kpi-signups": [String(c.signups), change(c.signups, p.signups)],
    "kpi-conversions": [String(c.conversions), change(c.conversions, p.conversions)],
    "kpi-rate": [`${rate(c).toFixed(1)}%`, change(rate(c), rate(p))],
    "kpi-revenue": [money(c.revenue_cents), change(c.revenue_cents, p.revenue_cents)],
    "kpi-earned": [money(c.commissions_cents), change(c.commissions_cents, p.commissions_cents)],
    "kpi-paid": [money(c.paid_cents), change(c.paid_cents, p.paid_cents)],
    "kpi-owed": [money(o.owed_cents), "—"],
    "kpi-referrers": [String(c.active_referrers), change(c.active_referrers, p.active_referrers)],
    "kpi-epc": [money(epc(c)), change(epc(c), epc(p))],
  };
  const shown: Record<string, [string, string]> = {};
  for (const id of Object.keys(expected)) shown[id] = [(await text(page, id))!, (await text(page, `${id}-change`))!];
  expect(shown, `KPIs for ${from} – ${to}`).toEqual(expected);

  // the two Recharts charts, one line per series
  for (const [label, lines] of [
    ["Clicks, signups and conversions over time", 3],
    ["Revenue attributed and commissions earned over time", 2],
  ] as const) {
    const chart = page.locator(`figure[aria-label="${label}"]`);
    await chart.locator("svg.recharts-surface").first().waitFor();
    await expect.poll(() => chart.locator(".recharts-line").count(), { message: label }).toBe(lines);
  }

  // rankings (all time), sources and countries (the range)
  for (const [title, list] of [
    ["Top referrers by revenue (all time)", o.top_by_revenue],
    ["Top referrers by conversions (all time)", o.top_by_conversions],
  ] as const) {
    if (list.length === 0) expect(await table(page, title).count()).toBe(0);
    else
      expect(await rows(table(page, title)), title).toEqual(
        list.map((r: { username: string; conversions: number; revenue_cents: number }) => [r.username, String(r.conversions), money(r.revenue_cents)]),
      );
  }
  for (const [title, list, show] of [
    ["Traffic sources", o.sources, (v: string) => v],
    ["Countries", o.countries, (v: string) => (v === "??" ? "Unknown" : v)],
  ] as const) {
    if (list.length === 0) expect(await table(page, title).count(), title).toBe(0);
    else expect(await rows(table(page, title)), title).toEqual(list.map((s: { value: string; clicks: number }) => [show(s.value), String(s.clicks)]));
  }
  return { from, to, overview: o };
}

const MEMBER_COLUMNS = (m: any) => [
  m.username,
  m.code ? `${m.code}${m.code_active === false ? " off" : ""}` : "—",
  String(m.clicks), String(m.signups), String(m.conversions), String(m.active_referrals),
  money(m.revenue_cents), money(m.earned_cents), money(m.paid_cents), money(m.available_cents), String(m.points),
];

/** The member page's figures, to the cent, against get_member_detail. */
async function checkMemberPage(page: Page, userId: string) {
  const d = await memberDetail(userId);
  const m = d.member;
  const shown: Record<string, string | undefined> = {};
  const expected: Record<string, string> = {
    "member-name": m.username,
    "member-code": m.code ?? "—",
    "member-clicks": String(m.clicks),
    "member-signups": String(m.signups),
    "member-conversions": String(m.conversions),
    "member-active": String(m.active_referrals),
    "member-revenue": money(m.revenue_cents),
    "member-earned": money(m.earned_cents),
    "member-paid": money(m.paid_cents),
    "member-available": money(m.available_cents),
    "member-points": String(m.points),
  };
  if (m.code) expected["member-code-status"] = m.code_active ? "active" : "off";
  for (const id of Object.keys(expected)) shown[id] = await text(page, id);
  expect(shown, `member page of ${userId}`).toEqual(expected);
  if (d.referrals.length) expect((await rows(table(page, "Member referrals"))).length).toBe(d.referrals.length);
  if (d.payouts.length)
    expect(await rows(table(page, "Member payouts"))).toEqual(
      d.payouts.map((o: any) => [day(o.requested_at), money(o.amount_cents), o.status]),
    );
  return d;
}

// ── The creator ─────────────────────────────────────────────────────────────

describe.each(WIDTHS)("the creator's dashboard at %i px", (width) => {
  it("Overview: KPIs, changes, charts, rankings, sources and countries match the database for every range", async () => {
    const page = await open(width, CASEY);
    await visit(page, DASH);
    await page.getByRole("heading", { name: (await program()).name }).waitFor();
    await expectSections(page, `/dashboard/${COMPANY}`, [
      ["Overview", ""], ["Members", "/members"], ["Referrals", "/referrals"], ["Commissions", "/commissions"],
      ["Payouts", "/payouts"], ["Campaigns", "/campaigns"], ["Rewards", "/rewards"], ["Fraud", "/fraud"], ["Settings", "/settings"],
    ]);

    // default: the last 30 days, ending today in the program's time zone
    const { from, to } = await checkOverview(page);
    expect(addDays(to, -29)).toBe(from);
    // the setup checklist shows exactly while setup is incomplete
    const p = await program();
    const setupDone = Boolean((p.plan_id || p.landing_url) && p.ledger_account_id && p.terms_confirmed_at);
    expect(await page.getByRole("heading", { name: "Set up your referral program" }).count()).toBe(setupDone ? 0 : 1);
    await shot(page, "dashboard-overview");

    const ranges = page.getByRole("navigation", { name: "Date range" });
    for (const [title, key, days] of [["7 days", "7d", 7], ["90 days", "90d", 90], ["12 months", "12m", 365]] as const) {
      await ranges.getByRole("link", { name: title, exact: true }).click();
      await page.waitForURL((u) => u.searchParams.get("range") === key);
      await expect.poll(() => text(page, "range")).toMatch(new RegExp(`^${addDays(to, 1 - days)} – ${to} `));
      await checkLayout(page);
      await checkOverview(page);
    }
    expect(await text(page, "range")).toContain(", by week)");

    // a custom range through the form, then one that ends before it starts
    const custom = page.getByRole("form", { name: "Custom range" });
    await custom.getByLabel("From").fill(addDays(to, -13));
    await custom.getByLabel("To").fill(addDays(to, -7));
    await custom.getByRole("button", { name: "Custom" }).click();
    await page.waitForURL((u) => u.searchParams.get("range") === "custom" && u.searchParams.get("from") === addDays(to, -13));
    await expect.poll(() => text(page, "range")).toMatch(new RegExp(`^${addDays(to, -13)} – ${addDays(to, -7)} `));
    await checkOverview(page);
    await custom.getByLabel("From").fill(addDays(to, -1));
    await custom.getByLabel("To").fill(addDays(to, -2));
    await custom.getByRole("button", { name: "Custom" }).click();
    await page.getByRole("alert").filter({ hasText: "The range must end after it starts" }).waitFor();
    await checkOverview(page);

    // a top referrer links to their member page
    const top = (await fn("get_overview", COMPANY, from, to)).top_by_revenue;
    if (top.length) {
      await table(page, "Top referrers by revenue (all time)").getByRole("link", { name: top[0].username, exact: true }).click();
      await page.waitForURL(`**/members/${encodeURIComponent(top[0].user_id)}`);
      await page.getByTestId("member-name").waitFor();
      await checkMemberPage(page, top[0].user_id);
    }
  }, 120_000);

  it("Settings: the setup checklist lists the company's plans from Whop, adopts its ledger account and confirms the terms", async () => {
    // start from a company that has not been set up (the demo seed completes setup)
    const before = await program();
    await sql(`update public.programs set plan_id = null, ledger_account_id = null, terms_confirmed_at = null where company_id = $1`, [COMPANY]);
    try {
      const page = await open(width, CASEY);
      await visit(page, DASH);
      // the Overview shows the checklist until setup is complete
      await page.getByRole("heading", { name: "Set up your referral program" }).waitFor();
      await nav(page, "Settings", `/dashboard/${COMPANY}/settings`);
      for (const step of ["setup-plan", "setup-ledger", "setup-terms"]) expect(await page.getByTestId(step).getByText("To do", { exact: true }).count(), step).toBe(1);

      // the plans are the demo company's, as the Whop stand-in lists them
      const plans = demoSandboxState(base).plans![COMPANY];
      const select = page.getByTestId("setup-plan").getByLabel("Plan", { exact: true });
      const options = await select.locator("option").evaluateAll((os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent ?? ""]));
      expect(options.map(([v]) => v)).toEqual(["", ...plans.map((p) => p.id)]);
      plans.forEach((p, i) => {
        expect(options[i + 1][1].startsWith(`${p.title} — `), options[i + 1][1]).toBe(true);
        expect(options[i + 1][1]).toContain(money(Math.round(p.initial_price * 100)));
      });
      await shot(page, "dashboard-settings-checklist");

      const choose = page.getByRole("form", { name: "Choose plan" });
      await choose.getByRole("button", { name: "Use this plan" }).click();
      await says(choose, "Pick one of this company's plans.", "alert");
      await select.selectOption(plans[0].id);
      await choose.getByRole("button", { name: "Use this plan" }).click();
      await says(choose, `Links now sell ${plans[0].title}.`);
      await page.getByTestId("setup-plan").getByText("Done", { exact: true }).waitFor();

      // the ledger account is the company's own (from the Whop API), beside what members are owed
      const today = (await sql(`select (now() at time zone timezone)::date::text as d from public.programs where company_id = $1`, [COMPANY]))[0].d;
      const owed = (await fn("get_overview", COMPANY, today, today)).owed_cents;
      const ledger = page.getByTestId("setup-ledger");
      expect(await ledger.textContent()).toContain(`Whop account ${DEMO_LEDGER_ACCOUNT_ID}: balance $1,250.00 · members are owed ${money(owed)}`);
      expect(await text(ledger, "ledger-balance")).toBe("$1,250.00");
      expect(await text(ledger, "owed")).toBe(money(owed));
      await ledger.getByRole("button", { name: `Pay out from ${DEMO_LEDGER_ACCOUNT_ID}` }).click();
      // (its form goes away with the step done, so its "Payouts will come from …" message goes with it)
      await ledger.getByText("Done", { exact: true }).waitFor();
      expect(await ledger.getByRole("button").count()).toBe(0);

      // the terms as they are set, confirmed
      const terms = page.getByTestId("setup-terms");
      expect(await terms.textContent()).toContain(`Referrers earn ${before.commission_rate_bp / 100}%, held ${before.hold_days} days before payout`);
      await terms.getByRole("button", { name: "Looks good" }).click();
      await says(page.getByRole("form", { name: "Confirm commission" }), "Confirmed.");
      await terms.getByText("Done", { exact: true }).waitFor();
      expect(await terms.getByRole("button", { name: "Looks good" }).count()).toBe(0);
      await checkLayout(page);

      const after = await program();
      expect([after.plan_id, after.ledger_account_id, Boolean(after.terms_confirmed_at)]).toEqual([plans[0].id, DEMO_LEDGER_ACCOUNT_ID, true]);
      // set up: the Overview no longer shows the checklist
      await nav(page, "Overview", `/dashboard/${COMPANY}`);
      await page.getByTestId("kpi-clicks").waitFor();
      expect(await page.getByRole("heading", { name: "Set up your referral program" }).count()).toBe(0);
    } finally {
      await sql(
        `update public.programs set plan_id = coalesce(plan_id, $2), ledger_account_id = coalesce(ledger_account_id, $3),
           terms_confirmed_at = coalesce(terms_confirmed_at, now()) where company_id = $1`,
        [COMPANY, before.plan_id, before.ledger_account_id],
      );
    }
  }, 90_000);

  it("Settings: the time zone re-buckets the Overview, and the creator can switch back to the zone they had", async () => {
    const before = await program();
    try {
      const page = await open(width, CASEY);
      await visit(page, `${DASH}/settings`);
      await shot(page, "dashboard-settings");
      const zone = page.getByRole("form", { name: "Time zone" });
      const select = zone.getByLabel("Time zone", { exact: true });
      expect(await select.inputValue()).toBe(before.timezone);
      const other = before.timezone === "Asia/Tokyo" ? "Europe/Paris" : "Asia/Tokyo";
      await select.selectOption(other);
      await zone.getByRole("button", { name: "Save time zone" }).click();
      await says(zone, `Days now follow ${other}.`);
      await nav(page, "Overview", `/dashboard/${COMPANY}`);
      await expect.poll(() => text(page, "range")).toContain(`(${other})`);
      await checkOverview(page);

      // and back: the zone the program had must still be offered
      await nav(page, "Settings", `/dashboard/${COMPANY}/settings`);
      const offered = await page.getByRole("form", { name: "Time zone" }).locator("option").allTextContents();
      expect(offered, `the time zone select no longer offers ${before.timezone}`).toContain(before.timezone);
      await page.getByRole("form", { name: "Time zone" }).getByLabel("Time zone", { exact: true }).selectOption(before.timezone);
      await page.getByRole("form", { name: "Time zone" }).getByRole("button", { name: "Save time zone" }).click();
      await says(page.getByRole("form", { name: "Time zone" }), `Days now follow ${before.timezone}.`);
      expect((await program()).timezone).toBe(before.timezone);
    } finally {
      if ((await program()).timezone !== before.timezone) await fn("set_program_timezone", COMPANY, before.timezone);
    }
  }, 60_000);

  it("Settings: the program settings form refuses a bad rate, saves, and shows what it saved", async () => {
    const before = await program();
    try {
      const page = await open(width, CASEY);
      await visit(page, `${DASH}/settings`);
      const form = page.getByRole("form", { name: "Program settings" });
      const percentField = form.locator('input[name="commission_percent"]');
      const hold = form.locator('input[name="hold_days"]');
      expect(await percentField.inputValue()).toBe(String(before.commission_rate_bp / 100));
      expect(await hold.inputValue()).toBe(String(before.hold_days));
      await percentField.fill("150");
      await form.getByRole("button", { name: "Save settings" }).click();
      await form.getByText("Commission must be a percent from 0 to 100, at most 2 decimals").waitFor();
      await says(form, "Please fix the highlighted fields.", "alert");
      expect((await program()).commission_rate_bp).toBe(before.commission_rate_bp);

      const otherHold = String(before.hold_days === 7 ? 8 : 7);
      await percentField.fill("12.5");
      await hold.fill(otherHold);
      await form.getByRole("button", { name: "Save settings" }).click();
      await says(form, "Settings saved.");
      await page.reload();
      expect(await form.locator('input[name="commission_percent"]').inputValue()).toBe("12.5");
      expect(await form.locator('input[name="hold_days"]').inputValue()).toBe(otherHold);
      expect([(await program()).commission_rate_bp, (await program()).hold_days]).toEqual([1250, Number(otherHold)]);

      // back as it was, through the form
      await form.locator('input[name="commission_percent"]').fill(String(before.commission_rate_bp / 100));
      await form.locator('input[name="hold_days"]').fill(String(before.hold_days));
      await form.getByRole("button", { name: "Save settings" }).click();
      await says(form, "Settings saved.");
      expect([(await program()).commission_rate_bp, (await program()).hold_days]).toEqual([before.commission_rate_bp, before.hold_days]);
      await checkLayout(page);
    } finally {
      await sql(`update public.programs set commission_rate_bp = $2, hold_days = $3 where company_id = $1`, [COMPANY, before.commission_rate_bp, before.hold_days]);
    }
  }, 60_000);

  it("Members: every row to the cent, sorted by a column's link both ways, paged, searched by username; a member's page", async () => {
    const page = await open(width, CASEY);
    await visit(page, DASH);
    await nav(page, "Members", `/dashboard/${COMPANY}/members`);
    const list = table(page, "Members");
    const first = await listMembers({});
    expect(await rows(list)).toEqual(first.rows.map(MEMBER_COLUMNS));
    await shot(page, "dashboard-members");

    // sort by Revenue: descending first, then ascending
    for (const dir of ["desc", "asc"] as const) {
      await list.getByRole("link", { name: /^Revenue/ }).click();
      await page.waitForURL((u) => u.searchParams.get("sort") === "revenue" && u.searchParams.get("dir") === dir);
      await expect.poll(() => list.getByRole("link", { name: /^Revenue/ }).textContent()).toBe(`Revenue ${dir === "desc" ? "↓" : "↑"}`);
      const sorted = await listMembers({ sort: "revenue", dir });
      expect(await rows(list), `members by revenue ${dir}`).toEqual(sorted.rows.map(MEMBER_COLUMNS));
      await checkLayout(page);
      // the pager: a next page exactly when the database has one
      const pager = page.getByRole("link", { name: "Next page →" });
      expect(await pager.count()).toBe(sorted.next ? 1 : 0);
      if (dir === "desc" && sorted.next) {
        await pager.click();
        await page.waitForURL((u) => u.searchParams.get("after") === sorted.next);
        expect(await rows(list)).toEqual((await listMembers({ sort: "revenue", dir, after: sorted.next })).rows.map(MEMBER_COLUMNS));
        await page.getByRole("link", { name: "← First page" }).click();
        await page.waitForURL((u) => !u.searchParams.has("after"));
      }
    }

    // search by username
    const search = page.getByRole("form", { name: "Search members" });
    await search.getByLabel("Search", { exact: true }).fill(SAM.username);
    await search.getByRole("button", { name: "Search" }).click();
    await page.waitForURL((u) => u.searchParams.get("q") === SAM.username);
    const found = await listMembers({ q: SAM.username });
    expect(found.rows.map((r: { user_id: string }) => r.user_id)).toContain(SAM.id);
    const byName = (a: string[], b: string[]) => a[0].localeCompare(b[0]);
    await expect.poll(async () => (await rows(list)).sort(byName)).toEqual(found.rows.map(MEMBER_COLUMNS).sort(byName));
    await checkLayout(page);
    await shot(page, "dashboard-members-search");

    await list.getByRole("link", { name: SAM.username, exact: true }).click();
    await page.waitForURL(`**/members/${SAM.id}`);
    await page.getByTestId("member-name").waitFor();
    await checkLayout(page);
    await checkMemberPage(page, SAM.id);
    await shot(page, "dashboard-member");
  }, 90_000);

  it("a member's page: switching the code off shows the friendly page on its link and records nothing; on again; change code; grant points", async () => {
    const member = SAM;
    const code = await codeOf(member.id);
    try {
      const page = await open(width, CASEY);
      await visit(page, `${DASH}/members/${member.id}`);
      await checkMemberPage(page, member.id);
      expect(await text(page, "member-code-status")).toBe("active");

      // off: the link shows the friendly 404 page and records no click
      await page.getByRole("button", { name: "Deactivate code" }).click();
      // the same form, now offering the opposite
      await says(page.getByRole("form", { name: "Reactivate code" }), "Code switched off: its link no longer counts.");
      await shows(page, "member-code-status", "off");
      await page.getByRole("button", { name: "Reactivate code" }).waitFor();
      const clicks = await countedClicks(code);
      const visitor = await open(width);
      const res = await visitor.goto(`${base}/r/${code}`);
      expect(res?.status()).toBe(404);
      await visitor.getByRole("heading", { name: "This referral link doesn't exist" }).waitFor();
      await visitor.getByText("It may have been changed or switched off. Check with whoever sent it.").waitFor();
      await checkLayout(visitor);
      await shot(visitor, "referral-link-off");
      expect(await countedClicks(code)).toBe(clicks);
      await checkMemberPage(page, member.id);

      // on again: the link redirects to the checkout
      await page.getByRole("button", { name: "Reactivate code" }).click();
      await says(page.getByRole("form", { name: "Deactivate code" }), "Code switched on.");
      await shows(page, "member-code-status", "active");
      const again = await visitor.request.get(`${base}/r/${code}`, { maxRedirects: 0 });
      expect(again.status()).toBe(302);
      expect(again.headers().location).toContain("/demo/checkout/");

      // change the code for them: the old link stays theirs (a retired code keeps attributing to them); then back
      const temporary = `T-${randomUUID().slice(0, 6).toUpperCase()}`;
      const change = page.getByRole("form", { name: "Change code" });
      await change.getByLabel("New code").fill(temporary);
      await change.getByRole("button", { name: "Change code" }).click();
      await says(change, `Code changed to ${temporary}.`);
      await shows(page, "member-code", temporary);
      const retired = await visitor.request.get(`${base}/r/${code}`, { maxRedirects: 0 });
      expect(retired.status()).toBe(302);
      expect(retired.headers().location).toContain("/demo/checkout/");
      await change.getByLabel("New code").fill(code);
      await change.getByRole("button", { name: "Change code" }).click();
      await says(change, `Code changed to ${code}.`);
      await shows(page, "member-code", code);

      // grant points by hand (a refused amount first), then deduct them again
      const points = (await wallet(member.id)).points.balance;
      const grant = page.getByRole("form", { name: "Grant points" });
      await grant.getByLabel("Points", { exact: true }).fill("1.5");
      await grant.getByLabel("Reason", { exact: true }).fill("Great feedback");
      await grant.getByRole("button", { name: "Grant points" }).click();
      await says(grant, "Points are a whole number, negative to deduct", "alert");
      await grant.getByLabel("Points", { exact: true }).fill("25");
      await grant.getByRole("button", { name: "Grant points" }).click();
      await says(grant, new RegExp(`^Done\\. .+ now has ${points + 25} points\\.$`));
      await shows(page, "member-points", String(points + 25));
      await grant.getByLabel("Points", { exact: true }).fill("-25");
      await grant.getByLabel("Reason", { exact: true }).fill("Granted by mistake");
      await grant.getByRole("button", { name: "Grant points" }).click();
      await says(grant, new RegExp(`^Done\\. .+ now has ${points} points\\.$`));
      await shows(page, "member-points", String(points));
      await checkMemberPage(page, member.id);
      await checkLayout(page);
    } finally {
      // leave the member as found, whatever failed
      await fn("set_code_active", COMPANY, member.id, true);
      if ((await codeOf(member.id)) !== code) await fn("set_referral_code", COMPANY, member.id, code);
    }
  }, 90_000);

  it("Referrals: the list, a status filter and a sort match the database", async () => {
    const page = await open(width, CASEY);
    await visit(page, DASH);
    await nav(page, "Referrals", `/dashboard/${COMPANY}/referrals`);
    const list = table(page, "Referrals");
    const cells = (r: any) => [
      r.referrer, r.referee, r.status === "converted" && !r.active ? "converted · inactive" : r.status, r.source, day(r.created_at), r.converted_at ? day(r.converted_at) : "—",
    ];
    expect(await rows(list)).toEqual((await listReferrals({})).rows.map(cells));
    await shot(page, "dashboard-referrals");

    const filter = page.getByRole("form", { name: "Filter referrals" });
    await filter.getByLabel("Status").selectOption("converted");
    await filter.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL((u) => u.searchParams.get("status") === "converted");
    await expect.poll(() => rows(list)).toEqual((await listReferrals({ status: "converted" })).rows.map(cells));
    await list.getByRole("link", { name: /^Converted/ }).click();
    await page.waitForURL((u) => u.searchParams.get("sort") === "converted");
    expect(await rows(list)).toEqual((await listReferrals({ status: "converted", sort: "converted", dir: "desc" })).rows.map(cells));
    await checkLayout(page);
  }, 60_000);

  it("Commissions: filters and sort match the database; approving makes one available, cancelling takes one back", async () => {
    await expectDefaultRate();
    const page = await open(width, CASEY);
    const member = ALEX;
    const code = await codeOf(member.id);
    const before = await wallet(member.id);
    // two fresh $10.00 commissions, pending through the hold period
    const buyers = [await purchaseThrough(page, code), await purchaseThrough(page, code)];
    const [approveMe, cancelMe] = await Promise.all(buyers.map(commissionOfBuyer));
    for (const c of [approveMe, cancelMe]) expect([c.status, Number(c.amount_cents), Number(c.base_amount_cents)]).toEqual(["pending", 1000, 4999]);
    // bought from another browser and address, seconds after the click: flagged at most (a fast
    // purchase weighs 20, under the hold score of 50), paid as usual
    expect(await referralOfBuyer(buyers[0])).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
    expect(["clear", "flagged"]).toContain((await referralOfBuyer(buyers[1])).fraud_status);

    await visit(page, DASH);
    await nav(page, "Commissions", `/dashboard/${COMPANY}/commissions`);
    const list = table(page, "Commissions");
    const cells = (c: any) => [
      day(c.created_at), c.beneficiary, c.kind === "commission" ? String(c.level) : c.kind === "bonus" ? "campaign prize" : "clawback",
      c.kind === "commission" ? money(Number(c.base_amount_cents)) : c.reason,
      rateCell(c),
      `${money(c.amount_cents - c.reversed_cents)}${c.reversed_cents > 0 ? ` (of ${money(c.amount_cents)})` : ""}`, c.status, day(c.available_at),
    ];
    const first8 = async () => (await rows(list)).map((r) => r.slice(0, 8));
    expect(await first8()).toEqual((await listCommissions({})).rows.map(cells));
    await shot(page, "dashboard-commissions");

    // filters: pending commissions of this member
    const filter = page.getByRole("form", { name: "Filter commissions" });
    await filter.getByLabel("Status").selectOption("pending");
    await filter.getByLabel("Member", { exact: true }).fill(member.username);
    await filter.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL((u) => u.searchParams.get("status") === "pending" && u.searchParams.get("member") === member.username);
    await expect.poll(first8).toEqual((await listCommissions({ status: "pending", member: member.username })).rows.map(cells));
    // sort by amount
    await list.getByRole("link", { name: /^Amount/ }).click();
    await page.waitForURL((u) => u.searchParams.get("sort") === "amount");
    expect(await first8()).toEqual((await listCommissions({ status: "pending", member: member.username, sort: "amount", dir: "desc" })).rows.map(cells));
    await checkLayout(page);

    // decide on this member's two new commissions (newest first, so both on the first page)
    await visit(page, `${DASH}/commissions?member=${member.username}`);
    const decide = async (id: string, decision: "Approve" | "Cancel", status: string) => {
      const listed = (await listCommissions({ member: member.username })).rows;
      const i = listed.findIndex((c: { id: string }) => c.id === id);
      expect(i, "the new commission is on the first page").toBeGreaterThanOrEqual(0);
      const row = list.locator("tbody tr").nth(i);
      expect((await row.locator("td").allTextContents())[0].trim()).toBe(day(listed[i].created_at));
      const form = row.getByRole("form", { name: `${decision} commission` });
      await form.getByLabel("Reason", { exact: true }).fill(`${decision} in the browser test`);
      await form.getByRole("button", { name: decision }).click();
      await expect.poll(async () => (await sql(`select status from public.commissions where id = $1`, [id]))[0].status).toBe(status);
      await expect.poll(async () => (await row.locator("td").nth(6).textContent())?.trim()).toBe(status);
    };
    await decide(approveMe.id, "Approve", "available");
    await decide(cancelMe.id, "Cancel", "cancelled");
    expect(await first8()).toEqual((await listCommissions({ member: member.username })).rows.map(cells));

    // the member's money moved by exactly one available $10.00
    const after = await wallet(member.id);
    expect(after.balances).toEqual({ ...before.balances, available: before.balances.available + 1000 });
    await visit(page, `${DASH}/members/${member.id}`);
    expect(await text(page, "member-available")).toBe(money((await memberDetail(member.id)).member.available_cents));
    await checkMemberPage(page, member.id);
  }, 120_000);

  it("Payouts: a member requests one; the creator cancels it, then approves & pays the next through Whop; the member sees it paid", async () => {
    const member = SAM;
    const creator = await open(width, CASEY);
    let w = await wallet(member.id);
    expect(w.payout.reason, "a payout left in progress by an earlier run").not.toBe("You have a payout in progress");
    if (!w.payout.can_request) {
      // not enough available: a purchase through their link, approved at once
      const c = await commissionOfBuyer(await purchaseThrough(creator, await codeOf(member.id)));
      await fn("decide_commission", COMPANY, c.id, "approve", "payout test: make money available");
      w = await wallet(member.id);
      expect(w.payout.can_request, w.payout.reason).toBe(true);
    }
    const amount = w.payout.available_cents;
    try {
      const sam = await open(width, member);
      await visit(sam, `${HOME}/earnings`);
      expect(await text(sam, "balance-available")).toBe(money(w.balances.available));
      const request = async () => {
        await sam.getByRole("button", { name: `Request payout of ${money(amount)}` }).click();
        await says(sam.getByRole("form", { name: "Request payout" }), "Payout requested. The creator will review it.");
        await sam.reload();
        expect(await text(sam, "payout-reason")).toBe("You have a payout in progress");
        expect(await sam.getByRole("button", { name: /^Request payout/ }).isDisabled()).toBe(true);
        expect((await rows(table(sam, "Payout history")))[0]).toEqual([day(new Date().toISOString()), money(amount), "requested"]);
        const [p] = await sql(`select * from public.payouts where company_id = $1 and user_id = $2 order by requested_at desc limit 1`, [COMPANY, member.id]);
        expect([p.status, Number(p.amount_cents)]).toEqual(["requested", amount]);
        return p.id as string;
      };
      const payoutRow = async (id: string) => {
        const listed = (await listPayouts({ member: member.username })).rows;
        const i = listed.findIndex((o: { id: string }) => o.id === id);
        expect(i).toBeGreaterThanOrEqual(0);
        return table(creator, "Payouts").locator("tbody tr").nth(i);
      };

      // first request: the creator finds it with the filters and cancels it
      const cancelled = await request();
      await visit(creator, DASH);
      await nav(creator, "Payouts", `/dashboard/${COMPANY}/payouts`);
      const filter = creator.getByRole("form", { name: "Filter payouts" });
      await filter.getByLabel("Status").selectOption("requested");
      await filter.getByLabel("Member", { exact: true }).fill(member.username);
      await filter.getByRole("button", { name: "Filter" }).click();
      await creator.waitForURL((u) => u.searchParams.get("status") === "requested" && u.searchParams.get("member") === member.username);
      const cells = (o: any) => [day(o.requested_at), o.member, money(o.amount_cents), `${o.status}${o.error ? ` ${o.error}` : ""}`];
      await expect.poll(async () => (await rows(table(creator, "Payouts"))).map((r) => r.slice(0, 4))).toEqual(
        (await listPayouts({ status: "requested", member: member.username })).rows.map(cells),
      );
      await checkLayout(creator);
      await shot(creator, "dashboard-payouts");
      await visit(creator, `${DASH}/payouts?member=${member.username}`);
      let row = await payoutRow(cancelled);
      await row.getByRole("form", { name: `Cancel payout of ${member.username}` }).getByLabel("Reason", { exact: true }).fill("Wrong amount");
      await row.getByRole("button", { name: "Cancel" }).click();
      await expect.poll(async () => (await sql(`select status from public.payouts where id = $1`, [cancelled]))[0].status).toBe("cancelled");
      await expect.poll(async () => (await row.locator("td").nth(3).textContent())?.trim()).toBe("cancelled");
      expect(await row.getByRole("button").count()).toBe(0);

      // the money is available again; the second request is paid through Whop
      await sam.reload();
      expect(await text(sam, "balance-available")).toBe(money(w.balances.available));
      expect((await rows(table(sam, "Payout history")))[0][2]).toBe("cancelled");
      const paid = await request();
      await creator.reload();
      row = await payoutRow(paid);
      expect((await row.locator("td").allTextContents()).slice(1, 4).map((s) => s.trim())).toEqual([member.username, money(amount), "requested"]);
      await row.getByRole("button", { name: "Approve & pay" }).click();
      // the row re-renders from the database: paid, with no buttons left
      await expect.poll(async () => (await row.locator("td").nth(3).textContent())?.trim()).toBe("completed");
      expect(await row.getByRole("button").count()).toBe(0);
      expect((await sql(`select status, whop_transfer_id from public.payouts where id = $1`, [paid]))[0]).toMatchObject({ status: "completed" });
      await checkLayout(creator);

      await sam.reload();
      const after = await wallet(member.id);
      expect(after.balances.paid).toBe(w.balances.paid + amount);
      expect(after.balances.available).toBe(w.balances.available - amount);
      expect(await text(sam, "balance-paid")).toBe(money(w.balances.paid + amount));
      expect(await text(sam, "balance-available")).toBe(money(w.balances.available - amount));
      expect(await text(sam, "payout-reason")).toBe(`${after.payout.reason}${after.payout.reason === "Below the minimum payout" ? ` of ${money(after.payout.min_payout_cents)}` : ""}`);
      expect((await rows(table(sam, "Payout history")))[0]).toEqual([day(new Date().toISOString()), money(amount), "completed"]);
      await checkLayout(sam);

      await visit(creator, `${DASH}/members/${member.id}`);
      await checkMemberPage(creator, member.id);
    } finally {
      // leave no payout in progress, whatever failed
      for (const o of await sql(`select id from public.payouts where company_id = $1 and user_id = $2 and status = 'requested'`, [COMPANY, member.id]))
        await fn("cancel_payout", COMPANY, o.id, "left over by a failed browser test");
    }
  }, 120_000);

  it("Rewards: the creator grants points, the member redeems a custom reward, the creator fulfils it", async () => {
    const member = SAM;
    const points = (await wallet(member.id)).points.balance;
    const creator = await open(width, CASEY);
    await visit(creator, DASH);
    await nav(creator, "Rewards", `/dashboard/${COMPANY}/rewards`);
    const admin = await fn("get_rewards_admin", COMPANY);
    expect(await rows(table(creator, "Rewards"))).toEqual(
      admin.items.map((i: { name: string; cost_points: number; grant_type: string }) => [i.name, `${i.cost_points} points`, i.grant_type.replace("_", " ")]),
    );
    await shot(creator, "dashboard-rewards");

    const grant = creator.getByRole("form", { name: "Grant points" });
    await grant.getByLabel("Member", { exact: true }).fill(member.username);
    await grant.getByLabel("Points", { exact: true }).fill("lots");
    await grant.getByLabel("Reason", { exact: true }).fill("Great feedback");
    await grant.getByRole("button", { name: "Grant" }).click();
    await says(grant, "Points are a whole number, negative to deduct", "alert");
    await grant.getByLabel("Points", { exact: true }).fill("200");
    await grant.getByRole("button", { name: "Grant" }).click();
    await says(grant, `Done. ${member.username} now has ${points + 200} points.`);

    const sam = await open(width, member);
    await visit(sam, `${HOME}/rewards`);
    expect(await text(sam, "points-balance")).toBe(String(points + 200));
    await sam.getByRole("form", { name: "Redeem Shout-out in the community" }).getByRole("button", { name: "Redeem" }).click();
    await says(sam.getByRole("form", { name: "Redeem Shout-out in the community" }), "Redeemed! The creator will get in touch.");
    await sam.reload();
    expect(await text(sam, "points-balance")).toBe(String(points));
    expect((await rows(table(sam, "Your rewards")))[0]).toEqual([day(new Date().toISOString()), "Shout-out in the community", "pending", "—"]);

    // waiting for the creator, oldest first: this one is the last
    await creator.reload();
    const fulfil = creator.getByRole("form", { name: `Fulfil Shout-out in the community for ${member.username}` });
    const waiting = await fulfil.count();
    expect(waiting).toBeGreaterThanOrEqual(1);
    await checkLayout(creator);
    await fulfil.last().getByRole("button", { name: "Mark fulfilled" }).click();
    await expect.poll(() => fulfil.count()).toBe(waiting - 1);
    await sam.reload();
    expect(await text(sam, "points-balance")).toBe(String(points));
    expect((await rows(table(sam, "Your rewards")))[0]).toEqual([day(new Date().toISOString()), "Shout-out in the community", "granted", "—"]);
  }, 90_000);
});

describe("the creator's export", () => {
  it("the members list's Export CSV link downloads text/csv: the header, and the searched members' rows to the cent", async () => {
    const page = await open(1100, CASEY);
    await visit(page, `${DASH}/members`);
    const search = page.getByRole("form", { name: "Search members" });
    await search.getByLabel("Search", { exact: true }).fill(SAM.username);
    await search.getByRole("button", { name: "Search" }).click();
    await page.waitForURL((u) => u.searchParams.get("q") === SAM.username);
    const link = page.getByRole("link", { name: "Export CSV" });
    const href = await link.getAttribute("href");
    expect(href).toBe(`/dashboard/${COMPANY}/export/members?q=${SAM.username}`);

    // fetched with the page's cookies: a CSV attachment
    const res = await page.request.get(`${base}${href}`);
    expect(res.status(), `GET ${href}: ${res.status() === 200 ? "" : await res.text()}`).toBe(200);
    expect(res.headers()["content-type"]).toMatch(/^text\/csv/);
    expect(res.headers()["content-disposition"]).toMatch(/^attachment; filename="referly-members-\d{4}-\d{2}-\d{2}\.csv"$/);
    const body = await res.text();
    const decimal = (cents: number) => `${cents < 0 ? "-" : ""}${Math.floor(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, "0")}`;
    const expected = (await listMembers({ q: SAM.username })).rows.map((m: any) =>
      [m.user_id, m.username, m.code, m.code_active, m.clicks, m.signups, m.conversions, m.active_referrals,
        decimal(m.revenue_cents), decimal(m.earned_cents), decimal(m.paid_cents), decimal(m.available_cents), m.points, "USD"].join(","),
    );
    const lines = body.trim().split(/\r?\n/);
    expect(lines[0]).toBe("user_id,username,code,code_active,clicks,signups,conversions,active_referrals,revenue,earned,paid,available,points,currency");
    expect(lines.slice(1).sort()).toEqual([...expected].sort());
    expect(lines.some((l) => l.startsWith(`${SAM.id},${SAM.username},`))).toBe(true);

    // clicking the link downloads the same file
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    expect(download.suggestedFilename()).toMatch(/^referly-members-\d{4}-\d{2}-\d{2}\.csv$/);
    const file = await download.path();
    expect(readFileSync(file, "utf8")).toBe(body);
  });
});

// ── The member ──────────────────────────────────────────────────────────────

/** Member Home against get_member_view (the same call the page makes). */
async function checkHome(page: Page, userId: string) {
  const v = await memberView(userId);
  const e = v.earnings.find((x: { currency: string }) => x.currency === v.program.currency) ?? { total_earnings: 0, pending_earnings: 0 };
  const shown: Record<string, string | undefined> = {};
  const expected: Record<string, string> = {
    "referral-link": `${base}/r/${v.code}`,
    "referral-code": v.code,
    "funnel-clicks": String(v.funnel.clicks),
    "funnel-signups": String(v.funnel.signups),
    "funnel-conversions": String(v.funnel.conversions),
    "funnel-active": String(v.funnel.active_referrals),
    "earned-month": money(v.this_month_cents),
    "earnings-total": money(e.total_earnings),
  };
  // the balance itself is Earnings' (pending, available, paid, reversed): Home does not repeat it
  expect(await page.getByTestId("earnings-pending").count(), "Home repeats the balance").toBe(0);
  const onHold = (await wallet(userId)).balances.on_hold;
  if (onHold > 0) expected["under-review"] = `Under review: ${money(onHold)} of commission is being checked by the creator before it counts.`;
  else expect(await page.getByTestId("under-review").count(), "Home says something is under review").toBe(0);
  for (const id of Object.keys(expected)) shown[id] = await text(page, id);
  expect(shown, `Home of ${userId}`).toEqual(expected);
  await page.locator('figure[aria-label="Your clicks and conversions over the last 30 days"] svg.recharts-surface').first().waitFor();
  if (v.referrals.length)
    expect(await rows(table(page, "Your referrals"))).toEqual(
      v.referrals.map((r: any) => [r.referee, r.status === "converted" && !r.active ? "converted · inactive" : r.status, day(r.created_at)]),
    );
  else await page.getByText("No referrals yet — share your link to get the first one.").waitFor();
  if (v.referred_by) expect(await text(page, "referred-by")).toBe(`You were invited by ${v.referred_by.username}.`);
  else await page.getByRole("form", { name: "Who invited you?" }).waitFor();
  return v;
}

/** Member Earnings against get_member_wallet and their commissions (list_commissions). */
async function checkEarnings(page: Page, userId: string) {
  const w = await wallet(userId);
  const shown = {
    pending: await text(page, "balance-pending"),
    available: await text(page, "balance-available"),
    paid: await text(page, "balance-paid"),
    reversed: await text(page, "balance-reversed"),
  };
  expect(shown).toEqual({ pending: money(w.balances.pending), available: money(w.balances.available), paid: money(w.balances.paid), reversed: money(w.balances.reversed) });
  // what the fraud checks hold is "Under review", shown only when there is some
  if (w.balances.on_hold > 0) expect(await text(page, "balance-under-review")).toBe(money(w.balances.on_hold));
  else expect(await page.getByTestId("balance-under-review").count()).toBe(0);
  if (w.upcoming.length)
    expect(await text(page, "upcoming")).toBe(
      `Becomes available: ${w.upcoming.map((u: { amount_cents: number; available_at: string }) => `${money(u.amount_cents)} on ${day(u.available_at)}`).join(" · ")}`,
    );
  else expect(await page.getByTestId("upcoming").count()).toBe(0);
  const button = page.getByRole("button", { name: `Request payout of ${money(Math.max(w.payout.available_cents, 0))}` });
  expect(await button.isDisabled()).toBe(!w.payout.can_request);
  if (!w.payout.can_request)
    expect(await text(page, "payout-reason")).toBe(`${w.payout.reason}${w.payout.reason === "Below the minimum payout" ? ` of ${money(w.payout.min_payout_cents)}` : ""}`);
  if (w.payouts.length)
    expect(await rows(table(page, "Payout history"))).toEqual(
      w.payouts.map((o: any) => [day(o.requested_at), money(o.amount_cents), o.status]),
    );
  const commissions = await listCommissions({ member: userId, limit: 20 });
  if (commissions.rows.length)
    expect(await rows(table(page, "Your commissions"))).toEqual(
      commissions.rows.map((c: any) => [
        day(c.created_at), c.kind === "commission" ? String(c.level) : c.kind === "bonus" ? "campaign prize" : "refund", rateCell(c), money(c.amount_cents - c.reversed_cents),
        c.status === "on_hold" ? "Under review" : c.status,
      ]),
    );
  expect(await page.getByRole("link", { name: "Next page →" }).count()).toBe(commissions.next ? 1 : 0);
  return { w, commissions };
}

/** A commission's rate as the tables show it: the campaign's bonus named beside the rate it is part of. */
const rateCell = (c: any) =>
  c.kind === "bonus" ? "prize" : !c.rate_bp ? "flat" : c.campaign_bonus_bp ? `${percent(c.rate_bp)} (+${percent(c.campaign_bonus_bp)} campaign)` : percent(c.rate_bp);

/** Member Rewards against get_member_wallet. */
async function checkRewards(page: Page, userId: string) {
  const w = await wallet(userId);
  expect(await text(page, "points-balance")).toBe(String(w.points.balance));
  for (const i of w.items) {
    const form = page.getByRole("form", { name: `Redeem ${i.name}` });
    expect(await form.textContent()).toContain(`${i.cost_points} points`);
    expect(await form.getByRole("button", { name: "Redeem" }).isDisabled(), i.name).toBe(w.points.balance < i.cost_points);
  }
  if (w.redemptions.length)
    expect(await rows(table(page, "Your rewards"))).toEqual(
      w.redemptions.map((r: any) => [day(r.created_at), r.item, r.status, r.result?.promo_code ?? r.error ?? "—"]),
    );
  if (w.points.history.length)
    expect(await rows(table(page, "Points history"))).toEqual(
      w.points.history.map((h: any) => [day(h.created_at), `${h.points > 0 ? "+" : ""}${h.points}`, h.memo ?? (h.type ?? "").toLowerCase().replace(/_/g, " ")]),
    );
  return w;
}

describe.each(WIDTHS)("the member app at %i px", (width) => {
  it("view as a member from the landing page; Home, Earnings and Rewards match the database", async () => {
    const page = await open(width);
    await visit(page, base);
    await page.getByText("Demo mode", { exact: true }).waitFor();
    await shot(page, "landing");
    await page.getByRole("button", { name: "View as member Sam" }).click();
    await page.waitForURL(`**/experiences/${DEMO_EXPERIENCE_ID}`);
    await checkLayout(page);
    await expectSections(page, `/experiences/${DEMO_EXPERIENCE_ID}`, [["Home", ""], ["Earnings", "/earnings"], ["Rewards", "/rewards"], ["Leaderboard", "/leaderboard"]]);
    await checkHome(page, SAM.id);
    await shot(page, "member-home");

    await nav(page, "Earnings", `/experiences/${DEMO_EXPERIENCE_ID}/earnings`);
    await page.getByTestId("balance-pending").waitFor();
    const { commissions } = await checkEarnings(page, SAM.id);
    await shot(page, "member-earnings");
    if (commissions.next) {
      await page.getByRole("link", { name: "Next page →" }).click();
      await page.waitForURL((u) => u.searchParams.get("after") === commissions.next);
      const next = await listCommissions({ member: SAM.id, limit: 20, after: commissions.next });
      expect((await rows(table(page, "Your commissions"))).length).toBe(next.rows.length);
      await checkLayout(page);
    }

    await nav(page, "Rewards", `/experiences/${DEMO_EXPERIENCE_ID}/rewards`);
    await page.getByTestId("points-balance").waitFor();
    await checkRewards(page, SAM.id);
    await shot(page, "member-rewards");
  }, 60_000);

  it("copies the link; buying through it from the member's own browser converts but holds the commission for review; the creator approves it in Fraud: +$10.00 pending, +points", async () => {
    await expectDefaultRate();
    const member = ALEX;
    const page = await open(width, member);
    await visit(page, HOME);
    const view = await checkHome(page, member.id);
    const w = await wallet(member.id);
    const firstPaymentPoints = (await program()).points_first_payment;

    await page.getByRole("button", { name: "Copy link" }).click();
    await page.getByRole("button", { name: "Copied!" }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(`${base}/r/${view.code}`);
    expect(await text(page, "referral-link")).toBe(copied);
    // share: the phone's share sheet, or links to X and WhatsApp carrying the link
    const share = page.getByRole("link", { name: "Share on X" });
    if (await share.count()) expect(await share.getAttribute("href")).toContain(encodeURIComponent(copied));
    else await page.getByRole("button", { name: "Share" }).waitFor();

    // follow it: the click is recorded, the (demo) Whop checkout opens; pay — from the
    // browser and address the member opened the app with, seconds after the click
    await page.goto(copied);
    await page.waitForURL("**/demo/checkout/**");
    expect(await text(page, "checkout-code")).toBe(view.code);
    const buyer = `Jamie ${randomUUID().slice(0, 6)}`;
    await page.getByRole("textbox").fill(buyer);
    await page.getByRole("button", { name: /Simulate purchase/ }).click();
    await page.getByText(`${buyer} paid $49.99`).waitFor();
    // the demo says why, as the creator's review words it
    const said = (await page.getByRole("status").textContent()) ?? "";
    expect(said).toMatch(
      new RegExp(
        `^${buyer} paid \\$49\\.99\\. The referral converted, but its commission is held for fraud review — ` +
          `same device and browser as ${member.username} used opening the member app \\(first seen [A-Z][a-z]{2} \\d{1,2}\\); ` +
          `same IP address as ${member.username} used opening the member app \\(first seen [A-Z][a-z]{2} \\d{1,2}\\); ` +
          `paid [\\d.]+ seconds after clicking the link \\(minimum 10\\)\\. Approve it in the dashboard's Fraud section`,
      ),
    );
    await checkLayout(page);
    await shot(page, "demo-purchase-held");
    const username = buyer.toLowerCase().replace(/[^a-z0-9]+/g, "");
    const referral = await referralOfBuyer(username);
    expect([referral.status, referral.fraud_status, referral.fraud_score]).toEqual(["converted", "held", 80]);
    const c = await commissionOfBuyer(username);
    expect([c.status, Number(c.amount_cents)]).toEqual(["on_hold", 1000]);

    await page.getByRole("link", { name: /Back to the referral dashboard/ }).click();
    await page.waitForURL(`**/experiences/${DEMO_EXPERIENCE_ID}`);
    const e0 = view.earnings.find((x: { currency: string }) => x.currency === "USD") ?? { total_earnings: 0, pending_earnings: 0 };
    await shows(page, "funnel-conversions", String(view.funnel.conversions + 1));
    expect({
      clicks: await text(page, "funnel-clicks"),
      signups: await text(page, "funnel-signups"),
      active: await text(page, "funnel-active"),
      total: await text(page, "earnings-total"),
      review: await text(page, "under-review"),
    }).toEqual({
      clicks: String(view.funnel.clicks + 1),
      signups: String(view.funnel.signups + 1),
      active: String(view.funnel.active_referrals + 1),
      // a held commission counts nowhere yet: it is "under review", and never says why
      total: money(e0.total_earnings),
      review: `Under review: ${money(w.balances.on_hold + 1000)} of commission is being checked by the creator before it counts.`,
    });
    const row = table(page, "Your referrals").getByRole("row").filter({ hasText: username });
    expect(await row.getByText("converted", { exact: true }).count()).toBe(1);
    await checkHome(page, member.id);
    await checkLayout(page);

    // Earnings: $10.00 under review, nothing more pending, no points yet
    await nav(page, "Earnings", `/experiences/${DEMO_EXPERIENCE_ID}/earnings`);
    await page.getByTestId("balance-pending").waitFor();
    expect(await text(page, "balance-under-review")).toBe(money(w.balances.on_hold + 1000));
    expect(await text(page, "balance-pending")).toBe(money(w.balances.pending));
    expect((await rows(table(page, "Your commissions")))[0]).toEqual([day(c.created_at), "1", "20%", "$10.00", "Under review"]);
    expect(await page.locator("main").innerText()).not.toMatch(/device|IP address|seconds after|fraud/i);
    await checkEarnings(page, member.id);
    expect((await wallet(member.id)).points.balance).toBe(w.points.balance);

    // the creator approves it in Fraud, with a reason
    const creator = await open(width, CASEY);
    await visit(creator, `${DASH}/fraud?member=${member.username}`);
    const review = creator.getByRole("form", { name: "Review referrals" });
    const queued = table(creator, "Review queue").locator("tbody tr").filter({ hasText: username });
    const cells = (await queued.locator("td").allTextContents()).map((t) => t.replace(/\s+/g, " ").trim());
    expect(cells.slice(1, 5)).toEqual([`${member.username} → ${username}Paid ${day(referral.converted_at.toISOString())}`, "80", "held", "$10.00"]);
    expect(cells[5]).toContain(`Same device and browser as ${member.username} used opening the member app`);
    await review.getByLabel("Reason", { exact: true }).fill("The member's own test purchase: allowed");
    await review.getByRole("button", { name: `Approve ${member.username} → ${username}` }).click();
    await says(review, "Approved 1.");
    await expect.poll(() => queued.count()).toBe(0);
    expect((await referralOfBuyer(username)).fraud_status).toBe("approved");
    await checkLayout(creator);

    // the member: $10.00 more pending, with the day it becomes available (the original one), and the points
    await page.reload();
    const after = await commissionOfBuyer(username);
    expect([after.status, day(after.available_at.toISOString())]).toEqual(["pending", day(c.available_at.toISOString())]);
    expect(await text(page, "balance-pending")).toBe(money(w.balances.pending + 1000));
    expect(await text(page, "balance-available")).toBe(money(w.balances.available));
    expect(await page.getByTestId("balance-under-review").count()).toBe(w.balances.on_hold > 0 ? 1 : 0);
    expect(await text(page, "upcoming")).toContain(`$10.00 on ${day(c.available_at.toISOString())}`);
    expect((await rows(table(page, "Your commissions")))[0]).toEqual([day(c.created_at), "1", "20%", "$10.00", "pending"]);
    await checkEarnings(page, member.id);

    // Rewards: the first-payment points, granted with the approval
    await nav(page, "Rewards", `/experiences/${DEMO_EXPERIENCE_ID}/rewards`);
    await page.getByTestId("points-balance").waitFor();
    expect(await text(page, "points-balance")).toBe(String(w.points.balance + firstPaymentPoints));
    expect((await rows(table(page, "Points history")))[0].slice(0, 2)).toEqual([day(new Date().toISOString()), `+${firstPaymentPoints}`]);
    await checkRewards(page, member.id);
  }, 120_000);

  it("redeems points for a reward and gets a Whop promo code", async () => {
    const member = SAM;
    const points = (await wallet(member.id)).points.balance;
    // the creator grants the 500 points the reward costs, from the member's page
    const creator = await open(width, CASEY);
    await visit(creator, `${DASH}/members/${member.id}`);
    const grant = creator.getByRole("form", { name: "Grant points" });
    await grant.getByLabel("Points", { exact: true }).fill("500");
    await grant.getByLabel("Reason", { exact: true }).fill("For the redemption test");
    await grant.getByRole("button", { name: "Grant points" }).click();
    await says(grant, new RegExp(`now has ${points + 500} points\\.$`));

    const page = await open(width, member);
    await visit(page, `${HOME}/rewards`);
    expect(await text(page, "points-balance")).toBe(String(points + 500));
    const redeem = page.getByRole("form", { name: "Redeem One month free" });
    expect(await redeem.textContent()).toContain("500 points");
    await redeem.getByRole("button", { name: "Redeem" }).click();
    await says(redeem, /^Redeemed! Your code: RF[0-9A-F]{10}$/);
    const promo = /RF[0-9A-F]{10}/.exec((await redeem.getByRole("status").textContent())!)![0];
    await page.reload();
    expect(await text(page, "points-balance")).toBe(String(points));
    expect((await rows(table(page, "Your rewards")))[0]).toEqual([day(new Date().toISOString()), "One month free", "granted", promo]);
    expect((await rows(table(page, "Points history")))[0].slice(0, 2)).toEqual([day(new Date().toISOString()), "-500"]);
    expect(await page.getByRole("form", { name: "Redeem One month free" }).getByRole("button", { name: "Redeem" }).isDisabled()).toBe(points < 500);
    await checkRewards(page, member.id);
    await checkLayout(page);
  }, 60_000);
});

describe("the member's one-time forms", () => {
  it("'who invited you?' refuses the member's own code and an unknown one, and records a real referrer", async () => {
    // a member with no referrer and no payment yet, and someone else to name
    const candidates = [SAM, ALEX, CASEY];
    let claimant: (typeof candidates)[number] | undefined;
    for (const u of candidates) {
      const [r] = await sql(
        `select (exists (select 1 from public.referrals where company_id = $1 and referee_user_id = $2)
              or exists (select 1 from public.payments where company_id = $1 and user_id = $2)) as taken`,
        [COMPANY, u.id],
      );
      if (!r.taken) {
        claimant = u;
        break;
      }
    }
    expect(claimant, "every demo identity already has a referrer: this test needs a fresh demo member").toBeTruthy();
    const referrer = candidates.find((u) => u !== claimant)!;
    const page = await open(1100, claimant);
    await visit(page, HOME);
    const form = page.getByRole("form", { name: "Who invited you?" });
    const own = await codeOf(claimant!.id);

    await form.getByRole("textbox").fill(own.toLowerCase());
    await form.getByRole("button", { name: "Save" }).click();
    await says(form, "You can't use your own referral code", "alert");
    expect(await form.getByRole("textbox").inputValue()).toBe(own.toLowerCase());

    await form.getByRole("textbox").fill("NOSUCHCODE");
    await form.getByRole("button", { name: "Save" }).click();
    await says(form, 'No referral code "NOSUCHCODE" in this community', "alert");

    await form.getByRole("textbox").fill((await codeOf(referrer.id)).toLowerCase());
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByTestId("referred-by").waitFor();
    expect(await text(page, "referred-by")).toBe(`You were invited by ${referrer.username}.`);
    const [r] = await sql(`select referrer_user_id, source, status from public.referrals where company_id = $1 and referee_user_id = $2`, [COMPANY, claimant!.id]);
    expect(r).toEqual({ referrer_user_id: referrer.id, source: "claim", status: "pending" });
  });

  it("a member picks a vanity code; a taken or malformed one is refused; the old link still counts for them", async () => {
    const page = await open(1100, CASEY);
    await visit(page, HOME);
    const old = await codeOf(CASEY.id);
    const taken = (await codeOf(SAM.id)).toLowerCase();
    const form = page.getByRole("form", { name: "Change your code" });
    await form.getByLabel("New code").fill(taken);
    await form.getByRole("button", { name: "Change code" }).click();
    await says(form, `The code ${taken} is taken`, "alert");
    await form.getByLabel("New code").fill("no spaces");
    await form.getByRole("button", { name: "Change code" }).click();
    await says(form, "A code is 3 to 32 letters, digits, - or _", "alert");
    const vanity = `CASEY-${randomUUID().slice(0, 4).toUpperCase()}`;
    await form.getByLabel("New code").fill(vanity);
    await form.getByRole("button", { name: "Change code" }).click();
    await says(form, `Your code is now ${vanity}.`);
    await shows(page, "referral-link", `${base}/r/${vanity}`);
    expect(await text(page, "referral-code")).toBe(vanity);
    expect((await page.request.get(`${base}/r/${vanity.toLowerCase()}`, { maxRedirects: 0 })).status()).toBe(302);
    // links already shared keep working: the retired code is still the member's
    const retired = await page.request.get(`${base}/r/${old}`, { maxRedirects: 0 });
    expect(retired.status()).toBe(302);
    expect(retired.headers().location).toContain("/demo/checkout/");
  });

  it("a member cannot open the creator dashboard", async () => {
    const page = await open(1100, ALEX);
    for (const path of ["", "/members", `/members/${SAM.id}`, "/payouts", "/fraud", "/settings"]) {
      const res = await page.goto(`${DASH}${path}`);
      expect(res?.status(), path).toBe(403);
      await page.getByText("You don't have access to this page").waitFor();
    }
  });
});
