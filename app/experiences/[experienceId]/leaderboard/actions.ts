"use server";

import type { ActionState } from "@/app/_components/action-form";
import { attempt } from "@/app/_components/attempt";
import { setLeaderboardAnonymous } from "@/lib/gamification";
import { requireExperienceViewer } from "@/lib/whop/viewer";

/** Show as "Anonymous" to other members, or by name again. */
export async function setAnonymousAction(experienceId: string, anonymous: boolean, _prev: ActionState): Promise<ActionState> {
  const viewer = await requireExperienceViewer(experienceId);
  return attempt(`/experiences/${experienceId}/leaderboard`, anonymous ? "Other members now see you as Anonymous." : "Other members see your name again.", () =>
    setLeaderboardAnonymous(viewer.companyId, viewer.userId, anonymous),
  );
}
