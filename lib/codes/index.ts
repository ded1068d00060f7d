/**
 * Referral codes: one per member per company, made on first visit of the member view,
 * globally unique ignoring case; a member may switch to a free vanity code
 * (SQL: get_or_create_code, set_referral_code).
 */
import { z } from "zod";
import { rpc } from "../db";
import { env } from "../env";

const CodeResult = z.object({ code: z.string() });

/** Change the member's code. Throws DomainError 400 (format) or 409 (taken). */
export async function setReferralCode(companyId: string, userId: string, code: string): Promise<string> {
  return (await rpc("set_referral_code", { p_company_id: companyId, p_user_id: userId, p_code: code.trim() }, CodeResult)).code;
}

/** The shareable link for a code: `<APP_URL>/r/<code>`. */
export function referralLink(code: string): string {
  return `${env().appUrl}/r/${encodeURIComponent(code)}`;
}
