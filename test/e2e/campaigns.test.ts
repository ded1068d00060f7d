/**
 * Campaigns and milestones in a real browser (test/e2e/browser.ts: Debian's chromium against
 * the demo app, whose Whop calls go to its local stand-in).
 *
 *  - The creator creates a campaign in the Campaigns section (a bad bonus rate is refused
 *    in the form, nothing written), scheduled: it runs at once; and a milestone in Rewards
 *    one referral away for Alex.
 *  - Alex sees the campaign on Home (what it pays) and the milestone's progress in Rewards;
 *    a stranger buys through Alex's link (the demo's simulated purchase): the commission
 *    carries the campaign's bonus, and Alex's Rewards show the promo code Whop made.
 *  - The creator ends the campaign early: its final standings show Alex with the prize,
 *    and the points prize is in Alex's points.
 * Expectations are read from the demo database through the functions the pages call.
 */
import { describe, expect, it } from "vitest";
import { promoCodeFor } from "../../lib/rewards";
import { DEMO_EXPERIENCE_ID } from "../../lib/demo";
import {
  ALEX, CASEY, checkLayout, codeOf, commissionOfBuyer, COMPANY, DASH, fn, HOME, nav, open, purchaseThrough, says, shot, shows, sql, text, useBrowser, useFraudSettings, useGamificationOff, visit,
} from "./browser";

useBrowser();
// the campaign's bonus alone on top of the program's rate: no streak or tier bonus, no drops
useGamificationOff();
// velocity limits out of reach: the browser files buy through the same links many times an
// hour (a held referral would rightly not count; the SQL tests cover that)
useFraudSettings({ fraud_mode: "hold", fraud_hold_score: 50, fraud_min_seconds: 10, fraud_velocity_hour: 1000, fraud_velocity_day: 10000 });

const RUN = Date.now().toString(36).slice(-5);
const today = () => new Date().toISOString().slice(0, 10);
const inDays = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);

describe.each([1100, 375])("campaigns and milestones at %i px", (width) => {
  it("create a campaign and a milestone, a referral through the link earns the bonus and the code, ending it awards the prize", { timeout: 120_000 }, async () => {
    // the demo program is in UTC: today's date starts the campaign now
    expect((await sql(`select timezone from public.programs where company_id = $1`, [COMPANY]))[0].timezone).toBe("UTC");
    const name = `Sprint ${RUN} ${width}`;
    const creator = await open(width, CASEY);
    await visit(creator, DASH);
    await nav(creator, "Campaigns", `/dashboard/${COMPANY}/campaigns`);
    const form = creator.getByRole("form", { name: "New campaign" });
    await form.getByLabel("Campaign name").fill(name);
    await form.getByLabel("Start date").fill(today());
    await form.getByLabel("End date").fill(inDays(1));
    await form.getByLabel("Bonus rate percent").fill("ten");
    await form.getByRole("button", { name: "Schedule" }).click();
    await says(form, "The bonus rate is a percent from 0 to 100, like 5 or 2.5", "alert");
    expect(await sql(`select 1 from public.campaigns where name = $1`, [name])).toEqual([]);
    await form.getByLabel("Bonus rate percent").fill("10");
    await form.getByLabel("Bonus points").fill("50");
    await form.getByLabel("Place 1 prize", { exact: true }).selectOption("points");
    await form.getByLabel("Place 1 prize value").fill("777");
    await form.getByRole("button", { name: "Schedule" }).click();
    await says(form, `Scheduled "${name}".`);
    await creator.getByRole("link", { name }).waitFor();
    const [campaign] = await sql(`select id, rules, prizes from public.campaigns where name = $1`, [name]);
    expect(campaign.rules).toEqual({ bonus_rate_bp: 1000, bonus_points: 50, product_ids: [] });
    expect(campaign.prizes).toEqual({ top: [{ reward_type: "points", reward_data: { points: 777 } }], reach: null });
    await checkLayout(creator);

    // a milestone one referral away for Alex
    const progress = (await fn("get_member_rewards", COMPANY, ALEX.id)).conversions as number;
    const milestone = `Half off ${RUN} ${width}`;
    await nav(creator, "Rewards", `/dashboard/${COMPANY}/rewards`);
    const m = creator.getByRole("form", { name: "New milestone" });
    await m.getByLabel("Milestone name").fill(milestone);
    await m.getByLabel("Referrals needed").fill(String(progress + 1));
    await m.getByLabel("Reward", { exact: true }).selectOption("discount");
    await m.getByLabel("Reward value").fill("50");
    await m.getByRole("button", { name: "Add milestone" }).click();
    await says(m, `Added "${milestone}".`);
    await checkLayout(creator);
    await shot(creator, `dashboard-rewards-milestones-${width}`);

    // Alex: the campaign on Home, the milestone one referral away
    const alex = await open(width, ALEX);
    await visit(alex, HOME);
    const card = alex.getByTestId("campaign-card");
    await card.waitFor();
    expect(await card.textContent()).toContain(name);
    expect(await card.textContent()).toContain("Every referral who pays now earns you +10% commission and +50 points.");
    await checkLayout(alex);
    await nav(alex, "Rewards", `/experiences/${DEMO_EXPERIENCE_ID}/rewards`);
    const slug = milestone.toLowerCase().replace(/[^a-z0-9]+/g, "-");
    expect(await text(alex, `milestone-${slug}`)).toContain("1 more referral to unlock 50% off");

    // a stranger buys through Alex's link
    const stranger = await open(width);
    const buyer = await purchaseThrough(stranger, await codeOf(ALEX.id));
    const c = await commissionOfBuyer(buyer);
    // 30 % of $49.99 = 1499.7 → $15.00
    expect([c.rate_bp, c.campaign_bonus_bp, c.campaign_id, Number(c.amount_cents)]).toEqual([3000, 1000, campaign.id, 1500]);
    await alex.reload();
    const [r] = await sql(
      `select d.id, d.status, d.result from public.reward_redemptions d join public.rewards w on w.id = d.reward_id where w.name = $1 and d.user_id = $2`,
      [milestone, ALEX.id],
    );
    expect(r.status).toBe("granted");
    const unlocked = alex.getByTestId("unlocked-reward").filter({ hasText: milestone });
    expect(await unlocked.getByTestId("promo-code").textContent()).toBe(promoCodeFor(r.id));
    expect(await text(alex, `milestone-${slug}`)).toContain("Unlocked: 50% off");
    await checkLayout(alex);
    await shot(alex, `member-rewards-milestones-${width}`);
    await nav(alex, "Home", `/experiences/${DEMO_EXPERIENCE_ID}`);
    expect(await text(alex, "campaign-place")).toBe("#1");

    // the creator ends it early: final standings, the prize given
    await visit(creator, `${DASH}/campaigns/${campaign.id}`);
    const end = creator.getByRole("form", { name: "End now campaign" });
    await end.getByRole("button", { name: "End now" }).click();
    // the page comes back without the button: ended
    await shows(creator, "campaign-status", "ended");
    await creator.getByRole("heading", { name: "Final standings" }).waitFor();
    const standings = creator.getByRole("table", { name: "Standings", exact: true });
    expect((await standings.locator("tbody tr").first().textContent())?.replace(/\s+/g, " ")).toBe(`1${ALEX.username}1777 points`);
    const prize = await sql(
      `select points::int from public.transactions where company_id = $1 and user_id = $2 and points_type = 'CAMPAIGN_PRIZE' and memo = $3`,
      [COMPANY, ALEX.id, `${name} — place 1`],
    );
    expect(prize).toEqual([{ points: 777 }]);
    await checkLayout(creator);
    await Promise.all([creator, alex, stranger].map((p) => p.context().close()));
  });
});

describe("a draft campaign's terms", () => {
  it("free access only to the company's plans; a draft edited on its page (only what changed is sent), then archived", { timeout: 90_000 }, async () => {
    const name = `Draft ${RUN}`;
    const creator = await open(1100, CASEY);
    await visit(creator, `${DASH}/campaigns`);
    const form = creator.getByRole("form", { name: "New campaign" });
    await form.getByLabel("Campaign name").fill(name);
    await form.getByLabel("Start date").fill(inDays(10));
    await form.getByLabel("End date").fill(inDays(12));
    await form.getByLabel("Place 1 prize", { exact: true }).selectOption("product_unlock");
    await form.getByLabel("Place 1 prize value").fill("plan_notthiscompany");
    await form.getByRole("button", { name: "Save as draft" }).click();
    await says(form, "Free access must be to one of this company's plans", "alert");
    expect(await sql(`select 1 from public.campaigns where name = $1`, [name])).toEqual([]);
    // a place left empty before a prized one is refused too
    await form.getByLabel("Place 1 prize", { exact: true }).selectOption("");
    await form.getByLabel("Place 2 prize", { exact: true }).selectOption("points");
    await form.getByLabel("Place 2 prize value").fill("10");
    await form.getByRole("button", { name: "Save as draft" }).click();
    await says(form, "Give place 1 a prize before the places after it", "alert");
    expect(await sql(`select 1 from public.campaigns where name = $1`, [name])).toEqual([]);
    await form.getByLabel("Place 2 prize", { exact: true }).selectOption("");
    await form.getByLabel("Place 1 prize", { exact: true }).selectOption("product_unlock");
    await form.getByLabel("Place 1 prize value").fill("plan_referlydemoyr");
    await form.getByRole("button", { name: "Save as draft" }).click();
    await says(form, `Saved "${name}" as a draft.`);
    const [made] = await sql(`select id, rules, prizes, start_date, end_date, scheduled from public.campaigns where name = $1`, [name]);
    expect(made.scheduled).toBe(false);
    expect(made.prizes).toEqual({ top: [{ reward_type: "product_unlock", reward_data: { plan_id: "plan_referlydemoyr" } }], reach: null });

    await visit(creator, `${DASH}/campaigns/${made.id}`);
    await shows(creator, "campaign-status", "draft");
    const edit = creator.getByRole("form", { name: "Edit campaign" });
    // the form shows the campaign as it is
    expect(await edit.getByLabel("Start date").inputValue()).toBe(inDays(10));
    expect(await edit.getByLabel("End date").inputValue()).toBe(inDays(12));
    expect(await edit.getByLabel("Place 1 prize value").inputValue()).toBe("plan_referlydemoyr");
    // a bad value: a visible error, nothing written
    await edit.getByLabel("Bonus rate percent").fill("2.555");
    await edit.getByRole("button", { name: "Save" }).click();
    await says(edit, "The bonus rate is a percent from 0 to 100, like 5 or 2.5", "alert");
    expect((await sql(`select rules from public.campaigns where id = $1`, [made.id]))[0].rules).toEqual(made.rules);
    await edit.getByLabel("Bonus rate percent").fill("7.55");
    await edit.getByLabel("Start date").fill(inDays(11));
    await edit.getByLabel("Demo Community Membership").check();
    await edit.getByRole("button", { name: "Save" }).click();
    await says(edit, "Saved.");
    const [after] = await sql(`select rules, prizes, start_date, end_date from public.campaigns where id = $1`, [made.id]);
    expect(after.rules).toEqual({ bonus_rate_bp: 755, bonus_points: 0, product_ids: ["prod_referlydemo"] });
    expect(after.prizes).toEqual(made.prizes);
    expect(after.start_date.toISOString()).toBe(`${inDays(11)}T00:00:00.000Z`);
    expect(after.end_date.toISOString()).toBe(made.end_date.toISOString());
    // the end before the start: the database's reason, nothing written
    await edit.getByLabel("End date").fill(inDays(5));
    await edit.getByRole("button", { name: "Save" }).click();
    await says(edit, "The campaign must end after it starts", "alert");
    expect((await sql(`select end_date from public.campaigns where id = $1`, [made.id]))[0].end_date.toISOString()).toBe(made.end_date.toISOString());

    await creator.getByRole("form", { name: "Archive campaign" }).getByRole("button", { name: "Archive" }).click();
    await shows(creator, "campaign-status", "archived");
    expect(await creator.getByRole("form", { name: "Edit campaign" }).count()).toBe(0);
    await checkLayout(creator);
    await creator.context().close();
  });
});
