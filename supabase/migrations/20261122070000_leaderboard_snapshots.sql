-- Referly: leaderboard snapshots (issue 9; seed 000 `referral_leaderboard`: "built via a daily
-- job", rank and totals per period). A finished week or month is frozen by a job into
-- referral_leaderboard: each member with a counted conversion in it, their rank (ties to who
-- reached the count first, as live), conversions and the commissions they earned in it
-- (program currency, net of reversals, from member_daily). The member's "previous period"
-- rank reads the snapshot once it exists; the creator can browse past periods. A snapshot is
-- taken once (running the job twice changes nothing); a conversion uncounted later does not
-- rewrite a frozen period.

create table public.referral_leaderboard (
  company_id text not null,
  period text not null check (period in ('week', 'month')),
  period_start date not null,
  period_end date not null,
  user_id text not null,
  rank integer not null check (rank >= 1),
  total_referrals integer not null check (total_referrals > 0),
  total_commissions_cents bigint not null,
  primary key (company_id, period, period_start, user_id)
);
create index referral_leaderboard_rank_idx on public.referral_leaderboard (company_id, period, period_start, rank);

-- Which periods are frozen (a period with no conversion still gets a row: taken, empty).
create table public.leaderboard_snapshots (
  company_id text not null,
  period text not null check (period in ('week', 'month')),
  period_start date not null,
  members integer not null,
  taken_at timestamptz not null default now(),
  primary key (company_id, period, period_start)
);

alter table public.referral_leaderboard enable row level security;
alter table public.leaderboard_snapshots enable row level security;

-- Freeze one finished period of a company's board (no-op if taken or not finished).
-- Returns the members frozen, or null when nothing was done.
create function public.snapshot_leaderboard(p_company_id text, p_period text, p_start date) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  v_end date := case p_period when 'week' then p_start + 6 else (p_start + interval '1 month')::date - 1 end;
  v integer;
begin
  if p_period not in ('week', 'month') or v_end >= public.local_day(p_company_id, now()) then return null; end if;
  insert into public.leaderboard_snapshots (company_id, period, period_start, members) values (p_company_id, p_period, p_start, 0)
  on conflict do nothing;
  if not found then return null; end if;
  insert into public.referral_leaderboard (company_id, period, period_start, period_end, user_id, rank, total_referrals,
    total_commissions_cents)
  select c.company_id, c.period, c.period_start, v_end, c.user_id,
    row_number() over (order by c.conversions desc, c.reached_at, c.user_id), c.conversions,
    coalesce((select sum(d.commissions_cents) from public.member_daily d
              where d.company_id = p_company_id and d.user_id = c.user_id and d.day between p_start and v_end), 0)
  from public.leaderboard_counts c
  where c.company_id = p_company_id and c.period = p_period and c.period_start = p_start and c.conversions > 0;
  get diagnostics v = row_count;
  update public.leaderboard_snapshots set members = v
  where company_id = p_company_id and period = p_period and period_start = p_start;
  return v;
end $$;

-- Job: freeze every finished week and month of every company that has a live board for it
-- and no snapshot yet (so a missed run catches up). Idempotent. Returns {periods, members}.
create function public.snapshot_leaderboards() returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  b record;
  v integer;
  v_periods integer := 0;
  v_members integer := 0;
begin
  -- the boards' levels: a few rows per period, where the counts have one per member
  for b in select distinct c.company_id, c.period, c.period_start from public.leaderboard_levels c
           where c.period in ('week', 'month') and c.members > 0
             and not exists (select 1 from public.leaderboard_snapshots s
                             where s.company_id = c.company_id and s.period = c.period and s.period_start = c.period_start)
           order by 1, 2, 3 loop
    v := public.snapshot_leaderboard(b.company_id, b.period, b.period_start);
    if v is not null then v_periods := v_periods + 1; v_members := v_members + v; end if;
  end loop;
  -- a bulk insert leaves the planner's statistics stale until autovacuum comes by (the
  -- member's previous rank reads this table): refresh them now
  if v_members > 0 then analyze public.referral_leaderboard; end if;
  return jsonb_build_object('periods', v_periods, 'members', v_members);
end $$;

-- The board (the leaderboards migration's get_leaderboard, replaced): the viewer's previous
-- week or month comes from its snapshot once taken — a row lookup instead of ranking the
-- live board of that period (which stays the answer until the job has run).
create or replace function public.get_leaderboard(p_company_id text, p_viewer text, p_period text, p_creator boolean) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_start date;
  v_prev date;
  me public.leaderboard_counts;
  prev public.leaderboard_counts;
  snap public.referral_leaderboard;
  v_frozen boolean;
begin
  if p_period is null or p_period not in ('week', 'month', 'all') then
    raise exception 'A board is week, month or all' using errcode = 'RL400';
  end if;
  v_start := public.leaderboard_period_start(p_company_id, p_period, now());
  v_prev := case p_period when 'week' then v_start - 7 when 'month' then (v_start - interval '1 month')::date end;
  select * into me from public.leaderboard_counts
  where company_id = p_company_id and period = p_period and period_start = v_start and user_id = p_viewer;
  -- the previous period's snapshot once taken (a row lookup), else its live board
  v_frozen := exists (select 1 from public.leaderboard_snapshots where company_id = p_company_id and period = p_period and period_start = v_prev);
  if v_frozen then
    select * into snap from public.referral_leaderboard
    where company_id = p_company_id and period = p_period and period_start = v_prev and user_id = p_viewer;
  else
    select * into prev from public.leaderboard_counts
    where company_id = p_company_id and period = p_period and period_start = v_prev and user_id = p_viewer;
  end if;
  return jsonb_build_object('period', p_period, 'period_start', v_start,
    'anonymous', coalesce((select leaderboard_anonymous from public.users where company_id = p_company_id and user_id = p_viewer), false),
    'top', coalesce((select jsonb_agg(jsonb_build_object('rank', t.n, 'conversions', t.conversions, 'you', t.user_id = p_viewer,
        'name', case when u.leaderboard_anonymous and not p_creator and t.user_id <> p_viewer then 'Anonymous'
                     else coalesce(u.username, t.user_id) end) order by t.n)
      from (select c.*, row_number() over (order by c.conversions desc, c.reached_at, c.user_id) as n
            from (select * from public.leaderboard_counts
                  where company_id = p_company_id and period = p_period and period_start = v_start and conversions > 0
                  order by conversions desc, reached_at, user_id limit 10) c) t
      left join public.users u on u.company_id = p_company_id and u.user_id = t.user_id), '[]'),
    'you', case when coalesce(me.conversions, 0) > 0 then jsonb_build_object('conversions', me.conversions,
      'rank', public.leaderboard_rank(p_company_id, p_period, v_start, me.conversions, me.reached_at, me.user_id)) end,
    'previous', case when v_frozen then case when snap.user_id is not null then jsonb_build_object('conversions', snap.total_referrals, 'rank', snap.rank) end
                     when coalesce(prev.conversions, 0) > 0 then jsonb_build_object('conversions', prev.conversions,
      'rank', public.leaderboard_rank(p_company_id, p_period, v_prev, prev.conversions, prev.reached_at, prev.user_id)) end);
end $$;

-- A frozen period as the creator sees it (every name): {period, period_start, period_end,
-- taken_at, rows: [{rank, user_id, name, conversions, commissions_cents}] (a page of ≤ 50 from
-- p_after_rank), next_rank}, and the periods there are: periods: [{period_start, members}]
-- (latest 24). Errors: RL400 unknown period; RL404 no snapshot of that period.
create function public.get_leaderboard_snapshot(p_company_id text, p_period text, p_start date, p_after_rank integer)
returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  s public.leaderboard_snapshots;
  v_rows jsonb;
begin
  if p_period is null or p_period not in ('week', 'month') then raise exception 'A past board is a week or a month' using errcode = 'RL400'; end if;
  if p_start is null then
    select * into s from public.leaderboard_snapshots where company_id = p_company_id and period = p_period order by period_start desc limit 1;
  else
    select * into s from public.leaderboard_snapshots where company_id = p_company_id and period = p_period and period_start = p_start;
  end if;
  if s.company_id is null then raise exception 'That period has no snapshot yet' using errcode = 'RL404'; end if;
  select coalesce(jsonb_agg(jsonb_build_object('rank', l.rank, 'user_id', l.user_id, 'name', coalesce(u.username, l.user_id),
      'conversions', l.total_referrals, 'commissions_cents', l.total_commissions_cents) order by l.rank), '[]')
  into v_rows
  from (select * from public.referral_leaderboard
        where company_id = p_company_id and period = p_period and period_start = s.period_start and rank > coalesce(p_after_rank, 0)
        order by rank limit 51) l
  left join public.users u on u.company_id = p_company_id and u.user_id = l.user_id;
  return jsonb_build_object('period', p_period, 'period_start', s.period_start,
    'period_end', case p_period when 'week' then s.period_start + 6 else (s.period_start + interval '1 month')::date - 1 end,
    'taken_at', s.taken_at,
    'rows', coalesce((select jsonb_agg(e) from jsonb_array_elements(v_rows) with ordinality x(e, n) where n <= 50), '[]'),
    'next_rank', case when jsonb_array_length(v_rows) > 50 then (v_rows->49->>'rank')::integer end,
    'periods', (select coalesce(jsonb_agg(jsonb_build_object('period_start', period_start, 'members', members) order by period_start desc), '[]')
                from (select * from public.leaderboard_snapshots where company_id = p_company_id and period = p_period
                      order by period_start desc limit 24) x));
end $$;

-- ── Privileges: only the server (service role) reads and writes ─────────────
revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
