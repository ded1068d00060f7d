/**
 * Fuzzing every form: the creator's dashboard sections and the member app of a
 * company of this test's own, in a real browser (Debian's chromium) against the built app
 * with real signed user tokens (x-whop-user-token, as Whop's proxy sends them). Every form on
 * every section — server actions and the GET filters — is filled with hostile values: random
 * unicode and bytes up to 5 000 characters, numbers out of range or in odd notations, markup,
 * SQL, ids of the wrong kind or of another company, impossible dates; inputs lose their type
 * and length limits first (a hostile client sends whatever it likes) and selects get options
 * that were never offered. Each form is submitted several times with different values.
 *
 * Every submission must end in a visible answer or a page, never a 5xx and never an error
 * page; a refusal (role=alert) writes nothing: the company's rows are the same before and
 * after. Values are drawn from a fixed seed (FC_SEED, default 1010; FC_RUNS submissions per
 * form, default 3), so a failure replays.
 */
import fc from "fast-check";
import type { Page, Response } from "playwright-core";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { browser, useBrowser } from "../e2e/browser";
import { apiCodeFor, apiDb, apiSettings, ids, userToken, whopCompany } from "../helpers";

const RUNS = Number(process.env.FC_RUNS ?? 3);
const SEED = Number(process.env.FC_SEED ?? 1010);

useBrowser();

const t = ids();
const admin = `user_adm${t.company.slice(4)}`;
const other = ids(); // another company: its ids must never work here

/** Hostile text for one field. */
const hostile: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "", " ", "-1", "0", "-0", "1e309", "NaN", "Infinity", "99999999999999999999999", "1.005", "0.001", "12.345.6", "1,5",
    "<script>alert(1)</script>", "'; drop table public.programs; --", "\u0000", "\u202e\u0000x", "plan_", "prod_x",
    "user_x", other.company, "00000000-0000-0000-0000-000000000000", "https://evil.example/", "javascript:alert(1)",
    "2026-02-30", "9999-12-31", "0000-01-01", "2026-13-01T25:61", "true", "null", "[]", "{}", "%00", "ü".repeat(200),
  ),
  fc.integer().map(String),
  fc.double({ noNaN: false }).map(String),
  fc.string({ unit: "grapheme", maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.string({ maxLength: 5000 }),
);

/** Everything this company has, as one comparable value (what a refusal must leave alone). */
async function fingerprint(): Promise<Record<string, string>> {
  const tables = ["programs", "referral_codes", "retired_codes", "campaigns", "rewards", "points_items", "reward_redemptions",
    "redemptions", "transactions", "payouts", "commissions", "referrals", "points_balances", "challenges", "notifications"];
  const out: Record<string, string> = {};
  for (const table of tables) {
    const [r] = (
      await apiDb().query(
        `select md5(coalesce(string_agg(x::text, ',' order by x::text), '')) as h from public.${table} x where x.company_id = $1`,
        [t.company],
      )
    ).rows;
    out[table] = r.h;
  }
  const [u] = (
    await apiDb().query(
      `select md5(coalesce(string_agg(concat_ws('|', user_id, fraud_trusted_at, fraud_trusted_by), ',' order by user_id), '')) as h
       from public.users where company_id = $1`,
      [t.company],
    )
  ).rows;
  out.trusted = u.h;
  return out;
}

let sample: string[] = [];
/** the campaign made in beforeAll (its page is fuzzed too) */
let campaignId = "";
let next = 0;
const value = () => sample[next++ % sample.length];

beforeAll(async () => {
  sample = fc.sample(hostile, { seed: SEED, numRuns: 2000 });
  await apiSettings(t.company, { hold_days: 0, fraud_mode: "off" });
  await whopCompany(t.company, t.experience, { [admin]: "admin", [t.referrer]: "customer" });
  await whopCompany(other.company, other.experience, { [other.referrer]: "admin" });
  await apiCodeFor(t.company, t.referrer);
  // something for every form to act on: a points item, a milestone, a campaign, a member with points
  const db = apiDb();
  await db.query(`select public.create_points_item($1, $2)`, [t.company, { name: "Sticker", cost_points: 5, grant_type: "custom", grant_config: { note: "mail" } }]);
  await db.query(`select public.create_reward($1, $2)`, [t.company, { name: "One", threshold: 1, reward_type: "points", reward_data: { points: 5 } }]);
  campaignId = (await db.query(`select (public.create_campaign($1, $2))->>'id' as id`, [
    t.company, { name: "Now", start_date: new Date(Date.now() - 3_600_000).toISOString(), end_date: new Date(Date.now() + 86_400_000).toISOString(), scheduled: true },
  ])).rows[0].id;
  await db.query(`select public.grant_points($1, $2, 50, 'start')`, [t.company, t.referrer]);
});

/** A page of the app as `user`, with 5xx answers collected. */
async function open(user: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ extraHTTPHeaders: { "x-whop-user-token": await userToken(user) } });
  const page = await context.newPage();
  page.setDefaultTimeout(8_000);
  const errors: string[] = [];
  page.on("response", (r: Response) => {
    if (r.status() >= 500) errors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  return { page, errors };
}

/** Strip the form's fields of type and length limits, fill them with hostile values, offer selects new options. */
async function fillHostile(page: Page, label: string): Promise<string[]> {
  const filled: string[] = [];
  const fields = page.locator(`form[aria-label="${label.replace(/"/g, '\\"')}"]`).first().locator("input, textarea, select");
  const n = await fields.count();
  for (let i = 0; i < n; i++) {
    const f = fields.nth(i);
    const v = value();
    filled.push(v);
    await f.evaluate(
      (el, [v, pickReal]) => {
        if (el instanceof HTMLSelectElement) {
          if (pickReal === "1" && el.options.length) {
            el.selectedIndex = v.length % el.options.length;
          } else {
            const o = document.createElement("option");
            o.value = v;
            o.textContent = "x";
            el.appendChild(o);
            el.value = v;
          }
          return;
        }
        const input = el as HTMLInputElement;
        if (input.type === "hidden" || input.type === "submit") return;
        if (input.type === "checkbox") {
          input.checked = v.length % 2 === 0;
          input.value = v;
          return;
        }
        input.removeAttribute("maxlength");
        input.removeAttribute("required");
        input.setAttribute("type", "text");
        input.value = v;
      },
      [v, String(v.length % 3 === 0 ? 0 : 1)] as const,
    );
  }
  return filled;
}

/** Submit the labelled form once with hostile values; checks the answer and, on a refusal, that nothing was written. */
async function submitOnce(page: Page, errors: string[], label: string) {
  const form = () => page.locator(`form[aria-label="${label.replace(/"/g, '\\"')}"]`).first();
  if ((await form().count()) === 0) return "gone";
  const filled = JSON.stringify(await fillHostile(page, label));
  const before = await fingerprint();
  const isGet = (await form().getAttribute("method")) === "get";
  // a hostile client submits whatever it likes: a disabled or hidden button is no obstacle
  const buttons = form().locator('button[type="submit"]:visible:enabled, button:not([type]):visible:enabled');
  const nButtons = await buttons.count();
  // the answer to this submission: the action's POST, or the GET form's navigation
  const answered = page
    .waitForResponse((r) => (isGet ? r.request().isNavigationRequest() : r.request().method() === "POST"), { timeout: 10_000 })
    .catch(() => null);
  if (nButtons) await buttons.nth(next % nButtons).click();
  else await form().evaluate((f) => (f as HTMLFormElement).requestSubmit());
  await answered;
  let refused = false;
  if (isGet) {
    await page.waitForLoadState("load");
  } else {
    // the form re-renders with this answer's message once the action's state arrives
    await page.locator(`form[aria-label="${label.replace(/"/g, '\\"')}"][aria-busy="false"]`).first().waitFor({ timeout: 8_000 }).catch(() => {});
    refused = (await form().getByRole("alert").count()) > 0;
  }
  const body = await page.locator("body").innerText();
  expect(body, `${label} with ${filled}: an error page`).not.toMatch(/Application error|Internal Server Error|This page couldn.t load/);
  expect(errors, `${label} with ${filled}: a 5xx`).toEqual([]);
  if (refused) expect(await fingerprint(), `${label} with ${filled}: refused but wrote`).toEqual(before);
  return refused ? "refused" : "answered";
}

async function fuzzSection(user: string, path: string) {
  const { page, errors } = await open(user);
  const url = `${inject("apiUrl")}${path}`;
  const res = await page.goto(url);
  expect(res?.status(), path).toBe(200);
  const labels = [...new Set(await page.locator("form[aria-label]").evaluateAll((fs) => fs.map((f) => f.getAttribute("aria-label")!)))];
  expect(labels.length, `${path} has forms`).toBeGreaterThan(0);
  const outcomes: string[] = [];
  for (const label of labels) {
    for (let r = 0; r < RUNS; r++) {
      if (!page.url().startsWith(url)) await page.goto(url);
      outcomes.push(`${label}: ${await submitOnce(page, errors, label)}`);
    }
  }
  await page.context().close();
  return outcomes;
}

describe("hostile values in every form", () => {
  const dash = `/dashboard/${t.company}`;
  const home = `/experiences/${t.experience}`;
  it.each([
    [`${dash}/settings`, "creator"],
    [`${dash}/rewards`, "creator"],
    [`${dash}/rewards/challenges`, "creator"],
    [`${dash}/campaigns`, "creator"],
    [`${dash}/campaigns/:campaign`, "creator"],
    [`${dash}/members/${t.referrer}`, "creator"],
    [`${dash}/commissions`, "creator"],
    [`${dash}/payouts`, "creator"],
    [`${dash}/fraud`, "creator"],
    [home, "member"],
    [`${home}/earnings`, "member"],
    [`${home}/rewards`, "member"],
    [`${home}/leaderboard`, "member"],
  ])("%s (%s): never a 5xx or an error page, a refusal writes nothing", { timeout: 240_000 }, async (path, who) => {
    const outcomes = await fuzzSection(who === "creator" ? admin : t.referrer, path.replace(":campaign", campaignId));
    expect(outcomes.length).toBeGreaterThan(0);
  });
});
