"use client";

import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

export interface TrendSeries {
  key: string;
  label: string;
  color: string;
}

/**
 * A line chart of buckets over time (Recharts). `points` carry a `label` for the x axis
 * and one number per series key; `format` renders values (e.g. money).
 */
export function TrendChart({
  points,
  series,
  money,
  height = 240,
  label,
}: {
  points: Record<string, string | number>[];
  series: TrendSeries[];
  /** a currency: values are cents, shown as money */
  money?: string;
  height?: number;
  label: string;
}) {
  const fmt = (v: number) =>
    money ? new Intl.NumberFormat("en-US", { style: "currency", currency: money, notation: "compact" }).format(v / 100) : new Intl.NumberFormat("en-US", { notation: "compact" }).format(v);
  return (
    <figure className="chart" aria-label={label} role="img">
      <ResponsiveContainer width="100%" height={height}>
        <LineChart data={points} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--gray-5, #ddd)" />
          <XAxis dataKey="label" tick={{ fontSize: 11 }} minTickGap={16} />
          <YAxis tick={{ fontSize: 11 }} width={48} tickFormatter={fmt} allowDecimals={false} />
          <Tooltip formatter={(v) => fmt(Number(v))} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {series.map((s) => (
            <Line key={s.key} type="monotone" dataKey={s.key} name={s.label} stroke={s.color} strokeWidth={2} dot={false} isAnimationActive={false} />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </figure>
  );
}
