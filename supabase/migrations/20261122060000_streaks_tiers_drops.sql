-- Referly: streaks, tiers and surprise drops (issue 9, second slice; DESIGN.md "Gamification";
-- seed 000 `referral_streaks`, `referral_tiers`, `referral_rewards`), and the members'
-- referrals per plan (seed 000 `referral_stats`' per-plan counts, e.g. pro_referrals). All three move when a
-- referral starts to count (the campaigns migration's rule, in sync_referral_counted: held or
-- rejected referrals never count), in the transaction that counts it, and none moves back:
-- a streak is history, a tier is permanent, a drop is kept.
--   Streak: alive while each counted conversion comes within streak_window_days (local days
--     in the program's time zone) of the previous one; its multiplier is
--     1 + min(streak_step_pct × (current_streak − 1), streak_cap_pct) / 100 — ×1.0 for the
--     first conversion, ×1.1 for the second with the default step, at most ×1.5.
--   Tier: the highest of the program's tiers whose min_conversions the member's best count of
--     counted conversions has reached (the best count never goes down, so neither does the
--     tier). Default Bronze 0 / Silver 5 / Gold 20 with bonus 0 / 2 / 5 percentage points.
--   Both bonuses are off until the creator turns them on, and apply to level 1 only: the tier
--     bonus is added to the level-1 rate of every payment (capped at 100 %), the streak
--     multiplier multiplies the level-1 commission of the converting payment that advanced
--     the streak. Both are stored on the commission (tier_bonus_bp, streak_multiplier).
--   Drop: each counted conversion has a drop_chance_pct chance of drop_points points, drawn
--     from a hash of its converting payment's Whop id (the subject of the event: a
--     redelivery, or an approval after a hold, draws the same), at most once per conversion.
--   Milestone points (the campaigns migration's rewards) are logged in referral_rewards too,
--     as seed 000's "3rd referral → 200 credits".

-- ── Settings ────────────────────────────────────────────────────────────────

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

alter table public.programs
  add column streaks_enabled boolean not null default false,
  add column streak_window_days integer not null default 7 check (streak_window_days between 1 and 90),
  add column streak_step_pct integer not null default 10 check (streak_step_pct between 0 and 100),
  add column streak_cap_pct integer not null default 50 check (streak_cap_pct between 0 and 100),
  add column tiers_enabled boolean not null default false,
  -- what tiers count: counted conversions, or lifetime commissions (program currency)
  add column tiers_by text not null default 'conversions' check (tiers_by in ('conversions', 'commissions')),
  add column tiers jsonb not null default '[{"name": "Bronze", "min_conversions": 0, "bonus_pct": 0},
    {"name": "Silver", "min_conversions": 5, "bonus_pct": 2}, {"name": "Gold", "min_conversions": 20, "bonus_pct": 5}]',
  add column drop_chance_pct integer not null default 0 check (drop_chance_pct between 0 and 100),
  add column drop_points integer not null default 100 check (drop_points between 1 and 1000000),
  add constraint programs_tiers_check check (public.tiers_error(tiers, tiers_by) is null);

-- ── Tables ──────────────────────────────────────────────────────────────────

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
create index referral_streaks_expiring_idx on public.referral_streaks (streak_expires_at) where streak_active;

-- A member's tier (seed 000: current_tier, total_referrals, lifetime_commissions).
-- best_conversions / best_commissions_cents: the most counted conversions and lifetime
-- commissions (program currency, net of reversals) they have had — neither decreases;
-- current_tier: the tier the best of what the program's tiers count reached, as named then
-- (a renamed list renames it at the next save of the settings).
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

-- Credits dropped or won (seed 000): reward_type 'credits' = points in the points ledger.
-- reason 'drop' (source: the referral) | 'milestone' (source: the reward redemption); one
-- row per reason and source.
create table public.referral_rewards (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  user_id text not null,
  reward_type text not null default 'credits' check (reward_type = 'credits'),
  reward_value bigint not null check (reward_value > 0),
  reason text not null check (reason in ('drop', 'milestone')),
  source_id text not null,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  unique (company_id, reason, source_id)
);
create index referral_rewards_member_idx on public.referral_rewards (company_id, user_id, created_at desc);

-- A tier's free plan is granted once, as a redemption of its own (tier = the tier's name; a
-- one-use 100 %-off promo code made by lib/rewards, as a milestone's free access is).
alter table public.reward_redemptions add column tier text check (length(tier) between 1 and 40);
alter table public.reward_redemptions drop constraint reward_redemptions_check;
alter table public.reward_redemptions add constraint reward_redemptions_source check (
  (reward_id is not null and prize is null and tier is null)
  or (reward_id is null and campaign_id is not null and prize is not null and tier is null)
  or (tier is not null and reward_id is null and prize is null));
create unique index reward_redemptions_tier_key on public.reward_redemptions (company_id, user_id, tier) where tier is not null;

-- How a level-1 commission was boosted (DESIGN.md: stored on the commission row).
alter table public.commissions
  add column tier_bonus_bp integer not null default 0 check (tier_bonus_bp between 0 and 10000),
  add column streak_multiplier numeric(4, 2) not null default 1 check (streak_multiplier between 1 and 2);

alter table public.transactions drop constraint transactions_points_type_check;
alter table public.transactions add constraint transactions_points_type_check check (points_type is null or points_type in (
  'REFERRAL_WELCOME', 'REFERRAL_FIRST_PAYMENT', 'REFERRAL_RECURRING', 'REFERRAL_L2', 'REDEMPTION_PROMO_CODE',
  'REDEMPTION_FREE_ACCESS', 'REDEMPTION_CUSTOM', 'REDEMPTION_REFUND', 'ADMIN_GRANT', 'EXPIRY',
  'CAMPAIGN_BONUS', 'CAMPAIGN_PRIZE', 'MILESTONE_REWARD', 'SURPRISE_DROP'));

-- Per member and plan bought (the converting payment's plan): conversions and active
-- referrals, kept by a trigger on referrals like referral_stats (analytics migration), checked
-- and rebuilt with the other rollups (check_analytics, rebuild_analytics).
alter table public.payments add column plan_id text;
alter table public.referrals add column plan_id text;
create table public.referral_plan_stats (
  company_id text not null,
  user_id text not null,
  plan_id text not null,
  conversions bigint not null default 0,
  active_referrals bigint not null default 0,
  primary key (company_id, user_id, plan_id)
);

alter table public.referral_plan_stats enable row level security;
alter table public.referral_streaks enable row level security;
alter table public.referral_tiers enable row level security;
alter table public.referral_rewards enable row level security;

-- ── Rules ───────────────────────────────────────────────────────────────────

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

-- A level-1 commission in cents: (the flat amount + base × rate) × multiplier, rounded once
-- half down (core's round_half_down). p_base_cents, p_flat_cents: cents; p_rate_bp: basis
-- points; p_multiplier: the streak's (1 without one).
create function public.level1_amount(p_base_cents bigint, p_rate_bp integer, p_flat_cents bigint, p_multiplier numeric)
returns bigint
language sql immutable set search_path = '' as $$
  select public.round_half_down((p_flat_cents * 10000 + p_base_cents::numeric * p_rate_bp) * p_multiplier / 10000)
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

-- What else moves when referral r (as it was) starts (p_counted) or stops counting: the
-- referrer's streak, tier and drop when it starts. Later migrations replace this to add what
-- they move, rather than wrapping sync_referral_counted again.
create function public.referral_count_moved(r public.referrals, p_counted boolean) returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_counted then perform public.advance_gamification(r); end if;
end $$;

-- Counting (the leaderboards migration's sync_referral_counted, renamed and wrapped) also
-- moves what referral_count_moved says, in the same transaction.
alter function public.sync_referral_counted(uuid) rename to sync_referral_counted_boards;
create function public.sync_referral_counted(p_referral_id uuid) returns boolean
language plpgsql security definer set search_path = '' as $$
declare
  r public.referrals;
  v boolean;
begin
  select * into r from public.referrals where id = p_referral_id;
  if r.id is null then return false; end if;
  v := public.sync_referral_counted_boards(p_referral_id);
  if v <> r.counted then perform public.referral_count_moved(r, v); end if;
  return v;
end $$;

-- Milestone points (the campaigns migration's grant_reward_redemption, renamed and wrapped)
-- are logged as credits in referral_rewards once, when granted.
alter function public.grant_reward_redemption(text, uuid) rename to grant_reward_redemption_ledger;
create function public.grant_reward_redemption(p_company_id text, p_redemption_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v jsonb := public.grant_reward_redemption_ledger(p_company_id, p_redemption_id);
begin
  if v->>'status' = 'granted' and v->>'reward_type' = 'points' and v->>'reward_id' is not null then
    insert into public.referral_rewards (company_id, user_id, reward_value, reason, source_id, metadata)
    values (p_company_id, v->>'user_id', (v->'result'->>'points')::bigint, 'milestone', v->>'id',
      jsonb_build_object('reward_id', v->>'reward_id', 'name', v->>'name'))
    on conflict do nothing;
  end if;
  return v;
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

-- ── Referrals per plan ──────────────────────────────────────────────────────

-- What referral r adds (p_sign 1) or takes back (−1) on its referrer's plan row.
create function public.apply_plan_stats(r public.referrals, p_sign integer) returns void
language plpgsql set search_path = '' as $$
begin
  if r.plan_id is null or r.status <> 'converted' then return; end if;
  insert into public.referral_plan_stats as s (company_id, user_id, plan_id, conversions, active_referrals)
  values (r.company_id, r.referrer_user_id, r.plan_id, p_sign, p_sign * (r.deactivated_at is null)::integer)
  on conflict (company_id, user_id, plan_id) do update set conversions = s.conversions + excluded.conversions,
    active_referrals = s.active_referrals + excluded.active_referrals;
end $$;

create function public.trg_referrals_plan_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then perform public.apply_plan_stats(old, -1); end if;
  if tg_op in ('UPDATE', 'INSERT') then perform public.apply_plan_stats(new, 1); end if;
  return null;
end $$;
create trigger referrals_plan_stats after insert or delete or update of status, deactivated_at, plan_id, referrer_user_id
  on public.referrals for each row execute function public.trg_referrals_plan_stats();

-- The plan rows recomputed from the referrals (the check and the repair).
create function public.analytics_expected_plan_stats(p_company_id text) returns setof public.referral_plan_stats
language sql stable set search_path = '' as $$
  select company_id, referrer_user_id, plan_id, count(*), count(*) filter (where deactivated_at is null)
  from public.referrals where company_id = p_company_id and status = 'converted' and plan_id is not null
  group by 1, 2, 3
$$;

-- check_analytics and rebuild_analytics (as the analytics migrations left them, renamed
-- and wrapped) also cover referral_plan_stats (rows at zero are as good as none).
alter function public.check_analytics(text) rename to check_analytics_gaps;
create function public.check_analytics(p_company_id text) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v jsonb := public.check_analytics_gaps(p_company_id);
  v_plans jsonb;
begin
  with e as (select * from public.analytics_expected_plan_stats(p_company_id)),
       k as (select * from public.referral_plan_stats where company_id = p_company_id and (conversions, active_referrals) <> (0, 0)),
       diffs as (
         select x.user_id || ' ' || x.plan_id as key, to_jsonb(x) as row, 'kept' as side from (select * from k except select * from e) x
         union all select x.user_id || ' ' || x.plan_id, to_jsonb(x), 'expected' from (select * from e except select * from k) x)
  select coalesce(jsonb_agg(jsonb_build_object('table', 'referral_plan_stats', 'key', key, 'side', side, 'row', row)), '[]')
  into v_plans from (select * from diffs limit 20) d;
  return jsonb_build_object('ok', (v->>'ok')::boolean and v_plans = '[]',
    'differences', (select coalesce(jsonb_agg(x), '[]') from (select x from jsonb_array_elements((v->'differences') || v_plans) x limit 20) y));
end $$;

alter function public.rebuild_analytics(text) rename to rebuild_analytics_gaps;
create function public.rebuild_analytics(p_company_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v jsonb := public.rebuild_analytics_gaps(p_company_id); -- takes lock_rollups
begin
  delete from public.referral_plan_stats where company_id = p_company_id;
  insert into public.referral_plan_stats select * from public.analytics_expected_plan_stats(p_company_id);
  return v;
end $$;

-- The creator's member page (the analytics migration's get_member_detail, renamed and
-- wrapped) gains their referrals per plan: plans: [{plan_id, conversions, active_referrals}]
-- (most conversions first, 20).
alter function public.get_member_detail(text, text) rename to get_member_detail_rollups;
create function public.get_member_detail(p_company_id text, p_user_id text) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  return public.get_member_detail_rollups(p_company_id, p_user_id) || jsonb_build_object('plans', coalesce((
    select jsonb_agg(jsonb_build_object('plan_id', s.plan_id, 'conversions', s.conversions, 'active_referrals', s.active_referrals)
                     order by s.conversions desc, s.plan_id)
    from (select * from public.referral_plan_stats where company_id = p_company_id and user_id = p_user_id and conversions > 0
          order by conversions desc, plan_id limit 20) s), '[]'));
end $$;

-- ── Settings ────────────────────────────────────────────────────────────────

-- update_program_settings gains the gamification keys: streaks_enabled, streak_window_days
-- (1–90), streak_step_pct, streak_cap_pct (0–100), tiers_enabled, tiers_by ('conversions' |
-- 'commissions'), tiers (a list, see tiers_error), drop_chance_pct (0–100), drop_points
-- (1–1 000 000). Errors: RL400 with tiers_error's words (the list as it will be, against
-- what it will count); other invalid values a check violation (23514). Nothing is written on
-- error. A changed list or count re-names every member's tier from their bests.
alter function public.update_program_settings(text, jsonb) rename to update_program_settings_fraud;
create function public.update_program_settings(p_company_id text, p_settings jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.programs;
  v_old public.programs := public.ensure_program(p_company_id);
  v_err text;
begin
  if p_settings ? 'tiers' or p_settings ? 'tiers_by' then
    v_err := public.tiers_error(coalesce(p_settings->'tiers', v_old.tiers), coalesce(p_settings->>'tiers_by', v_old.tiers_by));
    if v_err is not null then raise exception '%', v_err using errcode = 'RL400'; end if;
  end if;
  perform public.update_program_settings_fraud(p_company_id, p_settings);
  update public.programs p set
    streaks_enabled = coalesce((p_settings->>'streaks_enabled')::boolean, p.streaks_enabled),
    streak_window_days = coalesce((p_settings->>'streak_window_days')::integer, p.streak_window_days),
    streak_step_pct = coalesce((p_settings->>'streak_step_pct')::integer, p.streak_step_pct),
    streak_cap_pct = coalesce((p_settings->>'streak_cap_pct')::integer, p.streak_cap_pct),
    tiers_enabled = coalesce((p_settings->>'tiers_enabled')::boolean, p.tiers_enabled),
    tiers_by = coalesce(p_settings->>'tiers_by', p.tiers_by),
    tiers = coalesce((select jsonb_agg(t || jsonb_build_object('name', trim(t->>'name'))) from jsonb_array_elements(p_settings->'tiers') t),
                     p.tiers),
    drop_chance_pct = coalesce((p_settings->>'drop_chance_pct')::integer, p.drop_chance_pct),
    drop_points = coalesce((p_settings->>'drop_points')::integer, p.drop_points)
  where p.company_id = p_company_id
  returning * into v;
  if (v.tiers, v.tiers_by) is distinct from (v_old.tiers, v_old.tiers_by) then
    update public.referral_tiers t set current_tier = public.tier_for(v, public.tier_value(v, t))->>'name', updated_at = now()
    where t.company_id = p_company_id and t.current_tier is distinct from public.tier_for(v, public.tier_value(v, t))->>'name';
  end if;
  return to_jsonb(v);
end $$;

-- ── Reads ───────────────────────────────────────────────────────────────────

-- What the member Home shows: {conversions (counted, all-time), tiers_enabled, tiers_by,
-- currency, tier: {name, min_…, bonus_pct, plan_id?, reached_at}, next_tier: null | {name,
-- min_… (conversions or commission cents, as tiers_by),
-- bonus_pct, needs}, streaks_enabled, streak_window_days, max_multiplier, streak: null | {active, current_streak, longest_streak,
-- multiplier, next_multiplier, expires_at, days_left (whole local days, 0 on the last)},
-- drop_chance_pct, drop_points, drops: [{reward_value, reason, created_at}] (latest 5)}.
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
                             order by created_at desc limit 5) x), '[]'));
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

-- ── The payment's transaction (DESIGN.md "The conversion pipeline") ─────────

-- payment.succeeded, one transaction, in order (the campaigns migration's version, with the
-- count moved before the commissions so the conversion's streak is the one it pays with):
--   1. record the payment (idempotent on Whop's id) and its ledger row; a promo code Referly
--      granted that the payment used marks that reward claimed;
--   2. attribute it and convert a pending referral on its first payment; the conversion
--      joins the campaign active now (campaign_for_conversion) → referrals.campaign_id, and
--      records the plan bought (referrals.plan_id: the member's referrals per plan);
--   3. fraud: run_fraud_checks on conversion;
--   4. points (award_payment_points, with the campaign's bonus points), withheld while held;
--   5. counting (on conversion): milestones, campaign counters, boards, streak, tier, drop —
--      sync_referral_counted (held referrals don't count);
--   6. commissions up the chain, as before; level 1 adds the campaign's bonus_rate_bp on the
--      converting payment and the tier bonus (tier_bonus_bp) on every payment, capped at
--      100 %, and the converting payment's commission is multiplied by the streak it advanced
--      (streak_multiplier), level1_amount rounding once; with tiers by lifetime commissions,
--      each beneficiary's tier moves with what they earned (advance_tier).
create or replace function public.apply_payment_succeeded(p_company_id text, p_payment jsonb) returns text
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_payment_id text := p_payment->>'id';
  v_user_id text := p_payment->'user'->>'id';
  v_currency text := upper(p_payment->>'currency');
  v_product_id text := p_payment->'product'->>'id';
  v_signals jsonb := coalesce(p_payment->'referly_signals', '{}');
  v_total_cents bigint;
  v_tax_cents bigint;
  v_ref public.referrals;
  v_campaign public.campaigns;
  v_first boolean := false;
  v_held boolean;
  v_base bigint;
  v_beneficiary text;
  v_level integer := 1;
  v_max_level integer;
  v_rate integer;
  v_bonus integer;
  v_tier integer;
  v_multiplier numeric;
  v_amount bigint;
  v_commission_id uuid;
  v_created integer := 0;
begin
  if v_payment_id is null or v_user_id is null or coalesce(v_currency, '') !~ '^[A-Z]{3}$'
     or jsonb_typeof(p_payment->'total') is distinct from 'number' then
    raise exception 'payment needs id, user.id, currency and a numeric total' using errcode = 'RL400';
  end if;
  v_program := public.ensure_program(p_company_id);
  v_total_cents := public.to_minor_units((p_payment->>'total')::numeric, v_currency);
  v_tax_cents := coalesce(public.to_minor_units((p_payment->>'tax_amount')::numeric, v_currency), 0);
  perform public.upsert_user(p_company_id, v_user_id, p_payment->'user'->>'username', p_payment->'user'->>'name');

  -- 1. the payment
  insert into public.payments (company_id, payment_id, user_id, amount_cents, tax_cents, currency, product_id, plan_id, method_hash)
  values (p_company_id, v_payment_id, v_user_id, v_total_cents, v_tax_cents, v_currency, v_product_id, p_payment->'plan'->>'id',
    v_signals->>'method_hash')
  on conflict do nothing;
  if not found then return 'duplicate_payment'; end if;
  insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id)
  values (p_company_id, v_user_id, 'payment', v_total_cents, v_currency, 'payment', v_payment_id);
  perform public.mark_promo_code_used(p_company_id, v_user_id, p_payment->'promo_code'->>'id');

  -- 2. attribution, conversion, campaign
  v_ref := public.attribute_referral(p_company_id, v_user_id, p_payment->'metadata');
  if v_ref.id is null then return 'no_attribution'; end if;
  -- lock the referral: a renewal racing the first payment (or a fraud decision) waits
  select * into v_ref from public.referrals where id = v_ref.id for update;
  if v_ref.status = 'pending' and v_ref.expires_at < now() then
    update public.referrals set status = 'expired', updated_at = now() where id = v_ref.id;
    return 'referral_expired';
  end if;
  if v_ref.status in ('expired', 'cancelled') then return 'referral_' || v_ref.status; end if;
  update public.payments set referral_id = v_ref.id where company_id = p_company_id and payment_id = v_payment_id;
  if v_ref.status = 'pending' then
    v_campaign := public.campaign_for_conversion(p_company_id, v_product_id, now());
    update public.referrals set status = 'converted', converted_at = now(), campaign_id = v_campaign.id,
      plan_id = p_payment->'plan'->>'id', updated_at = now()
    where id = v_ref.id returning * into v_ref;
    update public.referral_clicks set converted = true where id = v_ref.click_id;
    v_first := true;
    -- the click that brought the referee in is where they were seen (for when they refer)
    perform public.record_sighting(p_company_id, v_user_id, 'own_click', k.ip_hash, k.ip_prefix_hash, k.device_hash)
    from public.referral_clicks k where k.id = v_ref.click_id;

    -- 3. fraud
    v_ref := public.run_fraud_checks(p_company_id, v_ref.id, v_payment_id, v_signals);
  end if;
  v_held := v_ref.fraud_status = 'held';

  -- 4. points
  if not v_held then perform public.award_payment_points(p_company_id, v_payment_id, v_first); end if;

  -- 5. counting (a renewal changes nothing counted)
  if v_first then perform public.sync_referral_counted(v_ref.id); end if;

  -- 6. commissions up the chain
  if not v_first and (v_program.recurring_months = 0 or now() > v_ref.converted_at + make_interval(months => v_program.recurring_months)) then
    return 'outside_recurring_window';
  end if;
  v_base := greatest(v_total_cents - v_tax_cents, 0);
  v_max_level := case when v_program.mlm_enabled then v_program.max_level else 1 end;
  v_beneficiary := v_ref.referrer_user_id;
  while v_beneficiary is not null and v_level <= v_max_level loop
    exit when v_level >= 2 and now() > v_ref.converted_at + make_interval(months => v_program.level2_months);
    v_bonus := 0;
    v_tier := 0;
    v_multiplier := 1;
    if v_level = 1 then
      v_rate := case when v_program.commission_type = 'flat' then 0
                     else coalesce((v_program.product_rates_bp->>v_product_id)::integer, v_program.commission_rate_bp) end;
      if v_first and v_campaign.id is not null then
        v_bonus := least(coalesce((v_campaign.rules->>'bonus_rate_bp')::integer, 0), 10000 - v_rate);
      end if;
      v_tier := least(public.tier_bonus_bp(v_program, v_beneficiary), 10000 - v_rate - v_bonus);
      if v_first and v_program.streaks_enabled then
        v_multiplier := coalesce((select bonus_multiplier from public.referral_streaks
                                  where company_id = p_company_id and user_id = v_beneficiary and last_referral_id = v_ref.id), 1);
      end if;
      v_rate := v_rate + v_bonus + v_tier;
      v_amount := public.level1_amount(v_base, v_rate,
        case when v_program.commission_type = 'flat' and v_first then v_program.flat_amount_cents else 0 end, v_multiplier);
    else
      v_rate := v_program.upper_level_rates_bp[v_level - 1];
      v_amount := public.round_half_down(v_base::numeric * v_rate / 10000);
    end if;
    if v_amount > 0 then
      insert into public.commissions (company_id, referral_id, payment_id, beneficiary_user_id, level,
        base_amount_cents, rate_bp, amount_cents, currency, status, available_at, campaign_id, campaign_bonus_bp,
        tier_bonus_bp, streak_multiplier)
      values (p_company_id, v_ref.id, v_payment_id, v_beneficiary, v_level, v_base, v_rate, v_amount, v_currency,
        case when v_held then 'on_hold' when v_program.hold_days = 0 then 'available' else 'pending' end,
        now() + make_interval(days => v_program.hold_days), case when v_bonus > 0 then v_campaign.id end, v_bonus,
        v_tier, v_multiplier)
      on conflict do nothing
      returning id into v_commission_id;
      if v_commission_id is not null then
        insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id)
        values (p_company_id, v_beneficiary, 'commission', v_amount, v_currency, 'commission', v_commission_id::text);
        v_created := v_created + 1;
      end if;
    end if;
    -- tiers by lifetime commissions move with what this payment earned
    if v_commission_id is not null and v_program.tiers_by = 'commissions' then
      perform public.advance_tier(v_program, v_beneficiary);
    end if;
    v_commission_id := null;
    v_level := v_level + 1;
    v_beneficiary := public.referrer_of(p_company_id, v_beneficiary);
  end loop;

  if v_created > 0 and v_held then return 'commission_held'; end if;
  return case when v_created > 0 then 'commission_created' else 'no_commission' end;
end $$;

-- The commissions list says how a level-1 commission was boosted (list_commissions as the
-- campaigns migration wraps it, plus tier_bonus_bp and streak_multiplier).
alter function public.list_commissions(text, jsonb) rename to list_commissions_campaigns;
create function public.list_commissions(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare v jsonb := public.list_commissions_campaigns(p_company_id, p_filter);
begin
  return jsonb_set(v, '{rows}', coalesce((
    select jsonb_agg(e.row || jsonb_build_object('tier_bonus_bp', c.tier_bonus_bp, 'streak_multiplier', c.streak_multiplier) order by e.n)
    from jsonb_array_elements(v->'rows') with ordinality e(row, n)
    join public.commissions c on c.company_id = p_company_id and c.id = (e.row->>'id')::uuid), '[]'));
end $$;

-- Backfill: members with counted referrals get their tier from their count (streaks and
-- drops start with the next conversion).
insert into public.referral_tiers (company_id, user_id, current_tier, best_conversions, best_commissions_cents, reached_at)
select g.company_id, g.user_id, public.tier_for(p, g.conversions)->>'name', g.conversions,
  coalesce((select greatest(m.earned_cents, 0) from public.member_money m
            where m.company_id = g.company_id and m.user_id = g.user_id and m.currency = p.currency), 0), now()
from public.reward_progress g join public.programs p on p.company_id = g.company_id
where g.conversions > 0;

-- ── Privileges: only the server (service role) reads and writes ─────────────
revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
