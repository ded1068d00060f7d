/**
 * Inbound Whop webhooks (see docs/architecture.md, "The payment pipeline"). The signature (Standard
 * Webhooks) is verified by the SDK's `webhooks.unwrap` on the raw body — always with
 * headers, since unwrap skips verification without them. The event is then applied
 * exactly once by the SQL function process_webhook_event, keyed by Whop's event id.
 *
 * Only the fields the handlers read go on (zod strips the rest), so webhook_events.payload
 * keeps no email, card or address: a payment's and a membership's email and card become
 * fraud signals here (lib/fraud paymentSignals: normalised email, throwaway-domain flag,
 * keyed card hash) passed as data.referly_signals, which SQL uses and does not store.
 *
 * After a payment's transaction commits, the company's after-commit drain runs
 * (./after-commit drainAfterCommit): rewards it unlocked are granted through Whop, then the
 * notifications it queued are sent; a failure there is logged and left to the rewards or
 * notifications job, never a reason to answer other than 200.
 *
 * Answers: 401 missing/forged/tampered/stale signature; 400 malformed JSON or an
 * unknown shape; 200 {outcome, duplicate}; 503 with Retry-After when the database was too
 * busy (a lock or statement bound ran out: nothing written, Whop redelivers); any other
 * database failure throws (route → 500, so Whop retries).
 */
import { z } from "zod";
import { DomainError, rpc, withCompanyShare } from "../db";
import { paymentSignals, type PaymentEvidence } from "../fraud";
import { displayField } from "../referrals";
import { whop } from "../whop/client";
import { drainAfterCommit } from "./after-commit";

/**
 * A Whop id (evt_…, pay_…, user_…, biz_…): printable ASCII, no spaces, at most 128
 * characters — so no id can carry a NUL (which Postgres can't store) or outgrow an index.
 */
const Id = z.string().regex(/^[\x21-\x7e]{1,128}$/, "not a Whop id");
/** A display field (username, name): cached only, so NULs are dropped and length capped, never refused. */
const Display = z.string().nullish().transform(displayField);

const Envelope = z.object({
  id: Id,
  type: z.string().regex(/^[a-z_.]{1,64}$/, "not an event type"),
  company_id: Id.nullish(),
  data: z.record(z.string(), z.unknown()),
});

const WhopUser = z.object({
  id: Id.regex(/^user_/),
  username: Display,
  name: Display,
  // read for the fraud signals, never passed on (needs member:email:read); a value out of
  // shape is no signal, never a reason to refuse the event
  email: z.string().max(320).nullish().catch(null),
});
const Company = z.object({ id: Id }).nullish();
/**
 * The checkout metadata attribution reads: {referral_code, click_id} as Referly's /r wrote
 * them. Anything else (other keys, non-strings, nesting) is dropped, never stored.
 */
const MetadataValue = z.string().max(64).optional().catch(undefined);
const Metadata = z
  .object({ referral_code: MetadataValue, click_id: MetadataValue })
  .nullish()
  .catch(null);

/** The fields of @whop/sdk's Payment that attribution and commissions read. */
const PaymentData = z.object({
  id: Id,
  total: z.number().nonnegative(),
  tax_amount: z.number().nonnegative().nullish(),
  currency: z.string().regex(/^[a-zA-Z]{3}$/),
  user: WhopUser,
  metadata: Metadata,
  company: Company,
  product: z.object({ id: Id }).nullish(),
  // the plan bought: the member's referrals per plan (referral_plan_stats)
  plan: z.object({ id: Id }).nullish().catch(null),
  // a promo code Referly granted, used: its reward becomes claimed
  promo_code: z.object({ id: Id }).nullish().catch(null),
  // fraud signals only (self-referral by payment method), never passed on; a value out of
  // shape gives no signal instead of refusing the payment
  card_brand: z.string().max(40).nullish().catch(null),
  card_last4: z.string().max(4).nullish().catch(null),
  billing_address: z.object({ postal_code: z.string().max(32).nullish().catch(null) }).nullish().catch(null),
});

/** The fields of @whop/sdk's Membership that signups read. */
const MembershipData = z.object({ id: Id, user: WhopUser, metadata: Metadata, company: Company });

/** The fields of @whop/sdk's refund.created/updated data that reversals read. */
const RefundData = z.object({
  id: Id,
  amount: z.number().nonnegative(),
  status: z.string().max(64),
  // null in Whop's type: such a refund matches no payment and reverses nothing
  payment: z.object({ id: Id }).nullable(),
  company: Company,
});

/** The fields of @whop/sdk's Dispute that reversals read. */
const DisputeData = z.object({
  id: Id,
  amount: z.number().nonnegative(),
  payment: z.object({ id: Id }).nullable(),
  company: Company,
});

const dataSchemas: Record<string, z.ZodType<Record<string, unknown>>> = {
  "payment.succeeded": PaymentData,
  "membership.activated": MembershipData,
  // the referral stops counting as active (its membership ended)
  "membership.deactivated": MembershipData,
  "refund.created": RefundData,
  "refund.updated": RefundData,
  "dispute.created": DisputeData,
};

/** Event types with a handler in process_webhook_event; others are acknowledged and recorded. */
export const HANDLED_EVENTS = Object.keys(dataSchemas);

const Processed = z.object({ duplicate: z.boolean(), outcome: z.string().nullable() });

export interface WebhookAnswer {
  status: number;
  /** seconds, with a 503: when Whop should deliver again */
  retryAfter?: number;
  body: { ok: boolean; outcome?: string | null; duplicate?: boolean; error?: string };
}

export async function receiveWhopWebhook(rawBody: string, headers: Headers): Promise<WebhookAnswer> {
  let event: unknown;
  try {
    event = whop().webhooks.unwrap(rawBody, { headers: Object.fromEntries(headers.entries()) });
  } catch (err) {
    if (err instanceof SyntaxError) return { status: 400, body: { ok: false, error: "body is not JSON" } };
    return { status: 401, body: { ok: false, error: "invalid webhook signature" } };
  }
  const envelope = Envelope.safeParse(event);
  if (!envelope.success) return { status: 400, body: { ok: false, error: "not a Whop webhook event" } };
  const { id, type, company_id, data } = envelope.data;
  const dataSchema = dataSchemas[type];
  const parsed = dataSchema?.safeParse(data);
  if (parsed && !parsed.success) {
    return { status: 400, body: { ok: false, error: `unexpected ${type} payload` } };
  }
  // events without a handler are recorded by id only
  try {
    const company = company_id ?? (parsed?.data.company as { id?: string } | null | undefined)?.id;
    // within the company's share of the pool: one company's stuck work never holds every connection
    const r = await withCompanyShare(company ?? "", () =>
      rpc(
        "process_webhook_event",
        { p_event_id: id, p_type: type, p_company_id: company_id ?? null, p_data: parsed ? withSignals(parsed.data) : { id: Id.safeParse(data.id).success ? data.id : null } },
        Processed,
      ),
    );
    // only a payment unlocks rewards (a conversion crossing a milestone); the job does the rest
    if (type === "payment.succeeded" && !r.duplicate && company) {
      // rewards it unlocked, then what the payment earned told to the members (bounded; the
      // jobs retry the rest); a failure is logged, never a reason to answer other than 200
      await drainAfterCommit(company, { rewards: true, notifications: 20 });
    }
    return { status: 200, body: { ok: true, ...r } };
  } catch (err) {
    if (err instanceof DomainError && err.status < 500) {
      return { status: 400, body: { ok: false, error: err.message } };
    }
    // its locks or its time ran out: nothing was written, Whop delivers it again
    if (err instanceof DomainError && err.status === 503) {
      return { status: 503, retryAfter: 5, body: { ok: false, error: err.message } };
    }
    throw err;
  }
}

/**
 * The data handed to SQL: the parsed fields without the raw email, card and address, and
 * (when there is a user) their fraud signals in referly_signals.
 */
function withSignals(data: Record<string, unknown>): Record<string, unknown> {
  const { card_brand, card_last4, billing_address, ...rest } = data as Record<string, unknown> & PaymentEvidence;
  const user = rest.user as { email?: string | null } | undefined;
  if (!user) return rest;
  const { email, ...publicUser } = user;
  return { ...rest, user: publicUser, referly_signals: paymentSignals({ user: { email }, card_brand, card_last4, billing_address }) };
}
