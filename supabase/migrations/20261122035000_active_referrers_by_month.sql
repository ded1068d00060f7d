-- Referly: active referrers by month (issue 6). The active_referrers migration keeps every
-- member's converting days as gaps (day, previous converting day) and counts a range as
-- Σ n over day ∈ [a, b] and prev_day < a. That sum still read every gap of the range whose
-- previous day lies anywhere before a, so a range's cost grew with history. The same gaps
-- are now also kept by the month of prev_day: months before a's month count whole (a few
-- rows a day), and only prev_day in a's own month before a is read exactly (at most a month
-- of entries a day). Kept by bump_referrer_gap in the write transaction (under
-- lock_rollups), checked and rebuilt with the other rollups.

-- the same gaps summed by the month of prev_day ('-infinity' stays '-infinity')
create table public.referrer_gaps_month (
  company_id text not null,
  day date not null,
  prev_month date not null,
  n bigint not null,
  primary key (company_id, day, prev_month) include (n)
);
alter table public.referrer_gaps_month enable row level security;

-- The month a previous converting day falls in ('-infinity' stays '-infinity').
create function public.gap_month(p_prev date) returns date
language sql immutable set search_path = '' as $$
  select case when p_prev = '-infinity' then p_prev else date_trunc('month', p_prev)::date end
$$;

-- Add p_sign (±1) members at (p_day, p_prev), in both gap tables; rows that reach 0 are removed.
create or replace function public.bump_referrer_gap(p_company_id text, p_day date, p_prev date, p_sign integer) returns void
language sql set search_path = '' as $$
  insert into public.referrer_gaps as g (company_id, day, prev_day, n) values (p_company_id, p_day, p_prev, p_sign)
  on conflict (company_id, day, prev_day) do update set n = g.n + excluded.n;
  delete from public.referrer_gaps where company_id = p_company_id and day = p_day and prev_day = p_prev and n = 0;
  insert into public.referrer_gaps_month as g (company_id, day, prev_month, n)
  values (p_company_id, p_day, public.gap_month(p_prev), p_sign)
  on conflict (company_id, day, prev_month) do update set n = g.n + excluded.n;
  delete from public.referrer_gaps_month
  where company_id = p_company_id and day = p_day and prev_month = public.gap_month(p_prev) and n = 0;
$$;

-- check_analytics and rebuild_analytics (the active_referrers migration's wrappers) also cover the month table.
-- Compare a company's rollups with the ones recomputed from the source rows:
-- {ok, differences:[{table, key, kept, expected}] (first 20)}.
create or replace function public.check_analytics(p_company_id text) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v jsonb := public.check_analytics_counters(p_company_id);
  v_gaps jsonb;
begin
  with e as (select * from public.analytics_expected_referrer_gaps(p_company_id)),
       k as (select * from public.referrer_gaps where company_id = p_company_id),
       em as (select company_id, day, public.gap_month(prev_day) as prev_month, sum(n)::bigint as n from e group by 1, 2, 3),
       km as (select * from public.referrer_gaps_month where company_id = p_company_id),
       diffs as (
         select 'referrer_gaps' as t, x.day || ' after ' || x.prev_day as key, to_jsonb(x) as row, 'kept' as side from (select * from k except select * from e) x
         union all select 'referrer_gaps', x.day || ' after ' || x.prev_day, to_jsonb(x), 'expected' from (select * from e except select * from k) x
         union all select 'referrer_gaps_month', x.day || ' after ' || x.prev_month, to_jsonb(x), 'kept' from (select * from km except select * from em) x
         union all select 'referrer_gaps_month', x.day || ' after ' || x.prev_month, to_jsonb(x), 'expected' from (select * from em except select * from km) x)
  select coalesce(jsonb_agg(jsonb_build_object('table', t, 'key', key, 'side', side, 'row', row)), '[]')
  into v_gaps from (select * from diffs limit 20) d;
  return jsonb_build_object('ok', (v->>'ok')::boolean and v_gaps = '[]',
    'differences', (select coalesce(jsonb_agg(x), '[]') from (
      select x from jsonb_array_elements((v->'differences') || v_gaps) x limit 20) y));
end $$;

-- Replace a company's rollups with the ones recomputed from the source rows. Returns {rebuilt}.
create or replace function public.rebuild_analytics(p_company_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v jsonb := public.rebuild_analytics_counters(p_company_id); -- takes lock_rollups
begin
  delete from public.referrer_gaps where company_id = p_company_id;
  delete from public.referrer_gaps_month where company_id = p_company_id;
  insert into public.referrer_gaps select * from public.analytics_expected_referrer_gaps(p_company_id);
  insert into public.referrer_gaps_month
  select company_id, day, public.gap_month(prev_day), sum(n) from public.referrer_gaps where company_id = p_company_id group by 1, 2, 3;
  return v;
end $$;

-- Existing companies: the month table from the gaps they already have.
insert into public.referrer_gaps_month
select company_id, day, public.gap_month(prev_day), sum(n) from public.referrer_gaps group by 1, 2, 3;

-- Members with at least one conversion on a local day in [p_from, p_to] (inclusive): the
-- gaps ending in the range that start before p_from — whole months before p_from's month
-- from referrer_gaps_month, and the days of p_from's month before it, day by day, from
-- referrer_gaps (each day an index range of at most a month).
create or replace function public.active_referrers(p_company_id text, p_from date, p_to date) returns bigint
language sql stable set search_path = '' as $$
  select (coalesce((select sum(n) from public.referrer_gaps_month
                    where company_id = p_company_id and day between p_from and p_to
                      and prev_month < public.gap_month(p_from)), 0)
        + coalesce((select sum(x.n) from generate_series(p_from, p_to, interval '1 day') d
                    cross join lateral (select sum(n) as n from public.referrer_gaps
                                        where company_id = p_company_id and day = d::date
                                          and prev_day >= public.gap_month(p_from) and prev_day < p_from) x), 0))::bigint
$$;


-- ── Privileges: only the server (service role) reads and writes ─────────────
revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
