-- Gamification: leaderboards (leaderboard_counts, leaderboard_levels; frozen periods in
-- referral_leaderboard and leaderboard_snapshots), referral_streaks, referral_tiers,
-- referral_rewards (credits from drops, milestones, challenges), challenges and
-- referral_challenges. Order: tables, the foreign key from reward_redemptions, indexes,
-- functions, then the programs check that needs tiers_error. No triggers.
-- See docs/architecture.md "Gamification".

-- ── Tables ──────────────────────────────────────────────────────────────────

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

alter table public.leaderboard_counts enable row level security;

-- Members per count on a board (a rank adds up the counts above, as campaign_levels).
create table public.leaderboard_levels (
  company_id text not null,
  period text not null,
  period_start date not null,
  conversions integer not null check (conversions > 0),
  members integer not null check (members >= 0),
  primary key (company_id, period, period_start, conversions)
);

alter table public.leaderboard_levels enable row level security;

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

alter table public.referral_leaderboard enable row level security;

-- Which periods are frozen (a period with no conversion still gets a row: taken, empty).
create table public.leaderboard_snapshots (
  company_id text not null,
  period text not null check (period in ('week', 'month')),
  period_start date not null,
  members integer not null,
  taken_at timestamptz not null default now(),
  primary key (company_id, period, period_start)
);

alter table public.leaderboard_snapshots enable row level security;

-- A member's streak (one row once they have a counted conversion). current_streak counts
-- the conversions in it; streak_active turns false by job (expire_streaks) once
-- streak_expires_at has passed — reads also treat a passed expiry as over.
create table public.referral_streaks (
  company_id text not null,
  user_id text not null,
  streak_active boolean not null default true,
  current_streak integer not null check (current_streak >= 1),
  longest_streak integer not null check (longest_streak >= current_streak),
  bonus_multiplier numeric(4, 2) not null check (bonus_multiplier between 1 and 2),
  started_at timestamptz not null,
  last_conversion_at timestamptz not null,
  -- the referral whose conversion set the multiplier (its commission is the one multiplied)
  last_referral_id uuid not null,
  streak_expires_at timestamptz not null,
  updated_at timestamptz not null default now(),
  primary key (company_id, user_id)
);

alter table public.referral_streaks enable row level security;

-- A member's tier.
-- best_conversions / best_commissions_cents: the most counted conversions and lifetime
-- commissions (program currency, net of reversals) they have had — neither decreases;
-- current_tier: the tier the best of what the program's tiers count reached, as named then
-- (saving a changed tiers list re-names every member's tier: update_program_settings).
create table public.referral_tiers (
  company_id text not null,
  user_id text not null,
  current_tier text not null,
  best_conversions integer not null check (best_conversions >= 0),
  best_commissions_cents bigint not null default 0 check (best_commissions_cents >= 0),
  reached_at timestamptz not null,
  updated_at timestamptz not null default now(),
  primary key (company_id, user_id)
);

alter table public.referral_tiers enable row level security;

-- Credits dropped or won: reward_type 'credits' = points in the points ledger. reason
-- 'drop' (source: the referral) | 'milestone' or 'challenge' (source: the reward
-- redemption); one row per reason and source.
create table public.referral_rewards (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  user_id text not null,
  reward_type text not null default 'credits' check (reward_type = 'credits'),
  reward_value bigint not null check (reward_value > 0),
  reason text not null check (reason in ('drop', 'milestone', 'challenge')),
  source_id text not null,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  unique (company_id, reason, source_id)
);

alter table public.referral_rewards enable row level security;

create table public.challenges (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  challenge_name text not null check (length(challenge_name) between 1 and 80),
  target_referrals integer not null check (target_referrals between 1 and 100000),
  period text not null check (period in ('week', 'month', 'dates')),
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  reward_type text not null check (reward_type in ('product_unlock', 'discount', 'points', 'custom')),
  reward_data jsonb not null,
  is_active boolean not null default true,
  participants integer not null default 0,
  completed integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (ends_at > starts_at)
);

alter table public.challenges enable row level security;

create table public.referral_challenges (
  id uuid primary key default gen_random_uuid(),
  company_id text not null,
  challenge_id uuid not null references public.challenges(id),
  user_id text not null,
  challenge_name text not null,
  target_referrals integer not null,
  achieved_referrals integer not null default 0 check (achieved_referrals >= 0),
  -- 'active' | 'completed' as stored; reads say 'expired' for an active one past its end
  status text not null default 'active' check (status in ('active', 'completed')),
  completed_at timestamptz,
  updated_at timestamptz not null default now(),
  unique (challenge_id, user_id)
);

alter table public.referral_challenges enable row level security;

-- ── References from earlier domains' tables ─────────────────────────────────

alter table public.reward_redemptions add constraint reward_redemptions_challenge_id_fkey
  foreign key (challenge_id) references public.challenges(id);

-- ── Indexes ─────────────────────────────────────────────────────────────────

create index leaderboard_counts_rank_idx on public.leaderboard_counts (company_id, period, period_start, conversions desc, reached_at, user_id);

create index referral_streaks_expiring_idx on public.referral_streaks (streak_expires_at) where streak_active;

create index referral_rewards_member_idx on public.referral_rewards (company_id, user_id, created_at desc);

create index referral_leaderboard_rank_idx on public.referral_leaderboard (company_id, period, period_start, rank);

create index challenges_company_idx on public.challenges (company_id, created_at desc, id desc);

create index challenges_running_idx on public.challenges (company_id, ends_at) where is_active;

create index referral_challenges_member_idx on public.referral_challenges (company_id, user_id, challenge_id);

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
-- when they reached it (the current time when it grows; when it shrinks, when they counted
-- the latest referral still counted in that period), and the members per count.
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

-- Repair (also run by the demo history once it has dated its rows): a company's boards
-- recomputed from its counted referrals. Returns the boards' rows.
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

-- Why a tiers list is not valid for tiers by p_by ('conversions' | 'commissions'), or null:
-- 1–10 tiers {name, min_conversions (by conversions) or min_commissions_cents (by lifetime
-- commissions, program currency), bonus_pct, plan_id?}, names 1–40 characters and distinct,
-- the first at 0 and each next one higher (up to 1 000 000 conversions or 10^12 cents),
-- bonus_pct a percent 0–100 with at most 2 decimals, plan_id a Whop plan (free access granted
-- once on reaching the tier).
create function public.tiers_error(p jsonb, p_by text) returns text
language plpgsql immutable set search_path = '' as $$
declare
  t jsonb;
  v_prev bigint := -1;
  v_names text[] := '{}';
  v_key text := case p_by when 'commissions' then 'min_commissions_cents' else 'min_conversions' end;
  v_what text := case p_by when 'commissions' then 'lifetime commissions' else 'conversions' end;
begin
  if jsonb_typeof(p) is distinct from 'array' or jsonb_array_length(p) not between 1 and 10 then
    return 'Tiers are a list of 1 to 10';
  end if;
  for t in select e from jsonb_array_elements(p) e loop
    if jsonb_typeof(t) <> 'object'
       or not (array(select jsonb_object_keys(t)) <@ '{name,min_conversions,min_commissions_cents,bonus_pct,plan_id}'::text[])
       or jsonb_typeof(t->'name') is distinct from 'string' or length(trim(t->>'name')) not between 1 and 40 then
      return format('Each tier has a name (up to 40 characters), %s and bonus_pct (and may have a plan_id)', v_key);
    end if;
    if t ? 'plan_id' and (jsonb_typeof(t->'plan_id') <> 'string' or t->>'plan_id' !~ '^plan_[A-Za-z0-9]{1,40}$') then
      return format('%s: free access needs a Whop plan id (plan_…)', trim(t->>'name'));
    end if;
    if trim(t->>'name') = any(v_names) then return format('Two tiers are called "%s"', trim(t->>'name')); end if;
    v_names := v_names || trim(t->>'name');
    if not t ? v_key then return format('%s needs %s (tiers count %s)', trim(t->>'name'), v_key, v_what); end if;
    if jsonb_typeof(t->v_key) is distinct from 'number' or t->>v_key !~ '^\d{1,13}$'
       or (t->>v_key)::bigint > (case p_by when 'commissions' then 1000000000000 else 1000000 end) then
      return format('%s: %s are a whole number up to %s', trim(t->>'name'), case p_by when 'commissions' then 'commission cents' else 'conversions' end,
        case p_by when 'commissions' then '10^12' else '1 000 000' end);
    end if;
    if v_prev < 0 and (t->>v_key)::bigint <> 0 then return format('The first tier starts at 0 %s', v_what); end if;
    if (t->>v_key)::bigint <= v_prev then
      return format('%s needs more %s than the tier before it', trim(t->>'name'), v_what);
    end if;
    v_prev := (t->>v_key)::bigint;
    if jsonb_typeof(t->'bonus_pct') is distinct from 'number' or t->>'bonus_pct' !~ '^\d{1,3}(\.\d{1,2})?$'
       or (t->>'bonus_pct')::numeric > 100 then
      return format('%s: the bonus is a percent from 0 to 100, at most 2 decimals', trim(t->>'name'));
    end if;
  end loop;
  return null;
end $$;

-- The streak multiplier of the n-th conversion in a streak: 1 + min(step × (n − 1), cap) / 100.
create function public.streak_multiplier(p_program public.programs, p_streak integer) returns numeric
language sql immutable set search_path = '' as $$
  select 1 + least(p_program.streak_step_pct * greatest(p_streak - 1, 0), p_program.streak_cap_pct)::numeric / 100
$$;

-- When a streak whose last conversion came at p_at ends: the same local time p_days
-- (streak_window_days) later in the program's time zone p_timezone (so a DST change in
-- between moves it by the hour, not the local time).
create function public.streak_expiry(p_timezone text, p_days integer, p_at timestamptz) returns timestamptz
language sql immutable set search_path = '' as $$
  select (p_at at time zone p_timezone + make_interval(days => p_days)) at time zone p_timezone
$$;

-- A tier's threshold in what the program's tiers count (tiers_by): min_conversions, or
-- min_commissions_cents.
create function public.tier_min(p_program public.programs, t jsonb) returns bigint
language sql immutable set search_path = '' as $$
  select (t->>case p_program.tiers_by when 'commissions' then 'min_commissions_cents' else 'min_conversions' end)::bigint
$$;

-- What a member's tier row counts toward the program's tiers: their best count of counted
-- conversions, or their best lifetime commissions in cents (0 without a row).
create function public.tier_value(p_program public.programs, t public.referral_tiers) returns bigint
language sql immutable set search_path = '' as $$
  select coalesce(case p_program.tiers_by when 'commissions' then t.best_commissions_cents else t.best_conversions end, 0)
$$;

-- The tier {name, min_…, bonus_pct, plan_id?} a value reaches in the program's list: the last
-- whose threshold it reaches (the first tier starts at 0).
create function public.tier_for(p_program public.programs, p_value bigint) returns jsonb
language sql immutable set search_path = '' as $$
  select t from jsonb_array_elements(p_program.tiers) with ordinality e(t, n)
  where public.tier_min(p_program, t) <= greatest(p_value, 0) order by n desc limit 1
$$;

-- The tier after p_value's tier, or null at the top.
create function public.next_tier(p_program public.programs, p_value bigint) returns jsonb
language sql immutable set search_path = '' as $$
  select t from jsonb_array_elements(p_program.tiers) with ordinality e(t, n)
  where public.tier_min(p_program, t) > greatest(p_value, 0) order by n limit 1
$$;

-- The tier bonus in basis points p_user_id earns now: 0 unless tiers are on.
create function public.tier_bonus_bp(p_program public.programs, p_user_id text) returns integer
language sql stable set search_path = '' as $$
  select case when p_program.tiers_enabled then
    (public.tier_for(p_program, public.tier_value(p_program, (select t from public.referral_tiers t
                                 where t.company_id = p_program.company_id and t.user_id = p_user_id)))->>'bonus_pct')::numeric * 100
    else 0 end::integer
$$;

-- Move p_user_id's tier up to what their best counts reach now: the counted conversions
-- (reward_progress) and lifetime commissions (member_money, program currency), each kept at
-- its best; the free plans of the tiers reached for the first time are requested once
-- (granted by lib/rewards). Called when a referral starts to count, and — with tiers by
-- commissions — after a payment's commissions are written.
create function public.advance_tier(p_program public.programs, p_user_id text) returns void
language plpgsql security definer set search_path = '' as $$
declare
  t public.referral_tiers;
  v_was bigint;
  v_now bigint;
  v_name text;
begin
  select * into t from public.referral_tiers where company_id = p_program.company_id and user_id = p_user_id for update;
  v_was := case when t.user_id is null then -1 else public.tier_value(p_program, t) end;
  t.company_id := p_program.company_id;
  t.user_id := p_user_id;
  t.best_conversions := greatest(coalesce(t.best_conversions, 0),
    coalesce((select conversions from public.reward_progress where company_id = p_program.company_id and user_id = p_user_id), 0));
  t.best_commissions_cents := greatest(coalesce(t.best_commissions_cents, 0),
    coalesce((select earned_cents from public.member_money
              where company_id = p_program.company_id and user_id = p_user_id and currency = p_program.currency), 0));
  v_now := public.tier_value(p_program, t);
  v_name := public.tier_for(p_program, v_now)->>'name';
  insert into public.referral_tiers as x (company_id, user_id, current_tier, best_conversions, best_commissions_cents, reached_at)
  values (t.company_id, t.user_id, v_name, t.best_conversions, t.best_commissions_cents, now())
  on conflict (company_id, user_id) do update set best_conversions = excluded.best_conversions,
    best_commissions_cents = excluded.best_commissions_cents, current_tier = excluded.current_tier,
    reached_at = case when excluded.current_tier <> x.current_tier then now() else x.reached_at end, updated_at = now();
  if v_now > v_was then
    insert into public.reward_redemptions (company_id, user_id, tier, name, reward_type, reward_data, requested_at)
    select p_program.company_id, p_user_id, e->>'name', (e->>'name') || ' tier', 'product_unlock', jsonb_build_object('plan_id', e->>'plan_id'), now()
    from jsonb_array_elements(p_program.tiers) e
    where e ? 'plan_id' and public.tier_min(p_program, e) <= v_now and public.tier_min(p_program, e) > v_was
    on conflict do nothing;
  end if;
end $$;

-- A counted conversion moves the referrer's streak (continued if it comes by the expiry,
-- else a new one) and tier (advance_tier), and draws its drop.
create function public.advance_gamification(r public.referrals) returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  s public.referral_streaks;
  v_streak integer;
  v_payment text;
  v_id uuid;
begin
  select * into v_program from public.programs where company_id = r.company_id;
  -- streak
  select * into s from public.referral_streaks where company_id = r.company_id and user_id = r.referrer_user_id for update;
  v_streak := case when s.user_id is not null and s.streak_expires_at >= now() then s.current_streak + 1 else 1 end;
  insert into public.referral_streaks as x (company_id, user_id, current_streak, longest_streak, bonus_multiplier, started_at,
    last_conversion_at, last_referral_id, streak_expires_at)
  values (r.company_id, r.referrer_user_id, v_streak, v_streak, public.streak_multiplier(v_program, v_streak), now(), now(), r.id,
    public.streak_expiry(v_program.timezone, v_program.streak_window_days, now()))
  on conflict (company_id, user_id) do update set streak_active = true, current_streak = excluded.current_streak,
    longest_streak = greatest(x.longest_streak, excluded.current_streak), bonus_multiplier = excluded.bonus_multiplier,
    started_at = case when excluded.current_streak = 1 then now() else x.started_at end,
    last_conversion_at = now(), last_referral_id = r.id, streak_expires_at = excluded.streak_expires_at, updated_at = now();

  -- tier: the best all-time count (reward_progress, moved by this conversion already)
  perform public.advance_tier(v_program, r.referrer_user_id);

  -- drop: 10 000 buckets from the converting payment's id
  if v_program.drop_chance_pct > 0 then
    select payment_id into v_payment from public.payments
    where company_id = r.company_id and referral_id = r.id order by created_at, payment_id limit 1;
    if v_payment is not null
       and ('x' || substr(md5(r.company_id || ':' || v_payment), 1, 15))::bit(60)::bigint % 10000 < v_program.drop_chance_pct * 100 then
      insert into public.referral_rewards (company_id, user_id, reward_value, reason, source_id, metadata)
      values (r.company_id, r.referrer_user_id, v_program.drop_points, 'drop', r.id::text, jsonb_build_object('payment_id', v_payment))
      on conflict do nothing
      returning id into v_id;
      if v_id is not null then
        perform public.add_points(r.company_id, r.referrer_user_id, v_program.drop_points, 'SURPRISE_DROP', 'referral', r.id::text,
          'Surprise drop');
      end if;
    end if;
  end if;
end $$;

-- Job: streaks whose expiry has passed become inactive (idempotent). Returns how many.
create function public.expire_streaks() returns integer
language plpgsql security definer set search_path = '' as $$
declare v integer;
begin
  update public.referral_streaks set streak_active = false, updated_at = now()
  where streak_active and streak_expires_at < now();
  get diagnostics v = row_count;
  return v;
end $$;

-- The settings' preview of what a member would earn on a payment of p_base_cents (before
-- tax) with the program's level-1 rate (percentage programs; flat adds the flat amount):
-- {tiers: [{name, min_conversions, bonus_pct, amount_cents}], streak: [{conversion,
-- multiplier, amount_cents}] (each step up to the cap, at most 11)}, all with the saved
-- settings whether or not they are on, computed by level1_amount as the payment path does.
create function public.gamification_preview(p_company_id text, p_base_cents bigint) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.programs;
  v_flat bigint;
  v_rate integer;
  v_steps integer;
begin
  v := public.ensure_program(p_company_id);
  if p_base_cents is null or p_base_cents < 0 then raise exception 'The amount is not negative' using errcode = 'RL400'; end if;
  v_flat := case when v.commission_type = 'flat' then v.flat_amount_cents else 0 end;
  v_rate := case when v.commission_type = 'flat' then 0 else v.commission_rate_bp end;
  v_steps := case when v.streak_step_pct = 0 then 1 else least(ceil(v.streak_cap_pct::numeric / v.streak_step_pct)::integer + 1, 11) end;
  return jsonb_build_object(
    'tiers', (select jsonb_agg(t || jsonb_build_object('amount_cents',
                public.level1_amount(p_base_cents, least(v_rate + ((t->>'bonus_pct')::numeric * 100)::integer, 10000), v_flat, 1)) order by n)
              from jsonb_array_elements(v.tiers) with ordinality e(t, n)),
    'streak', (select jsonb_agg(jsonb_build_object('conversion', i, 'multiplier', public.streak_multiplier(v, i),
                 'amount_cents', public.level1_amount(p_base_cents, v_rate, v_flat, public.streak_multiplier(v, i))) order by i)
               from generate_series(1, v_steps) i));
end $$;

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

-- A board (week | month | all) of the current period: {period, period_start, anonymous,
-- top: the first 10 [{rank, conversions, you, name ('Anonymous' for members who chose it,
-- except to the creator)}], you: {conversions, rank} | null, previous: the viewer's last
-- week or month, from its snapshot once taken (a row lookup), else ranked on its live board
-- until the job has run}. Errors: RL400 unknown board.
create function public.get_leaderboard(p_company_id text, p_viewer text, p_period text, p_creator boolean) returns jsonb
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

-- A challenge as the lists show it: status 'scheduled' | 'running' | 'ended' | 'stopped'.
create function public.challenge_json(c public.challenges) returns jsonb
language sql stable set search_path = '' as $$
  select to_jsonb(c) || jsonb_build_object('status', case when not c.is_active then 'stopped' when now() < c.starts_at then 'scheduled'
                                                          when now() < c.ends_at then 'running' else 'ended' end)
$$;

-- The creator defines a challenge (keys as its columns): {challenge_name, target_referrals,
-- period: 'week' (from this moment to the end of this local week, Monday to Sunday) |
-- 'month' (to the end of this local month) | 'dates' (starts_at, ends_at: dates or
-- date-times in the program's time zone, or ISO with an offset; a date-only end runs
-- through that day),
-- reward_type: 'points' | 'discount' | 'product_unlock' | 'custom', reward_data (as a
-- milestone's)}. Errors: RL400 with the reason; nothing is written. Returns challenge_json.
create function public.create_challenge(p_company_id text, p_challenge jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs := public.ensure_program(p_company_id);
  v_period text := p_challenge->>'period';
  v_target integer;
  v_start timestamptz := now();
  v_end timestamptz;
  v_err text;
  c public.challenges;
begin
  if jsonb_typeof(p_challenge) is distinct from 'object' then raise exception 'A challenge is an object' using errcode = 'RL400'; end if;
  if jsonb_typeof(p_challenge->'challenge_name') is distinct from 'string' or length(trim(p_challenge->>'challenge_name')) not between 1 and 80 then
    raise exception 'A challenge needs a name (up to 80 characters)' using errcode = 'RL400';
  end if;
  if jsonb_typeof(p_challenge->'target_referrals') is distinct from 'number' or p_challenge->>'target_referrals' !~ '^\d{1,6}$'
     or (p_challenge->>'target_referrals')::integer not between 1 and 100000 then
    raise exception 'The target is a whole number of conversions from 1 to 100 000' using errcode = 'RL400';
  end if;
  v_target := (p_challenge->>'target_referrals')::integer;
  if v_period = 'week' then
    v_end := (date_trunc('week', public.local_day(p_company_id, now())) + interval '7 days')::timestamp at time zone v_program.timezone;
  elsif v_period = 'month' then
    v_end := (date_trunc('month', public.local_day(p_company_id, now())) + interval '1 month')::timestamp at time zone v_program.timezone;
  elsif v_period = 'dates' then
    v_start := public.campaign_time(p_challenge->>'starts_at', v_program.timezone, 'The start', false);
    v_end := public.campaign_time(p_challenge->>'ends_at', v_program.timezone, 'The end', true);
    if v_end <= v_start then raise exception 'The end comes after the start' using errcode = 'RL400'; end if;
    if v_end <= now() then raise exception 'The end is in the past' using errcode = 'RL400'; end if;
  else
    raise exception 'The period is week, month or dates' using errcode = 'RL400';
  end if;
  v_err := public.reward_data_error(p_challenge->>'reward_type', coalesce(p_challenge->'reward_data', '{}'), false);
  if v_err is not null then raise exception '%', v_err using errcode = 'RL400'; end if;
  insert into public.challenges (company_id, challenge_name, target_referrals, period, starts_at, ends_at, reward_type, reward_data)
  values (p_company_id, trim(p_challenge->>'challenge_name'), v_target, v_period, v_start, v_end, p_challenge->>'reward_type',
    coalesce(p_challenge->'reward_data', '{}'))
  returning * into c;
  return public.challenge_json(c);
end $$;

-- The creator stops a challenge: no more progress (what was completed stays granted).
-- Errors: RL404. Returns challenge_json.
create function public.stop_challenge(p_company_id text, p_challenge_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare c public.challenges;
begin
  update public.challenges set is_active = false, updated_at = now()
  where company_id = p_company_id and id = p_challenge_id returning * into c;
  if c.id is null then raise exception 'No such challenge' using errcode = 'RL404'; end if;
  return public.challenge_json(c);
end $$;

-- A company's challenges, newest first (a page of ≤ 50 after p_after: "created_at|id").
-- Returns {rows: [challenge_json], next: the cursor of the page's last row, or null}.
create function public.list_challenges(p_company_id text, p_after text) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare v_rows jsonb;
begin
  select coalesce(jsonb_agg(public.challenge_json(c) || jsonb_build_object('cursor', c.created_at::text || '|' || c.id)
    order by c.created_at desc, c.id desc), '[]') into v_rows
  from (select * from public.challenges c
        where c.company_id = p_company_id
          and (p_after is null or (c.created_at, c.id) < (public.cursor_part(p_after, 1)::timestamptz, public.cursor_part(p_after, 2)::uuid))
        order by c.created_at desc, c.id desc limit 51) c;
  return public.page_of(v_rows, 50);
end $$;

-- A referral's step in the challenges running when it counted: +1 (p_sign 1, at now()) on
-- every running challenge, completing those it brings to their target (the reward's
-- redemption requested at once, points granted here), or −1 (p_sign −1) on the not yet
-- completed ones whose window held its counted_at.
create function public.step_challenges(r public.referrals, p_sign integer) returns void
language plpgsql security definer set search_path = '' as $$
declare
  c public.challenges;
  p public.referral_challenges;
  v_at timestamptz := case when p_sign > 0 then now() else r.counted_at end;
  v_id uuid;
begin
  for c in select * from public.challenges
           where company_id = r.company_id and is_active and starts_at <= v_at and v_at < ends_at
           order by created_at, id loop
    if p_sign > 0 then
      insert into public.referral_challenges as x (company_id, challenge_id, user_id, challenge_name, target_referrals, achieved_referrals)
      values (r.company_id, c.id, r.referrer_user_id, c.challenge_name, c.target_referrals, 1)
      on conflict (challenge_id, user_id) do update set achieved_referrals = x.achieved_referrals + 1, updated_at = now()
      returning * into p;
      if p.achieved_referrals = 1 then
        update public.challenges set participants = participants + 1 where id = c.id;
      end if;
      if p.status = 'active' and p.achieved_referrals >= p.target_referrals then
        update public.referral_challenges set status = 'completed', completed_at = now() where id = p.id;
        update public.challenges set completed = completed + 1 where id = c.id;
        insert into public.reward_redemptions (company_id, user_id, challenge_id, name, reward_type, reward_data, requested_at)
        values (r.company_id, r.referrer_user_id, c.id, c.challenge_name, c.reward_type, c.reward_data, now())
        on conflict do nothing
        returning id into v_id;
        if v_id is not null and c.reward_type = 'points' then perform public.grant_reward_redemption(r.company_id, v_id); end if;
        v_id := null;
      end if;
    else
      update public.referral_challenges set achieved_referrals = achieved_referrals - 1, updated_at = now()
      where challenge_id = c.id and user_id = r.referrer_user_id and status = 'active' and achieved_referrals > 0;
    end if;
  end loop;
end $$;

-- What the member Home shows of the game: {conversions (counted, all-time), tiers_enabled,
-- tiers_by, currency, tier: {name, min_…, bonus_pct, plan_id?, reached_at}, next_tier: null |
-- {name, min_… (conversions or commission cents, as tiers_by), bonus_pct, needs},
-- streaks_enabled, streak_window_days, max_multiplier, streak: null | {active, current_streak,
-- longest_streak, multiplier, next_multiplier, expires_at, days_left (whole local days, 0 on
-- the last)}, drop_chance_pct, drop_points, drops: [{reward_value, reason, created_at}]
-- (latest 5), challenges: the running ones and those ended in the last 7 days, [{id,
-- challenge_name, target_referrals, achieved_referrals, status: active | completed | expired,
-- ends_at, reward_type, reward_data}] (at most 10, ending soonest first),
-- notifications_muted}.
create function public.get_member_gamification(p_company_id text, p_user_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  t public.referral_tiers;
  s public.referral_streaks;
  v_alive boolean;
begin
  -- the page reads this beside what makes the program (ensure_program): make it here too
  v_program := public.ensure_program(p_company_id);
  select * into t from public.referral_tiers where company_id = p_company_id and user_id = p_user_id;
  select * into s from public.referral_streaks where company_id = p_company_id and user_id = p_user_id;
  v_alive := s.user_id is not null and s.streak_active and s.streak_expires_at >= now();
  return jsonb_build_object(
    'conversions', coalesce((select conversions from public.reward_progress where company_id = p_company_id and user_id = p_user_id), 0),
    'tiers_enabled', v_program.tiers_enabled,
    'tiers_by', v_program.tiers_by,
    'currency', v_program.currency,
    'tier', public.tier_for(v_program, public.tier_value(v_program, t)) || jsonb_build_object('reached_at', t.reached_at),
    'next_tier', public.next_tier(v_program, public.tier_value(v_program, t))
      || jsonb_build_object('needs', public.tier_min(v_program, public.next_tier(v_program, public.tier_value(v_program, t)))
                                     - public.tier_value(v_program, t)),
    'streaks_enabled', v_program.streaks_enabled,
    'streak_window_days', v_program.streak_window_days,
    'max_multiplier', 1 + v_program.streak_cap_pct::numeric / 100,
    'streak', case when s.user_id is not null then jsonb_build_object(
      'active', v_alive,
      'current_streak', case when v_alive then s.current_streak else 0 end,
      'longest_streak', s.longest_streak,
      'multiplier', case when v_alive then s.bonus_multiplier else 1 end,
      'next_multiplier', public.streak_multiplier(v_program, case when v_alive then s.current_streak + 1 else 1 end),
      'expires_at', case when v_alive then s.streak_expires_at end,
      'days_left', case when v_alive then public.local_day(p_company_id, s.streak_expires_at) - public.local_day(p_company_id, now()) end) end,
    'drop_chance_pct', v_program.drop_chance_pct,
    'drop_points', v_program.drop_points,
    'drops', coalesce((select jsonb_agg(jsonb_build_object('reward_value', x.reward_value, 'reason', x.reason, 'created_at', x.created_at)
                                        order by x.created_at desc)
                       from (select * from public.referral_rewards where company_id = p_company_id and user_id = p_user_id
                             order by created_at desc limit 5) x), '[]'),
    'challenges', coalesce((
      select jsonb_agg(jsonb_build_object('id', c.id, 'challenge_name', c.challenge_name, 'target_referrals', c.target_referrals,
          'achieved_referrals', least(coalesce(p.achieved_referrals, 0), c.target_referrals),
          'status', case when p.status = 'completed' then 'completed' when now() >= c.ends_at then 'expired' else 'active' end,
          'ends_at', c.ends_at, 'reward_type', c.reward_type, 'reward_data', c.reward_data) order by c.ends_at, c.id)
      from (select * from public.challenges
            where company_id = p_company_id and is_active and starts_at <= now() and ends_at > now() - interval '7 days'
            order by ends_at, id limit 10) c
      left join public.referral_challenges p on p.challenge_id = c.id and p.user_id = p_user_id), '[]'),
    'notifications_muted',
      coalesce((select notifications_muted from public.users where company_id = p_company_id and user_id = p_user_id), false));
end $$;

-- ── Checks that need this file's functions ──────────────────────────────────

alter table public.programs add constraint programs_tiers_check check (public.tiers_error(tiers, tiers_by) is null);
