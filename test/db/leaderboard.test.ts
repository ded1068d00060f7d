/**
 * Leaderboards (supabase/schemas/60_gamification.sql;
 * table referral_leaderboard), on the test Postgres through the typed `rpc` the app uses,
 * data made by signed-webhook data through process_webhook_event.
 *
 * Covered as a member would notice it: ranks by counted referrals with ties to who got there
 * first, held and refunded referrals off the board, the viewer's own rank outside the top 10,
 * last week's rank, weeks in the program's time zone, anonymity (hidden from other members,
 * not from the creator or oneself), and the incremental boards equal to their rebuild.
 */
import { afterAll, describe, expect, it } from "vitest";
import { call, codeOf, expectDomainError, ids, pay, paymentData, sqlDb, sqlRows as rows, uid, webhook } from "../helpers";
import * as world from "../world";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

afterAll(async () => {
  await sqlDb().close();
});

/** A fresh company (world.QUIET) with these settings. */
const company = (settings: Record<string, unknown> = {}) => world.company(settings);
/** A new referee of `referrer` pays $10 (world.buy; the code made from the referrer's id); returns the payment id. */
const buy = async (companyId: string, referrer: string, extra: Record<string, unknown> = {}) =>
  (await world.buy(companyId, { via: referrer, viaUsername: referrer.slice(5, 12), total: 10, extra })).id;
const board = (companyId: string, viewer: string, period = "week", creator = false): Promise<Json> =>
  call("get_leaderboard", { p_company_id: companyId, p_viewer: viewer, p_period: period, p_creator: creator });
const boards = (companyId: string) =>
  rows(
    `select period, period_start::text, user_id, conversions, reached_at from public.leaderboard_counts where company_id = $1 and conversions > 0
     union all select period, period_start::text, conversions::text, members, null from public.leaderboard_levels where company_id = $1 and members > 0
     order by 1, 2, 3`,
    [companyId],
  );

describe("leaderboards", () => {
  it("ranks by counted referrals, ties to who got there first; the viewer's rank outside the top 10", async () => {
    const t = await company();
    const members = Array.from({ length: 12 }, (_, i) => `user_l${String(i).padStart(2, "0")}${uid()}`);
    // member i gets 12 − i referrals… except the last two, with one each (the 11th first)
    for (const [i, m] of members.entries()) for (let k = 0; k < (i < 10 ? 12 - i : 1); k++) await buy(t.company, m);
    const b = await board(t.company, members[11]);
    expect(b.top.map((r: Json) => [r.rank, r.conversions])).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1, 12 - i]));
    expect(b.you).toEqual({ rank: 12, conversions: 1 });
    expect((await board(t.company, members[10])).you).toEqual({ rank: 11, conversions: 1 });
    for (const p of ["month", "all"]) expect((await board(t.company, members[0], p)).you).toEqual({ rank: 1, conversions: 12 });
    await expectDomainError(board(t.company, members[0], "year"), 400, /week, month or all/);
  });

  it("held referrals are off the board until approved; a full refund takes one off and the tie goes back to who reached it first", async () => {
    const t = await company({ fraud_mode: "hold", fraud_hold_score: 20 });
    await buy(t.company, t.referrer, { referly_signals: { email: "x@mailinator.com", email_disposable: true } });
    expect((await board(t.company, t.referrer)).you).toBeNull();
    const [ref] = await rows<Json>(`select id from public.referrals where company_id = $1`, [t.company]);
    await call("decide_referral", { p_company_id: t.company, p_referral_id: ref.id, p_decision: "approve", p_reason: "ok", p_actor: "user_admin1" });
    expect((await board(t.company, t.referrer)).you).toEqual({ rank: 1, conversions: 1 });
    // `other` reaches 1 later, then 2; the 2nd is refunded in full: back to 1, reached at their first → behind the referrer
    await buy(t.company, t.other);
    const second = await buy(t.company, t.other);
    expect((await board(t.company, t.referrer)).you).toEqual({ rank: 2, conversions: 1 });
    await webhook(uid("evt_"), "refund.created", t.company, { id: uid("rfnd_"), amount: 10, status: "succeeded", payment: { id: second } });
    expect((await board(t.company, t.referrer)).you).toEqual({ rank: 1, conversions: 1 });
    expect((await board(t.company, t.other)).you).toEqual({ rank: 2, conversions: 1 });
    // the boards kept in the transactions are what a rebuild from the referrals makes
    const kept = await boards(t.company);
    await call("rebuild_leaderboards", { p_company_id: t.company });
    expect(await boards(t.company)).toEqual(kept);
  });

  it("weeks start on Monday in the program's time zone; last week's rank is shown", async () => {
    const t = await company();
    await call("set_program_timezone", { p_company_id: t.company, p_timezone: "Asia/Tokyo" });
    const start = (at: string) => call("leaderboard_period_start", { p_company_id: t.company, p_period: "week", p_at: at });
    // Sunday 22 Nov 23:00 UTC is Monday 23 Nov 08:00 in Tokyo
    expect(await start("2026-11-22T23:00:00Z")).toBe("2026-11-23");
    expect(await start("2026-11-22T14:00:00Z")).toBe("2026-11-16");
    await buy(t.company, t.referrer);
    // the referral was counted a week ago
    await rows(`update public.referrals set counted_at = counted_at - interval '7 days' where company_id = $1`, [t.company]);
    await call("rebuild_leaderboards", { p_company_id: t.company });
    const b = await board(t.company, t.referrer);
    expect([b.you, b.previous, b.top]).toEqual([null, { rank: 1, conversions: 1 }, []]);
    expect((await board(t.company, t.referrer, "all")).you).toEqual({ rank: 1, conversions: 1 });
  });

  it("an anonymous member is 'Anonymous' to other members, not to the creator or to themselves", async () => {
    const t = await company();
    await buy(t.company, t.referrer);
    await buy(t.company, t.other);
    const name = (b: Json, rank: number) => b.top.find((r: Json) => r.rank === rank).name;
    expect(await call("set_leaderboard_anonymous", { p_company_id: t.company, p_user_id: t.referrer, p_anonymous: true })).toBe(true);
    expect(name(await board(t.company, t.other), 1)).toBe("Anonymous");
    expect(name(await board(t.company, t.other, "week", true), 1)).toBe(t.referrer.slice(5, 12));
    const own = await board(t.company, t.referrer);
    expect([name(own, 1), own.top[0].you, own.anonymous]).toEqual([t.referrer.slice(5, 12), true, true]);
    await expectDomainError(call("set_leaderboard_anonymous", { p_company_id: t.company, p_user_id: "user_nobody", p_anonymous: true }), 404, /No such member/);
  });
});
