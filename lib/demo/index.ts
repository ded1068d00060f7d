/**
 * Demo mode (see docs/architecture.md, "Demo mode"): the seeded demo company, its creator and members,
 * user tokens signed with a local key (checked by the same verifyUserToken path as in
 * production), and signed webhooks for "simulate a purchase". Everything here is used
 * only when env().demo is true (no WHOP_API_KEY).
 */
import { exportJWK, generateKeyPair, importJWK, SignJWT } from "jose";
import { Webhook } from "standardwebhooks";
import type { MembershipActivatedWebhookEvent, PaymentSucceededWebhookEvent } from "@whop/sdk/resources/webhooks";
import type { Currency } from "@whop/sdk/resources/shared";
import type { SandboxState } from "./sandbox";

export const DEMO_COMPANY_ID = "biz_referlydemo";
export const DEMO_EXPERIENCE_ID = "exp_referlydemo";
export const DEMO_PLAN_ID = "plan_referlydemo";
/** Cookie holding the chosen demo identity (a user id from DEMO_USERS). */
export const DEMO_COOKIE = "referly_demo_user";

export interface DemoUser {
  id: string;
  username: string;
  name: string;
  role: "creator" | "member";
  blurb: string;
}

/** Must match supabase/seed.sql. */
export const DEMO_USERS: DemoUser[] = [
  { id: "user_demo_casey", username: "casey", name: "Casey Creator", role: "creator", blurb: "Owns the community: settings, referrals, commissions" },
  { id: "user_demo_alex", username: "alex", name: "Alex Member", role: "member", blurb: "A new member with a fresh link" },
  { id: "user_demo_sam", username: "sam", name: "Sam Member", role: "member", blurb: "Has already referred Jordan, who paid" },
];

/** The demo company's ledger account (its Whop balance, where payouts come from). */
export const DEMO_LEDGER_ACCOUNT_ID = "ldgr_referlydemo";

/**
 * What the demo Whop sandbox knows: one company (store route "referly-demo", three plans,
 * a $1,250.00 balance), one experience, these users.
 */
export function demoSandboxState(appUrl: string): Partial<SandboxState> {
  const product = { id: "prod_referlydemo", title: "Demo Community Membership" };
  return {
    companies: { [DEMO_COMPANY_ID]: { title: "Referly Demo Community", route: "referly-demo" } },
    plans: {
      [DEMO_COMPANY_ID]: [
        { id: DEMO_PLAN_ID, title: "Monthly", initial_price: 49.99, renewal_price: 49.99, currency: "usd", billing_period: 30, plan_type: "renewal", product },
        { id: "plan_referlydemoyr", title: "Yearly", initial_price: 499, renewal_price: 499, currency: "usd", billing_period: 365, plan_type: "renewal", product },
        { id: "plan_referlydemolt", title: "Lifetime", initial_price: 299, renewal_price: 0, currency: "usd", billing_period: null, plan_type: "one_time", product },
      ],
    },
    ledgerAccounts: { [DEMO_COMPANY_ID]: { id: DEMO_LEDGER_ACCOUNT_ID, balances: [{ currency: "usd", balance: 1250, pending_balance: 149.97 }] } },
    experiences: { [DEMO_EXPERIENCE_ID]: { companyId: DEMO_COMPANY_ID, name: "Refer & earn" } },
    users: Object.fromEntries(DEMO_USERS.map((u) => [u.id, { username: u.username, name: u.name }])),
    access: {
      [DEMO_COMPANY_ID]: Object.fromEntries(DEMO_USERS.map((u) => [u.id, u.role === "creator" ? "admin" : "customer"])),
    },
    defaultAccess: "customer",
    checkoutBaseUrl: `${appUrl}/demo/checkout`,
  };
}

/** A fresh ES256 key pair as JWK JSON strings (public for WHOP_USER_TOKEN_PUBLIC_KEY). */
export async function generateUserTokenKeys(): Promise<{ publicJwk: string; privateJwk: string }> {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  return {
    publicJwk: JSON.stringify(await exportJWK(publicKey)),
    privateJwk: JSON.stringify(await exportJWK(privateKey)),
  };
}

/**
 * A Whop-style user token: ES256 JWT, iss urn:whopcom:exp-proxy, aud = app id,
 * sub = user id, valid 1 hour — what Whop's iframe proxy puts in x-whop-user-token.
 */
export async function signUserToken(privateJwk: string, userId: string, appId: string): Promise<string> {
  const key = await importJWK(JSON.parse(privateJwk), "ES256");
  return new SignJWT({})
    .setProtectedHeader({ alg: "ES256" })
    .setIssuer("urn:whopcom:exp-proxy")
    .setAudience(appId)
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(key);
}

/**
 * Standard Webhooks headers for `body`, signed with Whop's secret (its raw bytes) the way
 * Whop signs: webhook-signature = v1,base64(HMAC-SHA256(secret, "id.timestamp.body")).
 */
export function signWebhook(secret: string, eventId: string, body: string, at = new Date()): Record<string, string> {
  const signature = new Webhook(btoa(secret)).sign(eventId, at, body);
  return {
    "content-type": "application/json",
    "webhook-id": eventId,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": signature,
  };
}

export interface PurchaseInput {
  eventId: string;
  paymentId: string;
  membershipId: string;
  companyId: string;
  user: { id: string; username: string; name: string | null };
  planId: string;
  productId?: string;
  /** decimal currency units, as Whop sends them */
  total: number;
  taxAmount?: number | null;
  currency?: Currency;
  metadata?: Record<string, unknown> | null;
  billingReason?: "subscription_create" | "subscription_cycle" | "one_time";
}

/** A payment.succeeded event in the exact shape of @whop/sdk's PaymentSucceededWebhookEvent. */
export function paymentSucceededEvent(p: PurchaseInput): PaymentSucceededWebhookEvent {
  const at = new Date().toISOString();
  const currency = p.currency ?? "usd";
  return {
    id: p.eventId,
    api_version: "v1",
    type: "payment.succeeded",
    timestamp: at,
    company_id: p.companyId,
    data: {
      id: p.paymentId,
      amount_after_fees: p.total,
      application_fee: null,
      auto_refunded: false,
      billing_address: null,
      billing_reason: p.billingReason ?? "subscription_create",
      card_brand: "visa",
      card_last4: "4242",
      checkout_configuration_id: null,
      company: { id: p.companyId, route: p.companyId, title: "Community" },
      created_at: at,
      currency,
      dispute_alerted_at: null,
      disputes: [],
      failure_message: null,
      financing_installments_count: null,
      financing_transactions: [],
      last_payment_attempt: at,
      member: { id: `mber_${p.user.id.slice(5)}`, phone: null },
      membership: { id: p.membershipId, status: "active", phone_number: null },
      metadata: p.metadata ?? null,
      next_payment_attempt: null,
      paid_at: at,
      payment_method: null,
      payment_method_type: "card",
      payments_failed: 0,
      plan: { id: p.planId, internal_notes: null, metadata: null },
      product: { id: p.productId ?? "prod_demo", route: "product", title: "Membership", metadata: null },
      promo_code: null,
      refundable: true,
      refunded_amount: null,
      refunded_at: null,
      refunds: [],
      resolutions: [],
      retryable: false,
      risk_score: null,
      risk_signals: null,
      settlement_amount: p.total,
      settlement_currency: currency,
      settlement_exchange_rate: null,
      shipping_address: null,
      status: "paid",
      substatus: "succeeded",
      subtotal: p.total,
      tax_amount: p.taxAmount ?? null,
      tax_behavior: p.taxAmount ? "inclusive" : null,
      tax_refunded_amount: null,
      three_ds_verified: false,
      total: p.total,
      updated_at: at,
      usd_total: currency === "usd" ? p.total : null,
      user: { id: p.user.id, email: null, name: p.user.name, username: p.user.username },
      voidable: false,
    },
  };
}

/** A membership.activated event in the shape of @whop/sdk's MembershipActivatedWebhookEvent. */
export function membershipActivatedEvent(
  p: Pick<PurchaseInput, "eventId" | "membershipId" | "companyId" | "user" | "planId" | "metadata">,
): MembershipActivatedWebhookEvent {
  const at = new Date().toISOString();
  return {
    id: p.eventId,
    api_version: "v1",
    type: "membership.activated",
    timestamp: at,
    company_id: p.companyId,
    data: {
      id: p.membershipId,
      cancel_at_period_end: false,
      cancel_option: null,
      canceled_at: null,
      cancellation_reason: null,
      checkout_configuration_id: null,
      company: { id: p.companyId, title: "Community" },
      created_at: at,
      currency: "usd",
      custom_field_responses: [],
      joined_at: at,
      license_key: null,
      manage_url: null,
      member: { id: `mber_${p.user.id.slice(5)}` },
      metadata: p.metadata ?? null,
      payment_collection_paused: false,
      plan: { id: p.planId, metadata: null },
      product: { id: "prod_demo", metadata: null, title: "Membership" },
      promo_code: null,
      renewal_period_end: null,
      renewal_period_start: at,
      status: "active",
      updated_at: at,
      user: { id: p.user.id, email: null, name: p.user.name, username: p.user.username },
    },
  };
}
