import { receiveWhopWebhook } from "@/lib/whop/webhooks";

/** Whop webhooks: verified on the raw body, applied once (lib/whop/webhooks.ts). */
export async function POST(req: Request) {
  const answer = await receiveWhopWebhook(await req.text(), req.headers);
  return Response.json(answer.body, { status: answer.status });
}
