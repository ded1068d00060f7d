/**
 * Outbound Whop calls, through the real SDK.
 */
import { NotFoundError, PermissionDeniedError } from "@whop/sdk";
import { formatMoney, minorUnits } from "../money";
import { whop } from "./client";

/**
 * A Whop checkout for the program's plan carrying the attribution in its metadata
 * (`checkoutConfigurations.create({ plan_id, metadata: { referral_code, click_id } })`).
 * Returns the purchase_url. Throws the SDK's APIError when Whop refuses.
 */
export async function createReferralCheckout(planId: string, referralCode: string, clickId: string): Promise<string> {
  const config = await whop().checkoutConfigurations.create(
    { plan_id: planId, metadata: { referral_code: referralCode, click_id: clickId } },
    // one checkout per counted click, whatever the SDK retries
    { headers: { "Idempotency-Key": `checkout-${clickId}` } },
  );
  if (!config.purchase_url) throw new Error("Whop returned a checkout without purchase_url");
  return config.purchase_url;
}

// ── Setup: the company's plans, store page and ledger account ────────────────

/** A plan the creator can pick for referral links (from `plans.list`). */
export interface CompanyPlan {
  /** plan_… */
  id: string;
  /** the plan's title, else its product's, else its id */
  title: string;
  /** the product's title, when Whop gives one */
  product: string | null;
  /** prod_…, when Whop gives it (campaigns' eligible products) */
  product_id: string | null;
  /** upper-case ISO code ("USD") */
  currency: string;
  /** first charge and each renewal, integer minor units (cents) */
  initial_cents: number;
  renewal_cents: number;
  /** days between renewals; null for one-time plans */
  billing_period_days: number | null;
  /** "visible" | "hidden" | "quick_link" (archived plans are left out) */
  visibility: string;
  /** e.g. "$49.99 / month", "$10.00 then $49.99 / month", "$99.00 once", "Free" */
  label: string;
}

/** Most plans listPlans returns (one page of Whop's, whose page size caps at 100). */
export const MAX_PLANS = 100;

/**
 * The company's plans for the setup checklist's select: `plans.list({ account_id, first: 100 })`
 * (Whop's cursor pages, newest first), archived plans and plans in currencies without ISO
 * minor units left out, at most MAX_PLANS. Amounts are converted exactly from Whop's decimal
 * units. Throws the SDK's APIError when Whop refuses (NotFoundError for an unknown company).
 */
export async function listCompanyPlans(companyId: string): Promise<CompanyPlan[]> {
  const plans: CompanyPlan[] = [];
  for await (const p of whop().plans.list({ account_id: companyId, first: MAX_PLANS })) {
    if (p.visibility === "archived" || !isoCurrency(p.currency)) continue;
    const currency = p.currency.toUpperCase();
    const initial = amountToMinorUnits(p.initial_price, currency);
    const renewal = amountToMinorUnits(p.renewal_price, currency);
    const product = productTitle(p.product);
    plans.push({
      id: p.id,
      title: p.title?.trim() || product || p.id,
      product,
      product_id: productId(p.product),
      currency,
      initial_cents: initial,
      renewal_cents: renewal,
      billing_period_days: p.plan_type === "renewal" ? p.billing_period : null,
      visibility: p.visibility,
      label: priceLabel(p.plan_type === "renewal" ? p.billing_period : null, initial, renewal, currency),
    });
    if (plans.length >= MAX_PLANS) break;
  }
  return plans;
}

const STORE_URL_TTL_MS = 5 * 60_000;
const storeUrls = new Map<string, { url: string; expires: number }>();

/**
 * The company's Whop store page, `https://whop.com/<route>` (route from `companies.retrieve`),
 * where `/r/<code>` sends visitors while no plan is chosen. The route must be a plain slug
 * (letters, digits, - and _), so the result is always an https whop.com URL: no open redirect.
 * Cached per company for 5 minutes (the /r route is hot). Throws the SDK's APIError when Whop
 * refuses (NotFoundError for an unknown company) and an Error for a route that is not a slug.
 */
export async function companyStoreUrl(companyId: string): Promise<string> {
  const hit = storeUrls.get(companyId);
  if (hit && hit.expires > Date.now()) return hit.url;
  const { route } = await whop().companies.retrieve(companyId);
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/.test(route ?? "")) throw new Error(`Whop returned an unusable store route for ${companyId}`);
  const url = `https://whop.com/${route}`;
  if (storeUrls.size >= 1000) storeUrls.delete(storeUrls.keys().next().value!);
  storeUrls.set(companyId, { url, expires: Date.now() + STORE_URL_TTL_MS });
  return url;
}

/** The company's Whop balance account: ldgr_ id and its balances in integer minor units. */
export interface LedgerAccount {
  /** ldgr_… */
  id: string;
  /** available balance per currency ("USD"), integer minor units; pending money not included */
  balances: { currency: string; balance_cents: number }[];
}

/**
 * The ledger account payouts come from: `ledgerAccounts.retrieve(companyId)` (Whop accepts the
 * biz_ id and answers the company's ldgr_ account). Null when Whop has none for the company
 * (404) or the app may not read it (403: needs `company:balance:read`); other failures throw
 * the SDK's APIError. Balances in currencies without ISO minor units (crypto) are left out.
 */
export async function companyLedgerAccount(companyId: string): Promise<LedgerAccount | null> {
  try {
    const account = await whop().ledgerAccounts.retrieve(companyId);
    return {
      id: account.id,
      balances: account.balances
        .filter((b) => isoCurrency(b.currency))
        .map((b) => ({ currency: b.currency.toUpperCase(), balance_cents: amountToMinorUnits(b.balance, b.currency) })),
    };
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof PermissionDeniedError) return null;
    throw err;
  }
}

/** Whop currencies that are not ISO 4217 money (no minor-unit exponent to trust). */
const NOT_ISO = new Set(["btc", "eth", "ape", "usdt", "whop_usd", "xau"]);
const isoCurrency = (c: string) => /^[a-z]{3}$/i.test(c) && !NOT_ISO.has(c.toLowerCase());

/**
 * Whop's decimal amount (49.99) → integer minor units of `currency` (4999), exactly: from the
 * number's shortest decimal text, never a float multiply; rounded half down on the magnitude
 * like SQL `to_minor_units`. Throws for a non-finite amount or one beyond 2^53 minor units.
 */
export function amountToMinorUnits(amount: number, currency: string): number {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(amount));
  if (!m) throw new Error(`not a finite amount: ${amount}`);
  const [, sign, int, frac = "", exp = "0"] = m;
  const digits = int + frac;
  // position of the decimal point in `digits` once scaled to minor units
  const point = int.length + Number(exp) + minorUnits(currency);
  const whole = point <= 0 ? 0n : BigInt(digits.slice(0, point).padEnd(point, "0"));
  const rest = point <= 0 ? "0".repeat(-point) + digits : digits.slice(point);
  const up = rest > "5" && rest.replace(/0+$/, "") !== "5" ? 1n : 0n;
  const minor = whole + up;
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`amount too large: ${amount}`);
  return minor === 0n ? 0 : Number(sign ? -minor : minor);
}

function productId(product: unknown): string | null {
  const id = (product as { id?: unknown } | null)?.id;
  return typeof id === "string" && /^prod_[A-Za-z0-9]{1,40}$/.test(id) ? id : null;
}

function productTitle(product: unknown): string | null {
  const t = (product as { title?: unknown } | null)?.title;
  return typeof t === "string" && t.trim() ? t.trim() : null;
}

const PERIODS: Record<number, string> = { 1: "day", 7: "week", 14: "2 weeks", 30: "month", 31: "month", 90: "3 months", 180: "6 months", 365: "year" };

function priceLabel(periodDays: number | null, initial: number, renewal: number, currency: string): string {
  if (periodDays === null) return initial === 0 ? "Free" : `${formatMoney(initial, currency)} once`;
  const every = `${formatMoney(renewal, currency)} / ${PERIODS[periodDays] ?? `${periodDays} days`}`;
  return initial === renewal ? every : `${formatMoney(initial, currency)} then ${every}`;
}
