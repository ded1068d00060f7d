import { Card, Heading, Text } from "@whop/react/components";

/** 401: no valid Whop user token on the request. */
export default function Unauthorized() {
  return (
    <Card size="3">
      <div className="stack">
        <Heading size="6">Open this app inside Whop</Heading>
        <Text className="muted">
          Referly runs inside your Whop community. Open it from the community&apos;s sidebar on whop.com so Whop can tell
          us who you are.
        </Text>
      </div>
    </Card>
  );
}
