/**
 * The one @whop/sdk client:
 * `new Whop({ appID, apiKey, webhookKey: btoa(WHOP_WEBHOOK_SECRET) })`. The SDK itself
 * reads WHOP_BASE_URL (tests and demo point it at a local stand-in) and
 * WHOP_USER_TOKEN_PUBLIC_KEY.
 */
import Whop from "@whop/sdk";
import { env } from "../env";

let client: Whop | undefined;

export function whop(): Whop {
  if (client) return client;
  const e = env();
  client = new Whop({
    appID: e.appId,
    // demo mode talks to the local sandbox, which ignores the key
    apiKey: e.WHOP_API_KEY ?? "demo",
    // Standard Webhooks keys are base64; Whop's secret is used as raw bytes
    webhookKey: e.WHOP_WEBHOOK_SECRET ? btoa(e.WHOP_WEBHOOK_SECRET) : null,
    baseURL: e.WHOP_BASE_URL,
    maxRetries: 1,
    timeout: e.WHOP_TIMEOUT_MS ?? 10_000,
  });
  return client;
}

/**
 * Whop's own message for a refused call ("insufficient funds"), not the SDK's status line
 * with the body; any other error's message.
 */
export function whopErrorMessage(err: unknown): string {
  const body = (err as { error?: { error?: { message?: unknown } } }).error;
  return typeof body?.error?.message === "string" ? body.error.message : (err as Error).message;
}
