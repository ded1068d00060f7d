/**
 * The member app's Leaderboard in a real browser (test/e2e/browser.ts: Debian's chromium
 * against the demo app): Alex gets referrals this week through the demo's simulated
 * purchases and sees the week's top 10 with their own row and rank as get_leaderboard gives
 * them; Alex chooses to show as Anonymous: Sam then sees "Anonymous" at Alex's rank, Alex
 * still sees their own name; Alex shows their name again. At 1100 px and on a phone.
 */
import { describe, expect, it } from "vitest";
import { DEMO_EXPERIENCE_ID } from "../../lib/demo";
import { ALEX, base, checkLayout, codeOf, COMPANY, fn, HOME, nav, open, purchaseThrough, rows, SAM, table, text, useBrowser, useFraudSettings, visit } from "./browser";

useBrowser();
// velocity limits out of reach: the browser files buy through the same links many times an hour
useFraudSettings({ fraud_mode: "hold", fraud_hold_score: 50, fraud_min_seconds: 10, fraud_velocity_hour: 1000, fraud_velocity_day: 10000 });

const LEADERBOARD = `/experiences/${DEMO_EXPERIENCE_ID}/leaderboard`;
const board = (userId: string) => fn("get_leaderboard", COMPANY, userId, "week", false);

describe.each([1100, 375])("the leaderboard at %i px", (width) => {
  it("the week's top 10 with the member's own rank; anonymity hides the name from other members only", { timeout: 120_000 }, async () => {
    // three referrals through Alex's link this week: Alex is on the board
    const stranger = await open(width);
    for (let i = 0; i < 3; i++) await purchaseThrough(stranger, await codeOf(ALEX.id));
    await stranger.context().close();

    const alex = await open(width, ALEX);
    await visit(alex, HOME);
    await nav(alex, "Leaderboard", LEADERBOARD);
    const mine = await board(ALEX.id);
    expect(mine.you.conversions).toBeGreaterThanOrEqual(3);
    expect(mine.you.rank).toBeLessThanOrEqual(10);
    expect(await rows(table(alex, "Leaderboard"))).toEqual(
      mine.top.map((r: { rank: number; name: string; conversions: number; you: boolean }) => [`#${r.rank}`, r.you ? `${r.name} (you)` : r.name, String(r.conversions)]),
    );
    expect(await text(alex, "your-rank")).toContain(`You: #${mine.you.rank} with ${mine.you.conversions} referrals.`);
    await checkLayout(alex);

    const hide = alex.getByRole("form", { name: "Show me as Anonymous" });
    await hide.getByRole("button").click();
    await alex.getByRole("form", { name: "Show my name" }).waitFor();
    const sam = await open(width, SAM);
    await visit(sam, `${base}${LEADERBOARD}`);
    const samRows = await rows(table(sam, "Leaderboard"));
    expect(samRows[mine.you.rank - 1]).toEqual([`#${mine.you.rank}`, "Anonymous", String(mine.you.conversions)]);
    await alex.reload();
    expect((await rows(table(alex, "Leaderboard")))[mine.you.rank - 1][1]).toBe(`${ALEX.username} (you)`);
    const show = alex.getByRole("form", { name: "Show my name" });
    await show.getByRole("button").click();
    await alex.getByRole("form", { name: "Show me as Anonymous" }).waitFor();
    await sam.reload();
    expect((await rows(table(sam, "Leaderboard")))[mine.you.rank - 1][1]).toBe(ALEX.username);
    await Promise.all([alex, sam].map((p) => p.context().close()));
  });
});
