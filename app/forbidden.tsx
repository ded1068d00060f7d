import { Card, Heading, Text } from "@whop/react/components";

/** 403: a valid Whop user without access (or a member on the creator dashboard). */
export default function Forbidden() {
  return (
    <Card size="3">
      <div className="stack">
        <Heading size="6">You don&apos;t have access to this page</Heading>
        <Text className="muted">
          This part of Referly is for members of the community, and the dashboard is for its admins only.
        </Text>
      </div>
    </Card>
  );
}
