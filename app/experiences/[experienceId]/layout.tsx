import { SectionNav } from "@/app/_components/section-nav";
import { requireExperienceViewer } from "@/lib/whop/viewer";

export const dynamic = "force-dynamic";

const MEMBER_SECTIONS = [
  { href: "", title: "Home" },
  { href: "/earnings", title: "Earnings" },
  { href: "/rewards", title: "Rewards" },
];

/** Member app shell (Whop "App path"): one navigation over Home, Earnings and Rewards. */
export default async function MemberLayout({ children, params }: { children: React.ReactNode; params: Promise<{ experienceId: string }> }) {
  const { experienceId } = await params;
  await requireExperienceViewer(experienceId);
  return (
    <>
      <SectionNav base={`/experiences/${experienceId}`} sections={MEMBER_SECTIONS} label="Sections" />
      {children}
    </>
  );
}
