/**
 * What the browser tests share (test/e2e/*.test.ts): chromium (Debian's, driven by
 * playwright-core) against the app the global setup launched in demo mode, the demo
 * database to read expectations from with the same SQL functions the pages call, fresh
 * browser contexts as demo identities, the layout check every visited page must pass,
 * and the figures as the pages write them.
 */
import { randomInt, randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import pg from "pg";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, inject } from "vitest";
import { DEMO_COMPANY_ID, DEMO_COOKIE, DEMO_EXPERIENCE_ID, DEMO_USERS } from "../../lib/demo";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const base = inject("demoUrl");
export const COMPANY = DEMO_COMPANY_ID;
export const DASH = `${base}/dashboard/${COMPANY}`;
export const HOME = `${base}/experiences/${DEMO_EXPERIENCE_ID}`;
export const WIDTHS = [1100, 375] as const;
export const PHONE = 375;

export const user = (username: string) => {
  const u = DEMO_USERS.find((d) => d.username === username);
  if (!u) throw new Error(`no demo user ${username}`);
  return u;
};
export const CASEY = user("casey");
export const ALEX = user("alex");
export const SAM = user("sam");

export let browser: Browser;
export let db: pg.Pool;

/**
 * Launch chromium and open the demo database for this file's tests (call once at the top
 * of a test file); both are closed after its last test.
 */
export function useBrowser() {
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
    });
    db = new pg.Pool({ connectionString: inject("demoDbUrl"), max: 4 });
    mkdirSync("test-results", { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await db?.end();
  });
}

// ── The database: what the pages must show ──────────────────────────────────

export async function sql<T = any>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await db.query(text, params)).rows as T[];
}
/** The jsonb result of `public.<name>(args…)`. */
export async function fn(name: string, ...args: unknown[]): Promise<any> {
  const [row] = await sql(`select public.${name}(${args.map((_, i) => `$${i + 1}`).join(", ")}) as r`, args);
  return row.r;
}
export const program = async () => (await sql(`select * from public.programs where company_id = $1`, [COMPANY]))[0];
export const wallet = (userId: string) => fn("get_member_wallet", COMPANY, userId);
export const memberView = (userId: string) => fn("get_member_view", COMPANY, userId, null, null);
export const memberDetail = (userId: string) => fn("get_member_detail", COMPANY, userId);
export const listMembers = (filter: object) => fn("list_members", COMPANY, JSON.stringify(filter));
export const listCommissions = (filter: object) => fn("list_commissions", COMPANY, JSON.stringify(filter));
export const listPayouts = (filter: object) => fn("list_payouts", COMPANY, JSON.stringify(filter));
export const listReferrals = (filter: object) => fn("list_referrals", COMPANY, JSON.stringify(filter));
export const codeOf = async (userId: string): Promise<string> =>
  (await sql(`select code from public.referral_codes where company_id = $1 and user_id = $2`, [COMPANY, userId]))[0].code;
export const countedClicks = async (code: string): Promise<number> =>
  Number(
    (await sql(`select count(*) as n from public.referral_clicks k join public.referral_codes c on c.id = k.code_id where c.company_id = $1 and c.code = $2`, [COMPANY, code]))[0].n,
  );

// ── How the pages write figures (en-US, program currency USD) ───────────────

/** Cents as US dollars, written independently of the app: 123456 → "$1,234.56", -5 → "-$0.05". */
export function money(cents: number): string {
  const abs = Math.abs(cents);
  const dollars = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${cents < 0 ? "-" : ""}$${dollars}.${String(abs % 100).padStart(2, "0")}`;
}
/** "Nov 22, 2026" for a timestamp (UTC, as the pages show dates). */
export const day = (iso: string) => new Date(iso).toLocaleDateString("en-US", { dateStyle: "medium", timeZone: "UTC" });
/** Basis points as the pages' percent: 2000 → "20%", 1250 → "12.5%". */
export const percent = (bp: number) => `${bp / 100}%`;
/** A KPI's "vs previous" line. */
export function change(current: number, previous: number): string {
  if (previous === 0) return "—";
  const d = Math.round(((current - previous) / Math.abs(previous)) * 1000) / 10;
  return `${d >= 0 ? "+" : ""}${d}% vs previous`;
}
export const addDays = (d: string, n: number) => new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

// ── The browser ─────────────────────────────────────────────────────────────

let visitors = 0;
/** This file's run: contexts of two test files never share a user agent or an address. */
const RUN = randomInt(1, 65_000);
/** The n-th context's address (10.x.y.n): a visitor of its own, on a network of its own. */
export const addressOf = (n: number) => `10.${RUN >> 8}.${RUN & 255}.${(n % 250) + 1}`;
/**
 * A fresh browser context at `width`, viewing as `as` (the demo cookie the landing page's
 * "view as" sets; the app's proxy turns it into a signed Whop user token). Each context
 * is a new visitor — its own user agent (one device) and its own address, sent as a proxy
 * in front of the app would (x-forwarded-for) — so its clicks on a link are counted, and
 * the fraud checks see the same person only when a test reuses a context. Headless
 * Chromium announces itself as HeadlessChrome, which isbot rightly calls a bot: browse as
 * a person's Chrome would.
 */
export async function open(width: number, as?: { id: string }): Promise<Page> {
  const phone = width <= PHONE;
  const n = ++visitors;
  const context = await browser.newContext({
    viewport: { width, height: phone ? 812 : 1200 },
    isMobile: phone,
    hasTouch: phone,
    userAgent: phone
      ? `Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.${RUN}.${n}.0 Mobile Safari/537.36`
      : `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.${RUN}.${n}.0 Safari/537.36`,
    extraHTTPHeaders: { "x-forwarded-for": addressOf(n) },
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  if (as) await context.addCookies([{ name: DEMO_COOKIE, value: as.id, url: base, httpOnly: true, sameSite: "Lax" }]);
  const page = await context.newPage();
  // fail a step with its own message well before the test's timeout
  page.setDefaultTimeout(10_000);
  return page;
}

export const widthOf = (page: Page) => page.viewportSize()!.width;

/**
 * The layout: on a phone the page must not scroll sideways (wide tables scroll inside
 * their box), and at any width no control and no table cell may be cut off at the edge
 * of the window or of a box that clips what overflows it — except inside a box that
 * scrolls sideways on purpose (wide tables, the section tabs). Soft assertions: a layout
 * fault is reported and the walk goes on.
 */
export async function checkLayout(page: Page) {
  await page.waitForLoadState("networkidle");
  if (widthOf(page) <= PHONE) {
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    expect.soft(scrollWidth, `${page.url()} scrolls sideways at ${PHONE} px`).toBeLessThanOrEqual(PHONE);
  }
  const cut = await page.evaluate(() => {
    // a person cannot scroll a box that clips; Playwright scrolls one to reach an element
    // in it: undo that, to see what a person sees
    for (const e of Array.from(document.querySelectorAll("*"))) if (e.scrollLeft && getComputedStyle(e).overflowX === "hidden") e.scrollLeft = 0;
    const scrollsSideways = (el: Element | null): boolean => {
      for (let e = el; e && e !== document.body; e = e.parentElement) {
        const s = getComputedStyle(e);
        if ((s.overflowX === "auto" || s.overflowX === "scroll") && e.scrollWidth > e.clientWidth) return true;
      }
      return false;
    };
    /** The visible part of the element's box once every ancestor that clips has clipped it. */
    const clippedRight = (el: Element): number => {
      let right = Math.min(el.getBoundingClientRect().right, window.innerWidth);
      for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
        if (getComputedStyle(e).overflowX !== "visible") right = Math.min(right, e.getBoundingClientRect().right);
      }
      return right;
    };
    return Array.from(document.querySelectorAll("button, a, input, select, textarea, th, td"))
      .filter((el) => {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === "hidden") return false;
        return (clippedRight(el) < r.right - 1 || r.left < -1) && !scrollsSideways(el.parentElement);
      })
      .map((el) => {
        const r = el.getBoundingClientRect();
        const name = el.getAttribute("aria-label") ?? el.getAttribute("placeholder") ?? el.textContent?.trim() ?? el.tagName;
        return `${el.tagName.toLowerCase()} "${name.slice(0, 40)}" spans ${Math.round(r.left)}–${Math.round(r.right)} px`;
      });
  });
  expect.soft(cut, `${page.url()} at ${widthOf(page)} px cuts off controls or table cells`).toEqual([]);
}

/** Open `url` (must answer 2xx) and check the layout. */
export async function visit(page: Page, url: string) {
  const res = await page.goto(url);
  expect(res?.status(), `${url} answered ${res?.status()}`).toBeLessThan(300);
  await checkLayout(page);
}

/** Follow a section link of the one navigation (dashboard or member app). */
export async function nav(page: Page, title: string, path: string) {
  await page.locator(".section-nav").getByRole("link", { name: title, exact: true }).click();
  await page.waitForURL((u) => u.pathname === path);
  await expect.poll(() => page.locator(".section-nav").getByRole("link", { name: title, exact: true }).getAttribute("aria-current")).toBe("page");
  await checkLayout(page);
}

/** The one navigation: these sections, in this order, each a link to its own route. */
export async function expectSections(page: Page, root: string, sections: [string, string][]) {
  const links = page.locator(".section-nav").getByRole("link");
  expect(await links.evaluateAll((as) => as.map((a) => a.getAttribute("href")))).toEqual(sections.map(([, path]) => `${root}${path}`));
  for (const [title, path] of sections)
    expect(await page.locator(".section-nav").getByRole("link", { name: title, exact: true }).getAttribute("href"), title).toBe(`${root}${path}`);
}

export async function shot(page: Page, name: string) {
  await page.screenshot({ path: `test-results/${name}-${widthOf(page)}.png`, fullPage: true });
}

export const text = async (page: Page | Locator, testId: string) => (await page.getByTestId(testId).first().textContent())?.replace(/\s+/g, " ").trim();
/** Wait until `testId` shows `expected` (after an action re-renders the page). */
export const shows = (page: Page | Locator, testId: string, expected: string) => expect.poll(() => text(page, testId), { timeout: 10_000 }).toBe(expected);

/** The body rows of a table, each as its cells' text. */
export async function rows(table: Locator): Promise<string[][]> {
  await table.waitFor();
  return table
    .locator("tbody tr")
    .evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td, th")).map((c) => (c.textContent ?? "").replace(/\s+/g, " ").trim())));
}
export const table = (page: Page | Locator, name: string) => page.getByRole("table", { name, exact: true });

/** A status or error message of a form, once it appears. */
export async function says(form: Locator, message: string | RegExp, role: "status" | "alert" = "status") {
  await form.getByRole(role).filter({ hasText: message }).waitFor().catch(async (e) => {
    throw new Error(`${e}\n the form says: ${await form.textContent().catch(() => "(gone)")}`);
  });
}

/**
 * A new buyer pays $49.99 through `code`'s link: the link, the demo Whop checkout, and
 * "simulate purchase" (a signed payment.succeeded to the app's own webhook endpoint).
 * Returns the buyer's username.
 */
export async function purchaseThrough(page: Page, code: string): Promise<string> {
  const buyer = `Buyer ${randomUUID().slice(0, 8)}`;
  await page.goto(`${base}/r/${code}`);
  await page.waitForURL("**/demo/checkout/**");
  expect(await text(page, "checkout-code")).toBe(code);
  await checkLayout(page);
  await page.getByRole("textbox").fill(buyer);
  await page.getByRole("button", { name: /Simulate purchase/ }).click();
  await page.getByText(`${buyer} paid $49.99`).waitFor();
  return buyer.toLowerCase().replace(/[^a-z0-9]+/g, "");
}

/** The level-1 commission of the buyer's payment. */
export async function commissionOfBuyer(username: string) {
  const [c] = await sql(
    `select c.* from public.commissions c
       join public.payments p on p.company_id = c.company_id and p.payment_id = c.payment_id
       join public.users u on u.company_id = p.company_id and u.user_id = p.user_id
     where c.company_id = $1 and u.username = $2 and c.level = 1`,
    [COMPANY, username],
  );
  expect(c, `no commission for ${username}'s payment`).toBeTruthy();
  return c;
}

/** The commission every test's purchase earns: 20% of $49.99 = 999.8 cents, rounded to $10.00. */
export async function expectDefaultRate() {
  const p = await program();
  expect(p.commission_rate_bp, "the demo program's commission is 20% (a settings test left it changed?)").toBe(2000);
  expect(p.commission_type ?? "percentage").toBe("percentage");
}

/** The referral the buyer's payment converted (its fraud review fields included). */
export async function referralOfBuyer(username: string) {
  const [r] = await sql(
    `select r.* from public.referrals r join public.users u on u.company_id = r.company_id and u.user_id = r.referee_user_id
     where r.company_id = $1 and u.username = $2`,
    [COMPANY, username],
  );
  expect(r, `no referral for ${username}`).toBeTruthy();
  return r;
}

const FRAUD_COLUMNS = ["fraud_mode", "fraud_hold_score", "fraud_velocity_hour", "fraud_velocity_day", "fraud_min_seconds", "fraud_weights"] as const;

/**
 * Run this file's tests with these fraud settings (update_program_settings, as the
 * settings form saves them; the default weights unless they say otherwise) and put back
 * what the program had after its last test.
 */
export function useFraudSettings(settings: Record<string, unknown>) {
  let before: Record<string, unknown> | undefined;
  beforeAll(async () => {
    before = (await sql(`select ${FRAUD_COLUMNS.join(", ")} from public.programs where company_id = $1`, [COMPANY]))[0];
    // the default weights, unless `settings` gives some
    await sql(`update public.programs set fraud_weights = '{}' where company_id = $1`, [COMPANY]);
    await fn("update_program_settings", COMPANY, JSON.stringify(settings));
  });
  afterAll(async () => {
    if (!before) return;
    await sql(
      `update public.programs set ${FRAUD_COLUMNS.map((c, i) => `${c} = $${i + 2}`).join(", ")} where company_id = $1`,
      [COMPANY, ...FRAUD_COLUMNS.map((c) => (c === "fraud_weights" ? JSON.stringify(before![c]) : before![c]))],
    );
  });
}

/**
 * Run this file's purchases at the program's own terms: the demo's milestones switched off
 * and its running campaigns limited to a product the demo checkout doesn't sell (so a
 * purchase earns exactly the program's rate and points), put back after the file's last
 * test, with the gamification off (useGamificationOff). test/e2e/campaigns.test.ts is where
 * campaigns and milestones are tested.
 */
export function useProgramTermsOnly() {
  useGamificationOff();
  let campaigns: { id: string; rules: unknown }[] = [];
  let rewards: string[] = [];
  beforeAll(async () => {
    campaigns = await sql(`select id, rules from public.campaigns where company_id = $1 and status <> 'archived'`, [COMPANY]);
    rewards = (await sql(`select id from public.rewards where company_id = $1 and is_active`, [COMPANY])).map((r) => r.id);
    await sql(`update public.campaigns set rules = rules || '{"product_ids": ["prod_notsoldintests"]}' where id = any($1::uuid[])`, [campaigns.map((c) => c.id)]);
    await sql(`update public.rewards set is_active = false where id = any($1::uuid[])`, [rewards]);
  });
  afterAll(async () => {
    for (const c of campaigns) await sql(`update public.campaigns set rules = $2 where id = $1`, [c.id, JSON.stringify(c.rules)]);
    await sql(`update public.rewards set is_active = true where id = any($1::uuid[])`, [rewards]);
  });
}


/**
 * Run this file's purchases without the demo's gamification boosts: streak and tier bonuses
 * and surprise drops off, its running challenges stopped (a purchase earns no extra money or
 * points), put back after the file's last test. test/e2e/gamification.test.ts tests them.
 */
export function useGamificationOff() {
  let before: Record<string, unknown> | undefined;
  let challenges: string[] = [];
  beforeAll(async () => {
    before = (await sql(`select streaks_enabled, tiers_enabled, drop_chance_pct from public.programs where company_id = $1`, [COMPANY]))[0];
    challenges = (await sql(`select id from public.challenges where company_id = $1 and is_active`, [COMPANY])).map((c) => c.id);
    await fn("update_program_settings", COMPANY, JSON.stringify({ streaks_enabled: false, tiers_enabled: false, drop_chance_pct: 0 }));
    await sql(`update public.challenges set is_active = false where id = any($1::uuid[])`, [challenges]);
  });
  afterAll(async () => {
    if (before) await fn("update_program_settings", COMPANY, JSON.stringify(before));
    await sql(`update public.challenges set is_active = true where id = any($1::uuid[])`, [challenges]);
  });
}
