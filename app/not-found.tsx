import { Card, Heading, Text } from "@whop/react/components";

export default function NotFound() {
  return (
    <Card size="3">
      <div className="stack">
        <Heading size="6">Nothing here</Heading>
        <Text className="muted">This page doesn&apos;t exist.</Text>
      </div>
    </Card>
  );
}
