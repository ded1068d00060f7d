/**
 * Fraud review in a real browser (test/e2e/browser.ts: Debian's chromium against the demo
 * app), at 1100 px and on a phone (375 px, where no page may scroll sideways).
 *
 * Held and flagged referrals are made the way they happen: a member opens the member app
 * and buys through their own link from that same browser and address seconds later (same
 * device 30 + same IP 30 + instant purchase 20 = 80 ≥ 50: held, commission on_hold), or a
 * stranger buys through it seconds after the click (instant purchase 20: flagged, paid as
 * usual). Every browser context is a device and an address of its own (browser.ts open()).
 *
 *  - The queue shows them highest score first with each signal in words, the referrer's
 *    other reviews and the money on hold; bulk approve two, reject one with a reason (a
 *    stale second tab gets "1 skipped: already decided"); statuses, commissions, ledger
 *    and the member's balances to the cent afterwards; the member saw "Under review"
 *    (never why) before, and the money as pending after.
 *  - Trusting the referrer from a queue row: the badge, the settings list, the member page;
 *    a trusted member's own-browser purchase is checked but not held; untrust.
 *  - Settings "Fraud checks": bad values are refused field by field with nothing written;
 *    a good save is stored and shown again.
 *  - At 375 px the queue, the member page and the settings do not scroll sideways, and a
 *    row is decided there.
 *
 * Expectations are read from the demo database with the functions the pages call
 * (list_fraud_queue, get_member_fraud, get_member_wallet, …); the plain words of a signal
 * are lib/fraud's explainCheck, and the held ones are also matched against their wording
 * here, independently.
 */
import type { Locator, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { explainCheck, type FraudRow } from "../../lib/fraud";
import { DEMO_EXPERIENCE_ID } from "../../lib/demo";
import {
  CASEY, checkLayout, codeOf, commissionOfBuyer, COMPANY, DASH, day, fn, HOME, money, nav, open, program, purchaseThrough,
  referralOfBuyer, rows, SAM, says, shot, sql, table, text, useBrowser, useFraudSettings, visit, wallet, useProgramTermsOnly,
} from "./browser";

useBrowser();
useProgramTermsOnly();
// the default checks with velocity limits out of reach: the browser tests buy through the
// same links many times a minute (the SQL tests cover velocity)
useFraudSettings({ fraud_mode: "hold", fraud_hold_score: 50, fraud_min_seconds: 10, fraud_velocity_hour: 1000, fraud_velocity_day: 10000 });

const queue = (filter: object): Promise<{ rows: FraudRow[]; next: string | null; counts: { held: number; flagged: number } }> =>
  fn("list_fraud_queue", COMPANY, JSON.stringify(filter));
const memberFraud = (userId: string): Promise<{ trusted: boolean; rows: FraudRow[] }> => fn("get_member_fraud", COMPANY, userId);

/** The referrer's other reviews as the queue words them. */
function history(h: FraudRow["history"]): string {
  const parts = (["held", "flagged", "rejected", "approved"] as const).filter((k) => h[k] > 0).map((k) => `${h[k]} ${k}`);
  return parts.length ? `Other referrals: ${parts.join(", ")}` : "First review";
}

/** A queue row's cells as the open tabs show them (without the checkbox and the buttons). */
const openCells = (r: FraudRow) => [
  `${r.referrer}${r.referrer_trusted ? " trusted" : ""} → ${r.referee}Paid ${day(r.converted_at!)}`,
  String(r.fraud_score),
  r.fraud_status,
  r.held_cents ? money(r.held_cents) : "—",
  r.checks.map((c) => explainCheck(c, r.referrer, r.referrer_user_id)).join(""),
  history(r.history),
];

/** The signals of a purchase made from the referrer's own browser, in words written here. */
function expectOwnBrowserWords(words: string[], referrer: string) {
  expect(words).toHaveLength(3);
  expect(words[0]).toMatch(new RegExp(`^Same device and browser as ${referrer} used opening the member app \\(first seen [A-Z][a-z]{2} \\d{1,2}\\)$`));
  expect(words[1]).toMatch(new RegExp(`^Same IP address as ${referrer} used opening the member app \\(first seen [A-Z][a-z]{2} \\d{1,2}\\)$`));
  expect(words[2]).toMatch(/^Paid \d+(\.\d)? seconds? after clicking the link \(minimum 10\)$/);
}

/**
 * The member opens the member app, then buys through their own link from that same browser
 * seconds later: held. Returns the buyer's username.
 */
async function heldPurchase(width: number, member = SAM): Promise<string> {
  const page = await open(width, member);
  await visit(page, HOME);
  const buyer = await purchaseThrough(page, await codeOf(member.id));
  await page.getByText("its commission is held for fraud review").waitFor();
  await page.context().close();
  return buyer;
}

/** A stranger buys through the member's link seconds after the click: flagged. */
async function flaggedPurchase(width: number, member = SAM): Promise<string> {
  const page = await open(width);
  const buyer = await purchaseThrough(page, await codeOf(member.id));
  await page.getByText("The referral converted and a commission is pending. It was flagged for review").waitFor();
  await page.context().close();
  return buyer;
}

const queueRow = (page: Page, username: string) => table(page, "Review queue").locator("tbody tr").filter({ hasText: username });
const reasonsOf = async (row: Locator) => (await row.getByRole("listitem").allTextContents()).map((t) => t.replace(/\s+/g, " ").trim());
const cellsOf = async (row: Locator) => (await row.locator("td").allTextContents()).map((t) => t.replace(/\s+/g, " ").trim());

/** The ledger rows a fraud decision wrote for the referral's commissions. */
const decisionLedger = (referralId: string) =>
  sql(
    `select t.kind, t.amount_cents::int as amount_cents, t.memo, t.actor_user_id from public.transactions t
       join public.commissions c on c.id::text = t.reference_id and t.reference_type = 'commission'
     where c.referral_id = $1 and t.kind in ('approval', 'cancellation') order by t.created_at`,
    [referralId],
  );

describe("the Fraud section", () => {
  it("shows held and flagged referrals by score with every signal in words; bulk approve two, reject one with a reason; money to the cent; the member sees 'Under review' and never why", async () => {
    const p = await program();
    const firstPoints = p.points_first_payment;
    const w0 = await wallet(SAM.id);

    // three held (Sam's own browser), one flagged (a stranger)
    const held = [await heldPurchase(1100), await heldPurchase(1100), await heldPurchase(1100)];
    const flagged = await flaggedPurchase(1100);
    const refs = await Promise.all([...held, flagged].map(referralOfBuyer));
    const commissions = await Promise.all([...held, flagged].map(commissionOfBuyer));
    expect(refs.map((r) => [r.status, r.fraud_status, r.fraud_score])).toEqual([
      ["converted", "held", 80], ["converted", "held", 80], ["converted", "held", 80], ["converted", "flagged", 20],
    ]);
    expect(commissions.map((c) => [c.status, Number(c.amount_cents)])).toEqual([["on_hold", 1000], ["on_hold", 1000], ["on_hold", 1000], ["pending", 1000]]);
    const w1 = await wallet(SAM.id);
    expect(w1.balances).toEqual({ ...w0.balances, on_hold: w0.balances.on_hold + 3000, pending: w0.balances.pending + 1000 });
    // held: no points until approved; flagged: paid as usual
    expect(w1.points.balance).toBe(w0.points.balance + firstPoints);

    // the member: $30.00 under review, and nothing about why
    const member = await open(1100, SAM);
    await visit(member, HOME);
    expect(await text(member, "under-review")).toBe(`Under review: ${money(w1.balances.on_hold)} of commission is being checked by the creator before it counts.`);
    await nav(member, "Earnings", `/experiences/${DEMO_EXPERIENCE_ID}/earnings`);
    expect(await text(member, "balance-under-review")).toBe(money(w1.balances.on_hold));
    expect(await text(member, "balance-pending")).toBe(money(w1.balances.pending));
    const mine = await rows(table(member, "Your commissions"));
    for (const c of commissions.slice(0, 3)) expect(mine).toContainEqual([day(c.created_at), "1", "20%", "$10.00", "Under review"]);
    expect(await member.locator("main").innerText()).not.toMatch(/device|IP address|seconds after|fraud|held/i);
    await shot(member, "member-under-review");

    // the creator: the queue, filtered to Sam, highest score first
    const page = await open(1100, CASEY);
    await visit(page, DASH);
    await nav(page, "Fraud", `/dashboard/${COMPANY}/fraud`);
    const all = await queue({});
    expect(await text(page, "fraud-counts")).toBe(`${all.counts.held} held · ${all.counts.flagged} flagged`);
    expect(await page.getByRole("navigation", { name: "Review status" }).getByRole("link").allTextContents()).toEqual([
      `Open (${all.counts.held + all.counts.flagged})`, `Held (${all.counts.held})`, `Flagged (${all.counts.flagged})`, "Approved", "Rejected",
    ]);
    expect((await rows(table(page, "Review queue"))).map((r) => r.slice(1, 7))).toEqual(all.rows.map(openCells));
    await shot(page, "dashboard-fraud");

    const filter = page.getByRole("form", { name: "Filter reviews" });
    await filter.getByLabel("Referrer", { exact: true }).fill(SAM.username);
    await filter.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL((u) => u.searchParams.get("member") === SAM.username);
    const sams = await queue({ member: SAM.username });
    await expect.poll(async () => (await rows(table(page, "Review queue"))).map((r) => r.slice(1, 7))).toEqual(sams.rows.map(openCells));
    expect(sams.rows.map((r) => r.fraud_score)).toEqual([...sams.rows.map((r) => r.fraud_score)].sort((a, b) => b - a));
    for (const [i, buyer] of held.entries()) {
      const row = queueRow(page, buyer);
      const cells = await cellsOf(row);
      expect(cells.slice(2, 5), buyer).toEqual(["80", "held", "$10.00"]);
      expectOwnBrowserWords(await reasonsOf(row), SAM.username);
      const r = sams.rows.find((x) => x.id === refs[i].id)!;
      expect(cells[6]).toBe(history(r.history));
      expect(r.history.held).toBeGreaterThanOrEqual(2);
    }
    const flaggedRow = queueRow(page, flagged);
    expect((await cellsOf(flaggedRow)).slice(2, 5)).toEqual(["20", "flagged", "—"]);
    expect(await reasonsOf(flaggedRow)).toEqual([expect.stringMatching(/^Paid \d+(\.\d)? seconds? after clicking the link \(minimum 10\)$/)]);
    await checkLayout(page);

    // a second, stale tab of the same queue
    const stale = await open(1100, CASEY);
    await visit(stale, `${DASH}/fraud?member=${SAM.username}`);

    // bulk: nothing ticked, then no reason — visible errors, nothing written
    const review = page.getByRole("form", { name: "Review referrals" });
    await review.getByRole("button", { name: "Approve selected" }).click();
    await says(review, "Tick at least one referral first.", "alert");
    await review.getByLabel(`Select ${SAM.username} → ${held[0]}`).check();
    await review.getByLabel(`Select ${SAM.username} → ${held[1]}`).check();
    await review.getByRole("button", { name: "Approve selected" }).click();
    await says(review, "Give a reason to approve (it is kept in the ledger).", "alert");
    expect((await referralOfBuyer(held[0])).fraud_status).toBe("held");
    expect(await review.getByLabel(`Select ${SAM.username} → ${held[0]}`).isChecked()).toBe(true);

    // approve two
    await review.getByLabel("Reason", { exact: true }).fill("Sam's own test purchases");
    await review.getByRole("button", { name: "Approve selected" }).click();
    await says(review, "Approved 2.");
    await expect.poll(() => queueRow(page, held[0]).count()).toBe(0);
    expect(await queueRow(page, held[1]).count()).toBe(0);
    expect(await review.getByLabel("Reason", { exact: true }).inputValue()).toBe("");

    // the stale tab rejects one it still shows and one already approved: one skipped
    const staleReview = stale.getByRole("form", { name: "Review referrals" });
    await staleReview.getByLabel(`Select ${SAM.username} → ${held[0]}`).check();
    await staleReview.getByLabel(`Select ${SAM.username} → ${held[2]}`).check();
    await staleReview.getByLabel("Reason", { exact: true }).fill("Same browser as the referrer: self-referral");
    await staleReview.getByRole("button", { name: "Reject selected" }).click();
    await says(staleReview, "Rejected 1; 1 skipped: already decided.");
    await expect.poll(() => queueRow(stale, held[2]).count()).toBe(0);

    // statuses, commissions and ledger to the cent
    const after = await Promise.all([...held, flagged].map(referralOfBuyer));
    expect(after.map((r) => [r.status, r.fraud_status, r.fraud_reason, r.fraud_decided_by])).toEqual([
      ["converted", "approved", "Sam's own test purchases", CASEY.id],
      ["converted", "approved", "Sam's own test purchases", CASEY.id],
      ["cancelled", "rejected", "Same browser as the referrer: self-referral", CASEY.id],
      ["converted", "flagged", null, null],
    ]);
    const moved = await Promise.all([...held, flagged].map(commissionOfBuyer));
    expect(moved.map((c) => [c.status, Number(c.amount_cents), c.available_at.toISOString()])).toEqual([
      ["pending", 1000, commissions[0].available_at.toISOString()],
      ["pending", 1000, commissions[1].available_at.toISOString()],
      ["cancelled", 1000, commissions[2].available_at.toISOString()],
      ["pending", 1000, commissions[3].available_at.toISOString()],
    ]);
    expect(await decisionLedger(refs[0].id)).toEqual([{ kind: "approval", amount_cents: 0, memo: "fraud review: Sam's own test purchases", actor_user_id: CASEY.id }]);
    expect(await decisionLedger(refs[2].id)).toEqual([
      { kind: "cancellation", amount_cents: -1000, memo: "fraud review: Same browser as the referrer: self-referral", actor_user_id: CASEY.id },
    ]);
    const w2 = await wallet(SAM.id);
    expect(w2.balances).toEqual({ ...w0.balances, pending: w0.balances.pending + 3000 });
    expect(w2.points.balance).toBe(w0.points.balance + 3 * firstPoints);

    // the decided tabs
    const tabs = page.getByRole("navigation", { name: "Review status" });
    await tabs.getByRole("link", { name: "Approved" }).click();
    await page.waitForURL((u) => u.searchParams.get("status") === "approved" && u.searchParams.get("member") === SAM.username);
    const approvedRows = await rows(table(page, "Review queue"));
    for (const buyer of held.slice(0, 2)) {
      const row = approvedRows.find((r) => r[0].includes(`→ ${buyer}`));
      expect(row?.slice(1, 3), buyer).toEqual(["80", "approved"]);
      expect(row?.[5]).toBe(`Approved ${day(new Date().toISOString())} by you: Sam's own test purchases`);
    }
    await tabs.getByRole("link", { name: "Rejected" }).click();
    await page.waitForURL((u) => u.searchParams.get("status") === "rejected");
    const rejected = (await rows(table(page, "Review queue"))).find((r) => r[0].includes(`→ ${held[2]}`));
    expect(rejected?.slice(1, 3)).toEqual(["80", "rejected"]);
    expect(rejected?.[5]).toBe(`Rejected ${day(new Date().toISOString())} by you: Same browser as the referrer: self-referral`);
    await checkLayout(page);

    // the flagged one, on its own row: approved, its commission stays pending
    await tabs.getByRole("link", { name: /^Flagged/ }).click();
    await page.waitForURL((u) => u.searchParams.get("status") === "flagged");
    const flaggedReview = page.getByRole("form", { name: "Review referrals" });
    await flaggedReview.getByLabel("Reason", { exact: true }).fill("A real customer");
    await flaggedReview.getByRole("button", { name: `Approve ${SAM.username} → ${flagged}` }).click();
    await says(flaggedReview, "Approved 1.");
    expect((await referralOfBuyer(flagged)).fraud_status).toBe("approved");
    expect((await commissionOfBuyer(flagged)).status).toBe("pending");

    // the member: the money is pending now, to the cent, and nothing is under review
    await member.reload();
    expect(await text(member, "balance-pending")).toBe(money(w0.balances.pending + 3000));
    expect(await member.getByTestId("balance-under-review").count()).toBe(w0.balances.on_hold > 0 ? 1 : 0);
    const now = await rows(table(member, "Your commissions"));
    expect(now).toContainEqual([day(moved[2].created_at), "1", "20%", "$10.00", "cancelled"]);
    expect(now.filter((r) => r[4] === "Under review")).toHaveLength(0);
  }, 180_000);

  it("trusting a referrer from the queue: the badge, the settings list and the member page; a trusted member's own purchase is checked but not held; untrust", async () => {
    const buyer = await heldPurchase(1100);
    const page = await open(1100, CASEY);
    try {
      await visit(page, `${DASH}/fraud?member=${SAM.username}`);
      const row = queueRow(page, buyer);
      await row.getByRole("button", { name: `Trust referrer ${SAM.username}` }).click();
      await says(page.getByRole("form", { name: "Review referrals" }), "Trusted: their next referrals are still checked but never held. Decide the ones already here.");
      await expect.poll(async () => (await cellsOf(row))[1]).toMatch(new RegExp(`^${SAM.username} trusted → ${buyer}`));
      expect(await row.getByRole("button", { name: /^Trust referrer/ }).count()).toBe(0);
      expect((await memberFraud(SAM.id)).trusted).toBe(true);
      // trusting does not decide what is already held
      expect((await referralOfBuyer(buyer)).fraud_status).toBe("held");

      // settings: Sam in the trusted list, linking to their page
      await nav(page, "Settings", `/dashboard/${COMPANY}/settings`);
      const list = page.getByRole("list", { name: "Trusted members" });
      await list.getByRole("link", { name: SAM.username, exact: true }).click();
      await page.waitForURL(`**/members/${SAM.id}`);
      expect(await text(page, "member-trusted")).toBe("trusted");
      // the member page: their reviews with the signals in words
      const mf = await memberFraud(SAM.id);
      const reviews = await rows(table(page, "Member fraud reviews"));
      expect(reviews.map((r) => r.slice(1, 4))).toEqual(mf.rows.map((r) => [String(r.fraud_score), r.fraud_status, r.held_cents ? money(r.held_cents) : "—"]));
      expect(reviews.map((r) => r[4])).toEqual(mf.rows.map((r) => (r.checks.length ? r.checks.map((c) => explainCheck(c, r.referrer, r.referrer_user_id)).join("") : "—")));
      const mine = reviews.find((r) => r[0].startsWith(buyer));
      expect(mine?.slice(1, 5)).toEqual(["80", "held", "$10.00", expect.stringContaining(`Same device and browser as ${SAM.username}`)]);
      expect(mine?.[5]).toBe("Decide in Fraud →");
      await checkLayout(page);
      await shot(page, "dashboard-member-trusted");

      // a trusted member's own-browser purchase: every signal checked and scored, nothing held
      const trustedBuyer = await (async () => {
        const own = await open(1100, SAM);
        await visit(own, HOME);
        const b = await purchaseThrough(own, await codeOf(SAM.id));
        await own.getByText("The referral converted and a commission is pending.").waitFor();
        return b;
      })();
      expect(await referralOfBuyer(trustedBuyer)).toMatchObject({ fraud_status: "clear", fraud_score: 80 });
      expect((await commissionOfBuyer(trustedBuyer)).status).toBe("pending");

      // untrust from the member page
      await page.reload();
      await page.getByRole("form", { name: "Untrust member" }).getByRole("button", { name: "Untrust" }).click();
      await says(page.getByRole("form", { name: "Trust member" }), "No longer trusted: their referrals can be held again.");
      await expect.poll(() => page.getByTestId("member-trusted").count()).toBe(0);
      expect((await memberFraud(SAM.id)).trusted).toBe(false);
      await visit(page, `${DASH}/settings`);
      expect(await page.getByRole("list", { name: "Trusted members" }).getByRole("link", { name: SAM.username, exact: true }).count()).toBe(0);
    } finally {
      await fn("set_member_trusted", COMPANY, SAM.id, false, CASEY.id);
      // leave nothing of this test waiting in the queue
      await fn("decide_referrals", COMPANY, JSON.stringify([(await referralOfBuyer(buyer)).id]), "reject", "left by the trust test", CASEY.id);
    }
  }, 120_000);

  it("Settings 'Fraud checks': bad values are refused field by field and nothing is written; a good save is stored and shown again", async () => {
    const before = await program();
    const defaults = await fn("fraud_default_weights");
    try {
      const page = await open(1100, CASEY);
      await visit(page, `${DASH}/settings`);
      const form = page.getByRole("form", { name: "Program settings" });
      const group = form.getByRole("group", { name: "Fraud checks" });
      const input = (name: string) => group.locator(`[name="${name}"]`);
      // what is set, with each signal's default weight where the program has none
      expect(await input("fraud_mode").inputValue()).toBe(before.fraud_mode);
      expect(await input("fraud_hold_score").inputValue()).toBe(String(before.fraud_hold_score));
      expect(await input("fraud_min_seconds").inputValue()).toBe(String(before.fraud_min_seconds));
      for (const [check, weight] of Object.entries(defaults)) expect(await input(`fraud_weight_${check}`).inputValue(), check).toBe(String(before.fraud_weights[check] ?? weight));
      // each signal in plain words
      expect(await group.textContent()).toContain("Same device weight");
      expect(await group.textContent()).toContain("The buyer clicked from the same browser and device the referrer used.");
      await shot(page, "dashboard-settings-fraud");

      await input("fraud_hold_score").fill("0");
      await input("fraud_weight_ip_duplicate").fill("101");
      await input("fraud_min_seconds").fill("ten");
      await form.getByRole("button", { name: "Save settings" }).click();
      await says(form, "Please fix the highlighted fields.", "alert");
      await group.getByText("Hold score must be from 1 to 100").waitFor();
      await group.getByText("A weight must be from 0 to 100").waitFor();
      await group.getByText("Fast purchase seconds must be a whole number").waitFor();
      expect(await input("fraud_hold_score").getAttribute("aria-invalid")).toBe("true");
      expect(await program()).toMatchObject({ fraud_hold_score: before.fraud_hold_score, fraud_min_seconds: before.fraud_min_seconds, fraud_weights: before.fraud_weights });

      // a day limit below the hour's
      await input("fraud_hold_score").fill("60");
      await input("fraud_weight_ip_duplicate").fill("25");
      await input("fraud_min_seconds").fill("5");
      await input("fraud_velocity_hour").fill("10");
      await input("fraud_velocity_day").fill("9");
      await form.getByRole("button", { name: "Save settings" }).click();
      await group.getByText("Conversions per day must be at least the limit per hour").waitFor();
      expect((await program()).fraud_hold_score).toBe(before.fraud_hold_score);

      await input("fraud_velocity_day").fill("40");
      await input("fraud_mode").selectOption("flag");
      await form.getByRole("button", { name: "Save settings" }).click();
      await says(form, "Settings saved.");
      expect(await program()).toMatchObject({
        fraud_mode: "flag", fraud_hold_score: 60, fraud_min_seconds: 5, fraud_velocity_hour: 10, fraud_velocity_day: 40,
        fraud_weights: { ...defaults, ip_duplicate: 25 },
      });
      await page.reload();
      expect(await input("fraud_mode").inputValue()).toBe("flag");
      expect(await input("fraud_hold_score").inputValue()).toBe("60");
      expect(await input("fraud_weight_ip_duplicate").inputValue()).toBe("25");
      await checkLayout(page);
    } finally {
      await sql(
        `update public.programs set fraud_mode = $2, fraud_hold_score = $3, fraud_min_seconds = $4, fraud_velocity_hour = $5, fraud_velocity_day = $6, fraud_weights = $7
         where company_id = $1`,
        [COMPANY, before.fraud_mode, before.fraud_hold_score, before.fraud_min_seconds, before.fraud_velocity_hour, before.fraud_velocity_day, JSON.stringify(before.fraud_weights)],
      );
    }
  }, 90_000);

  it("at 375 px: the queue, the member page and the settings never scroll sideways; a held row is rejected from the phone", async () => {
    const buyer = await heldPurchase(375);
    const other = await flaggedPurchase(375);
    const page = await open(375, CASEY);
    await visit(page, DASH);
    await nav(page, "Fraud", `/dashboard/${COMPANY}/fraud`);
    await shot(page, "dashboard-fraud");
    await visit(page, `${DASH}/fraud?member=${SAM.username}`);
    const row = queueRow(page, buyer);
    expectOwnBrowserWords(await reasonsOf(row), SAM.username);
    // the table scrolls inside its card; the page does not
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    const review = page.getByRole("form", { name: "Review referrals" });
    await review.getByLabel("Reason", { exact: true }).fill("Not a real customer");
    await row.getByRole("button", { name: `Reject ${SAM.username} → ${buyer}` }).click();
    await says(review, "Rejected 1.");
    await expect.poll(() => queueRow(page, buyer).count()).toBe(0);
    expect(await referralOfBuyer(buyer)).toMatchObject({ status: "cancelled", fraud_status: "rejected" });
    expect((await commissionOfBuyer(buyer)).status).toBe("cancelled");
    await checkLayout(page);
    // select all + approve what is left of Sam's (the flagged one at least)
    await review.getByLabel("Select all").check();
    const left = (await queue({ member: SAM.username })).rows.length;
    await review.getByLabel("Reason", { exact: true }).fill("Checked by phone");
    await review.getByRole("button", { name: "Approve selected" }).click();
    await says(review, `Approved ${left}.`);
    expect((await referralOfBuyer(other)).fraud_status).toBe("approved");
    await checkLayout(page);

    for (const path of [`/members/${SAM.id}`, "/settings", "/fraud?status=rejected"]) {
      await visit(page, `${DASH}${path}`);
      await shot(page, `dashboard-fraud-phone-${path.split(/[/?=]/).filter(Boolean).pop()}`);
    }
    const member = await open(375, SAM);
    await visit(member, `${HOME}/earnings`);
    await checkLayout(member);
  }, 120_000);
});
