import { receiveWhopWebhook } from "@/lib/webhooks";

/** Whop's events are a few KB; anything near this is not one of them. */
const MAX_BODY_BYTES = 256 * 1024;

/**
 * Whop webhooks: verified on the raw body, applied once (lib/webhooks). A body over
 * 256 KB is refused with 413 before it is read (by its Content-Length, or while streaming
 * when there is none), so nobody can make the server buffer an unbounded body.
 */
export async function POST(req: Request) {
  const tooLarge = () => Response.json({ ok: false, error: "body over 256 KB" }, { status: 413 });
  if (Number(req.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) return tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel();
        return tooLarge();
      }
      chunks.push(value);
    }
  }
  const answer = await receiveWhopWebhook(Buffer.concat(chunks).toString("utf8"), req.headers);
  return Response.json(answer.body, {
    status: answer.status,
    headers: answer.retryAfter ? { "Retry-After": String(answer.retryAfter) } : undefined,
  });
}
