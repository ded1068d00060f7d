/**
 * The environment, parsed once with zod. The standard Whop names
 * work as-is: NEXT_PUBLIC_WHOP_APP_ID, WHOP_API_KEY, WHOP_WEBHOOK_SECRET (the secret as
 * Whop's dashboard shows it), and the SDK's own WHOP_BASE_URL and
 * WHOP_USER_TOKEN_PUBLIC_KEY (a JWK as JSON).
 *
 * Demo mode only when asked for (see docs/architecture.md, "Demo mode"): REFERLY_DEMO=1 with no
 * WHOP_API_KEY. The launcher (lib/launch.ts) asks for it when it finds no key, and supplies a
 * local Whop sandbox URL, a generated token key pair, webhook secret and hash secret. With
 * a real key set, no demo feature is reachable; with neither, env() refuses to run (a
 * misconfigured production server must not fall back to the demo's cookie identities).
 */
import { z } from "zod";

const optional = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== "" ? v.trim() : undefined));

const schema = z.object({
  NEXT_PUBLIC_WHOP_APP_ID: optional,
  WHOP_API_KEY: optional,
  WHOP_WEBHOOK_SECRET: optional,
  WHOP_BASE_URL: optional.pipe(z.url().optional()),
  WHOP_USER_TOKEN_PUBLIC_KEY: optional,
  APP_URL: optional.pipe(z.url().optional()),
  DATABASE_URL: optional,
  SUPABASE_URL: optional.pipe(z.url().optional()),
  SUPABASE_SERVICE_ROLE_KEY: optional,
  CRON_SECRET: optional,
  /** how long a Whop API call may take, ms (default 10000) */
  WHOP_TIMEOUT_MS: optional.pipe(z.string().regex(/^\d+$/).transform(Number).optional()),
  DEMO_USER_TOKEN_PRIVATE_KEY: optional,
  /** key of the HMACs that stand in for IPs, devices and cards (lib/fraud); 32+ characters */
  /** "1": run the demo (set by the launcher when there is no WHOP_API_KEY) */
  REFERLY_DEMO: optional,
  REFERLY_HASH_SECRET: optional.pipe(z.string().min(32, "needs 32+ characters").optional()),
});

export type Env = z.infer<typeof schema> & {
  /** REFERLY_DEMO=1 and no WHOP_API_KEY */
  demo: boolean;
  /** public base URL of the app, no trailing slash (APP_URL, default http://localhost:3000) */
  appUrl: string;
  /** NEXT_PUBLIC_WHOP_APP_ID, or the demo app id in demo mode */
  appId: string;
};

export const DEMO_APP_ID = "app_referly_demo";

let cached: Env | undefined;

/**
 * The parsed environment. Throws a readable error listing the bad variables, or when there
 * is neither a WHOP_API_KEY nor REFERLY_DEMO=1.
 */
export function env(): Env {
  if (cached) return cached;
  const parsed = schema.safeParse(process.env);
  if (!parsed.success) {
    throw new Error(`Invalid environment: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const e = parsed.data;
  const demo = !e.WHOP_API_KEY && e.REFERLY_DEMO === "1";
  if (!e.WHOP_API_KEY && !demo) {
    throw new Error(
      "Invalid environment: WHOP_API_KEY is not set. Set the Whop app's credentials (README: Connect a real Whop app), or REFERLY_DEMO=1 to run the demo (npm run dev does).",
    );
  }
  if (!demo && !e.NEXT_PUBLIC_WHOP_APP_ID) throw new Error("Invalid environment: WHOP_API_KEY is set but NEXT_PUBLIC_WHOP_APP_ID is not");
  cached = {
    ...e,
    demo,
    appUrl: (e.APP_URL ?? "http://localhost:3000").replace(/\/+$/, ""),
    appId: e.NEXT_PUBLIC_WHOP_APP_ID ?? DEMO_APP_ID,
  };
  return cached;
}
