/**
 * Money over HTTP against the built app: the cron jobs (/api/cron/<job>, CRON_SECRET),
 * payouts sent through the real @whop/sdk `transfers.create` to the Whop stand-in (which
 * keeps one transfer per idempotence_key, and can be told to refuse or answer late),
 * refunds and disputes as signed webhooks, and the member's wallet as the member view
 * renders it. State is set up and asserted in the API's Postgres through the SQL
 * functions; nothing is mocked.
 *
 * The stand-in and the `payouts` job are shared by the whole run (the job pays automatic
 * programs of every company), so every assertion is scoped to this test's own company,
 * payout id or idempotence key.
 */
import { afterEach, describe, expect, inject, it } from "vitest";
import {
  apiCodeFor,
  apiDb as db,
  apiOne as one,
  apiRows as rows,
  apiSettings as settings,
  decode,
  deliver,
  ids,
  page,
  paymentEvent,
  testId,
  testIds,
  uid,
  userToken,
  whopCompany,
  whopRequests,
  whopState,
  type Ids,
} from "../helpers";
import { NOT_OWN_ACCOUNT } from "../../lib/payouts";

const CRON_SECRET = "cron_test_secret";
const LEDGER = "ldgr_test";

// ── HTTP ─────────────────────────────────────────────────────────────────────

async function cron(job: string, authorization: string | null = `Bearer ${CRON_SECRET}`, method = "GET") {
  const headers: Record<string, string> = {};
  if (authorization !== null) headers.authorization = authorization;
  const res = await fetch(`${inject("apiUrl")}/api/cron/${job}`, { method, headers });
  return { status: res.status, json: (await res.json().catch(() => null)) as Record<string, any> | null };
}

/** The member's Earnings and Rewards sections in this test's experience (both asserted 200), as one HTML text. */
async function memberView(c: Ids, user: string): Promise<string> {
  const token = await userToken(user);
  const earnings = await page(`/experiences/${c.experience}/earnings`, token);
  const rewards = await page(`/experiences/${c.experience}/rewards`, token);
  expect(earnings.status).toBe(200);
  expect(rewards.status).toBe(200);
  return earnings.html + rewards.html;
}

/** POST /transfers requests the app sent to the stand-in for this idempotence key. */
async function transfersFor(key: string) {
  return (await whopRequests()).filter(
    (r) => r.method === "POST" && r.path === "/transfers" && r.body?.idempotence_key === key,
  );
}

// ── Setup through SQL and signed webhooks ───────────────────────────────────

/** The member's referral code, made with the username "ref" + the last 6 characters of their id. */
const codeFor = (company: string, userId: string) => apiCodeFor(company, userId, "ref" + userId.slice(-6));

/** The referrer's code, then a signed payment.succeeded by `buyer` carrying it. Returns the payment id. */
async function buy(c: Ids, total: number, buyer = c.referee): Promise<string> {
  const code = await codeFor(c.company, c.referrer);
  const event = paymentEvent(c, {
    total,
    user: { id: buyer, username: "buyer" + buyer.slice(-6), name: "Buyer" },
    metadata: { referral_code: code },
  });
  const r = await deliver(event);
  expect(r.status).toBe(200);
  expect(r.json).toMatchObject({ ok: true, outcome: "commission_created" });
  return event.data.id;
}

const commissionsOf = (company: string, user: string) =>
  rows(
    `select * from public.commissions where company_id = $1 and beneficiary_user_id = $2 order by created_at, kind`,
    [company, user],
  );
const payoutsOf = (company: string) =>
  rows(`select * from public.payouts where company_id = $1 order by requested_at`, [company]);
const ledger = (company: string, kind: string) =>
  rows(`select * from public.transactions where company_id = $1 and kind = $2 order by id`, [company, kind]);

/** The stand-in answers LEDGER as the company's own account (payPayout checks it before each transfer). */
const ownLedger = (company: string) => whopState({ ledgerAccounts: { [company]: { id: LEDGER, balances: [] } } });

/** An automatic program with no hold and the test ledger account, whose batch is due now. */
async function automaticProgram(c: Ids, extra: Record<string, unknown> = {}) {
  await settings(c.company, { hold_days: 0, ledger_account_id: LEDGER, payout_mode: "automatic", ...extra });
  await ownLedger(c.company);
  await db().query(`update public.programs set last_payout_batch_at = null where company_id = $1`, [c.company]);
}

const backdatePayout = (id: string, minutes = 11) =>
  db().query(`update public.payouts set updated_at = now() - make_interval(mins => $2) where id = $1`, [id, minutes]);

// whatever a test does to the shared stand-in, the next one starts clean
afterEach(async () => {
  await whopState({ fail: { "POST /transfers": null } as any, delay: { "POST /transfers": null } as any });
});

// ── 1. Cron auth and idempotent jobs ───────────────────────────────────────

describe("/api/cron/[job]: CRON_SECRET guard", () => {
  it("no Authorization → 401, and nothing runs", async () => {
    const c = ids();
    await buy(c, 49.99); // a pending commission (14-day hold)
    await db().query(`update public.commissions set available_at = now() - interval '1 minute' where company_id = $1`, [
      c.company,
    ]);
    const r = await cron("release", null);
    expect(r.status).toBe(401);
    expect(r.json).toEqual({ ok: false, error: "unauthorized" });
    // the job did not run: the due commission is still pending
    const [cm] = await commissionsOf(c.company, c.referrer);
    expect(cm.status).toBe("pending");
    // POST is guarded the same way
    expect((await cron("release", null, "POST")).status).toBe(401);
    await db().query(`update public.commissions set status = 'cancelled' where company_id = $1`, [c.company]);
  });

  it("a wrong secret → 401 (same length, longer, prefix, no Bearer scheme)", async () => {
    const sameLength = CRON_SECRET.replace(/.$/, (ch) => (ch === "x" ? "y" : "x"));
    for (const auth of [
      `Bearer ${sameLength}`,
      `Bearer ${CRON_SECRET}x`,
      `Bearer ${CRON_SECRET.slice(0, -1)}`,
      CRON_SECRET,
      `Basic ${CRON_SECRET}`,
      "Bearer ",
    ]) {
      const r = await cron("release", auth);
      expect(r.status, auth).toBe(401);
      expect(r.json).toEqual({ ok: false, error: "unauthorized" });
    }
  });

  it("a same-length wrong secret with a non-ASCII character → 401, not a server error", async () => {
    // Node hands header bytes over as latin1; the guard must refuse, not crash comparing buffers
    const wrong = `Bearer ${CRON_SECRET.slice(0, -1)}\u00e9`;
    expect(wrong.length).toBe(`Bearer ${CRON_SECRET}`.length);
    const r = await cron("release", wrong);
    expect(r.status).toBe(401);
    expect(r.json).toEqual({ ok: false, error: "unauthorized" });
  });

  it("an unknown job → 404 with the secret, 401 without it (job names do not leak)", async () => {
    const r = await cron("nope");
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ ok: false });
    // names inherited from Object.prototype are not jobs either
    for (const job of ["toString", "constructor", "hasOwnProperty"]) {
      expect((await cron(job)).status, job).toBe(404);
    }
    expect((await cron("nope", null)).status).toBe(401);
  });

  it("every job answers 200 {ok:true, job, result} to GET and POST", async () => {
    for (const job of ["release", "payouts", "points-expiry", "referrals-expiry"]) {
      for (const method of ["GET", "POST"]) {
        const r = await cron(job, `Bearer ${CRON_SECRET}`, method);
        expect(r.status, `${method} ${job}`).toBe(200);
        expect(r.json).toMatchObject({ ok: true, job });
        expect(typeof r.json!.result).toBe("object");
        for (const v of Object.values(r.json!.result)) expect(Number.isInteger(v)).toBe(true);
      }
    }
  });
});

describe("/api/cron jobs are idempotent (safe to run twice)", () => {
  it("release: a commission past its hold becomes available once; the second run changes nothing", async () => {
    const c = ids();
    const paymentId = await buy(c, 49.99);
    const [before] = await commissionsOf(c.company, c.referrer);
    expect(before).toMatchObject({ status: "pending", amount_cents: "1000", payment_id: paymentId });
    await db().query(
      `update public.commissions set available_at = now() - interval '1 minute', updated_at = now() - interval '1 hour'
       where id = $1`,
      [before.id],
    );

    const first = await cron("release");
    expect(first.status).toBe(200);
    expect(first.json!.result.released).toBeGreaterThanOrEqual(1);
    const [afterFirst] = await commissionsOf(c.company, c.referrer);
    expect(afterFirst.status).toBe("available");
    expect(new Date(afterFirst.updated_at).getTime()).toBeGreaterThan(Date.now() - 60_000);

    const second = await cron("release");
    expect(second.status).toBe(200);
    expect(second.json).toEqual({ ok: true, job: "release", result: { released: 0 } });
    const [afterSecond] = await commissionsOf(c.company, c.referrer);
    expect(afterSecond).toEqual(afterFirst); // not touched again
    // release moves no money: the ledger has the one commission row only
    expect((await ledger(c.company, "commission")).map((t) => t.amount_cents)).toEqual(["1000"]);
  });

  it("release leaves a commission still inside its hold pending", async () => {
    const c = ids();
    await buy(c, 49.99);
    expect((await cron("release")).status).toBe(200);
    const [cm] = await commissionsOf(c.company, c.referrer);
    expect(cm.status).toBe("pending");
  });

  it("referrals-expiry: a pending referral past its window expires once; a converted one never", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await db().query(`select public.claim_referral($1, $2, $3, 'late')`, [c.company, c.other, code]);
    await buy(c, 49.99); // c.referee converts
    await db().query(`update public.referrals set expires_at = now() - interval '1 minute' where company_id = $1`, [
      c.company,
    ]);

    const first = await cron("referrals-expiry");
    expect(first.status).toBe(200);
    expect(first.json!.result.expired).toBeGreaterThanOrEqual(1);
    const refs = await rows(`select referee_user_id, status, updated_at from public.referrals where company_id = $1`, [
      c.company,
    ]);
    const status = Object.fromEntries(refs.map((r) => [r.referee_user_id, r.status]));
    expect(status).toEqual({ [c.other]: "expired", [c.referee]: "converted" });

    const second = await cron("referrals-expiry");
    expect(second.json).toEqual({ ok: true, job: "referrals-expiry", result: { expired: 0 } });
    const again = await rows(`select referee_user_id, status, updated_at from public.referrals where company_id = $1`, [
      c.company,
    ]);
    expect(again).toEqual(refs);
  });

  it("points-expiry: points older than points_expiry_days expire once (one EXPIRY row, balance 0); newer ones stay", async () => {
    const c = ids();
    await settings(c.company, { points_expiry_days: 30 });
    await buy(c, 49.99); // referrer +500, referee +100 welcome
    // age the referrer's points past the window (the ledger is append-only: bypass its trigger for this set-up only)
    const client = await db().connect();
    try {
      await client.query("begin");
      await client.query("set local session_replication_role = replica");
      await client.query(
        `update public.transactions set created_at = now() - interval '31 days'
         where company_id = $1 and user_id = $2 and kind = 'points'`,
        [c.company, c.referrer],
      );
      await client.query("commit");
    } catch (err) {
      await client.query("rollback");
      throw err;
    } finally {
      client.release();
    }

    let first: Awaited<ReturnType<typeof cron>>;
    let second: Awaited<ReturnType<typeof cron>>;
    try {
      first = await cron("points-expiry");
      second = await cron("points-expiry");
    } finally {
      // whatever happened, leave no due points behind for later runs of the (global) job
      await settings(c.company, { points_expiry_days: null });
    }
    expect(first.status).toBe(200);
    expect(first.json!.result.expired).toBeGreaterThanOrEqual(500);
    expect(second.status).toBe(200);
    expect(second.json).toEqual({ ok: true, job: "points-expiry", result: { expired: 0 } });

    const balances = await rows(`select user_id, balance from public.points_balances where company_id = $1`, [
      c.company,
    ]);
    expect(Object.fromEntries(balances.map((b) => [b.user_id, b.balance]))).toEqual({
      [c.referrer]: "0",
      [c.referee]: "100",
    });
    const expiry = await rows(
      `select user_id, points from public.transactions where company_id = $1 and points_type = 'EXPIRY'`,
      [c.company],
    );
    expect(expiry).toEqual([{ user_id: c.referrer, points: "-500" }]);
  });
});

// ── 2. Automatic payouts through the real SDK ──────────────────────────────

describe("payouts job: automatic payouts through Whop transfers.create", () => {
  it("a saved ledger account that is not the company's own (another company's) pays nothing: the payout fails with a clear message", async () => {
    const c = ids();
    const other = ids();
    // the stand-in knows both companies' accounts; the admin saved the other company's
    await whopState({
      ledgerAccounts: {
        [c.company]: { id: `ldgr_own${c.company.slice(4, 12)}`, balances: [] },
        [other.company]: { id: `ldgr_oth${other.company.slice(4, 12)}`, balances: [] },
      },
    });
    await settings(c.company, { hold_days: 0, ledger_account_id: `ldgr_oth${other.company.slice(4, 12)}`, payout_mode: "automatic" });
    await db().query(`update public.programs set last_payout_batch_at = null where company_id = $1`, [c.company]);
    await buy(c, 61.7);

    expect((await cron("payouts")).status).toBe(200);
    const [payout] = await payoutsOf(c.company);
    expect(payout).toMatchObject({ status: "failed", amount_cents: "1234", whop_transfer_id: null });
    expect(payout.error).toBe(NOT_OWN_ACCOUNT);
    expect(await transfersFor(payout.id)).toEqual([]);
    // the commission is withdrawable again, nothing left the ledger
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "available", payout_id: null });
    expect(await ledger(c.company, "payout")).toEqual([]);

    // saved again from Whop's answer for the company (what the setup checklist does): paid
    await settings(c.company, { ledger_account_id: `ldgr_own${c.company.slice(4, 12)}` });
    // the creator's retry: start_payout, and the job sends what is processing
    await one(`select public.start_payout($1, $2::uuid) as s`, [c.company, payout.id]);
    await backdatePayout(payout.id);
    expect((await cron("payouts")).status).toBe(200);
    expect(await one(`select status from public.payouts where id = $1`, [payout.id])).toEqual({ status: "completed" });
    expect((await transfersFor(payout.id)).map((t) => t.body.origin_id)).toEqual([`ldgr_own${c.company.slice(4, 12)}`]);
  });

  it("due_payouts requests the member's $12.34, the SDK sends it, the payout completes and its commissions are paid", async () => {
    const c = ids();
    await automaticProgram(c);
    await buy(c, 61.7); // 20% of 6170 = 1234 cents, available at once

    const r = await cron("payouts");
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, job: "payouts" });
    expect(r.json!.result.completed).toBeGreaterThanOrEqual(1);

    const [payout, ...more] = await payoutsOf(c.company);
    expect(more).toHaveLength(0);
    expect(payout).toMatchObject({
      user_id: c.referrer,
      amount_cents: "1234",
      currency: "USD",
      status: "completed",
      error: null,
      attempts: 1,
    });
    expect(payout.whop_transfer_id).toMatch(/^xfer_/);
    expect(payout.completed_at).not.toBeNull();

    const sent = await transfersFor(payout.id);
    expect(sent).toHaveLength(1);
    expect(sent[0].body).toMatchObject({
      origin_id: LEDGER,
      destination_id: c.referrer,
      amount: 12.34,
      currency: "usd",
      idempotence_key: payout.id,
      metadata: { payout_id: payout.id },
    });
    expect(typeof sent[0].body.amount).toBe("number");

    const [cm] = await commissionsOf(c.company, c.referrer);
    expect(cm).toMatchObject({ status: "paid", payout_id: payout.id, amount_cents: "1234" });
    expect(cm.paid_at).not.toBeNull();
    const items = await rows(`select commission_id from public.payout_items where payout_id = $1`, [payout.id]);
    expect(items).toEqual([{ commission_id: cm.id }]);
    const out = await ledger(c.company, "payout");
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({
      user_id: c.referrer,
      amount_cents: "-1234",
      currency: "USD",
      reference_id: payout.id,
      memo: payout.whop_transfer_id,
    });
    const program = await one(`select last_payout_batch_at from public.programs where company_id = $1`, [c.company]);
    expect(program.last_payout_batch_at).not.toBeNull();

    // a second run is safe: no new payout, no new transfer, nothing moves
    expect((await cron("payouts")).status).toBe(200);
    expect(await payoutsOf(c.company)).toEqual([payout]);
    expect(await transfersFor(payout.id)).toHaveLength(1);
    expect(await ledger(c.company, "payout")).toHaveLength(1);
  });

  it("a payout requested by the member (request_payout) is sent by the job: 1000 cents go as amount 10", async () => {
    const c = ids();
    await settings(c.company, { hold_days: 0, ledger_account_id: LEDGER, payout_mode: "automatic" });
    await ownLedger(c.company);
    // this program's batch ran just now: only the member's own request is due
    await db().query(`update public.programs set last_payout_batch_at = now() where company_id = $1`, [c.company]);
    await buy(c, 50);
    const requested = await one<{ id: string; status: string; amount_cents: string }>(
      `select (p->>'id') as id, p->>'status' as status, p->>'amount_cents' as amount_cents
       from public.request_payout($1, $2) p`,
      [c.company, c.referrer],
    );
    expect(requested).toMatchObject({ status: "requested", amount_cents: "1000" });

    expect((await cron("payouts")).status).toBe(200);
    const payout = await one(`select * from public.payouts where id = $1`, [requested.id]);
    expect(payout.status).toBe("completed");
    const sent = await transfersFor(requested.id);
    expect(sent).toHaveLength(1);
    expect(sent[0].body).toMatchObject({
      origin_id: LEDGER,
      destination_id: c.referrer,
      amount: 10,
      currency: "usd",
      idempotence_key: requested.id,
      metadata: { payout_id: requested.id },
    });
    expect(payout.whop_transfer_id).toMatch(/^xfer_/);
    expect((await commissionsOf(c.company, c.referrer)).map((x) => x.status)).toEqual(["paid"]);
  });

  it("a manual program's requested payout is not sent by the job (the creator approves it)", async () => {
    const c = ids();
    await settings(c.company, { hold_days: 0, ledger_account_id: LEDGER });
    await ownLedger(c.company);
    await buy(c, 50);
    const [{ id }] = await rows(`select (public.request_payout($1, $2))->>'id' as id`, [c.company, c.referrer]);
    expect((await cron("payouts")).status).toBe(200);
    expect((await one(`select status from public.payouts where id = $1`, [id])).status).toBe("requested");
    expect(await transfersFor(id)).toHaveLength(0);
  });

  it("a member below the minimum gets no payout from the batch", async () => {
    const c = ids();
    await automaticProgram(c);
    await buy(c, 49.95); // 999 cents < $10.00
    expect((await cron("payouts")).status).toBe(200);
    expect(await payoutsOf(c.company)).toEqual([]);
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "available", payout_id: null });
  });

  it("two payouts jobs at once pay the member once: one transfer, one completed payout, one ledger row", async () => {
    const c = ids();
    await automaticProgram(c);
    await buy(c, 50);
    const [a, b] = await Promise.all([cron("payouts"), cron("payouts")]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);

    const payouts = await payoutsOf(c.company);
    expect(payouts).toHaveLength(1);
    expect(payouts[0]).toMatchObject({ status: "completed", amount_cents: "1000" });
    const sent = await transfersFor(payouts[0].id);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    for (const s of sent) expect(s.body).toMatchObject({ idempotence_key: payouts[0].id, amount: 10 });
    expect(await ledger(c.company, "payout")).toHaveLength(1);
    expect((await commissionsOf(c.company, c.referrer)).map((x) => x.status)).toEqual(["paid"]);
  });
});

// ── 3. Whop refuses ────────────────────────────────────────────────────────

describe("payouts job: Whop refuses the transfer (4xx)", () => {
  it("the payout fails with Whop's message, its commissions go back to available, and a retry reuses the payout id as key", async () => {
    const c = ids();
    await automaticProgram(c);
    await buy(c, 50);
    await whopState({ fail: { "POST /transfers": { status: 400, message: "insufficient funds" } } });
    try {
      const r = await cron("payouts");
      expect(r.status).toBe(200);
      expect(r.json!.result.failed).toBeGreaterThanOrEqual(1);
    } finally {
      await whopState({ fail: { "POST /transfers": null } as any });
    }

    const [payout, ...more] = await payoutsOf(c.company);
    expect(more).toHaveLength(0);
    expect(payout).toMatchObject({ status: "failed", whop_transfer_id: null, completed_at: null, attempts: 1 });
    expect(payout.error).toContain("insufficient funds");
    // a definite refusal is not retried by the SDK: one request
    expect(await transfersFor(payout.id)).toHaveLength(1);
    const [cm] = await commissionsOf(c.company, c.referrer);
    expect(cm).toMatchObject({ status: "available", payout_id: null, paid_at: null });
    expect(await ledger(c.company, "payout")).toHaveLength(0);
    // the member's wallet: $10.00 available again, no payout in progress
    const wallet = await one(`select public.get_member_wallet($1, $2) as w`, [c.company, c.referrer]);
    expect(wallet.w.balances.available).toBe(1000);
    expect(wallet.w.payout).toMatchObject({ can_request: true, available_cents: 1000 });

    // the job does not resend a failed payout on its own
    expect((await cron("payouts")).status).toBe(200);
    expect((await one(`select status from public.payouts where id = $1`, [payout.id])).status).toBe("failed");
    expect(await transfersFor(payout.id)).toHaveLength(1);

    // the creator's retry (start_payout re-attaches the commissions); its send got no answer,
    // so the job resends it 10 minutes later — with the same idempotence key
    const started = await one(`select public.start_payout($1, $2::uuid) as s`, [c.company, payout.id]);
    expect(started.s).toMatchObject({ id: payout.id, amount_cents: 1000, ledger_account_id: LEDGER, currency: "USD" });
    expect(Number(started.s.amount)).toBe(10);
    await backdatePayout(payout.id);
    expect((await cron("payouts")).status).toBe(200);

    const retried = await one(`select * from public.payouts where id = $1`, [payout.id]);
    expect(retried).toMatchObject({ status: "completed", error: null, amount_cents: "1000" });
    expect(retried.whop_transfer_id).toMatch(/^xfer_/);
    const sent = await transfersFor(payout.id);
    expect(sent).toHaveLength(2);
    expect(sent.map((s) => s.body.idempotence_key)).toEqual([payout.id, payout.id]);
    expect(sent[1].body).toMatchObject({ origin_id: LEDGER, destination_id: c.referrer, amount: 10, currency: "usd" });
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "paid", payout_id: payout.id });
    expect(await ledger(c.company, "payout")).toHaveLength(1);
  });

  it("the stored error is Whop's message as text, not the SDK's status line with the JSON error body", async () => {
    const c = ids();
    await automaticProgram(c);
    await buy(c, 50);
    await whopState({ fail: { "POST /transfers": { status: 400, message: "insufficient funds" } } });
    try {
      expect((await cron("payouts")).status).toBe(200);
    } finally {
      await whopState({ fail: { "POST /transfers": null } as any });
    }
    const [payout] = await payoutsOf(c.company);
    expect(payout.status).toBe("failed");
    // the creator's dashboard shows this text as is
    expect(payout.error).toContain("insufficient funds");
    expect(payout.error).not.toMatch(/[{}"]/);
  });

  it("a 5xx from Whop is no answer: the payout stays processing with no error, commissions stay attached", async () => {
    const c = ids();
    await automaticProgram(c);
    await buy(c, 50);
    await whopState({ fail: { "POST /transfers": { status: 503, message: "try later" } } });
    try {
      expect((await cron("payouts")).status).toBe(200);
    } finally {
      await whopState({ fail: { "POST /transfers": null } as any });
    }
    const [payout] = await payoutsOf(c.company);
    expect(payout).toMatchObject({ status: "processing", error: null, whop_transfer_id: null });
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "available", payout_id: payout.id });
    expect((await transfersFor(payout.id)).length).toBeGreaterThanOrEqual(1);

    // not resent before 10 minutes…
    expect((await cron("payouts")).status).toBe(200);
    expect((await one(`select status from public.payouts where id = $1`, [payout.id])).status).toBe("processing");
    // …then resent and completed
    await backdatePayout(payout.id);
    expect((await cron("payouts")).status).toBe(200);
    expect((await one(`select status from public.payouts where id = $1`, [payout.id])).status).toBe("completed");
    expect(await ledger(c.company, "payout")).toHaveLength(1);
  });
});

// ── 4. Whop does not answer in time ────────────────────────────────────────

describe("payouts job: Whop answers too late (timeout)", () => {
  it("the payout stays processing; resent after 10 minutes with the same key it completes once, with the stand-in's transfer", async () => {
    const c = ids();
    await automaticProgram(c);
    await buy(c, 61.7);
    await whopState({ delay: { "POST /transfers": 4000 } });
    let r: Awaited<ReturnType<typeof cron>>;
    try {
      r = await cron("payouts");
    } finally {
      await whopState({ delay: { "POST /transfers": null } as any });
    }
    expect(r.status).toBe(200);
    expect(r.json!.result.processing).toBeGreaterThanOrEqual(1);

    const [payout, ...more] = await payoutsOf(c.company);
    expect(more).toHaveLength(0);
    // the outcome is unknown: not failed, commissions still attached, nothing in the ledger
    expect(payout).toMatchObject({ status: "processing", error: null, whop_transfer_id: null, amount_cents: "1234" });
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "available", payout_id: payout.id });
    expect(await ledger(c.company, "payout")).toHaveLength(0);
    const wallet = await one(`select public.get_member_wallet($1, $2) as w`, [c.company, c.referrer]);
    expect(wallet.w.payout).toMatchObject({ can_request: false, reason: "You have a payout in progress" });
    // and the member cannot open a second one meanwhile
    await expect(db().query(`select public.request_payout($1, $2)`, [c.company, c.referrer])).rejects.toThrow(
      /in progress/,
    );

    // a job run inside the 10 minutes leaves it alone
    expect((await cron("payouts")).status).toBe(200);
    expect((await one(`select status from public.payouts where id = $1`, [payout.id])).status).toBe("processing");

    await backdatePayout(payout.id);
    const again = await cron("payouts");
    expect(again.status).toBe(200);
    expect(again.json!.result.completed).toBeGreaterThanOrEqual(1);

    const payouts = await payoutsOf(c.company);
    expect(payouts).toHaveLength(1);
    const done = payouts[0];
    expect(done).toMatchObject({ id: payout.id, status: "completed", amount_cents: "1234", error: null });
    const sent = await transfersFor(payout.id);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    for (const s of sent) {
      expect(s.body).toMatchObject({
        origin_id: LEDGER,
        destination_id: c.referrer,
        amount: 12.34,
        currency: "usd",
        idempotence_key: payout.id,
      });
    }
    expect(await ledger(c.company, "payout")).toHaveLength(1);
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "paid", payout_id: payout.id });

    // the transfer the stand-in holds for this key (it answers the same transfer for the same key)
    const held = await fetch(`${inject("sandboxUrl")}/api/v1/transfers`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer test" },
      body: JSON.stringify({ idempotence_key: payout.id }),
    }).then((x) => x.json());
    expect(held.idempotence_key).toBe(payout.id);
    expect(done.whop_transfer_id).toBe(held.id);
  });
});

// ── 5. Refunds and disputes ────────────────────────────────────────────────

function refundEvent(
  c: Ids,
  o: { type: "refund.created" | "refund.updated"; refundId: string; paymentId: string; amount: number; status: string },
) {
  const at = new Date().toISOString();
  return {
    id: uid("evt_"),
    api_version: "v1",
    type: o.type,
    timestamp: at,
    company_id: c.company,
    data: {
      id: o.refundId,
      amount: o.amount,
      created_at: at,
      currency: "usd",
      payment: { id: o.paymentId, currency: "usd", created_at: at, metadata: null },
      provider: "stripe",
      provider_created_at: null,
      reference_status: null,
      reference_type: null,
      reference_value: null,
      status: o.status,
    },
  };
}

function disputeEvent(c: Ids, o: { disputeId: string; paymentId: string; amount: number }) {
  const at = new Date().toISOString();
  return {
    id: uid("evt_"),
    api_version: "v1",
    type: "dispute.created",
    timestamp: at,
    company_id: c.company,
    data: {
      id: o.disputeId,
      amount: o.amount,
      company: { id: c.company, title: "Community" },
      created_at: at,
      currency: "usd",
      editable: true,
      needs_response_by: null,
      notes: null,
      payment: { id: o.paymentId, created_at: at, currency: "usd" },
      plan: null,
      status: "needs_response",
    },
  };
}

describe("refunds and disputes over the webhook", () => {
  it("pending → nothing; succeeded 30% → reversed pro rata (round half down); redelivery → already applied; dispute → fully reversed", async () => {
    const c = ids();
    // 15% of $67.00 = 1005 cents; 30% of that is 301.5 → 301 (half down)
    await settings(c.company, { hold_days: 0, commission_rate_bp: 1500 });
    const paymentId = await buy(c, 67);
    const [cm] = await commissionsOf(c.company, c.referrer);
    expect(cm).toMatchObject({ amount_cents: "1005", status: "available", reversed_cents: "0" });
    const refundId = uid("rfnd_");

    const pending = await deliver(
      refundEvent(c, { type: "refund.created", refundId, paymentId, amount: 20.1, status: "pending" }),
    );
    expect(pending.status).toBe(200);
    expect(pending.json).toEqual({ ok: true, duplicate: false, outcome: "refund_pending" });
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "available", reversed_cents: "0" });
    expect(await ledger(c.company, "reversal")).toHaveLength(0);
    expect((await one(`select refunded_cents from public.payments where payment_id = $1`, [paymentId])).refunded_cents).toBe(
      "0",
    );
    expect(await one(`select status, applied_at, amount_cents from public.refunds where refund_id = $1`, [refundId])).toEqual({
      status: "pending",
      applied_at: null,
      amount_cents: "2010",
    });

    const succeeded = refundEvent(c, { type: "refund.updated", refundId, paymentId, amount: 20.1, status: "succeeded" });
    const applied = await deliver(succeeded);
    expect(applied.status).toBe(200);
    expect(applied.json).toEqual({ ok: true, duplicate: false, outcome: "refund_reversed" });
    const [after] = await commissionsOf(c.company, c.referrer);
    expect(after).toMatchObject({ status: "available", amount_cents: "1005", reversed_cents: "301" });
    expect((await ledger(c.company, "reversal")).map((t) => [t.user_id, t.amount_cents])).toEqual([
      [c.referrer, "-301"],
    ]);
    expect((await one(`select refunded_cents from public.payments where payment_id = $1`, [paymentId])).refunded_cents).toBe(
      "2010",
    );
    const wallet = await one(`select public.get_member_wallet($1, $2) as w`, [c.company, c.referrer]);
    expect(wallet.w.balances).toMatchObject({ available: 704, reversed: 301 });

    // the same event again is a duplicate; the same refund in a new event is already applied
    expect((await deliver(succeeded)).json).toEqual({ ok: true, duplicate: true, outcome: "refund_reversed" });
    const redelivered = await deliver({ ...succeeded, id: uid("evt_") });
    expect(redelivered.status).toBe(200);
    expect(redelivered.json).toEqual({ ok: true, duplicate: false, outcome: "refund_already_applied" });
    expect((await commissionsOf(c.company, c.referrer))[0].reversed_cents).toBe("301");
    expect(await ledger(c.company, "reversal")).toHaveLength(1);

    // a dispute for the rest takes back the rest: 1005 reversed in all, status reversed
    const disputed = await deliver(disputeEvent(c, { disputeId: uid("dspt_"), paymentId, amount: 46.9 }));
    expect(disputed.status).toBe(200);
    expect(disputed.json).toEqual({ ok: true, duplicate: false, outcome: "dispute_reversed" });
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({
      status: "reversed",
      reversed_cents: "1005",
    });
    expect((await ledger(c.company, "reversal")).map((t) => t.amount_cents)).toEqual(["-301", "-704"]);
    const end = await one(`select public.get_member_wallet($1, $2) as w`, [c.company, c.referrer]);
    expect(end.w.balances).toMatchObject({ available: 0, pending: 0, paid: 0, reversed: 1005 });
  });

  it("a refund of an unknown payment → unknown_payment and nothing is written", async () => {
    const c = ids();
    await settings(c.company, { hold_days: 0 });
    await buy(c, 50);
    const refundId = uid("rfnd_");
    const r = await deliver(
      refundEvent(c, { type: "refund.updated", refundId, paymentId: uid("pay_"), amount: 10, status: "succeeded" }),
    );
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "unknown_payment" });
    expect(await rows(`select 1 from public.refunds where refund_id = $1`, [refundId])).toHaveLength(0);
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "available", reversed_cents: "0" });
  });

  it("a dispute on its own reverses the payment's commission (dispute.created counts at once)", async () => {
    const c = ids();
    await settings(c.company, { hold_days: 0 });
    const paymentId = await buy(c, 50);
    const r = await deliver(disputeEvent(c, { disputeId: uid("dspt_"), paymentId, amount: 50 }));
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "dispute_reversed" });
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "reversed", reversed_cents: "1000" });
  });

  it("a refund after the commission was paid adds a negative clawback, shown in the member view as reversed", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    await automaticProgram(c, { commission_rate_bp: 1500 });
    const paymentId = await buy(c, 67); // 1005 cents
    expect((await cron("payouts")).status).toBe(200);
    const [payout] = await payoutsOf(c.company);
    expect(payout).toMatchObject({ status: "completed", amount_cents: "1005" });
    expect((await commissionsOf(c.company, c.referrer))[0].status).toBe("paid");

    const refundId = uid("rfnd_");
    const r = await deliver(
      refundEvent(c, { type: "refund.updated", refundId, paymentId, amount: 20.1, status: "succeeded" }),
    );
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "refund_reversed" });

    const [original, clawback, ...rest] = await commissionsOf(c.company, c.referrer);
    expect(rest).toHaveLength(0);
    // the paid commission is untouched; a negative clawback of 301 nets against the next payout
    expect(original).toMatchObject({ kind: "commission", status: "paid", amount_cents: "1005", reversed_cents: "0" });
    expect(clawback).toMatchObject({
      kind: "clawback",
      status: "available",
      amount_cents: "-301",
      reversed_cents: "0",
      refund_id: refundId,
      reverses_commission_id: original.id,
      payout_id: null,
    });
    expect((await ledger(c.company, "clawback")).map((t) => [t.user_id, t.amount_cents])).toEqual([
      [c.referrer, "-301"],
    ]);
    // redelivered in a new event: no second clawback
    const again = await deliver(
      refundEvent(c, { type: "refund.updated", refundId, paymentId, amount: 20.1, status: "succeeded" }),
    );
    expect(again.json).toMatchObject({ outcome: "refund_already_applied" });
    expect(await commissionsOf(c.company, c.referrer)).toHaveLength(2);

    const html = await memberView(c, c.referrer);
    expect(testId(html, "balance-reversed")).toBe("$3.01");
    expect(testId(html, "balance-paid")).toBe("$10.05");
    expect(testId(html, "balance-available")).toBe("-$3.01");
    expect(testId(html, "balance-pending")).toBe("$0.00");
    expect(testId(html, "payout-reason")).toBe("Your balance is negative after a refund");
    // and the batch does not pay a negative balance
    await db().query(`update public.programs set last_payout_batch_at = null where company_id = $1`, [c.company]);
    expect((await cron("payouts")).status).toBe(200);
    expect(await payoutsOf(c.company)).toHaveLength(1);
  });
});

describe("refunds meeting payouts", () => {
  it("a partial refund while the payout is only requested lowers what is sent: $7.04 of $10.05", async () => {
    const c = ids();
    await automaticProgram(c, { commission_rate_bp: 1500 });
    await db().query(`update public.programs set last_payout_batch_at = now() where company_id = $1`, [c.company]);
    const paymentId = await buy(c, 67); // 1005 cents
    const [{ id }] = await rows(`select (public.request_payout($1, $2))->>'id' as id`, [c.company, c.referrer]);
    const r = await deliver(
      refundEvent(c, { type: "refund.updated", refundId: uid("rfnd_"), paymentId, amount: 20.1, status: "succeeded" }),
    );
    expect(r.json).toMatchObject({ outcome: "refund_reversed" });
    // not yet sent: reduced, no clawback
    expect(await commissionsOf(c.company, c.referrer)).toHaveLength(1);

    expect((await cron("payouts")).status).toBe(200);
    const payout = await one(`select * from public.payouts where id = $1`, [id]);
    expect(payout).toMatchObject({ status: "completed", amount_cents: "704" });
    const sent = await transfersFor(id);
    expect(sent).toHaveLength(1);
    expect(sent[0].body).toMatchObject({ amount: 7.04, idempotence_key: id });
    expect((await ledger(c.company, "payout")).map((t) => t.amount_cents)).toEqual(["-704"]);
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "paid", reversed_cents: "301" });
  });

  it("a payout whose commissions were all refunded before it was sent is cancelled, and does not block the member", async () => {
    const c = ids();
    await automaticProgram(c);
    await db().query(`update public.programs set last_payout_batch_at = now() where company_id = $1`, [c.company]);
    const paymentId = await buy(c, 50); // 1000 cents
    const [{ id }] = await rows(`select (public.request_payout($1, $2))->>'id' as id`, [c.company, c.referrer]);
    const r = await deliver(
      refundEvent(c, { type: "refund.updated", refundId: uid("rfnd_"), paymentId, amount: 50, status: "succeeded" }),
    );
    expect(r.json).toMatchObject({ outcome: "refund_reversed" });
    expect((await commissionsOf(c.company, c.referrer))[0]).toMatchObject({ status: "reversed", reversed_cents: "1000" });

    try {
      const r2 = await cron("payouts");
      expect(r2.status).toBe(200);
      // nothing is sent for it…
      expect(await transfersFor(id)).toHaveLength(0);
      // …and it is closed (start_payout: "nothing left to pay … the payout is then cancelled")
      const payout = await one(`select status, reason from public.payouts where id = $1`, [id]);
      expect(payout).toEqual({ status: "cancelled", reason: "nothing left to pay" });
      // so the member's next earnings can be paid out
      const wallet = await one(`select public.get_member_wallet($1, $2) as w`, [c.company, c.referrer]);
      expect(wallet.w.payout.reason).not.toBe("You have a payout in progress");
    } finally {
      // leave no open payout behind for later runs of the (global) payouts job
      await db().query(
        `select public.cancel_payout($1, id, 'test clean-up') from public.payouts where id = $2 and status = 'requested'`,
        [c.company, id],
      );
    }
  });

  it("a clawback nets against the next payout: $15.00 earned − $3.01 clawed back → $11.99 sent", async () => {
    const c = ids();
    await automaticProgram(c, { commission_rate_bp: 1500 });
    const first = await buy(c, 67); // 1005
    expect((await cron("payouts")).status).toBe(200);
    const [p1] = await payoutsOf(c.company);
    expect(p1).toMatchObject({ status: "completed", amount_cents: "1005" });
    const refundId = uid("rfnd_");
    await deliver(refundEvent(c, { type: "refund.updated", refundId, paymentId: first, amount: 20.1, status: "succeeded" }));

    await buy(c, 100, c.other); // 1500 more from a second buyer
    await db().query(`update public.programs set last_payout_batch_at = null where company_id = $1`, [c.company]);
    expect((await cron("payouts")).status).toBe(200);
    const payouts = await payoutsOf(c.company);
    expect(payouts).toHaveLength(2);
    const p2 = payouts[1];
    expect(p2).toMatchObject({ status: "completed", amount_cents: "1199" });
    const sent = await transfersFor(p2.id);
    expect(sent).toHaveLength(1);
    expect(sent[0].body).toMatchObject({ amount: 11.99, destination_id: c.referrer, idempotence_key: p2.id });
    const all = await commissionsOf(c.company, c.referrer);
    expect(all.map((x) => [x.kind, x.amount_cents, x.status, x.payout_id])).toEqual(
      expect.arrayContaining([
        ["commission", "1005", "paid", p1.id],
        ["clawback", "-301", "paid", p2.id],
        ["commission", "1500", "paid", p2.id],
      ]),
    );
    expect((await ledger(c.company, "payout")).map((t) => t.amount_cents)).toEqual(["-1005", "-1199"]);
  });
});

// ── 6. The member's wallet in the member view ──────────────────────────────

describe("member view: the wallet", () => {
  it("a pending commission: $10.00 pending, $0.00 available and paid, 500 points, below the minimum payout of $10.00", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer", [c.referee]: "customer" });
    await buy(c, 49.99); // 1000 cents, 14-day hold

    const html = await memberView(c, c.referrer);
    expect(testId(html, "balance-pending")).toBe("$10.00");
    expect(testId(html, "balance-available")).toBe("$0.00");
    expect(testId(html, "balance-paid")).toBe("$0.00");
    expect(testId(html, "balance-reversed")).toBe("$0.00");
    expect(testId(html, "points-balance")).toBe("500");
    expect(testId(html, "payout-reason")).toBe("Below the minimum payout of $10.00");
    expect(testId(html, "upcoming")).toMatch(/^Becomes available: \$10\.00 on /);

    // the buyer has the welcome bonus and no money
    const buyer = await memberView(c, c.referee);
    expect(testId(buyer, "points-balance")).toBe("100");
    expect(testId(buyer, "balance-pending")).toBe("$0.00");
  });

  it("available money at or over the minimum: no reason shown; under a raised minimum the reason names it", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    await settings(c.company, { hold_days: 0 });
    await buy(c, 61.7); // 1234 cents available

    const html = await memberView(c, c.referrer);
    expect(testId(html, "balance-available")).toBe("$12.34");
    expect(testId(html, "balance-pending")).toBe("$0.00");
    expect(testIds(html, "payout-reason")).toEqual([]);
    expect(html).toMatch(/Request payout of (<!-- -->)?\$12\.34/);

    await settings(c.company, { min_payout_cents: 2500 });
    const raised = await memberView(c, c.referrer);
    expect(testId(raised, "payout-reason")).toBe("Below the minimum payout of $25.00");
  });

  it("after an automatic payout: $12.34 paid, nothing available, and the payout in the history", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    await automaticProgram(c);
    await buy(c, 61.7);
    expect((await cron("payouts")).status).toBe(200);
    expect((await payoutsOf(c.company))[0].status).toBe("completed");

    const html = await memberView(c, c.referrer);
    expect(testId(html, "balance-paid")).toBe("$12.34");
    expect(testId(html, "balance-available")).toBe("$0.00");
    expect(testId(html, "payout-reason")).toBe("Below the minimum payout of $10.00");
    expect(html).toContain('aria-label="Payout history"');
    expect(decode(html)).toContain("completed");
  });
});
