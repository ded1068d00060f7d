/**
 * One lock order for every writer of a company (its rollups lock first): what Whop sends
 * together for one member — a refund of the first payment, the membership's deactivation
 * and reactivation, a renewal — applied at the same moment on separate connections, 200
 * times over, never deadlocks, and ends exact: the refund reversed the first payment's
 * commission to the cent, the renewal earned its own, and the rollups agree with the rows.
 */
import { afterAll, describe, expect, inject, it } from "vitest";
import { createPgBackend } from "../../lib/db/pg";
import { call, codeOf, ids, pay, paymentData, sqlRows, uid } from "../helpers";

const backends = Array.from({ length: 4 }, () => createPgBackend(inject("sqlDbUrl"), 1));
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

const membership = (type: "membership.activated" | "membership.deactivated", user: string) => ({
  id: uid("mem_"),
  status: type === "membership.activated" ? "active" : "expired",
  user: { id: user, username: `name_${user.slice(-6)}`, name: null },
  metadata: null,
});

describe("lock order", () => {
  it("a member's refund, deactivation, activation and renewal sent together, 200 times: no deadlock, exact money", { timeout: 180_000 }, async () => {
    const t = ids();
    await call("update_program_settings", { p_company_id: t.company, p_settings: { hold_days: 30, fraud_mode: "off", commission_rate_bp: 2000 } });
    const code = await codeOf(t.company, t.referrer);
    const failures: string[] = [];
    for (let i = 0; i < 200; i++) {
      const buyer = `user_lo${i}_${uid()}`;
      const first = paymentData({ user: buyer, total: 25, code });
      expect((await pay(t.company, first)).outcome).toBe("commission_created");
      const events: [string, Record<string, unknown>][] = [
        ["refund.created", { id: uid("re_"), amount: 25, currency: "usd", status: "succeeded", payment: { id: first.id } }],
        ["membership.deactivated", membership("membership.deactivated", buyer)],
        ["membership.activated", membership("membership.activated", buyer)],
        ["payment.succeeded", paymentData({ user: buyer, total: 25, code })],
      ];
      // each on a connection of its own, all at once (the order they land in varies)
      const results = await Promise.allSettled(
        events.map(([type, data], k) =>
          call("process_webhook_event", { p_event_id: uid("evt_"), p_type: type, p_company_id: t.company, p_data: data }, backends[k]),
        ),
      );
      for (const [k, r] of results.entries()) if (r.status === "rejected") failures.push(`${i} ${events[k][0]}: ${(r.reason as Error).message}`);
    }
    expect(failures).toEqual([]);
    // each member: the first payment's 500-cent commission reversed in full, the renewal's 500 pending
    const money = await sqlRows<{ status: string; n: string; cents: string }>(
      `select status, count(*) as n, sum(amount_cents - reversed_cents) as cents from public.commissions
       where company_id = $1 group by status order by status`,
      [t.company],
    );
    expect(money).toEqual([
      { status: "pending", n: "200", cents: "100000" },
      { status: "reversed", n: "200", cents: "0" },
    ]);
    expect(await call("check_analytics", { p_company_id: t.company })).toEqual({ ok: true, differences: [] });
  });
});
