/**
 * Money for display and input. Amounts are integer minor units (cents) with an ISO
 * currency (see docs/architecture.md, "Data rules"); arithmetic on them happens in SQL. Here we only turn
 * them into text and parse what people type, without floating point.
 */

/** Minor-unit exponent of a currency, from Intl (USD 2, JPY 0, KWD 3). */
export function minorUnits(currency: string): number {
  return new Intl.NumberFormat("en-US", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/** Exact decimal string of `cents` minor units: 1234 USD → "12.34". */
export function centsToDecimal(cents: number | bigint, currency: string): string {
  const digits = minorUnits(currency);
  const n = BigInt(cents);
  const neg = n < 0n;
  const s = (neg ? -n : n).toString().padStart(digits + 1, "0");
  const whole = digits ? s.slice(0, -digits) : s;
  const frac = digits ? `.${s.slice(-digits)}` : "";
  return `${neg ? "-" : ""}${whole}${frac}`;
}

/** 1234, "USD" → "$12.34" (formatted from the exact decimal string). */
export function formatMoney(cents: number | bigint, currency: string): string {
  const fmt = new Intl.NumberFormat("en-US", { style: "currency", currency });
  // Intl accepts decimal strings exactly (Intl.NumberFormat v3)
  return fmt.format(centsToDecimal(cents, currency) as unknown as number);
}

/**
 * Parse a typed decimal amount ("10", "10.5", "10.50") into minor units, or null when
 * it is not a plain non-negative amount with at most the currency's decimals.
 */
export function decimalToCents(text: string, currency: string): number | null {
  const digits = minorUnits(currency);
  const m = /^(\d{1,12})(?:\.(\d*))?$/.exec(text.trim());
  if (!m || (m[2] ?? "").length > digits) return null;
  return Number(m[1] + (m[2] ?? "").padEnd(digits, "0"));
}

/** Percent text with ≤ 2 decimals ("20", "12.5") → basis points (2000, 1250), else null. */
export function percentToBasisPoints(text: string): number | null {
  const m = /^(\d{1,3})(?:\.(\d{0,2}))?$/.exec(text.trim());
  if (!m) return null;
  const bp = Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
  return bp <= 10000 ? bp : null;
}

/** 2000 → "20", 1250 → "12.5" */
export function basisPointsToPercent(bp: number): string {
  const whole = Math.trunc(bp / 100);
  const frac = String(bp % 100).padStart(2, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : String(whole);
}
