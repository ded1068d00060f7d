/**
 * Outbound Whop calls (DESIGN.md "Whop integration"), through the real SDK.
 */
import { whop } from "./client";

/**
 * A Whop checkout for the program's plan carrying the attribution in its metadata
 * (`checkoutConfigurations.create({ plan_id, metadata: { referral_code, click_id } })`).
 * Returns the purchase_url. Throws the SDK's APIError when Whop refuses.
 */
export async function createReferralCheckout(planId: string, referralCode: string, clickId: string): Promise<string> {
  const config = await whop().checkoutConfigurations.create({
    plan_id: planId,
    metadata: { referral_code: referralCode, click_id: clickId },
  });
  if (!config.purchase_url) throw new Error("Whop returned a checkout without purchase_url");
  return config.purchase_url;
}
