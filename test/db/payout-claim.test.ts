/**
 * A payout is sent once at a time: claiming its send (start_payout) is atomic. Twenty
 * approvals of one payout at the same moment, on separate connections: one claims it, the
 * nineteen others are refused "already being paid" (so the app never calls Whop for them).
 * Only the payouts job resends, and only a payout whose send got no answer 10 minutes ago.
 */
import { afterAll, describe, expect, inject, it } from "vitest";
import { DomainError } from "../../lib/db";
import { createPgBackend } from "../../lib/db/pg";
import { call, expectDomainError, ids, sqlRows as rows } from "../helpers";
import { requestPayout, settings } from "../world";
import { db, earn, sql } from "./lifecycle.world";

const backends = Array.from({ length: 20 }, () => createPgBackend(inject("sqlDbUrl"), 1));
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
  await db.close();
  await sql.end();
});

describe("a payout is sent once at a time", () => {
  it("20 approvals at once: one claims the send, 19 are refused 'already being paid'; the job resends only after 10 minutes", async () => {
    const t = ids();
    await earn(t.company, t.referrer, t.referee, [100]);
    await settings(t.company, { ledger_account_id: "ldgr_claimtest" });
    const po = await requestPayout(t.company, t.referrer);

    const results = await Promise.allSettled(
      backends.map((b) => call("start_payout", { p_company_id: t.company, p_payout_id: po.id }, b)),
    );
    const claimed = results.filter((r) => r.status === "fulfilled").map((r) => (r as PromiseFulfilledResult<{ status: string; amount_cents: number }>).value);
    const refused = results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason as DomainError);
    expect(claimed).toEqual([expect.objectContaining({ id: po.id, status: "processing", amount_cents: 2000 })]);
    expect(refused.map((e) => [e.status, e.message])).toEqual(Array(19).fill([409, "This payout is already being paid"]));
    expect(await rows(`select status, attempts from public.payouts where id = $1`, [po.id])).toEqual([{ status: "processing", attempts: 1 }]);

    // the creator again, and the job before the send is 10 minutes old: refused, nothing moves
    await expectDomainError(call("start_payout", { p_company_id: t.company, p_payout_id: po.id }), 409, "This payout is already being paid");
    await expectDomainError(
      call("start_payout", { p_company_id: t.company, p_payout_id: po.id, p_resend: true }),
      409,
      "This payout is already being paid",
    );
    // no answer for 11 minutes: the job resends it (same payout id = same idempotence key), the creator still can't
    await rows(`update public.payouts set updated_at = now() - interval '11 minutes' where id = $1`, [po.id]);
    await expectDomainError(call("start_payout", { p_company_id: t.company, p_payout_id: po.id }), 409, "This payout is already being paid");
    expect(await call("start_payout", { p_company_id: t.company, p_payout_id: po.id, p_resend: true })).toMatchObject({
      id: po.id,
      status: "processing",
      amount_cents: 2000,
    });
    expect(await rows(`select status, attempts from public.payouts where id = $1`, [po.id])).toEqual([{ status: "processing", attempts: 2 }]);
  });
});
