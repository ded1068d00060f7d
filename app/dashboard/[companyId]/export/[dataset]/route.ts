/**
 * GET /dashboard/[companyId]/export/<referrals | commissions | payouts | members>?<the
 * section's filters> → a streamed CSV download (lib/export). Answers: 200 text/csv
 * attachment referly-<dataset>-<YYYY-MM-DD>.csv; 401 without a Whop user token; 403 for
 * anyone but the company's admins; 404 unknown dataset; 400 a bad filter (the reason as
 * text); 5xx when the database or Whop fails before the first row.
 */
import { exportAccess, exportCsv } from "@/lib/export";

export const dynamic = "force-dynamic";

const text = (status: number, message: string) =>
  new Response(`${message}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });

export async function GET(req: Request, { params }: { params: Promise<{ companyId: string; dataset: string }> }) {
  const { companyId, dataset } = await params;
  const access = await exportAccess(companyId, req.headers);
  if (!access.ok) return text(access.status, access.message);
  const result = await exportCsv(companyId, dataset, new URL(req.url).searchParams);
  if (!result.ok) return text(result.status, result.message);
  return new Response(result.stream, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${result.filename}"`,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
}
