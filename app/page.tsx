import { Button, Card, Heading, Text } from "@whop/react/components";
import { env } from "@/lib/env";
import { DEMO_USERS } from "@/lib/demo";
import { viewAs } from "./demo/actions";

export const dynamic = "force-dynamic";

/** Landing: in demo mode, "view as" any seeded identity; otherwise, what Referly is. */
export default function Home() {
  const demo = env().demo;
  return (
    <>
      <Heading size="8">Referly</Heading>
      <Text size="4" className="muted">
        Referral links, commissions and payouts for Whop communities — exact to the cent.
      </Text>
      {demo ? (
        <section className="grid" aria-label="View as">
          {DEMO_USERS.map((u) => (
            <Card key={u.id} size="2">
              <form action={viewAs.bind(null, u.id)} className="stack">
                <Text weight="bold">
                  {u.name} <span className="muted">({u.role})</span>
                </Text>
                <Text size="2" className="muted">
                  {u.blurb}
                </Text>
                <Button type="submit">{u.role === "creator" ? "View as creator" : `View as member ${u.name.split(" ")[0]}`}</Button>
              </form>
            </Card>
          ))}
        </section>
      ) : (
        <Card size="2">
          <Text>
            Install Referly on your Whop company, then open it from your community (members) or your dashboard
            (creators).
          </Text>
        </Card>
      )}
    </>
  );
}
