/**
 * Streaks, tiers, challenges and the creator's leaderboard in a real browser (test/e2e/browser.ts:
 * Debian's chromium against the demo app, whose history ends with streaks, tiers and drops on and
 * a challenge "Refer 3 this month"). Two people buy through Sam's link; Sam's Home then shows
 * their tier with what the next one needs, a live streak with its multiplier and days left, the
 * challenge's progress, the commission's rate with its streak — each as
 * get_member_gamification and the commission rows say — at 1100 px and on a phone. The creator
 * sees a member who chose anonymity by name on Members → Leaderboard, the settings preview, and
 * a tiers list out of order refused with a visible error that writes nothing; on Rewards →
 * Challenges the list as list_challenges gives it, a new challenge added, a bad one refused
 * with nothing written, and one stopped.
 */
import { describe, expect, it } from "vitest";
import { DEMO_EXPERIENCE_ID } from "../../lib/demo";
import {
  ALEX, CASEY, checkLayout, codeOf, commissionOfBuyer, COMPANY, DASH, fn, HOME, money, nav, open, program, purchaseThrough, rows, SAM, says, sql, table, text,
  useBrowser, useFraudSettings, visit,
} from "./browser";

useBrowser();
// velocity limits out of reach: the browser files buy through the same links many times an hour
useFraudSettings({ fraud_mode: "hold", fraud_hold_score: 50, fraud_min_seconds: 10, fraud_velocity_hour: 1000, fraud_velocity_day: 10000 });

const game = (userId: string) => fn("get_member_gamification", COMPANY, userId);

describe.each([1100, 375])("gamification at %i px", (width) => {
  it("the member sees their tier, streak and challenge progress; the streak is on the commission", { timeout: 120_000 }, async () => {
    const p = await program();
    expect([p.streaks_enabled, p.tiers_enabled]).toEqual([true, true]);
    const stranger = await open(width);
    await purchaseThrough(stranger, await codeOf(SAM.id));
    const second = await purchaseThrough(stranger, await codeOf(SAM.id));
    await stranger.context().close();

    const g = await game(SAM.id);
    expect(g.streak.active).toBe(true);
    expect(g.streak.current_streak).toBeGreaterThanOrEqual(2);
    // the second purchase's commission carries the streak's multiplier and the tier's bonus
    const c = await commissionOfBuyer(second);
    const tierBp = Math.round(g.tier.bonus_pct * 100);
    expect([Number(c.streak_multiplier), c.tier_bonus_bp]).toEqual([g.streak.multiplier, tierBp]);
    // $49.99 × (the program's rate + the running campaign's bonus + the tier's) × the streak, rounded half down
    expect(c.rate_bp).toBe(p.commission_rate_bp + c.campaign_bonus_bp + tierBp);
    expect(Number(c.amount_cents)).toBe(Math.round((4999 * c.rate_bp * g.streak.multiplier) / 10000 - 1e-9));

    const sam = await open(width, SAM);
    await visit(sam, HOME);
    const tierText = await text(sam, "tier");
    expect(tierText).toContain(`${g.tier.name} tier`);
    if (g.next_tier) expect(tierText).toContain(`${g.next_tier.needs} more conversion${g.next_tier.needs === 1 ? "" : "s"} to ${g.next_tier.name}`);
    expect(await text(sam, "streak")).toContain(
      `🔥 ${g.streak.current_streak}-conversion streak · ×${g.streak.multiplier.toFixed(2)} on your last conversion's commission · ${g.streak.days_left} days left`,
    );
    const challenge = g.challenges.find((x: { challenge_name: string }) => x.challenge_name === "Refer 3 this month");
    expect(await text(sam, "challenge")).toContain(`Refer 3 this month — ${challenge.achieved_referrals} of 3 conversions · wins 300 points`);
    expect(await sam.getByRole("progressbar", { name: "Refer 3 this month progress" }).getAttribute("value")).toBe(String(challenge.achieved_referrals));
    await checkLayout(sam);

    // Earnings: the commission's rate says its streak
    await nav(sam, "Earnings", `/experiences/${DEMO_EXPERIENCE_ID}/earnings`);
    const bonuses = [c.campaign_bonus_bp ? `+${c.campaign_bonus_bp / 100}% campaign` : "", tierBp ? `+${tierBp / 100}% tier` : ""].filter(Boolean);
    const rate = `${c.rate_bp / 100}%${bonuses.length ? ` (${bonuses.join(", ")})` : ""} ×${g.streak.multiplier.toFixed(2)} streak`;
    expect((await rows(table(sam, "Your commissions"))).some((r) => r.includes(rate) && r.includes(money(Number(c.amount_cents))))).toBe(true);
    await sam.context().close();
  });
});

describe("the creator", () => {
  it("sees an anonymous member by name on the leaderboard; the preview; a bad tiers list is refused and nothing is written", { timeout: 120_000 }, async () => {
    await fn("set_leaderboard_anonymous", COMPANY, ALEX.id, true);
    const stranger = await open(1100);
    await purchaseThrough(stranger, await codeOf(ALEX.id));
    await stranger.context().close();
    const casey = await open(1100, CASEY);
    try {
      await visit(casey, `${DASH}/members/leaderboard?period=week`);
      const live = await fn("get_leaderboard", COMPANY, CASEY.id, "week", true);
      expect(await rows(table(casey, "Live leaderboard"))).toEqual(
        live.top.map((r: { rank: number; name: string; conversions: number }) => [`#${r.rank}`, r.name, String(r.conversions)]),
      );
      expect(live.top.map((r: { name: string }) => r.name)).toContain(ALEX.username);
      expect((await rows(table(casey, "Live leaderboard"))).flat()).not.toContain("Anonymous");
      // the demo's history froze its past weeks
      expect(await text(casey, "past-board")).toMatch(/ to \d{4}-\d{2}-\d{2}/);
      await checkLayout(casey);

      await visit(casey, `${DASH}/settings`);
      const preview = await fn("gamification_preview", COMPANY, 10000);
      const shown = await text(casey, "gamification-preview");
      for (const t of preview.tiers) expect(shown).toContain(`${t.name} (${t.min_conversions}+ conversions, +${t.bonus_pct}%): ${money(t.amount_cents)}`);
      const before = (await sql(`select tiers from public.programs where company_id = $1`, [COMPANY]))[0].tiers;
      const form = casey.getByRole("form", { name: "Program settings" });
      await form.locator('input[name="tiers"]').fill("Bronze 0 0%, Gold 20 5%, Silver 5 2%");
      await form.getByRole("button", { name: "Save settings" }).click();
      await says(form, "Silver needs more conversions than the tier before it", "alert");
      expect((await sql(`select tiers from public.programs where company_id = $1`, [COMPANY]))[0].tiers).toEqual(before);
    } finally {
      await fn("set_leaderboard_anonymous", COMPANY, ALEX.id, false);
      await casey.context().close();
    }
  });

  it("lists challenges on Rewards → Challenges, adds one, refuses a bad one with nothing written, and stops one", { timeout: 120_000 }, async () => {
    const casey = await open(1100, CASEY);
    try {
      await visit(casey, `${DASH}/rewards`);
      await casey.getByRole("link", { name: /Challenges: goals for a week/ }).click();
      await casey.waitForURL("**/rewards/challenges");
      const list = async () => (await fn("list_challenges", COMPANY, null)).rows;
      const shown = (c: { challenge_name: string; target_referrals: number; status: string; participants: number; completed: number }) =>
        [c.challenge_name, `${c.target_referrals} conversions`, c.status, String(c.participants), String(c.completed)];
      const tableRows = async () => (await rows(table(casey, "Challenges"))).map((r) => [r[0], r[1], r[4], r[5], r[6]]);
      expect(await tableRows()).toEqual((await list()).map(shown));

      const form = casey.getByRole("form", { name: "New challenge" });
      const before = (await list()).length;
      await form.getByLabel("Challenge name").fill("Two this week");
      await form.getByLabel("Conversions to reach").fill("0");
      await form.getByLabel("Window").selectOption("week");
      await form.getByLabel("Reward value").fill("150");
      await form.getByRole("button", { name: "Add challenge" }).click();
      await says(form, "The target is from 1 to 100 000 conversions", "alert");
      expect((await list()).length).toBe(before);

      await form.getByLabel("Conversions to reach").fill("2");
      await form.getByRole("button", { name: "Add challenge" }).click();
      await says(form, 'Added "Two this week".');
      const added = (await list())[0];
      expect([added.challenge_name, added.target_referrals, added.period, added.status, added.reward_data]).toEqual(["Two this week", 2, "week", "running", { points: 150 }]);
      await casey.reload();
      expect((await tableRows())[0]).toEqual(shown(added));
      expect((await rows(table(casey, "Challenges")))[0][3]).toBe("150 points");
      await checkLayout(casey);

      const stop = casey.getByRole("form", { name: "Stop Two this week" });
      await stop.getByRole("button", { name: "Stop" }).click();
      // stopped: its row says so and has no Stop button any more
      await expect.poll(async () => (await rows(table(casey, "Challenges")))[0][4], { timeout: 10_000 }).toBe("stopped");
      expect(await stop.count()).toBe(0);
      expect((await list())[0].status).toBe("stopped");
    } finally {
      await sql(`update public.challenges set is_active = false where company_id = $1 and challenge_name = 'Two this week'`, [COMPANY]);
      await casey.context().close();
    }
  });
});
