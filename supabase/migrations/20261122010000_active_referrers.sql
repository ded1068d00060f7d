-- Referly: "active referrers" from a rollup (the Overview's last figure that counted history).
--
-- get_overview counted distinct members over member_daily for each range (~0.4 s for 90 days
-- at 100 000 members, budget 50 ms: ../shared/PERF-AT-SCALE.md). Instead, each member's
-- converting days are kept as gaps: for every local day d on which a member converted, one
-- unit at (d, the member's previous converting day p, or -infinity). A member converted in
-- [a, b] exactly when one of their converting days in [a, b] has its previous one before a,
-- so active(a, b) = Σ n over day ∈ [a, b] and prev_day < a — no distinct count. To keep a
-- range's cost flat as history grows, the same gaps are also kept by the month of prev_day:
-- months before a's month count whole (a few rows a day), and only prev_day in a's own month
-- before a is read exactly (at most a month of entries a day).
--
-- Kept by bump_daily in the write transaction (under lock_rollups) when a member-day's
-- conversions go from 0 to more or back; rebuilt and checked with the other rollups.

create table public.referrer_gaps (
  company_id text not null,
  day date not null,
  prev_day date not null,          -- '-infinity' for a member's first converting day
  n bigint not null,               -- members whose converting day `day` follows `prev_day`
  primary key (company_id, day, prev_day) include (n)
);
alter table public.referrer_gaps enable row level security;
-- the same gaps summed by the month of prev_day ('-infinity' stays '-infinity')
create table public.referrer_gaps_month (
  company_id text not null,
  day date not null,
  prev_month date not null,
  n bigint not null,
  primary key (company_id, day, prev_month) include (n)
);
alter table public.referrer_gaps_month enable row level security;
-- the distinct count it replaces was this index's only reader
drop index public.member_daily_converting_idx;

-- The month a previous converting day falls in ('-infinity' stays '-infinity').
create function public.gap_month(p_prev date) returns date
language sql immutable set search_path = '' as $$
  select case when p_prev = '-infinity' then p_prev else date_trunc('month', p_prev)::date end
$$;

-- Add p_sign (±1) members at (p_day, p_prev), in both gap tables; rows that reach 0 are removed.
create function public.bump_referrer_gap(p_company_id text, p_day date, p_prev date, p_sign integer) returns void
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

-- A member-day started (p_on) or stopped converting: splice it into the member's chain of
-- converting days. The neighbours p (previous) and q (next) come from member_daily's key.
create function public.toggle_referrer_day(p_company_id text, p_user_id text, p_day date, p_on boolean) returns void
language plpgsql set search_path = '' as $$
declare
  v_sign integer := case when p_on then 1 else -1 end;
  v_prev date;
  v_next date;
begin
  select coalesce(max(day), '-infinity') into v_prev from public.member_daily
  where company_id = p_company_id and user_id = p_user_id and day < p_day and conversions > 0;
  select min(day) into v_next from public.member_daily
  where company_id = p_company_id and user_id = p_user_id and day > p_day and conversions > 0;
  perform public.bump_referrer_gap(p_company_id, p_day, v_prev, v_sign);
  if v_next is not null then
    perform public.bump_referrer_gap(p_company_id, v_next, v_prev, -v_sign);
    perform public.bump_referrer_gap(p_company_id, v_next, p_day, v_sign);
  end if;
end $$;

-- bump_daily as before, and a member-day whose conversions cross zero updates the gaps.
create or replace function public.bump_daily(p_company_id text, p_user_id text, p_day date,
  p_clicks bigint, p_signups bigint, p_conversions bigint, p_revenue bigint, p_commissions bigint, p_paid bigint)
returns void
language plpgsql set search_path = '' as $$
declare v_conversions bigint;
begin
  insert into public.daily_stats as d (company_id, day, clicks, signups, conversions, revenue_cents, commissions_cents, paid_cents)
  values (p_company_id, p_day, p_clicks, p_signups, p_conversions, p_revenue, p_commissions, p_paid)
  on conflict (company_id, day) do update set
    clicks = d.clicks + excluded.clicks, signups = d.signups + excluded.signups,
    conversions = d.conversions + excluded.conversions, revenue_cents = d.revenue_cents + excluded.revenue_cents,
    commissions_cents = d.commissions_cents + excluded.commissions_cents, paid_cents = d.paid_cents + excluded.paid_cents;
  if p_user_id is not null then
    insert into public.member_daily as m (company_id, user_id, day, clicks, signups, conversions, revenue_cents, commissions_cents)
    values (p_company_id, p_user_id, p_day, p_clicks, p_signups, p_conversions, p_revenue, p_commissions)
    on conflict (company_id, user_id, day) do update set
      clicks = m.clicks + excluded.clicks, signups = m.signups + excluded.signups,
      conversions = m.conversions + excluded.conversions, revenue_cents = m.revenue_cents + excluded.revenue_cents,
      commissions_cents = m.commissions_cents + excluded.commissions_cents
    returning conversions into v_conversions;
    if p_conversions <> 0 and (v_conversions > 0) <> (v_conversions - p_conversions > 0) then
      perform public.toggle_referrer_day(p_company_id, p_user_id, p_day, v_conversions > 0);
    end if;
  end if;
end $$;

-- The gaps a company's member_daily implies (member_daily itself is checked against the
-- source rows by the analytics migration's check).
create function public.analytics_expected_referrer_gaps(p_company_id text)
returns table (company_id text, day date, prev_day date, n bigint)
language sql stable set search_path = '' as $$
  select p_company_id, day, prev_day, count(*) from (
    select day, coalesce(lag(day) over (partition by user_id order by day), '-infinity') as prev_day
    from public.member_daily where company_id = p_company_id and conversions > 0) x
  group by day, prev_day
$$;

-- check_analytics and rebuild_analytics gain the gaps: the first migration's versions keep
-- their job under a new name and the public names wrap them.
alter function public.check_analytics(text) rename to check_analytics_counters;
alter function public.rebuild_analytics(text) rename to rebuild_analytics_counters;

-- Compare a company's rollups with the ones recomputed from the source rows:
-- {ok, differences:[{table, key, kept, expected}] (first 20)}.
create function public.check_analytics(p_company_id text) returns jsonb
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
create function public.rebuild_analytics(p_company_id text) returns jsonb
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

-- Existing companies: gaps from the member_daily they already have.
insert into public.referrer_gaps
select g.* from (select distinct company_id from public.member_daily) c, public.analytics_expected_referrer_gaps(c.company_id) g;
insert into public.referrer_gaps_month
select company_id, day, public.gap_month(prev_day), sum(n) from public.referrer_gaps group by 1, 2, 3;

-- Members with at least one conversion on a local day in [p_from, p_to] (inclusive): the
-- gaps ending in the range that start before p_from — whole months before p_from's month
-- from referrer_gaps_month, and the days of p_from's month before it, day by day, from
-- referrer_gaps (each day an index range of at most a month).
create function public.active_referrers(p_company_id text, p_from date, p_to date) returns bigint
language sql stable set search_path = '' as $$
  select (coalesce((select sum(n) from public.referrer_gaps_month
                    where company_id = p_company_id and day between p_from and p_to
                      and prev_month < public.gap_month(p_from)), 0)
        + coalesce((select sum(x.n) from generate_series(p_from, p_to, interval '1 day') d
                    cross join lateral (select sum(n) as n from public.referrer_gaps
                                        where company_id = p_company_id and day = d::date
                                          and prev_day >= public.gap_month(p_from) and prev_day < p_from) x), 0))::bigint
$$;

-- get_overview as in the analytics migration, with active referrers read from the gaps.
-- The Overview of [p_from, p_to] (local dates, inclusive, program currency):
-- {currency, timezone, granularity (day | week: weeks beyond 90 days), kpis:{current,
-- previous} each {clicks, signups, conversions, revenue_cents, commissions_cents,
-- paid_cents, active_referrers}, owed_cents (now), series:[{bucket, clicks, signups,
-- conversions, revenue_cents, commissions_cents}], top_by_revenue, top_by_conversions
-- (all time, 5 each), sources, countries (top 8 by counted clicks in the range)}.
-- The previous period is the same number of days just before p_from.
-- Errors: RL400 when p_to < p_from or the range exceeds 3 years.
create or replace function public.get_overview(p_company_id text, p_from date, p_to date) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_days integer := p_to - p_from + 1;
  v_prev_from date := p_from - (p_to - p_from + 1);
  v_week boolean := (p_to - p_from + 1) > 90;
begin
  if p_from is null or p_to is null or p_to < p_from then raise exception 'The range must end after it starts' using errcode = 'RL400'; end if;
  if v_days > 1100 then raise exception 'Pick a range of at most 3 years' using errcode = 'RL400'; end if;
  select * into v_program from public.programs where company_id = p_company_id;
  return jsonb_build_object(
    'currency', coalesce(v_program.currency, 'USD'),
    'timezone', coalesce(v_program.timezone, 'UTC'),
    'granularity', case when v_week then 'week' else 'day' end,
    'kpis', (select jsonb_build_object(
        'current', jsonb_build_object('clicks', coalesce(sum(clicks) filter (where cur), 0), 'signups', coalesce(sum(signups) filter (where cur), 0),
          'conversions', coalesce(sum(conversions) filter (where cur), 0), 'revenue_cents', coalesce(sum(revenue_cents) filter (where cur), 0),
          'commissions_cents', coalesce(sum(commissions_cents) filter (where cur), 0), 'paid_cents', coalesce(sum(paid_cents) filter (where cur), 0),
          'active_referrers', public.active_referrers(p_company_id, p_from, p_to)),
        'previous', jsonb_build_object('clicks', coalesce(sum(clicks) filter (where not cur), 0), 'signups', coalesce(sum(signups) filter (where not cur), 0),
          'conversions', coalesce(sum(conversions) filter (where not cur), 0), 'revenue_cents', coalesce(sum(revenue_cents) filter (where not cur), 0),
          'commissions_cents', coalesce(sum(commissions_cents) filter (where not cur), 0), 'paid_cents', coalesce(sum(paid_cents) filter (where not cur), 0),
          'active_referrers', public.active_referrers(p_company_id, v_prev_from, p_from - 1)))
      from (select d.*, d.day >= p_from as cur from public.daily_stats d
            where d.company_id = p_company_id and d.day between v_prev_from and p_to) x),
    'owed_cents', (select coalesce(sum(commissions_cents - paid_cents), 0) from public.daily_stats where company_id = p_company_id),
    'series', (select coalesce(jsonb_agg(jsonb_build_object('bucket', b.bucket, 'clicks', coalesce(s.clicks, 0),
        'signups', coalesce(s.signups, 0), 'conversions', coalesce(s.conversions, 0), 'revenue_cents', coalesce(s.revenue_cents, 0),
        'commissions_cents', coalesce(s.commissions_cents, 0)) order by b.bucket), '[]')
      from (select distinct case when v_week then date_trunc('week', g)::date else g::date end as bucket
            from generate_series(p_from, p_to, interval '1 day') g) b
      left join (select case when v_week then date_trunc('week', day)::date else day end as bucket, sum(clicks) as clicks,
                   sum(signups) as signups, sum(conversions) as conversions, sum(revenue_cents) as revenue_cents,
                   sum(commissions_cents) as commissions_cents
                 from public.daily_stats where company_id = p_company_id and day between p_from and p_to group by 1) s
        on s.bucket = b.bucket),
    'top_by_revenue', (select coalesce(jsonb_agg(jsonb_build_object('user_id', m.user_id, 'username', coalesce(u.username, m.user_id),
        'revenue_cents', m.revenue_cents, 'conversions', s.conversions) order by m.revenue_cents desc, m.user_id desc), '[]')
      from (select * from public.member_money where company_id = p_company_id and currency = coalesce(v_program.currency, 'USD')
            and revenue_cents > 0 order by revenue_cents desc, user_id desc limit 5) m
      left join public.referral_stats s on s.company_id = m.company_id and s.user_id = m.user_id
      left join public.users u on u.company_id = m.company_id and u.user_id = m.user_id),
    'top_by_conversions', (select coalesce(jsonb_agg(jsonb_build_object('user_id', s.user_id, 'username', coalesce(u.username, s.user_id),
        'conversions', s.conversions, 'revenue_cents', coalesce(m.revenue_cents, 0)) order by s.conversions desc, s.user_id desc), '[]')
      from (select * from public.referral_stats where company_id = p_company_id and conversions > 0
            order by conversions desc, user_id desc limit 5) s
      left join public.member_money m on m.company_id = s.company_id and m.user_id = s.user_id and m.currency = coalesce(v_program.currency, 'USD')
      left join public.users u on u.company_id = s.company_id and u.user_id = s.user_id),
    'sources', (select coalesce(jsonb_agg(jsonb_build_object('value', value, 'clicks', n) order by n desc, value), '[]') from (
        select value, sum(clicks) as n from public.daily_sources
        where company_id = p_company_id and dimension = 'domain' and day between p_from and p_to
        group by value order by n desc, value limit 8) x),
    'countries', (select coalesce(jsonb_agg(jsonb_build_object('value', value, 'clicks', n) order by n desc, value), '[]') from (
        select value, sum(clicks) as n from public.daily_sources
        where company_id = p_company_id and dimension = 'country' and day between p_from and p_to
        group by value order by n desc, value limit 8) x));
end $$;

revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
