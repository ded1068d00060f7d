import { createClient } from "@supabase/supabase-js";
import WebSocket from "ws";
import type { RpcBackend } from "./index";

/**
 * An RpcBackend over supabase-js (SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY): every call
 * is PostgREST's `POST /rest/v1/rpc/<name>`, which runs the SQL function in one
 * transaction. `fetchImpl` lets tests route PostgREST calls to a local handler.
 */
export function createSupabaseBackend(url: string, serviceRoleKey: string, fetchImpl?: typeof fetch): RpcBackend {
  const client = createClient(url, serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    // supabase-js needs a WebSocket implementation on Node 20 even though we never subscribe
    realtime: { transport: WebSocket as never },
    global: fetchImpl ? { fetch: fetchImpl } : undefined,
  });
  return {
    kind: "supabase",
    async rpc(name, args) {
      const { data, error } = await client.rpc(name, args);
      if (error) throw error;
      return data;
    },
    async close() {
      await client.removeAllChannels();
    },
  };
}
