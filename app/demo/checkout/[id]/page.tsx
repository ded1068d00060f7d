import { Card, Heading, Text } from "@whop/react/components";
import { notFound } from "next/navigation";
import { env } from "@/lib/env";
import { whop } from "@/lib/whop/client";
import { DEMO_EXPERIENCE_ID } from "@/lib/demo";
import { PurchaseForm } from "./purchase-form";

export const dynamic = "force-dynamic";

/** Demo stand-in for Whop's hosted checkout (the sandbox's purchase_url points here). */
export default async function DemoCheckout({ params }: { params: Promise<{ id: string }> }) {
  if (!env().demo) notFound();
  const { id } = await params;
  const config = await whop().checkoutConfigurations.retrieve(id).catch(() => null);
  if (!config) notFound();
  const metadata = (config.metadata ?? {}) as Record<string, unknown>;
  return (
    <Card size="3">
      <div className="stack">
        <Heading size="6">Checkout (demo)</Heading>
        <Text>
          Monthly membership — <strong>$49.99</strong>
        </Text>
        <Text size="2" className="muted">
          Referred by code <strong data-testid="checkout-code">{String(metadata.referral_code ?? "—")}</strong>. On
          Whop this is the real checkout; here a signed <code>payment.succeeded</code> webhook is sent to Referly.
        </Text>
        <PurchaseForm checkoutId={id} backHref={`/experiences/${DEMO_EXPERIENCE_ID}`} />
      </div>
    </Card>
  );
}
