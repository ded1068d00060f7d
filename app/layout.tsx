import "@whop/react/styles.css";
import "./globals.css";
import { WhopApp } from "@whop/react/components";
import type { Metadata } from "next";
import Link from "next/link";
import { env } from "@/lib/env";

export const metadata: Metadata = {
  title: "Referly — referral program for Whop communities",
  description: "Referral links, commissions, points and payouts for Whop communities.",
};

export const dynamic = "force-dynamic";

export default function RootLayout({ children }: { children: React.ReactNode }) {
  const demo = env().demo;
  return (
    <html lang="en" suppressHydrationWarning>
      <body>
        <WhopApp accentColor="violet" sdkOptions={{ appId: env().appId }}>
          {demo && (
            <div className="demo-banner" role="note">
              <strong>Demo mode</strong> — a seeded community with a local Whop sandbox. Nothing here touches real
              Whop. <Link href="/">Switch identity</Link>
            </div>
          )}
          <main className="page">{children}</main>
        </WhopApp>
      </body>
    </html>
  );
}
