import { SectionNav } from "@/app/_components/section-nav";
import { headers } from "next/headers";
import { recordMemberVisit } from "@/lib/fraud";
import { noteExperience } from "@/lib/notifications";
import { requireExperienceViewer } from "@/lib/whop/viewer";

export const dynamic = "force-dynamic";

const MEMBER_SECTIONS = [
  { href: "", title: "Home" },
  { href: "/earnings", title: "Earnings" },
  { href: "/rewards", title: "Rewards" },
  { href: "/leaderboard", title: "Leaderboard" },
];

/** Member app shell (Whop "App path"): one navigation over Home, Earnings, Rewards and Leaderboard. */
export default async function MemberLayout({ children, params }: { children: React.ReactNode; params: Promise<{ experienceId: string }> }) {
  const { experienceId } = await params;
  const viewer = await requireExperienceViewer(experienceId);
  // where the member opens the app from (keyed hashes) is what the fraud checks compare; the
  // experience is where notifications reach members
  await Promise.all([recordMemberVisit(viewer.companyId, viewer.userId, await headers()), noteExperience(viewer.companyId, experienceId)]);
  return (
    <>
      <SectionNav base={`/experiences/${experienceId}`} sections={MEMBER_SECTIONS} label="Sections" />
      {children}
    </>
  );
}
