import { timingSafeEqual } from "node:crypto";
import { env } from "@/lib/env";
import { isJob, JOBS } from "@/lib/jobs";

/**
 * Scheduled jobs: GET or POST /api/cron/<job> with `Authorization: Bearer <CRON_SECRET>`
 * (the header Vercel Cron sends). 401 without it, 404 for an unknown job.
 */
async function run(req: Request, { params }: { params: Promise<{ job: string }> }) {
  const secret = env().CRON_SECRET;
  const given = Buffer.from(req.headers.get("authorization") ?? "");
  const expected = Buffer.from(`Bearer ${secret}`);
  if (!secret || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return Response.json({ ok: false, error: "unauthorized" }, { status: 401 });
  }
  const { job } = await params;
  if (!isJob(job)) return Response.json({ ok: false, error: `unknown job ${job}` }, { status: 404 });
  return Response.json({ ok: true, job, result: await JOBS[job]() });
}

export { run as GET, run as POST };
