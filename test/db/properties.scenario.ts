/**
 * The scenario runner of the money-lifecycle property test (properties.test.ts): one run's
 * company and members (`Scenario`: setup, each step, the invariant checks after it), the
 * concurrent-request interleavings (`race`), and the pool `sql` they use (closed by the test).
 */
import type pg from "pg";
import { inject } from "vitest";
import { DomainError } from "../../lib/db";
import { toDomainError } from "../../lib/db/errors";
import { call, ids, pool, uid } from "../helpers";
import type { Config, Sig, Step } from "./properties.steps";

/** The creator who decides fraud reviews. */
const ADMIN = "user_admin0prop";

export const sql = pool(inject("sqlDbUrl"));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Outcome = { ok: true; v: any } | { ok: false; status: number; message: string };

/** Run a write; a DomainError (the SQL refused: RL4xx, check violation) is an outcome, anything else a failure. */
async function attempt(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, v: await p };
  } catch (e) {
    if (e instanceof DomainError) return { ok: false, status: e.status, message: e.message };
    throw e;
  }
}

/** A short trace line for an outcome: a payout's status and amount, a points balance, or the refusal. */
function show(o: Outcome): string {
  if (!o.ok) return `refused ${o.status}: ${o.message}`;
  const v = o.v;
  if (v && typeof v === "object" && "amount_cents" in v) return `${v.status ?? "to transfer"} ${v.amount_cents}¢`;
  if (v && typeof v === "object" && "redemption" in v) return `redeemed ${v.redemption.cost_points} pts`;
  return JSON.stringify(v)?.slice(0, 120);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const decimal = (cents: number) => Number((cents / 100).toFixed(2)); // 12345 → "123.45" → 123.45

// ── one run ─────────────────────────────────────────────────────────────────

interface Ev {
  id: string;
  type: string;
  data: Record<string, unknown>;
}
interface Pay {
  id: string;
  data: Record<string, unknown>;
  cents: number;
  /** cents not yet covered by a refund or dispute sent so far (pending ones included) */
  left: number;
}
interface Refund {
  id: string;
  paymentId: string;
  cents: number;
  applied: boolean;
}

export class Scenario {
  readonly company = ids().company;
  readonly members: string[];
  readonly events: Ev[] = [];
  readonly payments: Pay[] = [];
  readonly refunds: Refund[] = [];
  readonly items: string[] = [];
  readonly trace: string[] = [];
  campaignId: string | null = null;

  constructor(readonly cfg: Config) {
    const s = uid();
    this.members = ["a", "b", "c", "d"].map((x) => `user_${x}${s}`);
  }

  name(u: string) {
    return "ABCD"[this.members.indexOf(u)] ?? u;
  }

  async setup() {
    const { cfg, company, members } = this;
    await call("update_program_settings", {
      p_company_id: company,
      p_settings: {
        mlm_enabled: true,
        max_level: cfg.maxLevel,
        commission_rate_bp: cfg.rate,
        upper_level_rates_bp: cfg.upper,
        hold_days: cfg.holdDays,
        min_payout_cents: cfg.minPayout,
        ledger_account_id: "ldgr_test",
        fraud_mode: cfg.fraudMode,
        fraud_hold_score: cfg.holdScore,
        fraud_weights: { disposable_email: cfg.disposableWeight },
        streaks_enabled: cfg.gamification.streaks,
        streak_step_pct: cfg.gamification.stepPct,
        streak_cap_pct: cfg.gamification.capPct,
        tiers_enabled: cfg.gamification.tiers,
        tiers: [
          { name: "Bronze", min_conversions: 0, bonus_pct: 0 },
          { name: "Silver", min_conversions: cfg.gamification.silverAt, bonus_pct: cfg.gamification.silverPct },
        ],
        drop_chance_pct: cfg.gamification.dropPct,
        drop_points: 7,
      },
    });
    if (cfg.campaign) {
      const c = await call("create_campaign", {
        p_company_id: company,
        p_campaign: {
          name: "Property sprint",
          start_date: new Date(Date.now() - 3_600_000).toISOString(),
          end_date: new Date(Date.now() + 86_400_000).toISOString(),
          scheduled: true,
          rules: { bonus_rate_bp: cfg.campaign.bonusBp, bonus_points: cfg.campaign.bonusPoints },
          prizes: {
            top: [
              { reward_type: "commission", reward_data: { amount_cents: cfg.campaign.prizeCents } },
              { reward_type: "points", reward_data: { points: 25 } },
            ],
            reach: { count: cfg.campaign.reach, prize: { reward_type: "commission", reward_data: { amount_cents: 100 } } },
          },
        },
      });
      this.campaignId = c.id;
    }
    // A ← B ← C ← D: each claims the code of the one before
    for (let i = 1; i < members.length; i++) {
      const { code } = await call("get_or_create_code", {
        p_company_id: company,
        p_user_id: members[i - 1],
        p_username: `m${i - 1}`,
        p_name: null,
      });
      await call("claim_referral", { p_company_id: company, p_user_id: members[i], p_code: code, p_username: `m${i}` });
    }
  }

  /** Deliver one event `n` times at once; exactly one delivery must be the first. */
  async deliver(ev: Ev, n = 1): Promise<string> {
    const args = { p_event_id: ev.id, p_type: ev.type, p_company_id: this.company, p_data: ev.data };
    const rs = await Promise.all(Array.from({ length: n }, () => call("process_webhook_event", args)));
    const first = rs.filter((r) => r.duplicate === false);
    if (first.length !== 1) {
      throw new Error(`${n} deliveries of ${ev.id}: ${first.length} were not duplicates: ${JSON.stringify(rs)}`);
    }
    this.events.push(ev);
    return `${first[0].outcome}${n > 1 ? ` (×${n})` : ""}`;
  }

  private refundCents(p: Pay, part: number | "full") {
    return part === "full" ? p.left : Math.max(1, Math.floor((p.left * part) / 10000));
  }

  private refundEvent(kind: "refund" | "dispute", p: Pay, cents: number, status = "succeeded"): Ev {
    const id = uid(kind === "refund" ? "rfnd_" : "dspt_");
    const data =
      kind === "refund"
        ? { id, payment: { id: p.id }, amount: decimal(cents), currency: "usd", status }
        : { id, payment: { id: p.id }, amount: decimal(cents), currency: "usd", status: "needs_response" };
    p.left -= cents;
    this.refunds.push({ id, paymentId: p.id, cents, applied: status === "succeeded" });
    return { id: uid("evt_"), type: kind === "refund" ? "refund.created" : "dispute.created", data };
  }

  private async payouts(statuses: string[]) {
    return (
      await sql.query<{ id: string; user_id: string; status: string }>(
        `select id, user_id, status from public.payouts where company_id = $1 and status = any($2)
         order by requested_at, id`,
        [this.company, statuses],
      )
    ).rows;
  }

  /** The m-th member (mod) among those with a positive available balance, else member m: who asks for payouts. */
  private async payee(m: number): Promise<string> {
    const r = await sql.query<{ u: string }>(
      `select m.u from unnest($2::text[]) m(u) where public.available_balance($1, m.u) > 0`,
      [this.company, this.members],
    );
    return r.rows.length ? r.rows[m % r.rows.length].u : this.members[m];
  }

  /** The referly_signals of a payment by member `payer` (what lib/fraud computes, here given directly). */
  signals(payer: number, sig: Exclude<Sig, null>): Record<string, unknown> {
    if (sig === "disposable") {
      return { email: `${["alpha", "bravo", "charlie", "delta"][payer]}.burner@mailinator.com`, email_disposable: true };
    }
    // one card the whole family shares: a conversion paid with it after a chain member did is a self-referral
    if (sig === "card") return { method_hash: "ab".repeat(32), card_brand: "visa", card_last4: "4242" };
    // one inbox: a referee with the referrer's email
    return { email: "shared.inbox@example.com" };
  }

  /** The company's converted or cancelled referrals (those with fraud_status in `statuses` when given), oldest first. */
  private async referrals(statuses: string[] | null) {
    return (
      await sql.query<{ id: string; referrer: string; referee: string; fraud_status: string; fraud_score: number }>(
        `select id::text, referrer_user_id as referrer, referee_user_id as referee, fraud_status, fraud_score
         from public.referrals where company_id = $1 and status <> 'pending' and ($2::text[] is null or fraud_status = any($2))
         order by created_at, id`,
        [this.company, statuses],
      )
    ).rows;
  }

  private async request(user: string) {
    const out = await attempt(call("request_payout", { p_company_id: this.company, p_user_id: user }));
    return `request by ${this.name(user)}: ${show(out)}`;
  }

  async run(step: Step): Promise<string> {
    const { company, members } = this;
    switch (step.t) {
      case "pay": {
        const user = members[step.payer];
        const tax = step.taxBp === null ? null : Math.floor((step.cents * step.taxBp) / 10000);
        const data: Record<string, unknown> = {
          id: uid("pay_"),
          status: "paid",
          total: decimal(step.cents),
          subtotal: decimal(step.cents),
          currency: "usd",
          user: { id: user, username: null, name: null },
          metadata: null,
        };
        if (tax !== null) data.tax_amount = decimal(tax);
        if (step.sig) data.referly_signals = this.signals(step.payer, step.sig);
        this.payments.push({ id: data.id as string, data, cents: step.cents, left: step.cents });
        const out = await this.deliver({ id: uid("evt_"), type: "payment.succeeded", data }, step.copies);
        return step.sig ? `${out} [${step.sig}]` : out;
      }
      case "newReferee": {
        const { code } = await call("get_or_create_code", { p_company_id: company, p_user_id: members[step.referrer], p_username: `m${step.referrer}`, p_name: null });
        const data: Record<string, unknown> = {
          id: uid("pay_"),
          status: "paid",
          total: decimal(step.cents),
          subtotal: decimal(step.cents),
          currency: "usd",
          user: { id: uid("user_n"), username: null, name: null },
          metadata: { referral_code: code },
          ...(step.plan ? { plan: { id: step.plan } } : {}),
        };
        this.payments.push({ id: data.id as string, data, cents: step.cents, left: step.cents });
        return this.deliver({ id: uid("evt_"), type: "payment.succeeded", data });
      }
      case "redeliver": {
        if (this.events.length === 0) return "skip";
        const ev = this.events[step.k % this.events.length];
        const r = await call("process_webhook_event", {
          p_event_id: ev.id,
          p_type: ev.type,
          p_company_id: company,
          p_data: ev.data,
        });
        if (r.duplicate !== true) throw new Error(`redelivery of ${ev.id} was not a duplicate: ${JSON.stringify(r)}`);
        return `duplicate of ${ev.type}`;
      }
      case "samePayment": {
        if (this.payments.length === 0) return "skip";
        const p = this.payments[step.k % this.payments.length];
        const out = await this.deliver({ id: uid("evt_"), type: "payment.succeeded", data: p.data });
        if (out !== "duplicate_payment") throw new Error(`payment ${p.id} under a new event id gave ${out}`);
        return out;
      }
      case "refund":
      case "dispute":
      case "refundPending": {
        const open = this.payments.filter((p) => p.left > 0);
        if (open.length === 0) return "skip";
        const p = open[step.k % open.length];
        const cents = this.refundCents(p, step.part);
        const status = step.t === "refundPending" ? "pending" : "succeeded";
        const ev = this.refundEvent(step.t === "dispute" ? "dispute" : "refund", p, cents, status);
        return `${cents}¢ of ${p.cents}¢: ${await this.deliver(ev, step.t === "refundPending" ? 1 : step.copies)}`;
      }
      case "refundUpdate": {
        const refunds = this.refunds.filter((r) => r.id.startsWith("rfnd_"));
        if (refunds.length === 0) return "skip";
        const r = refunds[step.k % refunds.length];
        const wasApplied = r.applied;
        const data = { id: r.id, payment: { id: r.paymentId }, amount: decimal(r.cents), status: "succeeded" };
        const out = await this.deliver({ id: uid("evt_"), type: "refund.updated", data });
        r.applied = true;
        const expected = wasApplied ? ["refund_already_applied"] : ["refund_reversed", "refund_recorded"];
        if (!expected.includes(out)) throw new Error(`refund.updated of ${r.id} (applied: ${wasApplied}) gave ${out}`);
        return `${wasApplied ? "repeat" : "pending → succeeded"}: ${out}`;
      }
      case "release": {
        const pending = (
          await sql.query<{ id: string }>(
            `select id from public.commissions where company_id = $1 and status = 'pending' order by created_at, id`,
            [company],
          )
        ).rows.map((r) => r.id);
        const due = pending.filter((_, i) => step.mask === 0 || (step.mask >> i % 16) & 1);
        await sql.query(`update public.commissions set available_at = now() - interval '1 second' where id = any($1)`, [
          due,
        ]);
        const n = await call("release_commissions", {});
        return `back-dated ${due.length}/${pending.length}, released ${n}`;
      }
      case "request":
        return this.request(await this.payee(step.m));
      case "payEveryone": {
        const log: string[] = [];
        for (const user of members) {
          const req = await attempt(call("request_payout", { p_company_id: company, p_user_id: user }));
          if (!req.ok) {
            log.push(`${this.name(user)}: ${show(req)}`);
            continue;
          }
          const base = { p_company_id: company, p_payout_id: req.v.id };
          const started = await attempt(call("start_payout", base));
          const done = started.ok ? await attempt(call("complete_payout", { ...base, p_transfer_id: uid("xfer_") })) : started;
          log.push(`${this.name(user)}: ${show(req)} → ${show(done)}`);
        }
        return log.join(" | ");
      }
      case "payoutFlow": {
        // request → start → complete | fail (→ retry → complete) | cancel, for one member
        const user = await this.payee(step.m);
        const req = await attempt(call("request_payout", { p_company_id: company, p_user_id: user }));
        const log = [`request by ${this.name(user)}: ${show(req)}`];
        if (!req.ok) return log.join(" | ");
        const base = { p_company_id: company, p_payout_id: req.v.id };
        if (step.end === "cancel") {
          log.push(`cancel ${show(await attempt(call("cancel_payout", { ...base, p_reason: "creator said no" })))}`);
          return log.join(" | ");
        }
        log.push(`start ${show(await attempt(call("start_payout", base)))}`);
        if (step.end === "none") return log.join(" | ");
        if (step.end === "fail" || step.end === "failRetry") {
          log.push(`fail ${show(await attempt(call("fail_payout", { ...base, p_error: "transfer refused" })))}`);
          if (step.end === "fail") return log.join(" | ");
          log.push(`retry ${show(await attempt(call("start_payout", base)))}`);
        }
        log.push(`complete ${show(await attempt(call("complete_payout", { ...base, p_transfer_id: uid("xfer_") })))}`);
        return log.join(" | ");
      }
      case "start":
      case "fail":
      case "cancel":
      case "complete": {
        const wanted = {
          start: ["requested", "failed", "processing"],
          complete: ["processing"],
          fail: ["processing"],
          cancel: ["requested", "failed"],
        }[step.t];
        // the intended ones; else any payout, which must be refused
        let list = await this.payouts(wanted);
        if (list.length === 0) list = await this.payouts(["requested", "processing", "completed", "failed", "cancelled"]);
        if (list.length === 0) return "skip";
        const p = list[step.k % list.length];
        const base = { p_company_id: company, p_payout_id: p.id };
        const who = `${this.name(p.user_id)}'s ${p.status} payout`;
        if (step.t === "start") return `${who}: ${show(await attempt(call("start_payout", base)))}`;
        if (step.t === "fail") {
          return `${who}: ${show(await attempt(call("fail_payout", { ...base, p_error: "transfer refused" })))}`;
        }
        if (step.t === "cancel") {
          return `${who}: ${show(await attempt(call("cancel_payout", { ...base, p_reason: "creator said no" })))}`;
        }
        const complete = { ...base, p_transfer_id: uid("xfer_") };
        let out = `${who}: ${show(await attempt(call("complete_payout", complete)))}`;
        if (step.again) out += ` | again: ${show(await attempt(call("complete_payout", complete)))}`;
        return out;
      }
      case "item": {
        const item = await call("create_points_item", {
          p_company_id: company,
          p_item: { name: `Reward ${step.cost}`, cost_points: step.cost, grant_type: "custom", grant_config: { note: "hi" } },
        });
        this.items.push(item.id);
        return `item ${step.cost} pts`;
      }
      case "redeem": {
        if (this.items.length === 0) return "skip";
        const item = this.items[step.k % this.items.length];
        const args = { p_company_id: company, p_user_id: members[step.m], p_item_id: item };
        return show(await attempt(call("redeem_points_item", args)));
      }
      case "grant": {
        const args = { p_company_id: company, p_member: members[step.m], p_delta: step.delta, p_reason: "manual" };
        return show(await attempt(call("grant_points", args)));
      }
      case "refundRace": {
        // Requests at once, as production can interleave them (see `race`): [T0] a payout request
        // of the payment's first beneficiary still in its transaction; T1 the refund webhook in
        // its transaction; T2 another beneficiary's payout request (committed before T1 starts,
        // or while T1 is open); [T3] the creator starting that member's open payout. Open
        // transactions commit at the end, in order. [Then that member's processing payout's
        // transfer goes through.]
        const open = this.payments.filter((p) => p.left > 0);
        if (open.length === 0) return "skip";
        const rows = (
          await sql.query<{ payment_id: string; beneficiary_user_id: string; payable: boolean }>(
            `select c.payment_id, c.beneficiary_user_id,
                    c.status = 'available' and (c.payout_id is null or o.status = 'requested') as payable
             from public.commissions c left join public.payouts o on o.id = c.payout_id
             where c.company_id = $1 and c.kind = 'commission' order by c.level`,
            [company],
          )
        ).rows;
        // prefer payments whose commissions can be paid out (two of them for "held"), then any
        const payable = (p: Pay) => rows.filter((r) => r.payment_id === p.id && r.payable).length;
        const choices = [
          open.filter((p) => payable(p) >= (step.order === "held" ? 2 : 1)),
          open.filter((p) => payable(p) >= 1),
          open,
        ].find((l) => l.length > 0)!;
        const p = choices[step.k % choices.length];
        const beneficiaries = [...new Set(rows.filter((r) => r.payment_id === p.id).map((r) => r.beneficiary_user_id))];
        const held = step.order === "held" && beneficiaries.length > 0 ? beneficiaries[0] : null;
        const others = beneficiaries.filter((u) => u !== held);
        const payee = others.length ? others[step.m % others.length] : await this.payee(step.m % 4);
        const cents = this.refundCents(p, step.part);
        const ev = this.refundEvent("refund", p, cents);
        const ops: RaceOp[] = [];
        if (held) {
          ops.push({
            label: `T0 request by ${this.name(held)} (held open)`,
            tx: true,
            run: (c) => c.query(`select public.request_payout($1, $2) as v`, [company, held]),
          });
        }
        const t2: RaceOp = {
          label: `T2 request by ${this.name(payee)}`,
          tx: false,
          run: (c) => c.query(`select public.request_payout($1, $2) as v`, [company, payee]),
        };
        if (step.order === "requestFirst") ops.push(t2);
        ops.push({
          label: `T1 refund ${cents}¢ of ${p.cents}¢`,
          tx: true,
          run: (c) =>
            c.query(`select public.process_webhook_event($1, $2, $3, $4::jsonb) as v`, [
              ev.id,
              ev.type,
              company,
              JSON.stringify(ev.data),
            ]),
        });
        if (step.order !== "requestFirst") ops.push(t2);
        if (step.start) {
          ops.push({
            label: `T3 start ${this.name(payee)}'s open payout`,
            tx: false,
            run: async (c) => {
              const po = (await this.payouts(["requested", "failed", "processing"])).find((o) => o.user_id === payee);
              return po ? c.query(`select public.start_payout($1, $2::uuid) as v`, [company, po.id]) : null;
            },
          });
        }
        let log = await race(ops);
        this.events.push(ev);
        if (step.complete) {
          const po = (await this.payouts(["processing"])).find((o) => o.user_id === payee);
          if (po) {
            const args = { p_company_id: company, p_payout_id: po.id, p_transfer_id: uid("xfer_") };
            const done = await attempt(call("complete_payout", args));
            log += ` | then complete: ${show(done)}`;
          }
        }
        return log;
      }
      case "decide": {
        // the k-th referral waiting for review; else any (which must be refused: decided once)
        const open = await this.referrals(["flagged", "held"]);
        const all = await this.referrals(null);
        if (all.length === 0) return "skip";
        const target = open.length ? open[step.k % open.length] : all[step.k % all.length];
        const args = { p_company_id: company, p_decision: step.decision, p_reason: `${step.decision} #${step.k}`, p_actor: ADMIN };
        const log: string[] = [];
        if (step.before !== "none") {
          const payee = (
            await sql.query<{ u: string }>(
              `select beneficiary_user_id as u from public.commissions where referral_id = $1 order by level, created_at limit 1`,
              [target.id],
            )
          ).rows[0]?.u;
          if (payee) {
            const req = await attempt(call("request_payout", { p_company_id: company, p_user_id: payee }));
            log.push(`request by ${this.name(payee)}: ${show(req)}`);
            if (req.ok && step.before === "requestStart") {
              log.push(`start: ${show(await attempt(call("start_payout", { p_company_id: company, p_payout_id: req.v.id })))}`);
            }
          }
        }
        const what = [...log, `${step.decision} ${this.name(target.referee)} (${target.fraud_status} ${target.fraud_score})`].join(" | ");
        if (!step.bulk) {
          const out = await attempt(call("decide_referral", { ...args, p_referral_id: target.id }));
          if (!out.ok && !(out.status === 409 && !["flagged", "held"].includes(target.fraud_status))) {
            throw new Error(`${what} refused: ${out.message}`);
          }
          return `${what}: ${show(out)}`;
        }
        // in bulk, with another referral (perhaps decided already, perhaps the same): each id once, decided or skipped
        const other = all[(step.k >> 2) % all.length];
        const out = await attempt(call("decide_referrals", { ...args, p_referral_ids: [target.id, other.id, target.id] }));
        if (!out.ok) throw new Error(`bulk ${what} refused: ${out.message}`);
        const wanted = new Set([target.id, other.id]);
        const got = [...out.v.decided, ...out.v.skipped].map((d: { id: string }) => d.id);
        if (got.length !== wanted.size || !got.every((id: string) => wanted.has(id))) {
          throw new Error(`bulk ${what}: each id once, decided or skipped: ${JSON.stringify(out.v)}`);
        }
        const decided = out.v.decided.map((d: { id: string }) => d.id);
        if (["flagged", "held"].includes(target.fraud_status) !== decided.includes(target.id)) {
          throw new Error(`bulk ${what}: the open referral must be decided: ${JSON.stringify(out.v)}`);
        }
        return `bulk ${what} + ${this.name(other.referee)}: ${decided.length} decided, ${out.v.skipped.length} skipped`;
      }
      case "endCampaign": {
        if (!this.campaignId) return "no campaign";
        const out = await attempt(call("set_campaign_status", { p_company_id: company, p_campaign_id: this.campaignId, p_action: "end" }));
        // the grants lib/rewards makes right after: money and points in SQL (twice: once each)
        const won = (await sql.query<{ id: string }>(`select id from public.reward_redemptions where company_id = $1 order by id`, [company])).rows;
        for (const w of [...won, ...won]) await call("grant_reward_redemption", { p_company_id: company, p_redemption_id: w.id });
        return `end campaign: ${show(out)}, ${won.length} prizes`;
      }
      case "trust": {
        const args = { p_company_id: company, p_member: members[step.m], p_trusted: step.on, p_actor: ADMIN };
        return `${step.on ? "trust" : "untrust"} ${"ABCD"[step.m]}: ${show(await attempt(call("set_member_trusted", args)))}`;
      }
      case "decideRace": {
        // T1 the creator's decision in its transaction, and at the same time T2 on the same
        // referral's money: a payout request or start of one of its beneficiaries, a refund of
        // one of its payments, or the referee's renewal (see `race` for the order)
        const open = await this.referrals(["flagged", "held"]);
        if (open.length === 0) return "skip";
        const target = open[step.k % open.length];
        const decide: RaceOp = {
          label: `T1 ${step.decision} ${this.name(target.referee)} (${target.fraud_status} ${target.fraud_score})`,
          tx: true,
          run: (c) =>
            c.query(`select public.decide_referral($1, $2::uuid, $3, $4, $5) as v`, [
              company,
              target.id,
              step.decision,
              `race #${step.k}`,
              ADMIN,
            ]),
        };
        const beneficiaries = (
          await sql.query<{ u: string }>(
            `select distinct beneficiary_user_id as u from public.commissions where referral_id = $1 order by 1`,
            [target.id],
          )
        ).rows.map((r) => r.u);
        const payee = beneficiaries.length ? beneficiaries[step.m % beneficiaries.length] : target.referrer;
        let other: RaceOp;
        let after: (() => void) | null = null;
        if (step.with === "request") {
          other = {
            label: `T2 request by ${this.name(payee)}`,
            tx: true,
            run: (c) => c.query(`select public.request_payout($1, $2) as v`, [company, payee]),
          };
        } else if (step.with === "start") {
          const po = (await this.payouts(["requested", "failed", "processing"])).find((o) => o.user_id === payee);
          if (!po) return "skip";
          other = {
            label: `T2 start ${this.name(payee)}'s ${po.status} payout`,
            tx: true,
            run: (c) => c.query(`select public.start_payout($1, $2::uuid) as v`, [company, po.id]),
          };
        } else if (step.with === "refund") {
          const paid = this.payments.filter((p) => p.left > 0 && (p.data.user as { id: string }).id === target.referee);
          if (paid.length === 0) return "skip";
          const p = paid[step.m % paid.length];
          const ev = this.refundEvent("refund", p, this.refundCents(p, step.m % 3 === 0 ? "full" : 1 + (step.m % 9999)));
          other = {
            label: `T2 refund ${(ev.data as { amount: number }).amount} of ${p.cents}¢`,
            tx: true,
            run: (c) =>
              c.query(`select public.process_webhook_event($1, $2, $3, $4::jsonb) as v`, [ev.id, ev.type, company, JSON.stringify(ev.data)]),
          };
          after = () => this.events.push(ev);
        } else {
          const data: Record<string, unknown> = {
            id: uid("pay_"),
            status: "paid",
            total: decimal(1000 + step.m),
            subtotal: decimal(1000 + step.m),
            currency: "usd",
            user: { id: target.referee, username: null, name: null },
            metadata: null,
          };
          const ev: Ev = { id: uid("evt_"), type: "payment.succeeded", data };
          this.payments.push({ id: data.id as string, data, cents: 1000 + step.m, left: 1000 + step.m });
          other = {
            label: `T2 renewal by ${this.name(target.referee)}`,
            tx: true,
            run: (c) =>
              c.query(`select public.process_webhook_event($1, $2, $3, $4::jsonb) as v`, [ev.id, ev.type, company, JSON.stringify(data)]),
          };
          after = () => this.events.push(ev);
        }
        const log = await race(step.order === "decideFirst" ? [decide, other] : [other, decide]);
        after?.();
        return log;
      }
    }
  }

  // ── invariants ────────────────────────────────────────────────────────────

  async check(): Promise<void> {
    const { company, members, cfg } = this;
    const q = async <T = Record<string, unknown>>(text: string, params: unknown[]) =>
      (await sql.query(text, params)).rows as T[];
    const [points, badCommissions, events, dupCommissions, paymentRows, money, earningRows, earnings, analytics, fraud, campaign, commissionLedger, boosts] = await Promise.all([
      // 1
      q<{ user_id: string; balance: string; ledger: string }>(
        `select user_id, coalesce(b.balance, 0)::text as balance, coalesce(t.s, 0)::text as ledger
         from (select user_id, balance from public.points_balances where company_id = $1) b
         full join (select user_id, sum(points) as s from public.transactions where company_id = $1 and kind = 'points'
                    group by user_id) t using (user_id)`,
        [company],
      ),
      // 2
      q(
        `select c.id, c.kind, c.level, c.beneficiary_user_id, c.base_amount_cents::int as base, c.rate_bp,
                c.amount_cents::int as amount, c.reversed_cents::int as reversed, p.amount_cents::int as total,
                p.tax_cents::int as tax, coalesce(-k.clawed, 0)::int as clawed_back
         from public.commissions c
         join public.payments p on p.company_id = c.company_id and p.payment_id = c.payment_id
         left join (select reverses_commission_id as id, sum(amount_cents) as clawed from public.commissions
                    where company_id = $1 and kind = 'clawback' group by 1) k on k.id = c.id
         where c.company_id = $1 and c.kind = 'commission' and (
               (c.rate_bp > 0 and not (c.amount_cents * 10000 - c.base_amount_cents::numeric * c.rate_bp * c.streak_multiplier >= -5000
                                   and c.amount_cents * 10000 - c.base_amount_cents::numeric * c.rate_bp * c.streak_multiplier < 5000))
            or c.rate_bp - c.campaign_bonus_bp - c.tier_bonus_bp <> ($2::int[])[c.level]
            or c.level > $3
            or c.base_amount_cents <> greatest(p.amount_cents - p.tax_cents, 0)
            or c.reversed_cents < 0 or c.reversed_cents > c.amount_cents
            or c.reversed_cents - coalesce(k.clawed, 0) > c.amount_cents)`,
        [company, [cfg.rate, ...cfg.upper], cfg.maxLevel],
      ),
      // 3
      q<{ event_id: string; n: number }>(
        `select e.id as event_id, (select count(*)::int from public.webhook_events w where w.event_id = e.id) as n
         from unnest($1::text[]) e(id)`,
        [[...new Set(this.events.map((e) => e.id))]],
      ),
      q(
        `select payment_id, beneficiary_user_id, level, count(*)::int as n from public.commissions
         where company_id = $1 and kind = 'commission' group by 1, 2, 3 having count(*) > 1`,
        [company],
      ),
      q(
        `select p.payment_id, (select count(*)::int from public.transactions t where t.company_id = p.company_id
                                 and t.kind = 'payment' and t.reference_id = p.payment_id) as n
         from public.payments p where p.company_id = $1`,
        [company],
      ),
      // 4, 6
      q<Record<string, string>>(
        `select m.u as user_id,
           (select coalesce(sum(amount_cents), 0) from public.payouts
             where company_id = $1 and user_id = m.u and status = 'completed')::text as completed,
           (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions
             where company_id = $1 and beneficiary_user_id = m.u and status = 'paid')::text as paid_net,
           (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions
             where company_id = $1 and beneficiary_user_id = m.u and kind in ('commission', 'bonus') and status <> 'cancelled')::text as earned_net,
           (select coalesce(sum(amount_cents), 0) from public.transactions
             where company_id = $1 and user_id = m.u
               and kind in ('commission', 'reversal', 'clawback', 'cancellation', 'payout'))::text as ledger,
           (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions
             where company_id = $1 and beneficiary_user_id = m.u and status in ('pending', 'available', 'on_hold'))::text as owed
         from unnest($2::text[]) m(u)`,
        [company, members],
      ),
      // 5: the sums the function must give, from the rows
      q<{ user_id: string; currency: string; total: string; pending: string; paid: string }>(
        `select beneficiary_user_id as user_id, currency,
           coalesce(sum(amount_cents - reversed_cents) filter (where status in ('pending', 'available', 'paid')), 0)::text as total,
           coalesce(sum(amount_cents - reversed_cents) filter (where status in ('pending', 'available')), 0)::text as pending,
           coalesce(sum(amount_cents - reversed_cents) filter (where status = 'paid'), 0)::text as paid
         from public.commissions where company_id = $1 group by 1, 2 order by 1, 2`,
        [company],
      ),
      Promise.all(members.map((u) => call("get_user_referral_earnings", { p_company_id: company, p_user_id: u }))),
      // 7
      call("check_analytics", { p_company_id: company }),
      // 8: each row a broken rule (labelled), none expected
      q<{ rule: string; id: string; detail: unknown }>(
        `with c as (
           select c.*, r.fraud_status, r.status as referral_status,
             c.amount_cents - c.reversed_cents + coalesce((select sum(k.amount_cents) from public.commissions k
                                                           where k.reverses_commission_id = c.id), 0) as left_after_clawbacks
           from public.commissions c join public.referrals r on r.id = c.referral_id where c.company_id = $1)
         select 'on_hold commission in a payout' as rule, id::text, to_jsonb(c) as detail from c
           where status = 'on_hold' and payout_id is not null
         union all select 'held referral: commission not on_hold', id::text, to_jsonb(c) from c
           where fraud_status = 'held' and kind = 'commission' and status not in ('on_hold', 'reversed')
         union all select 'approved referral: commission on_hold', id::text, to_jsonb(c) from c
           where fraud_status = 'approved' and status = 'on_hold'
         union all select 'rejected referral: commission owed or in a payout', id::text, to_jsonb(c) from c
           where fraud_status = 'rejected' and kind = 'commission'
             and ((status = 'cancelled' and payout_id is not null) or status in ('pending', 'on_hold')
                  or (status in ('available', 'paid') and left_after_clawbacks <> 0))
         union all select 'requested payout asks for rejected money', payout_id::text, jsonb_build_object('net', sum(amount_cents - reversed_cents))
           from c where fraud_status = 'rejected' and status = 'available'
             and payout_id in (select id from public.payouts where company_id = $1 and status = 'requested')
           group by payout_id having sum(amount_cents - reversed_cents) > 0
         union all select 'rejected referral not cancelled', id::text, to_jsonb(r) from public.referrals r
           where company_id = $1 and fraud_status = 'rejected' and status <> 'cancelled'
         union all select 'points for a held referral''s payment', t.id::text, to_jsonb(t) from public.transactions t
           join public.payments p on p.company_id = t.company_id and p.payment_id = t.reference_id
           join public.referrals r on r.id = p.referral_id
           where t.company_id = $1 and t.kind = 'points' and t.points_type like 'REFERRAL_%' and t.reference_type = 'payment'
             and (r.fraud_status = 'held' or (r.fraud_status = 'rejected' and $2 = 'hold' and r.fraud_score >= $3))
         union all select 'score is not the capped sum of flagged weights', r.id::text,
             jsonb_build_object('score', r.fraud_score, 'sum', s.w)
           from public.referrals r join (select referral_id, sum(weight) filter (where flagged) as w from public.fraud_checks
                                         group by referral_id) s on s.referral_id = r.id
           where r.company_id = $1 and r.fraud_score <> least(100, coalesce(s.w, 0))
         union all select 'no checks stored but a score or a review status', r.id::text, to_jsonb(r) from public.referrals r
           where r.company_id = $1 and not exists (select 1 from public.fraud_checks f where f.referral_id = r.id)
             and (r.fraud_score <> 0 or r.fraud_status <> 'clear')
         union all select 'status does not follow mode and hold score', r.id::text, to_jsonb(r) from public.referrals r
           where r.company_id = $1 and (
             (r.fraud_status = 'held' and ($2 <> 'hold' or r.fraud_score < $3))
             or (r.fraud_status = 'flagged' and $2 = 'hold' and r.fraud_score >= $3)
             or ($2 = 'off' and r.fraud_status <> 'clear'))
         union all select 'mode off stores no checks', f.id::text, to_jsonb(f) from public.fraud_checks f
           where f.company_id = $1 and $2 = 'off'`,
        [company, cfg.fraudMode, cfg.holdScore],
      ),
      // 9: each row a broken rule (labelled), none expected
      q<{ rule: string; id: string; detail: unknown }>(
        `with k as (select * from public.campaigns where company_id = $1),
              counted as (select r.* from public.referrals r where r.company_id = $1 and r.counted)
         select 'counted <> referral_counts' as rule, r.id::text, to_jsonb(r) as detail from public.referrals r
           where r.company_id = $1 and r.counted <> public.referral_counts(r)
         union all select 'total_referrals', k.id::text, jsonb_build_object('total', k.total_referrals,
             'counted', (select count(*) from counted where campaign_id = k.id)) from k
           where k.awarded_at is null and k.total_referrals <> (select count(*) from counted where campaign_id = k.id)
         union all select 'member tally', m.user_id, to_jsonb(m) from public.campaign_members m join k on k.id = m.campaign_id
           where k.awarded_at is null
             and m.conversions <> (select count(*) from counted c where c.campaign_id = k.id and c.referrer_user_id = m.user_id)
         union all select 'tally missing', c.referrer_user_id, null from counted c join k on k.id = c.campaign_id
           where k.awarded_at is null and not exists (select 1 from public.campaign_members m where m.campaign_id = k.id and m.user_id = c.referrer_user_id)
         union all select 'campaign_levels', coalesce(l.conversions, g.conversions)::text, jsonb_build_object('kept', l.members, 'members', g.n)
           from (select * from public.campaign_levels where campaign_id in (select id from k where awarded_at is null)) l
           full join (select campaign_id, conversions, count(*)::int as n from public.campaign_members
                      where campaign_id in (select id from k where awarded_at is null) and conversions > 0 group by 1, 2) g
             on g.campaign_id = l.campaign_id and g.conversions = l.conversions
           where coalesce(l.members, 0) <> coalesce(g.n, 0)
         union all select 'reward_progress', u.u, jsonb_build_object('progress', coalesce(p.conversions, 0),
             'counted', (select count(*) from counted c where c.referrer_user_id = u.u))
           from unnest($2::text[]) u(u) left join public.reward_progress p on p.company_id = $1 and p.user_id = u.u
           where coalesce(p.conversions, 0) <> (select count(*) from counted c where c.referrer_user_id = u.u)
         union all select 'campaign bonus where none applies', cm.id::text, to_jsonb(cm) from public.commissions cm
           left join public.referrals r on r.id = cm.referral_id left join k on k.id = r.campaign_id
           where cm.company_id = $1 and cm.kind = 'commission' and cm.campaign_bonus_bp <> case
             when cm.level = 1 and k.id is not null
              and cm.payment_id = (select p.payment_id from public.payments p where p.company_id = $1 and p.referral_id = r.id
                                   order by p.created_at, p.payment_id limit 1)
             then least((k.rules->>'bonus_rate_bp')::int, 10000 - (cm.rate_bp - cm.campaign_bonus_bp)) else 0 end
         union all select 'money prize not one bonus commission', d.id::text, to_jsonb(d) from public.reward_redemptions d
           where d.company_id = $1 and d.reward_type = 'commission' and d.status = 'granted'
             and (select count(*) from public.commissions b where b.reward_redemption_id = d.id and b.kind = 'bonus'
                    and b.amount_cents = (d.reward_data->>'amount_cents')::bigint
                    and exists (select 1 from public.transactions t where t.company_id = $1 and t.kind = 'commission'
                                and t.reference_id = b.id::text and t.amount_cents = b.amount_cents)) <> 1
         union all select 'prize before the award', d.id::text, to_jsonb(d) from public.reward_redemptions d join k on k.id = d.campaign_id
           where d.prize is not null and k.awarded_at is null`,
        [company, members],
      ),
      // 10: each row a broken rule (labelled), none expected
      q<{ rule: string; id: string; detail: unknown }>(
        `with l as (select user_id, sum(amount_cents) as s from public.transactions where company_id = $1 and kind = 'commission' group by 1),
              c as (select beneficiary_user_id as user_id, sum(amount_cents) as s, count(*) filter (where kind = 'bonus') as bonus
                    from public.commissions where company_id = $1 and kind in ('commission', 'bonus') group by 1)
         select 'Σ commission ledger <> Σ commission and bonus rows' as rule, user_id as id,
             jsonb_build_object('ledger', coalesce(l.s, 0), 'rows', coalesce(c.s, 0), 'bonus_rows', coalesce(c.bonus, 0)) as detail
           from l full join c using (user_id) where coalesce(l.s, 0) <> coalesce(c.s, 0)
         union all select 'commission row without exactly one ledger row of its amount', c.id::text, to_jsonb(c) from public.commissions c
           where c.company_id = $1 and c.kind in ('commission', 'bonus')
             and (select count(*) from public.transactions t where t.company_id = $1 and t.kind = 'commission'
                    and t.reference_id = c.id::text and t.amount_cents = c.amount_cents and t.user_id = c.beneficiary_user_id) <> 1`,
        [company],
      ),
      // 11: each row a broken rule (labelled), none expected
      q<{ rule: string; id: string; detail: unknown }>(
        `select 'tier bonus off level 1, with tiers off, or not the tier of the best count' as rule, c.id::text as id, to_jsonb(c) as detail
           from public.commissions c join public.programs p on p.company_id = c.company_id
           where c.company_id = $1 and c.tier_bonus_bp > 0 and (c.level <> 1 or not p.tiers_enabled
             or c.tier_bonus_bp > (public.tier_for(p, (select best_conversions from public.referral_tiers t
                                                      where t.company_id = $1 and t.user_id = c.beneficiary_user_id))->>'bonus_pct')::numeric * 100)
         union all select 'streak multiplier off level 1, on a renewal, with streaks off, or above the cap', c.id::text, to_jsonb(c)
           from public.commissions c join public.programs p on p.company_id = c.company_id
           where c.company_id = $1 and c.streak_multiplier <> 1 and (c.level <> 1 or not p.streaks_enabled
             or c.streak_multiplier > 1 + p.streak_cap_pct::numeric / 100
             or c.payment_id <> (select x.payment_id from public.payments x where x.company_id = $1 and x.referral_id = c.referral_id
                                 order by x.created_at, x.payment_id limit 1))
         union all select 'a tier below the best count ever counted, or not its tier', t.user_id, to_jsonb(t)
           from public.referral_tiers t join public.reward_progress g using (company_id, user_id) join public.programs p using (company_id)
           where t.company_id = $1 and (t.best_conversions < g.conversions or t.current_tier <> public.tier_for(p, t.best_conversions)->>'name')
         union all select 'a drop of other than drop_points, or for another company''s referral', d.source_id, to_jsonb(d)
           from public.referral_rewards d join public.programs p using (company_id)
           where d.company_id = $1 and d.reason = 'drop' and (d.reward_value <> p.drop_points
             or not exists (select 1 from public.referrals r where r.id = d.source_id::uuid and r.company_id = $1 and r.referrer_user_id = d.user_id))
         union all select 'Σ SURPRISE_DROP points <> Σ drops', $1::text, jsonb_build_object('points', (select coalesce(sum(points), 0) from public.transactions
             where company_id = $1 and points_type = 'SURPRISE_DROP'), 'drops', (select coalesce(sum(reward_value), 0) from public.referral_rewards
             where company_id = $1 and reason = 'drop'))
           where (select coalesce(sum(points), 0) from public.transactions where company_id = $1 and points_type = 'SURPRISE_DROP')
              <> (select coalesce(sum(reward_value), 0) from public.referral_rewards where company_id = $1 and reason = 'drop')`,
        [company],
      ),
    ]);

    const fail = (invariant: string, detail: unknown) => {
      throw new Error(`invariant ${invariant} broken: ${JSON.stringify(detail, null, 1)}`);
    };

    // 1. points cache = ledger, never negative
    for (const p of points) {
      if (p.balance !== p.ledger || Number(p.balance) < 0) {
        fail("1 (points balance = Σ ledger points ≥ 0)", { ...p, user: this.name(p.user_id) });
      }
    }
    // 2. the rounding rule, the rates, the reversals
    if (badCommissions.length) fail("2 (commission = round_half_down(base × rate), 0 ≤ reversed ≤ amount)", badCommissions);
    // 3. idempotency
    const missing = events.filter((e) => e.n !== 1);
    if (missing.length) fail("3 (each event id once in webhook_events)", missing);
    if (dupCommissions.length) fail("3 (one commission per payment, beneficiary, level)", dupCommissions);
    const badPayments = paymentRows.filter((p) => p.n !== 1);
    if (badPayments.length) fail("3 (one payment ledger row per payment)", badPayments);

    for (const m of money) {
      const who = { member: this.name(m.user_id), ...m };
      // 4. payouts = what was paid, never more than earned
      if (BigInt(m.completed) !== BigInt(m.paid_net)) fail("4 (Σ completed payouts = Σ net of paid commissions)", who);
      if (BigInt(m.completed) > BigInt(m.earned_net)) fail("4 (Σ completed payouts ≤ Σ net earned)", who);
      // 6. the money ledger = what is owed and not yet paid
      if (BigInt(m.ledger) !== BigInt(m.owed)) fail("6 (Σ money ledger = Σ net of pending/available/on_hold commissions)", who);
    }
    // 5. earnings function = the rows
    members.forEach((u, i) => {
      const got = (earnings[i] as Record<string, unknown>[]).map((r) => ({
        currency: r.currency,
        total: Number(r.total_earnings),
        pending: Number(r.pending_earnings),
        paid: Number(r.paid_earnings),
      }));
      const want = earningRows
        .filter((r) => r.user_id === u)
        .map((r) => ({ currency: r.currency, total: Number(r.total), pending: Number(r.pending), paid: Number(r.paid) }));
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        fail("5 (get_user_referral_earnings = the commission rows)", { member: this.name(u), got, want });
      }
    });
    // 7. the analytics rollups = the source rows
    if (analytics.ok !== true) fail("7 (check_analytics: rollups = source rows)", analytics.differences);
    // 8. fraud: held and rejected money never in a payout, statuses follow the score and mode
    if (fraud.length) fail(`8 (${fraud[0].rule})`, fraud);
    // 9. campaigns: counting, counters, the bonus on the commission, prizes as money once
    if (campaign.length) fail(`9 (${campaign[0].rule})`, campaign);
    // 10. the commission ledger = the commission and money-prize rows
    if (commissionLedger.length) fail(`10 (${commissionLedger[0].rule})`, commissionLedger);
    // 11. streaks, tiers and drops: where a boost may be, the tier of the best count, drops once in points
    if (boosts.length) fail(`11 (${boosts[0].rule})`, boosts);
  }
}

interface RaceOp {
  label: string;
  /** true: runs in a transaction that stays open until every op has started */
  tx: boolean;
  /** the statement, on its own connection (null: nothing to do) */
  run: (c: pg.PoolClient) => Promise<pg.QueryResult> | Promise<pg.QueryResult | null>;
}

/**
 * Requests at once, in a fixed, reproducible order: each op starts on its own connection once
 * the previous one has finished its statement or is waiting for a lock another holds; then the
 * open transactions commit (or roll back when refused) in order as their statements finish.
 * Returns a trace line (who waited, what each answered).
 */
async function race(ops: RaceOp[]): Promise<string> {
  type Running = { op: RaceOp; c: pg.PoolClient; out?: Outcome; waited: boolean; closed: boolean };
  const running: Running[] = [];
  const lockWait = async (pid: number) =>
    (await sql.query<{ w: string | null }>("select wait_event_type as w from pg_stat_activity where pid = $1", [pid]))
      .rows[0]?.w === "Lock";
  try {
    for (const op of ops) {
      const c = await sql.connect();
      const r: Running = { op, c, waited: false, closed: !op.tx };
      running.push(r);
      const pid = (await c.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0].pid;
      if (op.tx) await c.query("begin");
      void attempt(
        Promise.resolve()
          .then(() => op.run(c))
          .then((res) => (res ? res.rows[0].v : "nothing to do"))
          .catch((e) => Promise.reject(toDomainError(e))),
      ).then(
        (o) => (r.out = o),
        (e) => (r.out = { ok: false, status: 0, message: `ERROR ${(e as Error).message}` }),
      );
      for (const until = Date.now() + 10_000; !r.out && Date.now() < until; await sleep(2)) {
        if (await lockWait(pid)) {
          r.waited = true;
          break;
        }
      }
    }
    for (const until = Date.now() + 15_000; running.some((r) => !r.out || !r.closed); await sleep(2)) {
      if (Date.now() > until) {
        throw new Error(`requests stuck: ${running.map((r) => `${r.op.label}: ${r.out ? "done" : "waiting"}`).join(", ")}`);
      }
      const next = running.find((r) => r.out && !r.closed);
      if (next) {
        await next.c.query(next.out!.ok ? "commit" : "rollback");
        next.closed = true;
      }
    }
    const crashed = running.find((r) => r.out && !r.out.ok && r.out.status === 0);
    if (crashed) throw new Error(`${crashed.op.label} failed: ${(crashed.out as { message: string }).message}`);
    return running.map((r) => `${r.op.label}${r.waited ? " (waited)" : ""}: ${show(r.out!)}`).join(" | ");
  } finally {
    for (const r of running) {
      if (!r.closed) await r.c.query("rollback").catch(() => {});
      r.c.release();
    }
  }
}
