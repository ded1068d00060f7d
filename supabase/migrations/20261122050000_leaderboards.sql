-- Referly: leaderboards (issue 9, first slice; DESIGN.md "Gamification"; seed 000
-- `referral_leaderboard`): weekly, monthly and all-time boards ranked by counted conversions
-- (the campaigns migration's rule: held or rejected referrals and conversions refunded in
-- full never count), ties to who reached the count first, kept in the transaction that
-- counts or uncounts a referral. A member may show as "Anonymous" to other members (the
-- creator still sees names). Weeks start on Monday, weeks and months in the program's time
-- zone, by when the referral was counted.

-- ── Tables ──────────────────────────────────────────────────────────────────

alter table public.users add column leaderboard_anonymous boolean not null default false;

-- A member's count on one board: period 'week' | 'month' (period_start = its first local
-- day) or 'all' (period_start 1970-01-01); reached_at = when they reached that count.
create table public.leaderboard_counts (
  company_id text not null,
  period text not null check (period in ('week', 'month', 'all')),
  period_start date not null,
  user_id text not null,
  conversions integer not null default 0 check (conversions >= 0),
  reached_at timestamptz,
  primary key (company_id, period, period_start, user_id)
);
create index leaderboard_counts_rank_idx on public.leaderboard_counts (company_id, period, period_start, conversions desc, reached_at, user_id);

-- Members per count on a board (a rank adds up the counts above, as campaign_levels).
create table public.leaderboard_levels (
  company_id text not null,
  period text not null,
  period_start date not null,
  conversions integer not null check (conversions > 0),
  members integer not null check (members >= 0),
  primary key (company_id, period, period_start, conversions)
);

-- a referrer's counted referrals by when they were counted (reached_at after an uncount)
create index referrals_referrer_counted_idx on public.referrals (company_id, referrer_user_id, counted_at) where counted;

alter table public.leaderboard_counts enable row level security;
alter table public.leaderboard_levels enable row level security;

-- ── Functions ───────────────────────────────────────────────────────────────

-- The first local day of the board's period containing p_at (program time zone; weeks from Monday).
create function public.leaderboard_period_start(p_company_id text, p_period text, p_at timestamptz) returns date
language sql stable set search_path = '' as $$
  select case p_period
    when 'week' then date_trunc('week', public.local_day(p_company_id, p_at))::date
    when 'month' then date_trunc('month', public.local_day(p_company_id, p_at))::date
    else date '1970-01-01' end
$$;

-- Move p_user_id's count on the three boards of the moment p_at by p_sign (±1): the count,
-- when they reached it (now when it grows; when they counted the latest referral still
-- counted in that period when it shrinks), and the members per count.
create function public.bump_leaderboards(p_company_id text, p_user_id text, p_at timestamptz, p_sign integer) returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_period text;
  v_start date;
  v_from timestamptz;
  v_to timestamptz;
  v_tz text := coalesce((select timezone from public.programs where company_id = p_company_id), 'UTC');
  v_n integer;
begin
  foreach v_period in array array['week', 'month', 'all'] loop
    v_start := public.leaderboard_period_start(p_company_id, v_period, p_at);
    v_from := case when v_period = 'all' then '-infinity' else v_start::timestamp at time zone v_tz end;
    v_to := case v_period when 'week' then (v_start + 7)::timestamp at time zone v_tz
                          when 'month' then (v_start + interval '1 month')::timestamp at time zone v_tz else 'infinity' end;
    insert into public.leaderboard_counts as c (company_id, period, period_start, user_id, conversions, reached_at)
    values (p_company_id, v_period, v_start, p_user_id, greatest(p_sign, 0), now())
    on conflict (company_id, period, period_start, user_id) do update set conversions = c.conversions + p_sign,
      reached_at = case when p_sign > 0 then now()
                        else (select max(r.counted_at) from public.referrals r
                              where r.company_id = p_company_id and r.referrer_user_id = p_user_id and r.counted
                                and r.counted_at >= v_from and r.counted_at < v_to) end
    returning conversions into v_n;
    if v_n > 0 then
      insert into public.leaderboard_levels as l (company_id, period, period_start, conversions, members)
      values (p_company_id, v_period, v_start, v_n, 1)
      on conflict (company_id, period, period_start, conversions) do update set members = l.members + 1;
    end if;
    update public.leaderboard_levels set members = members - 1
    where company_id = p_company_id and period = v_period and period_start = v_start and conversions = v_n - p_sign;
  end loop;
end $$;

-- Counting (the campaigns migration's sync_referral_counted, renamed and wrapped) also moves
-- the referrer on the boards: up on the boards of now, down on those of when it was counted.
alter function public.sync_referral_counted(uuid) rename to sync_referral_counted_rewards;
create function public.sync_referral_counted(p_referral_id uuid) returns boolean
language plpgsql security definer set search_path = '' as $$
declare
  r public.referrals;
  v boolean;
begin
  select * into r from public.referrals where id = p_referral_id;
  if r.id is null then return false; end if;
  v := public.sync_referral_counted_rewards(p_referral_id);
  if v <> r.counted then
    perform public.bump_leaderboards(r.company_id, r.referrer_user_id, case when v then now() else r.counted_at end,
      case when v then 1 else -1 end);
  end if;
  return v;
end $$;

-- A board's rank of a count reached at p_reached by p_user: 1 + members with more, + those
-- with as many who reached it earlier (ties: user id).
create function public.leaderboard_rank(p_company_id text, p_period text, p_start date, p_conversions integer,
  p_reached timestamptz, p_user text) returns integer
language sql stable set search_path = '' as $$
  select 1 + coalesce((select sum(members) from public.leaderboard_levels
                       where company_id = p_company_id and period = p_period and period_start = p_start
                         and conversions > p_conversions), 0)::integer
           + (select count(*) from public.leaderboard_counts
              where company_id = p_company_id and period = p_period and period_start = p_start and conversions = p_conversions
                and (reached_at, user_id) < (p_reached, p_user))::integer
$$;

-- A board as p_viewer sees it (p_creator: the creator, who sees every name). p_period: week |
-- month | all. Returns {period, period_start, top:[{rank, name, conversions, you}] (10),
-- you: null | {rank, conversions}, previous: null | {rank, conversions} (the viewer on the
-- previous week or month), anonymous (the viewer's choice)}. Another member who chose
-- anonymity is "Anonymous" to members. Errors: RL400 unknown period.
create function public.get_leaderboard(p_company_id text, p_viewer text, p_period text, p_creator boolean) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_start date;
  v_prev date;
  me public.leaderboard_counts;
  prev public.leaderboard_counts;
begin
  if p_period is null or p_period not in ('week', 'month', 'all') then
    raise exception 'A board is week, month or all' using errcode = 'RL400';
  end if;
  v_start := public.leaderboard_period_start(p_company_id, p_period, now());
  v_prev := case p_period when 'week' then v_start - 7 when 'month' then (v_start - interval '1 month')::date end;
  select * into me from public.leaderboard_counts
  where company_id = p_company_id and period = p_period and period_start = v_start and user_id = p_viewer;
  select * into prev from public.leaderboard_counts
  where company_id = p_company_id and period = p_period and period_start = v_prev and user_id = p_viewer;
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
    'previous', case when coalesce(prev.conversions, 0) > 0 then jsonb_build_object('conversions', prev.conversions,
      'rank', public.leaderboard_rank(p_company_id, p_period, v_prev, prev.conversions, prev.reached_at, prev.user_id)) end);
end $$;

-- The member's choice to show as "Anonymous" to other members. Returns it.
create function public.set_leaderboard_anonymous(p_company_id text, p_user_id text, p_anonymous boolean) returns boolean
language plpgsql security definer set search_path = '' as $$
begin
  if p_anonymous is null then raise exception 'Anonymous is true or false' using errcode = 'RL400'; end if;
  update public.users set leaderboard_anonymous = p_anonymous, updated_at = now()
  where company_id = p_company_id and user_id = p_user_id;
  if not found then raise exception 'No such member' using errcode = 'RL404'; end if;
  return p_anonymous;
end $$;

-- Repair (and the backfill below, and the demo history after it dates its rows): a
-- company's boards recomputed from its counted referrals. Returns the boards' rows.
create function public.rebuild_leaderboards(p_company_id text) returns integer
language plpgsql security definer set search_path = '' as $$
declare v integer;
begin
  delete from public.leaderboard_levels where company_id = p_company_id;
  delete from public.leaderboard_counts where company_id = p_company_id;
  insert into public.leaderboard_counts (company_id, period, period_start, user_id, conversions, reached_at)
  select r.company_id, p.period, public.leaderboard_period_start(r.company_id, p.period, r.counted_at), r.referrer_user_id,
    count(*), max(r.counted_at)
  from public.referrals r cross join (values ('week'), ('month'), ('all')) p(period)
  where r.company_id = p_company_id and r.counted
  group by 1, 2, 3, 4;
  get diagnostics v = row_count;
  insert into public.leaderboard_levels (company_id, period, period_start, conversions, members)
  select company_id, period, period_start, conversions, count(*) from public.leaderboard_counts
  where company_id = p_company_id and conversions > 0 group by 1, 2, 3, 4;
  return v;
end $$;

select public.rebuild_leaderboards(company_id) from public.programs;

-- ── Privileges: only the server (service role) reads and writes ─────────────
revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
