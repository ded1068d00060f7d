import { Card, Heading, Text } from "@whop/react/components";

/** Whop "Discover path": what the app does, for creators browsing the app store. */
export default function Discover() {
  return (
    <Card size="3">
      <div className="stack">
        <Heading size="6">Referly — referral programs for Whop</Heading>
        <Text>
          Every member gets a referral link. Purchases through it become commissions with a hold period, exact to the
          cent, paid out through Whop transfers.
        </Text>
      </div>
    </Card>
  );
}
