import { Heading } from "@whop/react/components";
import { SectionNav } from "@/app/_components/section-nav";
import { getProgram } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";

export const dynamic = "force-dynamic";

/** The dashboard sections (see docs/architecture.md, "Where things live"): one route each, one navigation. */
const DASHBOARD_SECTIONS = [
  { href: "", title: "Overview" },
  { href: "/members", title: "Members" },
  { href: "/referrals", title: "Referrals" },
  { href: "/commissions", title: "Commissions" },
  { href: "/payouts", title: "Payouts" },
  { href: "/campaigns", title: "Campaigns" },
  { href: "/rewards", title: "Rewards" },
  { href: "/fraud", title: "Fraud" },
  { href: "/settings", title: "Settings" },
];

/** Creator dashboard shell (Whop "Dashboard path", admins only): title and navigation. */
export default async function DashboardLayout({ children, params }: { children: React.ReactNode; params: Promise<{ companyId: string }> }) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const program = await getProgram(companyId);
  return (
    <>
      <Heading size="6">{program.name}</Heading>
      <SectionNav base={`/dashboard/${companyId}`} sections={DASHBOARD_SECTIONS} label="Dashboard sections" />
      {children}
    </>
  );
}
