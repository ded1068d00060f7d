import { Card, Text } from "@whop/react/components";

/** A labelled number in a card; `testId` lets tests read the value. */
export function Stat({ label, value, testId }: { label: string; value: React.ReactNode; testId: string }) {
  return (
    <Card>
      <div className="stat">
        <Text className="muted">{label}</Text>
        <span className="stat-value" data-testid={testId}>
          {value}
        </span>
      </div>
    </Card>
  );
}
