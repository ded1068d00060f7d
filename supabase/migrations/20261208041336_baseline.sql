-- Baseline: the schema as supabase/schemas declares it (00_core.sql, 10_money.sql, 20_points.sql, 30_analytics.sql, 40_fraud.sql, 50_campaigns.sql, 60_gamification.sql, 70_notifications.sql, 80_pipeline.sql, 90_privileges.sql),
-- written by `npm run db:diff -- baseline` with no migrations before it. Never edited once on main.

-- ════ supabase/schemas/00_core.sql ════

-- Core: the program and its members. Tables: programs (every setting of a program), users
-- (cached Whop names, the fraud allow-list, member choices), referral_codes, retired_codes,
-- referral_clicks, referrals, webhook_events. Functions: the money helpers, programs and
-- settings, codes, clicks, attribution and claims, list helpers. Order: the Supabase roles,
-- tables, indexes, functions; the triggers on these tables are in 30_analytics.sql.

-- Supabase has these roles; a plain Postgres (embedded, CI) gets them here so the
-- privileges (90_privileges.sql) mean the same thing everywhere.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then create role service_role nologin bypassrls; end if;
end $$;

-- ── Tables ──────────────────────────────────────────────────────────────────

create table public.programs (
  company_id text primary key check (company_id ~ '^biz_'),
  name text not null default 'Referral program',
  commission_rate_bp integer not null default 2000 check (commission_rate_bp between 0 and 10000),
  hold_days integer not null default 14 check (hold_days between 0 and 365),
  min_payout_cents bigint not null default 1000 check (min_payout_cents >= 0),
  attribution_window_days integer not null default 90 check (attribution_window_days between 1 and 3650),
  recurring_months integer not null default 12 check (recurring_months between 0 and 120),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  plan_id text check (plan_id is null or plan_id ~ '^plan_'),
  -- /r redirects here: only a full https URL with a host
  landing_url text constraint programs_landing_url_https check (
    landing_url is null or (length(landing_url) <= 2048
      and landing_url ~ '^https://[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+(:[0-9]{1,5})?([/?#][^[:space:]]*)?$')),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- ── Program settings ────────────────────────────────────────────────────────
  mlm_enabled boolean not null default false,
  max_level integer not null default 1 check (max_level between 1 and 5),
  -- rates of levels 2..5 in basis points (level 1 is commission_rate_bp): 5 %, 2 %, 1 %, 1 %
  upper_level_rates_bp integer[] not null default '{500,200,100,100}'
    check (array_length(upper_level_rates_bp, 1) = 4 and 0 <= all(upper_level_rates_bp) and 10000 >= all(upper_level_rates_bp)),
  level2_months integer not null default 6 check (level2_months between 0 and 120),
  commission_type text not null default 'percentage' check (commission_type in ('percentage', 'flat')),
  flat_amount_cents bigint not null default 0 check (flat_amount_cents >= 0),
  -- Whop product id → level-1 rate in basis points
  product_rates_bp jsonb not null default '{}' check (jsonb_typeof(product_rates_bp) = 'object'),
  payout_mode text not null default 'manual' check (payout_mode in ('manual', 'automatic')),
  payout_frequency text not null default 'weekly' check (payout_frequency in ('daily', 'weekly', 'monthly')),
  last_payout_batch_at timestamptz,
  ledger_account_id text check (ledger_account_id is null or ledger_account_id ~ '^[a-z]+_[A-Za-z0-9]+$'),
  points_welcome integer not null default 100 check (points_welcome >= 0),
  points_first_payment integer not null default 500 check (points_first_payment >= 0),
  points_recurring integer not null default 100 check (points_recurring >= 0),
  points_l2 integer not null default 50 check (points_l2 >= 0),
  points_recurring_months integer not null default 12 check (points_recurring_months between 0 and 120),
  points_expiry_days integer check (points_expiry_days is null or points_expiry_days > 0),
  timezone text not null default 'UTC',
  -- the setup checklist's last step: the creator confirmed the commission and hold period
  terms_confirmed_at timestamptz,
  fraud_mode text not null default 'hold' check (fraud_mode in ('off', 'flag', 'hold')),
  fraud_hold_score integer not null default 50 check (fraud_hold_score between 1 and 100),
  fraud_velocity_hour integer not null default 5 check (fraud_velocity_hour between 1 and 100000),
  fraud_velocity_day integer not null default 20 check (fraud_velocity_day between 1 and 100000),
  fraud_min_seconds integer not null default 10 check (fraud_min_seconds between 0 and 86400),
  -- per-signal weights overriding fraud_default_weights()
  fraud_weights jsonb not null default '{}', -- checked by fraud_weights_valid (40_fraud.sql)
  streaks_enabled boolean not null default false,
  streak_window_days integer not null default 7 check (streak_window_days between 1 and 90),
  streak_step_pct integer not null default 10 check (streak_step_pct between 0 and 100),
  streak_cap_pct integer not null default 50 check (streak_cap_pct between 0 and 100),
  tiers_enabled boolean not null default false,
  -- what tiers count: counted conversions, or lifetime commissions (program currency)
  tiers_by text not null default 'conversions' check (tiers_by in ('conversions', 'commissions')),
  tiers jsonb not null default '[{"name": "Bronze", "min_conversions": 0, "bonus_pct": 0},
    {"name": "Silver", "min_conversions": 5, "bonus_pct": 2}, {"name": "Gold", "min_conversions": 20, "bonus_pct": 5}]',
  drop_chance_pct integer not null default 0 check (drop_chance_pct between 0 and 100),
  drop_points integer not null default 100 check (drop_points between 1 and 1000000),
  experience_id text check (experience_id ~ '^exp_[A-Za-z0-9]{1,40}$'),
  -- kinds the creator turned off
  notifications_off text[] not null default '{}' check (notifications_off <@ array['commission_earned', 'tier_reached',
    'milestone_reached', 'challenge_completed', 'payout_sent'])
);

alter table public.programs enable row level security;

create table public.users (
  company_id text not null,
  user_id text not null check (user_id ~ '^user_'),
  username text,
  name text,
  avatar_url text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- the key carries the display names, so a name beside an id is read from the index alone
  primary key (company_id, user_id) include (username, name),
  -- The allow-list: a trusted member's referrals are checked but never held.
  email_normalized text check (email_normalized is null or length(email_normalized) <= 320),
  fraud_trusted_at timestamptz,
  fraud_trusted_by text,
  leaderboard_anonymous boolean not null default false,
  notifications_muted boolean not null default false
);

alter table public.users enable row level security;

create table public.referral_codes (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  user_id text not null,
  code text not null check (code ~ '^[A-Za-z0-9_-]{3,32}$'),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  unique (company_id, user_id),
  foreign key (company_id, user_id) references public.users(company_id, user_id)
);

alter table public.referral_codes enable row level security;

-- A code a member changed away from: it keeps pointing at their code row (links already
-- shared keep attributing to them) and nobody else can take it. Codes and retired codes
-- share one namespace, unique across companies ignoring case (/r/CODE carries no company).
create table public.retired_codes (
  code text not null check (code ~ '^[A-Za-z0-9_-]{3,32}$'),
  code_id uuid not null references public.referral_codes(id),
  company_id text not null,
  retired_at timestamptz not null default now()
);

alter table public.retired_codes enable row level security;

create table public.referral_clicks (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  code_id uuid not null references public.referral_codes(id),
  visitor_hash text not null,
  user_agent text,
  referrer_url text,
  country text,
  is_bot boolean not null default false,
  -- false for bots and for repeat clicks of one visitor within an hour: stored, not counted
  counted boolean not null,
  converted boolean not null default false,
  created_at timestamptz not null default now(),
  ip_hash text check (ip_hash ~ '^[0-9a-f]{64}$'),
  ip_prefix_hash text check (ip_prefix_hash ~ '^[0-9a-f]{64}$'),
  device_hash text check (device_hash ~ '^[0-9a-f]{64}$'),
  -- The Whop checkout a counted click opened (/r creates one per counted click only, and a
  -- repeat click of the same visitor within the hour reuses it).
  checkout_url text check (checkout_url ~ '^https?://' and length(checkout_url) <= 2048)
);

alter table public.referral_clicks enable row level security;

create table public.referrals (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  referrer_user_id text not null,
  referee_user_id text not null,
  code_id uuid not null references public.referral_codes(id),
  click_id uuid references public.referral_clicks(id),
  source text not null check (source in ('link', 'claim')),
  status text not null default 'pending' check (status in ('pending', 'converted', 'expired', 'cancelled')),
  signed_up_at timestamptz,
  converted_at timestamptz,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (referrer_user_id <> referee_user_id),
  unique (company_id, referee_user_id),
  -- A converted referral is active until the referee's membership is deactivated
  -- (membership.deactivated sets this); a later membership.activated clears it.
  deactivated_at timestamptz,
  fraud_score integer not null default 0 check (fraud_score between 0 and 100),
  fraud_status text not null default 'clear'
    check (fraud_status in ('clear', 'flagged', 'held', 'approved', 'rejected')),
  fraud_decided_at timestamptz,
  fraud_decided_by text,
  fraud_reason text,
  campaign_id uuid, -- the campaign it converted in (references campaigns, 50_campaigns.sql)
  counted boolean not null default false,
  counted_at timestamptz,
  -- the Whop plan the converting payment bought (referral_plan_stats counts per plan)
  plan_id text
);

alter table public.referrals enable row level security;

create table public.webhook_events (
  event_id text primary key,
  company_id text,
  type text not null,
  outcome text,
  payload jsonb not null,
  received_at timestamptz not null default now()
);

alter table public.webhook_events enable row level security;

-- ── Indexes ─────────────────────────────────────────────────────────────────

-- /r/CODE carries no company, so codes are unique across all companies, case-insensitively.
create unique index referral_codes_code_key on public.referral_codes (lower(code));

create index referral_clicks_code_idx on public.referral_clicks (company_id, code_id, created_at);

create index referral_clicks_visitor_idx on public.referral_clicks (code_id, visitor_hash, created_at);

create index referrals_company_created_idx on public.referrals (company_id, created_at, id);

create index referrals_company_status_created_idx on public.referrals (company_id, status, created_at, id);

create index referrals_company_converted_idx on public.referrals (company_id, converted_at, id) where converted_at is not null;

create index users_company_username_idx on public.users (company_id, lower(username) text_pattern_ops);

create index users_trusted_idx on public.users (company_id) where fraud_trusted_at is not null;

-- the review queue (open items by score) and any decided status
create index referrals_fraud_open_idx on public.referrals (company_id, fraud_score desc, id desc)
  where fraud_status in ('flagged', 'held');

create index referrals_fraud_status_idx on public.referrals (company_id, fraud_status, fraud_score desc, id desc)
  where fraud_status <> 'clear';

-- a referrer's history in the queue
create index referrals_referrer_fraud_idx on public.referrals (company_id, referrer_user_id, fraud_status)
  where fraud_status <> 'clear';

-- velocity: a referrer's conversions in the last hour / day
create index referrals_referrer_converted_idx on public.referrals (company_id, referrer_user_id, converted_at)
  where converted_at is not null;

create unique index retired_codes_code_key on public.retired_codes (lower(code));

create index retired_codes_code_id_idx on public.retired_codes (code_id);

create index referrals_campaign_idx on public.referrals (campaign_id, referrer_user_id, counted_at) where counted;

-- a referrer's counted referrals by when they were counted (reached_at after an uncount)
create index referrals_referrer_counted_idx on public.referrals (company_id, referrer_user_id, counted_at) where counted;

-- a referrer's referrals newest first, with the columns the Home shows: an index-only scan
create index referrals_referrer_recent_idx on public.referrals (company_id, referrer_user_id, created_at desc)
  include (referee_user_id, status, deactivated_at, source, converted_at);

-- ── Functions ───────────────────────────────────────────────────────────────

-- ISO 4217 minor-unit exponent of a currency code (any case). Default 2.
create function public.currency_minor_units(p_currency text) returns integer
language sql immutable strict set search_path = '' as $$
  select case upper(p_currency)
    when 'BIF' then 0 when 'CLP' then 0 when 'DJF' then 0 when 'GNF' then 0 when 'ISK' then 0
    when 'JPY' then 0 when 'KMF' then 0 when 'KRW' then 0 when 'PYG' then 0 when 'RWF' then 0
    when 'UGX' then 0 when 'VND' then 0 when 'VUV' then 0 when 'XAF' then 0 when 'XOF' then 0
    when 'XPF' then 0
    when 'BHD' then 3 when 'IQD' then 3 when 'JOD' then 3 when 'KWD' then 3 when 'LYD' then 3
    when 'OMR' then 3 when 'TND' then 3
    else 2 end
$$;

-- The one rounding rule for money (docs/architecture.md "Data rules"): half down to the
-- minor unit, on the magnitude, so +2.5 → 2 and -2.5 → -2. Input: an exact numeric amount
-- of minor units; output: bigint minor units.
create function public.round_half_down(p_value numeric) returns bigint
language sql immutable strict set search_path = '' as $$
  select (sign(p_value) * ceil(abs(p_value) - 0.5))::bigint
$$;

-- Whop sends decimal currency units (49.99); convert exactly (numeric, never float)
-- to integer minor units of that currency.
create function public.to_minor_units(p_amount numeric, p_currency text) returns bigint
language sql immutable strict set search_path = '' as $$
  select public.round_half_down(p_amount * (10::numeric ^ public.currency_minor_units(p_currency)))
$$;

-- The company's program, created with the defaults on first sight
-- (20% commission, 14-day hold, $10 minimum payout, 90-day window, USD).
create function public.ensure_program(p_company_id text) returns public.programs
language plpgsql security definer set search_path = '' as $$
declare v public.programs;
begin
  if p_company_id is null or p_company_id !~ '^biz_' then
    raise exception 'company id must look like biz_…' using errcode = 'RL400';
  end if;
  insert into public.programs (company_id) values (p_company_id) on conflict do nothing;
  select * into v from public.programs where company_id = p_company_id;
  return v;
end $$;

-- Program settings as jsonb (creating the program with defaults if new).
create function public.get_program(p_company_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
begin
  return to_jsonb(public.ensure_program(p_company_id));
end $$;

-- True when p_ancestor appears in p_user's referrer chain (p_user's referrer, theirs, …).
-- Used to keep the chain free of loops.
create function public.is_ancestor(p_company_id text, p_ancestor text, p_user text) returns boolean
language sql stable set search_path = '' as $$
  with recursive chain(user_id, depth) as (
    select r.referrer_user_id, 1 from public.referrals r
    where r.company_id = p_company_id and r.referee_user_id = p_user and r.status <> 'cancelled'
    union all
    select r.referrer_user_id, c.depth + 1 from public.referrals r
    join chain c on r.referee_user_id = c.user_id
    where r.company_id = p_company_id and r.status <> 'cancelled' and c.depth < 50
  )
  select exists (select 1 from chain where user_id = p_ancestor)
$$;

-- The referrer of p_user in this company (the chain's next link), or null.
create function public.referrer_of(p_company_id text, p_user_id text) returns text
language sql stable set search_path = '' as $$
  select referrer_user_id from public.referrals
  where company_id = p_company_id and referee_user_id = p_user_id and status in ('pending', 'converted')
$$;

-- Job: pending referrals past their attribution window → expired. Returns the count.
create function public.expire_referrals() returns integer
language plpgsql security definer set search_path = '' as $$
declare v integer;
begin
  update public.referrals set status = 'expired', updated_at = now() where status = 'pending' and expires_at < now();
  get diagnostics v = row_count;
  return v;
end $$;

-- The local day of p_ts in the program's time zone (UTC without a program); every daily
-- rollup buckets by it.
create function public.local_day(p_company_id text, p_ts timestamptz) returns date
language sql stable set search_path = '' as $$
  select (p_ts at time zone coalesce((select timezone from public.programs where company_id = p_company_id), 'UTC'))::date
$$;

-- The program currency of a company (USD before the program exists).
create function public.program_currency(p_company_id text) returns text
language sql stable set search_path = '' as $$
  select coalesce((select currency from public.programs where company_id = p_company_id), 'USD')
$$;

-- The program's time zone (an IANA name Postgres knows, e.g. Europe/Paris). Days are
-- re-bucketed at once: the rollups are rebuilt in this transaction. Errors: RL400
-- unknown zone. Returns {timezone}.
create function public.set_program_timezone(p_company_id text, p_timezone text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v_old text;
begin
  if p_timezone is null or not exists (select 1 from pg_catalog.pg_timezone_names where name = p_timezone) then
    raise exception 'Unknown time zone "%"', p_timezone using errcode = 'RL400';
  end if;
  v_old := (public.ensure_program(p_company_id)).timezone;
  if v_old is distinct from p_timezone then
    update public.programs set timezone = p_timezone, updated_at = now() where company_id = p_company_id;
    perform public.rebuild_analytics(p_company_id);
  end if;
  return jsonb_build_object('timezone', p_timezone);
end $$;

-- The setup checklist's "review the commission and hold period" step: the creator saves
-- them (update_program_settings) and confirms. Returns the program.
create function public.confirm_program_terms(p_company_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.programs;
begin
  perform public.ensure_program(p_company_id);
  update public.programs set terms_confirmed_at = coalesce(terms_confirmed_at, now()), updated_at = now()
  where company_id = p_company_id returning * into v;
  return to_jsonb(v);
end $$;

-- Creator switches a member's code off or on (referral_codes.is_active). An inactive code's
-- link shows the friendly page, records no click and attributes nothing (record_click,
-- attribute_referral and claim_referral read only active codes). Errors: RL404 no code.
-- Returns {code, is_active}.
create function public.set_code_active(p_company_id text, p_user_id text, p_active boolean) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.referral_codes;
begin
  update public.referral_codes set is_active = p_active where company_id = p_company_id and user_id = p_user_id
  returning * into v;
  if v.id is null then raise exception 'This member has no referral code' using errcode = 'RL404'; end if;
  return jsonb_build_object('code', v.code, 'is_active', v.is_active);
end $$;

-- Decode a keyset cursor "<value>|<id>" (null → first page).
create function public.cursor_part(p_cursor text, p_part integer) returns text
language sql immutable set search_path = '' as $$
  select case when p_cursor is null or position('|' in p_cursor) = 0 then null
    when p_part = 1 then left(p_cursor, length(p_cursor) - position('|' in reverse(p_cursor)))
    else right(p_cursor, position('|' in reverse(p_cursor)) - 1) end
$$;

-- The user id of a member given as a user id or a username (case-insensitive), or null.
create function public.resolve_member(p_company_id text, p_member text) returns text
language sql stable set search_path = '' as $$
  select user_id from public.users
  where company_id = p_company_id and (user_id = trim(p_member) or lower(username) = lower(trim(p_member)))
  order by user_id = trim(p_member) desc limit 1
$$;

-- {rows: the first p_limit of p_rows (each without its cursor), next: the cursor of the
-- last row shown when there are more}.
create function public.page_of(p_rows jsonb, p_limit integer) returns jsonb
language sql immutable set search_path = '' as $$
  select jsonb_build_object(
    'rows', coalesce((select jsonb_agg(e - 'cursor' order by n) from jsonb_array_elements(p_rows) with ordinality a(e, n) where n <= p_limit), '[]'),
    'next', case when jsonb_array_length(p_rows) > p_limit then p_rows->(p_limit - 1)->>'cursor' end)
$$;

-- Cache a Whop user's display fields (never used for identity). Nothing is written when
-- nothing changed (ON CONFLICT DO UPDATE would lock the row even when its WHERE is false,
-- making every member view a write), and a null field (no name on Whop) keeps the stored
-- value. Callers ensure the program first.
create function public.upsert_user(p_company_id text, p_user_id text, p_username text, p_name text)
returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_user_id is null or p_user_id !~ '^user_' then
    raise exception 'user id must look like user_…' using errcode = 'RL400';
  end if;
  if exists (select 1 from public.users where company_id = p_company_id and user_id = p_user_id
             and username is not distinct from coalesce(p_username, username)
             and name is not distinct from coalesce(p_name, name)) then
    return;
  end if;
  insert into public.users (company_id, user_id, username, name)
  values (p_company_id, p_user_id, p_username, p_name)
  on conflict (company_id, user_id) do update
    set username = coalesce(excluded.username, public.users.username),
        name = coalesce(excluded.name, public.users.name),
        updated_at = now()
    where coalesce(excluded.username, public.users.username) is distinct from public.users.username
       or coalesce(excluded.name, public.users.name) is distinct from public.users.name;
end $$;

-- The code row a code (current or retired, any case) belongs to, active or not; null if none.
create function public.find_code(p_code text) returns public.referral_codes
language sql stable set search_path = '' as $$
  select c.* from public.referral_codes c
  where c.id = coalesce((select id from public.referral_codes where lower(code) = lower(trim(p_code))),
                        (select code_id from public.retired_codes where lower(code) = lower(trim(p_code))))
$$;

-- Change a member's code to a free vanity code (3–32 of A–Z a–z 0–9 _ -). The old code is
-- retired to them; taking back one of their own retired codes is allowed. Errors: RL400
-- bad format, RL409 taken (by anyone else, current or retired, any case), RL404 no code
-- yet. Returns {code}.
create function public.set_referral_code(p_company_id text, p_user_id text, p_code text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_mine public.referral_codes;
  v_owner public.referral_codes;
begin
  if p_code is null or p_code !~ '^[A-Za-z0-9_-]{3,32}$' then
    raise exception 'A code is 3 to 32 letters, digits, - or _' using errcode = 'RL400';
  end if;
  select * into v_mine from public.referral_codes where company_id = p_company_id and user_id = p_user_id for update;
  if v_mine.id is null then raise exception 'You have no referral code yet' using errcode = 'RL404'; end if;
  -- one code change at a time across members, so two can't claim the same free code
  perform pg_advisory_xact_lock(hashtextextended('code:' || lower(p_code), 0));
  v_owner := public.find_code(p_code);
  if v_owner.id is not null and v_owner.id <> v_mine.id then
    raise exception 'The code % is taken', p_code using errcode = 'RL409';
  end if;
  if v_mine.code = p_code then return jsonb_build_object('code', p_code); end if;
  delete from public.retired_codes where code_id = v_mine.id and lower(code) = lower(p_code);
  if lower(v_mine.code) <> lower(p_code) then
    insert into public.retired_codes (code, code_id, company_id) values (v_mine.code, v_mine.id, p_company_id);
  end if;
  update public.referral_codes set code = p_code where id = v_mine.id;
  return jsonb_build_object('code', p_code);
exception when unique_violation then
  raise exception 'The code % is taken', p_code using errcode = 'RL409';
end $$;

-- The member's referral code, made on first call: up to 8
-- letters of the username plus 4 unambiguous characters, never a code that is taken or
-- retired. Returns {code}.
create function public.get_or_create_code(p_company_id text, p_user_id text, p_username text, p_name text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_code text;
  v_base text;
  v_alphabet constant text := 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  v_try integer := 0;
begin
  perform public.ensure_program(p_company_id);
  perform public.upsert_user(p_company_id, p_user_id, p_username, p_name);
  select code into v_code from public.referral_codes where company_id = p_company_id and user_id = p_user_id;
  if v_code is not null then return jsonb_build_object('code', v_code); end if;
  v_base := left(upper(regexp_replace(coalesce(p_username, ''), '[^A-Za-z0-9]', '', 'g')), 8);
  if length(v_base) < 3 then v_base := 'REF'; end if;
  loop
    v_try := v_try + 1;
    if v_try > 20 then raise exception 'could not allocate a referral code' using errcode = 'RL409'; end if;
    v_code := v_base || (select string_agg(substr(v_alphabet, 1 + floor(random() * 32)::integer, 1), '')
                         from generate_series(1, case when v_try > 5 then 6 else 4 end));
    continue when exists (select 1 from public.retired_codes where lower(code) = lower(v_code));
    insert into public.referral_codes (company_id, user_id, code) values (p_company_id, p_user_id, v_code)
    on conflict do nothing;
    -- either ours went in, or a concurrent first visit made one: return whichever exists
    select code into v_code from public.referral_codes where company_id = p_company_id and user_id = p_user_id;
    if v_code is not null then return jsonb_build_object('code', v_code); end if;
  end loop;
end $$;

-- A visit to /r/CODE. An unknown or inactive code, or an inactive program → {found: false},
-- nothing recorded. Else a click is stored, counted unless a bot or a repeat of the same
-- visitor within the hour (serialised per code and visitor). Returns {found, click_id,
-- counted, company_id, code, plan_id, landing_url, first_click_id (the visitor's counted
-- click of the hour; null for bots), checkout_url (the checkout it opened, to reuse)}.
create function public.record_click(p_code text, p_visitor_hash text, p_user_agent text,
  p_referrer_url text, p_country text, p_is_bot boolean,
  p_ip_hash text default null, p_ip_prefix_hash text default null, p_device_hash text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_code public.referral_codes := public.find_code(p_code);
  v_program public.programs;
  v_first public.referral_clicks;
  v_click_id uuid;
begin
  select * into v_program from public.programs where company_id = v_code.company_id;
  if v_code.id is null or not v_code.is_active or not v_program.is_active then return jsonb_build_object('found', false); end if;
  perform pg_advisory_xact_lock(hashtextextended(v_code.id::text || p_visitor_hash, 0));
  select * into v_first from public.referral_clicks
  where code_id = v_code.id and visitor_hash = p_visitor_hash and counted and created_at > now() - interval '1 hour'
  order by created_at desc limit 1;
  insert into public.referral_clicks (company_id, code_id, visitor_hash, user_agent, referrer_url, country, is_bot, counted,
    ip_hash, ip_prefix_hash, device_hash)
  values (v_code.company_id, v_code.id, p_visitor_hash, left(p_user_agent, 512), left(p_referrer_url, 2048),
          left(p_country, 2), p_is_bot, not p_is_bot and v_first.id is null, p_ip_hash, p_ip_prefix_hash, p_device_hash)
  returning id into v_click_id;
  return jsonb_build_object('found', true, 'click_id', v_click_id, 'counted', not p_is_bot and v_first.id is null,
    'company_id', v_code.company_id, 'code', v_code.code,
    'plan_id', v_program.plan_id, 'landing_url', v_program.landing_url,
    'first_click_id', case when p_is_bot then null else coalesce(v_first.id, v_click_id) end,
    'checkout_url', v_first.checkout_url);
end $$;

-- Remember the checkout a counted click opened (once; later calls change nothing).
create function public.set_click_checkout(p_click_id uuid, p_checkout_url text) returns void
language sql security definer set search_path = '' as $$
  update public.referral_clicks set checkout_url = p_checkout_url where id = p_click_id and counted and checkout_url is null
$$;

-- Attribution for a purchase or signup (metadata.referral_code may be a retired code,
-- which counts for its owner). An existing referral of this user in
-- this company wins; else metadata.referral_code, else metadata.click_id. Codes and clicks
-- of other companies, inactive codes, self-referrals and loops are ignored. Returns the
-- referral, or null.
create function public.attribute_referral(p_company_id text, p_user_id text, p_metadata jsonb)
returns public.referrals
language plpgsql security definer set search_path = '' as $$
declare
  v_ref public.referrals;
  v_code public.referral_codes;
  v_click_id uuid;
  v_window integer;
begin
  -- a claim by this member waits for this payment (claim_referral takes the same lock)
  perform pg_advisory_xact_lock(hashtextextended('member:' || p_company_id || ':' || p_user_id, 0));
  select * into v_ref from public.referrals where company_id = p_company_id and referee_user_id = p_user_id;
  if v_ref.id is not null then return v_ref; end if;
  if jsonb_typeof(p_metadata) is distinct from 'object' then return null; end if;

  if p_metadata->>'referral_code' is not null then
    v_code := public.find_code(p_metadata->>'referral_code');
    if v_code.company_id is distinct from p_company_id or not v_code.is_active then v_code := null; end if;
  end if;
  if (p_metadata->>'click_id') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    select k.id into v_click_id from public.referral_clicks k
    where k.id = (p_metadata->>'click_id')::uuid and k.company_id = p_company_id
      and (v_code.id is null or k.code_id = v_code.id);
    if v_code.id is null and v_click_id is not null then
      select c.* into v_code from public.referral_codes c
      join public.referral_clicks k on k.code_id = c.id where k.id = v_click_id and c.is_active;
    end if;
  end if;
  if v_code.id is null or v_code.user_id = p_user_id
     or public.is_ancestor(p_company_id, p_user_id, v_code.user_id) then
    return null;
  end if;

  select attribution_window_days into v_window from public.programs where company_id = p_company_id;
  insert into public.referrals (company_id, referrer_user_id, referee_user_id, code_id, click_id, source, expires_at)
  values (p_company_id, v_code.user_id, p_user_id, v_code.id, v_click_id, 'link',
          now() + make_interval(days => v_window))
  on conflict (company_id, referee_user_id) do nothing;
  select * into v_ref from public.referrals where company_id = p_company_id and referee_user_id = p_user_id;
  return v_ref;
end $$;

-- "Who invited you?": a member with no referrer and no payment yet in
-- this company enters a code (a retired one counts for its owner). A member who has already
-- paid can't add a referrer afterwards: every later renewal would pay the code's owner
-- (cash-back through an accomplice), so the claim is refused — commissions only ever come
-- from payments made after the referral existed.
-- Errors: RL404 unknown or inactive code in this company, RL400 own code or a loop,
-- RL409 already referred or already paid. Returns the referral as jsonb.
create function public.claim_referral(p_company_id text, p_user_id text, p_code text, p_username text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_code public.referral_codes;
  v_program public.programs;
  v_ref public.referrals;
begin
  perform public.ensure_program(p_company_id);
  perform public.upsert_user(p_company_id, p_user_id, p_username, null);
  select * into v_program from public.programs where company_id = p_company_id;
  v_code := public.find_code(p_code);
  if v_code.id is null or v_code.company_id <> p_company_id or not v_code.is_active then
    raise exception 'No referral code "%" in this community', trim(p_code) using errcode = 'RL404';
  end if;
  if v_code.user_id = p_user_id then
    raise exception 'You can''t use your own referral code' using errcode = 'RL400';
  end if;
  if exists (select 1 from public.referrals where company_id = p_company_id and referee_user_id = p_user_id) then
    raise exception 'You already have a referrer in this community' using errcode = 'RL409';
  end if;
  -- serialise with this member's payments (attribute_referral takes the same lock)
  perform pg_advisory_xact_lock(hashtextextended('member:' || p_company_id || ':' || p_user_id, 0));
  if exists (select 1 from public.payments where company_id = p_company_id and user_id = p_user_id) then
    raise exception 'You''ve already paid in this community, so a referrer can''t be added now' using errcode = 'RL409';
  end if;
  if public.is_ancestor(p_company_id, p_user_id, v_code.user_id) then
    raise exception 'That member joined through you, so they can''t be your referrer' using errcode = 'RL400';
  end if;
  insert into public.referrals (company_id, referrer_user_id, referee_user_id, code_id, source, expires_at)
  values (p_company_id, v_code.user_id, p_user_id, v_code.id, 'claim',
          now() + make_interval(days => v_program.attribution_window_days))
  on conflict (company_id, referee_user_id) do nothing
  returning * into v_ref;
  if v_ref.id is null then
    raise exception 'You already have a referrer in this community' using errcode = 'RL409';
  end if;
  return to_jsonb(v_ref);
end $$;

-- Save program settings in one UPDATE; every key is optional and a missing key keeps its value.
-- Money: name, commission_rate_bp, hold_days, min_payout_cents, attribution_window_days,
-- recurring_months, plan_id, landing_url, mlm_enabled, max_level, upper_level_rates_bp
-- (4 integers), level2_months, commission_type, flat_amount_cents, product_rates_bp,
-- payout_mode, payout_frequency, ledger_account_id. Points: points_welcome,
-- points_first_payment, points_recurring, points_l2, points_recurring_months,
-- points_expiry_days (null = off). Fraud: fraud_mode (off | flag | hold), fraud_hold_score
-- (1–100), fraud_velocity_hour, fraud_velocity_day (conversions), fraud_min_seconds (click to
-- payment), fraud_weights ({signal: 0–100}, merged over the current overrides). Gamification:
-- streaks_enabled, streak_window_days (1–90), streak_step_pct, streak_cap_pct (0–100),
-- tiers_enabled, tiers_by ('conversions' | 'commissions'), tiers (a list, see tiers_error),
-- drop_chance_pct (0–100), drop_points (1–1 000 000). Notifications: notifications_off (a
-- list of kinds).
-- Errors: RL400 with tiers_error's words (the list as it will be, against what it will
-- count); any other invalid value a check violation (23514). Nothing is written on error.
-- A changed tiers list or count re-names every member's tier from their bests.
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
  update public.programs p set
    name = coalesce(p_settings->>'name', p.name),
    commission_rate_bp = coalesce((p_settings->>'commission_rate_bp')::integer, p.commission_rate_bp),
    hold_days = coalesce((p_settings->>'hold_days')::integer, p.hold_days),
    min_payout_cents = coalesce((p_settings->>'min_payout_cents')::bigint, p.min_payout_cents),
    attribution_window_days = coalesce((p_settings->>'attribution_window_days')::integer, p.attribution_window_days),
    recurring_months = coalesce((p_settings->>'recurring_months')::integer, p.recurring_months),
    plan_id = case when p_settings ? 'plan_id' then nullif(p_settings->>'plan_id', '') else p.plan_id end,
    landing_url = case when p_settings ? 'landing_url' then nullif(p_settings->>'landing_url', '') else p.landing_url end,
    mlm_enabled = coalesce((p_settings->>'mlm_enabled')::boolean, p.mlm_enabled),
    max_level = coalesce((p_settings->>'max_level')::integer, p.max_level),
    upper_level_rates_bp = coalesce((select array_agg(e::integer) from jsonb_array_elements_text(p_settings->'upper_level_rates_bp') e),
                                    p.upper_level_rates_bp),
    level2_months = coalesce((p_settings->>'level2_months')::integer, p.level2_months),
    commission_type = coalesce(p_settings->>'commission_type', p.commission_type),
    flat_amount_cents = coalesce((p_settings->>'flat_amount_cents')::bigint, p.flat_amount_cents),
    product_rates_bp = coalesce(p_settings->'product_rates_bp', p.product_rates_bp),
    payout_mode = coalesce(p_settings->>'payout_mode', p.payout_mode),
    payout_frequency = coalesce(p_settings->>'payout_frequency', p.payout_frequency),
    ledger_account_id = case when p_settings ? 'ledger_account_id' then nullif(p_settings->>'ledger_account_id', '') else p.ledger_account_id end,
    points_welcome = coalesce((p_settings->>'points_welcome')::integer, p.points_welcome),
    points_first_payment = coalesce((p_settings->>'points_first_payment')::integer, p.points_first_payment),
    points_recurring = coalesce((p_settings->>'points_recurring')::integer, p.points_recurring),
    points_l2 = coalesce((p_settings->>'points_l2')::integer, p.points_l2),
    points_recurring_months = coalesce((p_settings->>'points_recurring_months')::integer, p.points_recurring_months),
    points_expiry_days = case when p_settings ? 'points_expiry_days' then (p_settings->>'points_expiry_days')::integer else p.points_expiry_days end,
    fraud_mode = coalesce(p_settings->>'fraud_mode', p.fraud_mode),
    fraud_hold_score = coalesce((p_settings->>'fraud_hold_score')::integer, p.fraud_hold_score),
    fraud_velocity_hour = coalesce((p_settings->>'fraud_velocity_hour')::integer, p.fraud_velocity_hour),
    fraud_velocity_day = coalesce((p_settings->>'fraud_velocity_day')::integer, p.fraud_velocity_day),
    fraud_min_seconds = coalesce((p_settings->>'fraud_min_seconds')::integer, p.fraud_min_seconds),
    fraud_weights = case when p_settings ? 'fraud_weights' then p.fraud_weights || (p_settings->'fraud_weights') else p.fraud_weights end,
    streaks_enabled = coalesce((p_settings->>'streaks_enabled')::boolean, p.streaks_enabled),
    streak_window_days = coalesce((p_settings->>'streak_window_days')::integer, p.streak_window_days),
    streak_step_pct = coalesce((p_settings->>'streak_step_pct')::integer, p.streak_step_pct),
    streak_cap_pct = coalesce((p_settings->>'streak_cap_pct')::integer, p.streak_cap_pct),
    tiers_enabled = coalesce((p_settings->>'tiers_enabled')::boolean, p.tiers_enabled),
    tiers_by = coalesce(p_settings->>'tiers_by', p.tiers_by),
    tiers = coalesce((select jsonb_agg(t || jsonb_build_object('name', trim(t->>'name'))) from jsonb_array_elements(p_settings->'tiers') t),
                     p.tiers),
    drop_chance_pct = coalesce((p_settings->>'drop_chance_pct')::integer, p.drop_chance_pct),
    drop_points = coalesce((p_settings->>'drop_points')::integer, p.drop_points),
    notifications_off = case when jsonb_typeof(p_settings->'notifications_off') = 'array'
                             then array(select jsonb_array_elements_text(p_settings->'notifications_off')) else p.notifications_off end,
    updated_at = now()
  where p.company_id = p_company_id
  returning * into v;
  if (v.tiers, v.tiers_by) is distinct from (v_old.tiers, v_old.tiers_by) then
    update public.referral_tiers t set current_tier = public.tier_for(v, public.tier_value(v, t))->>'name', updated_at = now()
    where t.company_id = p_company_id and t.current_tier is distinct from public.tier_for(v, public.tier_value(v, t))->>'name';
  end if;
  return to_jsonb(v);
end $$;

-- ════ supabase/schemas/10_money.sql ════

-- Money: payments, commissions (per level, plus clawbacks and 'bonus' prize money), the
-- append-only ledger transactions, refunds, payouts and payout_items. Order: tables,
-- indexes, functions (release, balance, the payout lifecycle, decide_commission,
-- level1_amount), then the triggers that keep the ledger append-only. Refunds are applied by
-- apply_refund (80_pipeline.sql); balances are cached in member_money (30_analytics.sql).

-- ── Tables ──────────────────────────────────────────────────────────────────

create table public.payments (
  company_id text not null references public.programs(company_id),
  payment_id text not null,
  user_id text,
  referral_id uuid references public.referrals(id),
  amount_cents bigint not null,
  tax_cents bigint not null default 0,
  currency text not null,
  created_at timestamptz not null default now(),
  primary key (company_id, payment_id),
  -- the Whop product bought, and how much of the payment refunds and disputes took back
  product_id text,
  refunded_cents bigint not null default 0
   check (refunded_cents >= 0 and refunded_cents <= amount_cents),
  -- keyed hash of card brand + last4 + billing postal code
  method_hash text check (method_hash ~ '^[0-9a-f]{64}$'),
  -- the Whop plan bought (a converting payment's plan is also stored on its referral)
  plan_id text
);

alter table public.payments enable row level security;

create table public.payouts (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  user_id text not null,
  amount_cents bigint not null,
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  status text not null default 'requested' check (status in ('requested', 'processing', 'completed', 'failed', 'cancelled')),
  whop_transfer_id text unique,
  error text,
  reason text,
  attempts integer not null default 0,
  requested_at timestamptz not null default now(),
  completed_at timestamptz,
  updated_at timestamptz not null default now()
);

alter table public.payouts enable row level security;

create table public.commissions (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  referral_id uuid references public.referrals(id),
  payment_id text,
  beneficiary_user_id text not null,
  level integer not null default 1 check (level between 1 and 5),
  base_amount_cents bigint not null,
  rate_bp integer not null check (rate_bp between 0 and 10000),
  amount_cents bigint not null,
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  status text not null default 'pending'
    check (status in ('pending', 'available', 'paid', 'on_hold', 'reversed', 'cancelled')),
  available_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (company_id, payment_id) references public.payments(company_id, payment_id),
  kind text not null default 'commission' constraint commissions_kind_check check (kind in ('commission', 'clawback', 'bonus')),
  reversed_cents bigint not null default 0,
  refund_id text,
  reverses_commission_id uuid references public.commissions(id),
  payout_id uuid references public.payouts(id),
  paid_at timestamptz,
  reason text,
  constraint commissions_amount_sign check (
    (kind = 'commission' and amount_cents >= 0 and reversed_cents between 0 and amount_cents)
    or (kind = 'clawback' and amount_cents < 0 and reversed_cents = 0 and refund_id is not null)
    or (kind = 'bonus' and amount_cents > 0 and reversed_cents between 0 and amount_cents and reward_redemption_id is not null)),
  -- A commission says how its rate was made: rate_bp = base rate + campaign_bonus_bp +
  -- tier_bonus_bp. Prize money is a 'bonus' commission with no payment or referral behind it.
  constraint commissions_source check (
    kind = 'bonus' or (referral_id is not null and payment_id is not null)),
  campaign_id uuid, -- references campaigns (50_campaigns.sql)
  campaign_bonus_bp integer not null default 0 check (campaign_bonus_bp between 0 and 10000),
  reward_redemption_id uuid unique, -- references reward_redemptions (50_campaigns.sql)
  -- How a level-1 commission was boosted, stored on the row so its amount explains itself.
  tier_bonus_bp integer not null default 0 check (tier_bonus_bp between 0 and 10000),
  streak_multiplier numeric(4, 2) not null default 1 check (streak_multiplier between 1 and 2)
);

alter table public.commissions enable row level security;

-- Append-only ledger of every movement of money (cents) or points.
create table public.transactions (
  id bigint generated always as identity primary key,
  company_id text not null,
  user_id text,
  kind text not null check (kind in ('payment', 'commission', 'reversal', 'clawback', 'cancellation', 'approval', 'payout', 'points')),
  amount_cents bigint not null default 0,
  currency text,
  points bigint not null default 0,
  reference_type text not null,
  reference_id text not null,
  memo text,
  created_at timestamptz not null default now(),
  -- the kind of a points row (kind 'points'); balances are cached in points_balances
  points_type text constraint transactions_points_type_check check (points_type is null or points_type in (
    'REFERRAL_WELCOME', 'REFERRAL_FIRST_PAYMENT', 'REFERRAL_RECURRING', 'REFERRAL_L2', 'REDEMPTION_DISCOUNT',
    'REDEMPTION_PRODUCT_UNLOCK', 'REDEMPTION_CUSTOM', 'REDEMPTION_REFUND', 'ADMIN_GRANT', 'EXPIRY',
    'CAMPAIGN_BONUS', 'CAMPAIGN_PRIZE', 'MILESTONE_REWARD', 'SURPRISE_DROP', 'CHALLENGE_REWARD')),
  -- who decided: the deciding admin's Whop user id on ledger rows written for them
  actor_user_id text
);

alter table public.transactions enable row level security;

create table public.refunds (
  company_id text not null references public.programs(company_id),
  refund_id text not null,
  kind text not null check (kind in ('refund', 'dispute')),
  payment_id text not null,
  amount_cents bigint not null check (amount_cents >= 0),
  status text not null,
  applied_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (company_id, refund_id)
);

alter table public.refunds enable row level security;

create table public.payout_items (
  payout_id uuid not null references public.payouts(id),
  commission_id uuid not null references public.commissions(id),
  primary key (payout_id, commission_id)
);

alter table public.payout_items enable row level security;

-- ── Indexes ─────────────────────────────────────────────────────────────────

create index commissions_beneficiary_idx on public.commissions (company_id, beneficiary_user_id, status);

create index transactions_user_idx on public.transactions (company_id, user_id, created_at);

-- one open payout per member per company
create unique index payouts_one_open on public.payouts (company_id, user_id) where status in ('requested', 'processing');

create index payouts_queue_idx on public.payouts (company_id, status, requested_at);

-- one commission per company, payment, beneficiary and level; one clawback per refund and commission
create unique index commissions_natural_key on public.commissions (company_id, payment_id, beneficiary_user_id, level)
  where kind = 'commission';

create unique index commissions_clawback_key on public.commissions (refund_id, reverses_commission_id) where kind = 'clawback';

create index commissions_payout_idx on public.commissions (payout_id);

-- an event earns a member a kind of points once
create unique index transactions_points_once on public.transactions (company_id, user_id, points_type, reference_id)
  where points_type like 'REFERRAL_%';

-- Keyset pagination of the creator's lists: every read starts with company_id.
create index commissions_company_created_idx on public.commissions (company_id, created_at, id);

create index commissions_company_amount_idx on public.commissions (company_id, amount_cents, id);

create index commissions_company_status_created_idx on public.commissions (company_id, status, created_at, id);

create index commissions_member_created_idx on public.commissions (company_id, beneficiary_user_id, created_at, id);

create index commissions_member_pending_idx on public.commissions (company_id, beneficiary_user_id, available_at)
  where status = 'pending';

create index payouts_company_requested_idx on public.payouts (company_id, requested_at, id);

create index payouts_company_status_requested_idx on public.payouts (company_id, status, requested_at, id);

create index payouts_company_amount_idx on public.payouts (company_id, amount_cents, id);

create index payouts_member_idx on public.payouts (company_id, user_id, requested_at);

create index transactions_user_points_idx on public.transactions (company_id, user_id, created_at, id) where kind = 'points';

create index payments_method_idx on public.payments (company_id, method_hash) where method_hash is not null;

create unique index transactions_reward_points_once on public.transactions (company_id, user_id, points_type, reference_id)
  where points_type in ('CAMPAIGN_BONUS', 'CAMPAIGN_PRIZE', 'MILESTONE_REWARD', 'CHALLENGE_REWARD');

-- ── Functions ───────────────────────────────────────────────────────────────

-- Trigger function: the ledger refuses every update, delete and truncate (RL409).
create function public.forbid_ledger_change() returns trigger
language plpgsql set search_path = '' as $$
begin
  raise exception 'transactions is append-only' using errcode = 'RL409';
end $$;

-- Job: pending → available once the hold period has passed. Idempotent; returns the count.
create function public.release_commissions() returns integer
language plpgsql security definer set search_path = '' as $$
declare v integer;
begin
  update public.commissions set status = 'available', updated_at = now()
  where status = 'pending' and available_at <= now();
  get diagnostics v = row_count;
  return v;
end $$;

-- What a member can withdraw now, in the program currency: the net (amount − reversed) of
-- their available commissions not in a payout, clawbacks included (may be negative).
create function public.available_balance(p_company_id text, p_user_id text) returns bigint
language sql stable set search_path = '' as $$
  select coalesce(sum(c.amount_cents - c.reversed_cents), 0)::bigint
  from public.commissions c join public.programs p on p.company_id = c.company_id
  where c.company_id = p_company_id and c.beneficiary_user_id = p_user_id and c.status = 'available'
    and c.payout_id is null and c.currency = p.currency
$$;

-- A member asks for their whole available balance. Serialised per member, so N concurrent
-- requests make at most one payout and no commission lands in two. Errors: RL409 a payout
-- is already open; RL400 below the program minimum (or a negative balance from clawbacks).
-- Returns the payout (status requested).
create function public.request_payout(p_company_id text, p_user_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_available bigint;
  v_payout public.payouts;
begin
  v_program := public.ensure_program(p_company_id);
  perform pg_advisory_xact_lock(hashtextextended('payout:' || p_company_id || ':' || p_user_id, 0));
  if exists (select 1 from public.payouts where company_id = p_company_id and user_id = p_user_id
             and status in ('requested', 'processing')) then
    raise exception 'You already have a payout in progress' using errcode = 'RL409';
  end if;
  v_available := public.available_balance(p_company_id, p_user_id);
  if v_available < 0 then
    raise exception 'Your balance is negative (%) after a refund; new commissions will earn it back',
      v_available using errcode = 'RL400';
  end if;
  if v_available < greatest(v_program.min_payout_cents, 1) then
    raise exception 'Your available balance (% cents) is below the minimum payout (% cents)',
      v_available, v_program.min_payout_cents using errcode = 'RL400';
  end if;
  insert into public.payouts (company_id, user_id, amount_cents, currency)
  values (p_company_id, p_user_id, v_available, v_program.currency) returning * into v_payout;
  with attached as (
    update public.commissions c set payout_id = v_payout.id, updated_at = now()
    from public.programs p
    where p.company_id = c.company_id and c.company_id = p_company_id and c.beneficiary_user_id = p_user_id
      and c.status = 'available' and c.payout_id is null and c.currency = p.currency
    returning c.id)
  insert into public.payout_items (payout_id, commission_id) select v_payout.id, id from attached;
  return to_jsonb(v_payout);
end $$;

-- Start (or retry) paying a payout: requested | failed | processing → processing. A failed
-- payout (nothing was sent) takes the member's whole withdrawable balance again, clawbacks
-- included, under the same id. The amount is recomputed
-- from what is attached now (a refund may have reduced it). Returns what transfers.create
-- needs: {id, status:'processing', user_id, amount_cents, amount (decimal text), currency,
-- ledger_account_id}; or {id, status:'cancelled'} when refunds left nothing to pay.
-- Errors: RL404 unknown, RL409 completed/cancelled or another payout open, RL400 no
-- ledger account set.
create function public.start_payout(p_company_id text, p_payout_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.payouts;
  v_program public.programs;
  v_amount bigint;
begin
  select * into v_program from public.programs where company_id = p_company_id;
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id for update;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  if v.status not in ('requested', 'failed', 'processing') then
    raise exception 'A % payout can''t be paid', v.status using errcode = 'RL409';
  end if;
  if v_program.ledger_account_id is null then
    raise exception 'Set the company''s Whop ledger account id in settings before paying out' using errcode = 'RL400';
  end if;
  if v.status = 'failed' then
    -- nothing was sent: take everything withdrawable now, so clawbacks since the failure net
    perform pg_advisory_xact_lock(hashtextextended('payout:' || p_company_id || ':' || v.user_id, 0));
    with attached as (
      update public.commissions c set payout_id = v.id, updated_at = now()
      where c.company_id = p_company_id and c.beneficiary_user_id = v.user_id and c.status = 'available'
        and c.payout_id is null and c.currency = v.currency
      returning c.id)
    insert into public.payout_items (payout_id, commission_id) select v.id, id from attached on conflict do nothing;
  end if;
  -- lock what is attached, then sum what a concurrent refund left
  perform 1 from public.commissions where payout_id = v.id order by id for update;
  select coalesce(sum(amount_cents - reversed_cents), 0) into v_amount
  from public.commissions where payout_id = v.id and status = 'available';
  if v_amount <= 0 then
    -- refunds took everything back before it was sent: cancel (committed, not raised, so
    -- the member is not left with a payout that blocks the next one)
    update public.commissions set payout_id = null, updated_at = now() where payout_id = v.id and status = 'available';
    update public.payouts set status = 'cancelled', reason = 'nothing left to pay', updated_at = now() where id = v.id;
    return jsonb_build_object('id', v.id, 'status', 'cancelled');
  end if;
  begin
    update public.payouts set status = 'processing', amount_cents = v_amount, attempts = attempts + 1,
      error = null, updated_at = now()
    where id = v.id returning * into v;
  exception when unique_violation then
    raise exception 'This member already has another payout open' using errcode = 'RL409';
  end;
  return jsonb_build_object('id', v.id, 'status', 'processing', 'user_id', v.user_id, 'amount_cents', v.amount_cents,
    'amount', (v.amount_cents::numeric / (10::numeric ^ public.currency_minor_units(v.currency)))::text,
    'currency', v.currency, 'ledger_account_id', v_program.ledger_account_id);
end $$;

-- One payout as jsonb (RL404 when unknown).
create function public.get_payout(p_company_id text, p_payout_id uuid) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare v public.payouts;
begin
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  return to_jsonb(v);
end $$;

-- Whop accepted the transfer: processing → completed, its commissions → paid, and the
-- payout leaves the member's balance in the ledger. Idempotent for the same transfer id.
create function public.complete_payout(p_company_id text, p_payout_id uuid, p_transfer_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.payouts;
begin
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id for update;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  if v.status = 'completed' and v.whop_transfer_id = p_transfer_id then return to_jsonb(v); end if;
  if v.status <> 'processing' then
    raise exception 'A % payout can''t be completed', v.status using errcode = 'RL409';
  end if;
  update public.payouts set status = 'completed', whop_transfer_id = p_transfer_id, completed_at = now(), updated_at = now()
  where id = v.id returning * into v;
  update public.commissions set status = 'paid', paid_at = now(), updated_at = now()
  where payout_id = v.id and status = 'available';
  insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
  values (p_company_id, v.user_id, 'payout', -v.amount_cents, v.currency, 'payout', v.id::text, p_transfer_id);
  return to_jsonb(v);
end $$;

-- Whop refused the transfer: processing → failed with Whop's message; its commissions go
-- back to available (a retry re-attaches them and reuses the payout id as idempotence key).
create function public.fail_payout(p_company_id text, p_payout_id uuid, p_error text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.payouts;
begin
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id for update;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  if v.status <> 'processing' then raise exception 'A % payout can''t fail', v.status using errcode = 'RL409'; end if;
  update public.payouts set status = 'failed', error = left(p_error, 1000), updated_at = now() where id = v.id returning * into v;
  update public.commissions set payout_id = null, updated_at = now() where payout_id = v.id and status = 'available';
  return to_jsonb(v);
end $$;

-- Creator cancels a requested or failed payout; its commissions return to available.
create function public.cancel_payout(p_company_id text, p_payout_id uuid, p_reason text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.payouts;
begin
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id for update;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  if v.status not in ('requested', 'failed') then
    raise exception 'A % payout can''t be cancelled', v.status using errcode = 'RL409';
  end if;
  update public.payouts set status = 'cancelled', reason = p_reason, updated_at = now() where id = v.id returning * into v;
  update public.commissions set payout_id = null, updated_at = now() where payout_id = v.id and status = 'available';
  return to_jsonb(v);
end $$;

-- Job: payouts due now. For automatic programs whose payout_frequency has elapsed since the
-- last batch, request a payout for every member at or above the minimum; then list every
-- payout to send: requested ones of automatic programs, and processing ones older than
-- 10 minutes (an earlier attempt's outcome is unknown; resending reuses the key).
-- Returns [{company_id, payout_id}].
create function public.due_payouts() returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  p record;
  m record;
begin
  for p in
    select * from public.programs
    where payout_mode = 'automatic' and (last_payout_batch_at is null or last_payout_batch_at <= now() -
      case payout_frequency when 'daily' then interval '1 day' when 'weekly' then interval '7 days' else interval '1 month' end)
    for update skip locked
  loop
    for m in
      select c.beneficiary_user_id as user_id from public.commissions c
      where c.company_id = p.company_id and c.status = 'available' and c.payout_id is null and c.currency = p.currency
      group by c.beneficiary_user_id
      having sum(c.amount_cents - c.reversed_cents) >= greatest(p.min_payout_cents, 1)
    loop
      begin
        perform public.request_payout(p.company_id, m.user_id);
      exception when sqlstate 'RL409' or sqlstate 'RL400' then null;  -- already open, or not eligible
      end;
    end loop;
    update public.programs set last_payout_batch_at = now() where company_id = p.company_id;
  end loop;
  return coalesce((
    select jsonb_agg(jsonb_build_object('company_id', o.company_id, 'payout_id', o.id) order by o.requested_at)
    from public.payouts o join public.programs g on g.company_id = o.company_id
    where (o.status = 'requested' and g.payout_mode = 'automatic')
       or (o.status = 'processing' and o.updated_at < now() - interval '10 minutes')), '[]'::jsonb);
end $$;

-- The creator approves or cancels one commission with a reason (ledger row 'approval' or
-- 'cancellation'): approve on_hold | pending → available (pending while an on_hold one's
-- hold has not passed); cancel on_hold | pending | available, not in a payout → cancelled.
-- A fraud-held commission is decided only through its referral's review (RL409). Errors:
-- RL400 no reason, RL404 unknown, RL409 a decision that does not apply. Returns the row.
create function public.decide_commission(p_company_id text, p_commission_id uuid, p_decision text, p_reason text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.commissions;
begin
  if coalesce(trim(p_reason), '') = '' then raise exception 'Give a reason' using errcode = 'RL400'; end if;
  select * into v from public.commissions where company_id = p_company_id and id = p_commission_id for update;
  if v.id is null or v.kind <> 'commission' then raise exception 'No such commission' using errcode = 'RL404'; end if;
  if v.status = 'on_hold' and exists (select 1 from public.referrals where id = v.referral_id and fraud_status = 'held') then
    raise exception 'This commission is held for fraud review: decide its referral in Fraud' using errcode = 'RL409';
  end if;
  if p_decision = 'approve' and v.status in ('on_hold', 'pending') then
    update public.commissions set status = case when v.status = 'pending' or v.available_at <= now() then 'available' else 'pending' end,
      reason = p_reason, updated_at = now()
    where id = v.id returning * into v;
    insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
    values (p_company_id, v.beneficiary_user_id, 'approval', 0, v.currency, 'commission', v.id::text, p_reason);
  elsif p_decision = 'cancel' and v.status in ('on_hold', 'pending', 'available') and v.payout_id is null then
    update public.commissions set status = 'cancelled', reason = p_reason, updated_at = now() where id = v.id returning * into v;
    insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
    values (p_company_id, v.beneficiary_user_id, 'cancellation', -(v.amount_cents - v.reversed_cents), v.currency,
      'commission', v.id::text, p_reason);
  else
    raise exception 'A % commission can''t take the decision "%"', v.status, p_decision using errcode = 'RL409';
  end if;
  return to_jsonb(v);
end $$;

-- A level-1 commission in cents: (the flat amount + base × rate) × multiplier, rounded once
-- half down (round_half_down). p_base_cents, p_flat_cents: cents; p_rate_bp: basis
-- points; p_multiplier: the streak's (1 without one).
create function public.level1_amount(p_base_cents bigint, p_rate_bp integer, p_flat_cents bigint, p_multiplier numeric)
returns bigint
language sql immutable set search_path = '' as $$
  select public.round_half_down((p_flat_cents * 10000 + p_base_cents::numeric * p_rate_bp) * p_multiplier / 10000)
$$;

-- ── Triggers ────────────────────────────────────────────────────────────────

create trigger transactions_append_only before update or delete on public.transactions
  for each row execute function public.forbid_ledger_change();

-- The ledger stays append-only against TRUNCATE too.
create trigger transactions_no_truncate before truncate on public.transactions
  for each statement execute function public.forbid_ledger_change();

-- ════ supabase/schemas/20_points.sql ════

-- Points: points_balances (the cached balance; every movement is a 'points' row of the
-- transactions ledger), points_items (the points shop) and redemptions. Order: tables,
-- indexes, functions (add_points first: every points movement goes through it). No
-- triggers.

-- ── Tables ──────────────────────────────────────────────────────────────────

create table public.points_balances (
  company_id text not null,
  user_id text not null,
  balance bigint not null default 0 check (balance >= 0),
  total_earned bigint not null default 0,
  total_spent bigint not null default 0,
  updated_at timestamptz not null default now(),
  primary key (company_id, user_id)
);

alter table public.points_balances enable row level security;

create table public.points_items (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  name text not null check (length(name) between 1 and 80),
  cost_points integer not null check (cost_points > 0),
  grant_type text not null check (grant_type in ('discount', 'product_unlock', 'custom')),
  -- the rewards' vocabulary: discount: {percent_off, plan_id?}; product_unlock: {plan_id}; custom: {note}
  grant_config jsonb not null default '{}',
  is_active boolean not null default true,
  created_at timestamptz not null default now()
);

alter table public.points_items enable row level security;

create table public.redemptions (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  user_id text not null,
  item_id uuid not null references public.points_items(id),
  cost_points integer not null,
  status text not null default 'pending' check (status in ('pending', 'granted', 'claimed', 'failed')),
  result jsonb,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

alter table public.redemptions enable row level security;

-- ── Indexes ─────────────────────────────────────────────────────────────────

create index redemptions_member_idx on public.redemptions (company_id, user_id, created_at);

-- ── Functions ───────────────────────────────────────────────────────────────

-- Add p_delta points (negative = spend) as one ledger row and update the balance cache in
-- the same transaction. Refuses (RL400) to take the balance below zero. Returns the new
-- balance. p_type is a transactions.points_type (REFERRAL_*, REDEMPTION_*, ADMIN_GRANT,
-- EXPIRY, …).
create function public.add_points(p_company_id text, p_user_id text, p_delta bigint, p_type text,
  p_reference_type text, p_reference_id text, p_memo text) returns bigint
language plpgsql security definer set search_path = '' as $$
declare v_balance bigint;
begin
  if p_delta = 0 then
    select balance into v_balance from public.points_balances where company_id = p_company_id and user_id = p_user_id;
    return coalesce(v_balance, 0);
  end if;
  insert into public.points_balances (company_id, user_id) values (p_company_id, p_user_id) on conflict do nothing;
  select balance into v_balance from public.points_balances
  where company_id = p_company_id and user_id = p_user_id for update;
  if v_balance + p_delta < 0 then
    raise exception 'Not enough points: the balance is % and this needs %', v_balance, -p_delta using errcode = 'RL400';
  end if;
  insert into public.transactions (company_id, user_id, kind, points, points_type, reference_type, reference_id, memo)
  values (p_company_id, p_user_id, 'points', p_delta, p_type, p_reference_type, p_reference_id, p_memo)
  on conflict do nothing;
  if not found then return v_balance; end if;  -- this event already earned these points
  update public.points_balances set
    balance = balance + p_delta,
    total_earned = total_earned + greatest(p_delta, 0),
    total_spent = total_spent + least(p_delta, 0),
    updated_at = now()
  where company_id = p_company_id and user_id = p_user_id
  returning balance into v_balance;
  return v_balance;
end $$;

-- Creator adds a redeemable item. p_item: {name, cost_points, grant_type, grant_config}.
create function public.create_points_item(p_company_id text, p_item jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.points_items;
begin
  perform public.ensure_program(p_company_id);
  insert into public.points_items (company_id, name, cost_points, grant_type, grant_config)
  values (p_company_id, p_item->>'name', (p_item->>'cost_points')::integer, p_item->>'grant_type',
          coalesce(p_item->'grant_config', '{}'))
  returning * into v;
  return to_jsonb(v);
end $$;

-- A member redeems an item: spends its cost (REDEMPTION_<grant type>) and opens a pending
-- redemption. Refused when the balance would go negative (RL400) or the item is unknown or
-- inactive (RL404). Returns {redemption, item}.
create function public.redeem_points_item(p_company_id text, p_user_id text, p_item_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_item public.points_items;
  v_red public.redemptions;
begin
  select * into v_item from public.points_items where company_id = p_company_id and id = p_item_id and is_active;
  if v_item.id is null then raise exception 'That reward is not available' using errcode = 'RL404'; end if;
  insert into public.redemptions (company_id, user_id, item_id, cost_points)
  values (p_company_id, p_user_id, v_item.id, v_item.cost_points) returning * into v_red;
  perform public.add_points(p_company_id, p_user_id, -v_item.cost_points, 'REDEMPTION_' || upper(v_item.grant_type),
    'redemption', v_red.id::text, v_item.name);
  return jsonb_build_object('redemption', to_jsonb(v_red), 'item', to_jsonb(v_item));
end $$;

-- Move a redemption on: pending → granted (with its result, e.g. a promo code) → claimed,
-- or pending → failed with the error, which gives the points back (REDEMPTION_REFUND).
create function public.settle_redemption(p_company_id text, p_redemption_id uuid, p_status text, p_result jsonb, p_error text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.redemptions;
begin
  select * into v from public.redemptions where company_id = p_company_id and id = p_redemption_id for update;
  if v.id is null then raise exception 'No such redemption' using errcode = 'RL404'; end if;
  if not ((v.status = 'pending' and p_status in ('granted', 'failed')) or (v.status = 'granted' and p_status = 'claimed')) then
    raise exception 'A % redemption can''t become %', v.status, p_status using errcode = 'RL409';
  end if;
  update public.redemptions set status = p_status, result = coalesce(p_result, result), error = p_error, updated_at = now()
  where id = v.id returning * into v;
  if p_status = 'failed' then
    perform public.add_points(p_company_id, v.user_id, v.cost_points, 'REDEMPTION_REFUND', 'redemption', v.id::text, p_error);
  end if;
  return to_jsonb(v);
end $$;

-- Job: expire points older than points_expiry_days (programs where it is set). Spending
-- uses the oldest points first, so a member loses what they earned before the cutoff
-- minus everything spent or expired so far. Idempotent; returns points expired.
create function public.expire_points() returns bigint
language plpgsql security definer set search_path = '' as $$
declare
  r record;
  v_total bigint := 0;
begin
  for r in
    select t.company_id, t.user_id,
      coalesce(sum(t.points) filter (where t.points > 0 and t.created_at < now() - make_interval(days => p.points_expiry_days)), 0)
        + coalesce(sum(t.points) filter (where t.points < 0), 0) as due
    from public.transactions t join public.programs p on p.company_id = t.company_id
    where t.kind = 'points' and p.points_expiry_days is not null
    group by t.company_id, t.user_id
  loop
    if r.due > 0 then
      perform public.add_points(r.company_id, r.user_id, (-r.due)::bigint, 'EXPIRY', 'expiry', gen_random_uuid()::text, 'points expired');
      v_total := v_total + r.due;
    end if;
  end loop;
  return v_total;
end $$;

-- The Rewards section for the creator: active items, and custom redemptions waiting to be
-- fulfilled (oldest first, at most 50).
create function public.get_rewards_admin(p_company_id text) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object(
    'items', coalesce((select jsonb_agg(to_jsonb(i) order by i.cost_points) from public.points_items i
      where i.company_id = p_company_id and i.is_active), '[]'),
    'redemptions', coalesce((
      select jsonb_agg(jsonb_build_object('id', r.id, 'member', coalesce(u.username, r.user_id), 'item', i.name,
        'note', i.grant_config->>'note', 'created_at', r.created_at) order by r.created_at)
      from (select * from public.redemptions where company_id = p_company_id and status = 'pending'
            order by created_at limit 50) r
      join public.points_items i on i.id = r.item_id and i.grant_type = 'custom'
      left join public.users u on u.company_id = r.company_id and u.user_id = r.user_id), '[]'))
$$;

-- Creator grants (p_delta > 0) or deducts (< 0) points by hand with a reason (ADMIN_GRANT);
-- p_member is a user id or a username (resolve_member). RL404 unknown member; RL400 no
-- reason, zero, or a deduction below zero. Returns the new balance.
create function public.grant_points(p_company_id text, p_member text, p_delta bigint, p_reason text) returns bigint
language plpgsql security definer set search_path = '' as $$
declare v_user text;
begin
  if coalesce(trim(p_reason), '') = '' then raise exception 'Give a reason' using errcode = 'RL400'; end if;
  if p_delta = 0 then raise exception 'Grant or deduct at least one point' using errcode = 'RL400'; end if;
  v_user := public.resolve_member(p_company_id, p_member);
  if v_user is null then raise exception 'No member "%" in this community', trim(p_member) using errcode = 'RL404'; end if;
  return public.add_points(p_company_id, v_user, p_delta, 'ADMIN_GRANT', 'admin', gen_random_uuid()::text, p_reason);
end $$;

-- The points one attributed payment earns, windows measured from the referral's conversion
-- to the payment's own time: REFERRAL_WELCOME to the referee
-- and REFERRAL_FIRST_PAYMENT to the referrer on the converting payment (p_first);
-- REFERRAL_RECURRING to the referrer on renewals within points_recurring_months;
-- REFERRAL_L2 to the referrer's referrer within level2_months; on the converting payment,
-- the campaign's bonus_points to the referrer (CAMPAIGN_BONUS), so a held referral's bonus
-- waits for approval like its other points. Each at most once per payment
-- (transactions_points_once), so granting again after a fraud approval is safe.
create function public.award_payment_points(p_company_id text, p_payment_id text, p_first boolean) returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_payment public.payments;
  v_ref public.referrals;
  v_upline text;
  v_bonus bigint;
begin
  select * into v_program from public.programs where company_id = p_company_id;
  select * into v_payment from public.payments where company_id = p_company_id and payment_id = p_payment_id;
  select * into v_ref from public.referrals where id = v_payment.referral_id;
  if v_ref.id is null then return; end if;
  if p_first then
    perform public.add_points(p_company_id, v_payment.user_id, v_program.points_welcome, 'REFERRAL_WELCOME', 'payment', p_payment_id, null);
    perform public.add_points(p_company_id, v_ref.referrer_user_id, v_program.points_first_payment, 'REFERRAL_FIRST_PAYMENT', 'payment', p_payment_id, null);
  elsif v_payment.created_at <= v_ref.converted_at + make_interval(months => v_program.points_recurring_months) then
    perform public.add_points(p_company_id, v_ref.referrer_user_id, v_program.points_recurring, 'REFERRAL_RECURRING', 'payment', p_payment_id, null);
  end if;
  v_upline := public.referrer_of(p_company_id, v_ref.referrer_user_id);
  if v_upline is not null and v_payment.created_at <= v_ref.converted_at + make_interval(months => v_program.level2_months) then
    perform public.add_points(p_company_id, v_upline, v_program.points_l2, 'REFERRAL_L2', 'payment', p_payment_id, null);
  end if;
  if p_first and v_ref.campaign_id is not null then
    select coalesce((rules->>'bonus_points')::bigint, 0) into v_bonus from public.campaigns where id = v_ref.campaign_id;
    if v_bonus > 0 then
      perform public.add_points(p_company_id, v_ref.referrer_user_id, v_bonus, 'CAMPAIGN_BONUS', 'payment', p_payment_id,
        (select name from public.campaigns where id = v_ref.campaign_id));
    end if;
  end if;
end $$;

-- ════ supabase/schemas/30_analytics.sql ════

-- Analytics: the rollups, kept by triggers in the same transaction as their source rows
-- (referral_stats, member_money, daily_stats, daily_sources, member_daily, referrer_gaps,
-- referrer_gaps_month, referral_plan_stats); their check and rebuild (check_analytics,
-- rebuild_analytics, repair_analytics); the pages' reads (get_overview, get_member_view,
-- list_members, …). Order: tables, indexes, functions, then the triggers last (they need
-- their functions). See docs/architecture.md "Counters and rollups".

-- ── Tables ──────────────────────────────────────────────────────────────────

-- Per member: everyone with a code or a referral has a row.
--   clicks       counted clicks on their code
--   signups      their referrals that joined (membership or first payment), not cancelled
--   conversions  their converted referrals; active_referrals: converted and not deactivated
create table public.referral_stats (
  company_id text not null,
  user_id text not null,
  clicks bigint not null default 0,
  signups bigint not null default 0,
  conversions bigint not null default 0,
  active_referrals bigint not null default 0,
  primary key (company_id, user_id)
);

alter table public.referral_stats enable row level security;

-- Per member and currency: commission balances by status (net of reversals, cents),
-- the same buckets as get_member_wallet, and revenue attributed to them (gross cents).
--   available_cents   available and not in a payout (what request_payout takes)
--   in_payout_cents   available and attached to a requested/processing payout
--   reversed_cents    taken back by refunds and disputes (reductions + clawbacks)
--   earned_cents      total = pending + available (in a payout too) + paid; on_hold excluded
create table public.member_money (
  company_id text not null,
  user_id text not null,
  currency text not null,
  pending_cents bigint not null default 0,
  available_cents bigint not null default 0,
  in_payout_cents bigint not null default 0,
  on_hold_cents bigint not null default 0,
  paid_cents bigint not null default 0,
  reversed_cents bigint not null default 0,
  commissions bigint not null default 0,
  revenue_cents bigint not null default 0,
  earned_cents bigint generated always as (pending_cents + available_cents + in_payout_cents + paid_cents) stored,
  primary key (company_id, user_id, currency)
);

alter table public.member_money enable row level security;

-- Per company and local day (program currency): the Overview's series and KPIs.
--   commissions_cents  net commission movement that day (ledger: commission, reversal,
--                      clawback, cancellation); paid_cents: payouts completed that day.
--   Owed now = Σ commissions_cents − Σ paid_cents over all days.
create table public.daily_stats (
  company_id text not null,
  day date not null,
  clicks bigint not null default 0,
  signups bigint not null default 0,
  conversions bigint not null default 0,
  revenue_cents bigint not null default 0,
  commissions_cents bigint not null default 0,
  paid_cents bigint not null default 0,
  primary key (company_id, day)
);

alter table public.daily_stats enable row level security;

-- Counted clicks per company, local day and traffic source (referrer domain) or country.
create table public.daily_sources (
  company_id text not null,
  dimension text not null check (dimension in ('domain', 'country')),
  day date not null,
  value text not null,
  clicks bigint not null default 0,
  primary key (company_id, dimension, day, value)
);

alter table public.daily_sources enable row level security;

-- Per member and local day (program currency): the member's own chart, what they earned
-- this month, and referrers active in a period.
create table public.member_daily (
  company_id text not null,
  user_id text not null,
  day date not null,
  clicks bigint not null default 0,
  signups bigint not null default 0,
  conversions bigint not null default 0,
  revenue_cents bigint not null default 0,
  commissions_cents bigint not null default 0,
  primary key (company_id, user_id, day)
);

alter table public.member_daily enable row level security;

-- Per company: how many members have a converting local day `day` whose previous
-- converting day was `prev_day` (kept by bump_daily); active_referrers reads it.
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

-- Per member and plan bought (referrals.plan_id): their conversions and active referrals.
create table public.referral_plan_stats (
  company_id text not null,
  user_id text not null,
  plan_id text not null,
  conversions bigint not null default 0,
  active_referrals bigint not null default 0,
  primary key (company_id, user_id, plan_id)
);

alter table public.referral_plan_stats enable row level security;

-- ── Indexes ─────────────────────────────────────────────────────────────────

-- one index per sortable column of the members list (keyset: value, then user id)
create index referral_stats_conversions_idx on public.referral_stats (company_id, conversions, user_id);

create index referral_stats_clicks_idx on public.referral_stats (company_id, clicks, user_id);

create index referral_stats_signups_idx on public.referral_stats (company_id, signups, user_id);

create index referral_stats_active_idx on public.referral_stats (company_id, active_referrals, user_id);

create index member_money_revenue_idx on public.member_money (company_id, currency, revenue_cents, user_id);

create index member_money_earned_idx on public.member_money (company_id, currency, earned_cents, user_id);

create index member_money_paid_idx on public.member_money (company_id, currency, paid_cents, user_id);

create index member_money_available_idx on public.member_money (company_id, currency, available_cents, user_id);

-- ── Functions ───────────────────────────────────────────────────────────────

-- The traffic source of a click: the referrer URL's host, lower case, without "www.";
-- '(direct)' when there is none.
create function public.referrer_domain(p_url text) returns text
language sql immutable set search_path = '' as $$
  select coalesce(left(regexp_replace(lower(substring(p_url from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#]+)')),
    '^www\.', ''), 100), '(direct)')
$$;

-- Make sure a member has their stats rows (referral_stats, and member_money in the
-- program currency), so every member shows in the members list and its sorts.
create function public.touch_member_stats(p_company_id text, p_user_id text) returns void
language sql set search_path = '' as $$
  insert into public.referral_stats (company_id, user_id) values (p_company_id, p_user_id) on conflict do nothing;
  insert into public.member_money (company_id, user_id, currency)
  values (p_company_id, p_user_id, public.program_currency(p_company_id)) on conflict do nothing;
$$;

-- What one referral adds to its referrer's counters (p_sign = 1) or takes back (-1):
-- a signup when it joined (signed_up_at, or its first payment) and is not cancelled, on
-- that day; a conversion when converted, on converted_at's day; active while converted
-- and not deactivated.
create function public.apply_referral_stats(r public.referrals, p_sign integer) returns void
language plpgsql set search_path = '' as $$
declare
  v_signup integer := case when r.status <> 'cancelled' and coalesce(r.signed_up_at, r.converted_at) is not null then 1 else 0 end;
  v_conv integer := case when r.status = 'converted' then 1 else 0 end;
  v_active integer := case when r.status = 'converted' and r.deactivated_at is null then 1 else 0 end;
begin
  if v_signup + v_conv + v_active = 0 then return; end if;
  update public.referral_stats set signups = signups + p_sign * v_signup, conversions = conversions + p_sign * v_conv,
    active_referrals = active_referrals + p_sign * v_active
  where company_id = r.company_id and user_id = r.referrer_user_id;
  if v_signup = 1 then
    perform public.bump_daily(r.company_id, r.referrer_user_id, public.local_day(r.company_id, coalesce(r.signed_up_at, r.converted_at)),
      0, p_sign, 0, 0, 0, 0);
  end if;
  if v_conv = 1 then
    perform public.bump_daily(r.company_id, r.referrer_user_id, public.local_day(r.company_id, r.converted_at), 0, 0, p_sign, 0, 0, 0);
  end if;
end $$;

create function public.trg_payments_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and (tg_op = 'DELETE' or (old.referral_id, old.amount_cents) is distinct from (new.referral_id, new.amount_cents)) then
    perform public.apply_payment_stats(old, -1);
  end if;
  if tg_op = 'INSERT' or (tg_op = 'UPDATE' and (old.referral_id, old.amount_cents) is distinct from (new.referral_id, new.amount_cents)) then
    perform public.apply_payment_stats(new, 1);
  end if;
  return null;
end $$;

create function public.trg_commissions_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op = 'INSERT' then
    perform public.apply_commission_stats(new, 1);
  elsif tg_op = 'UPDATE' then
    if (old.status, old.amount_cents, old.reversed_cents, old.payout_id is null, old.beneficiary_user_id, old.currency)
       is distinct from (new.status, new.amount_cents, new.reversed_cents, new.payout_id is null, new.beneficiary_user_id, new.currency) then
      perform public.apply_commission_stats(old, -1);
      perform public.apply_commission_stats(new, 1);
    end if;
  else
    perform public.apply_commission_stats(old, -1);
  end if;
  return null;
end $$;

-- Expected referral_stats of a company: one row per member with a code or a referral.
create function public.analytics_expected_referral_stats(p_company_id text) returns setof public.referral_stats
language sql stable set search_path = '' as $$
  with members as (
    select user_id from public.referral_codes where company_id = p_company_id
    union select referrer_user_id from public.referrals where company_id = p_company_id
    union select referee_user_id from public.referrals where company_id = p_company_id),
  clicks as (
    select c.user_id, count(*) as n from public.referral_clicks k join public.referral_codes c on c.id = k.code_id
    where k.company_id = p_company_id and k.counted group by c.user_id),
  refs as (
    select referrer_user_id as user_id,
      count(*) filter (where status <> 'cancelled' and coalesce(signed_up_at, converted_at) is not null) as signups,
      count(*) filter (where status = 'converted') as conversions,
      count(*) filter (where status = 'converted' and deactivated_at is null) as active
    from public.referrals where company_id = p_company_id group by referrer_user_id)
  select p_company_id, m.user_id, coalesce(k.n, 0), coalesce(r.signups, 0), coalesce(r.conversions, 0), coalesce(r.active, 0)
  from members m left join clicks k on k.user_id = m.user_id left join refs r on r.user_id = m.user_id
$$;

-- Expected member_money of a company (earned_cents is generated from the buckets).
create function public.analytics_expected_member_money(p_company_id text) returns setof public.member_money
language sql stable set search_path = '' as $$
  select p_company_id, user_id, currency, sum(pending)::bigint, sum(available)::bigint, sum(in_payout)::bigint,
    sum(on_hold)::bigint, sum(paid)::bigint, sum(reversed)::bigint, sum(n)::bigint, sum(revenue)::bigint,
    sum(pending + available + in_payout + paid)::bigint
  from (
    select s.user_id, public.program_currency(p_company_id) as currency, 0 as pending, 0 as available, 0 as in_payout,
      0 as on_hold, 0 as paid, 0 as reversed, 0 as n, 0 as revenue
    from public.analytics_expected_referral_stats(p_company_id) s
    union all
    select c.beneficiary_user_id, c.currency,
      case when c.status = 'pending' then c.amount_cents - c.reversed_cents else 0 end,
      case when c.status = 'available' and c.payout_id is null then c.amount_cents - c.reversed_cents else 0 end,
      case when c.status = 'available' and c.payout_id is not null then c.amount_cents - c.reversed_cents else 0 end,
      case when c.status = 'on_hold' then c.amount_cents - c.reversed_cents else 0 end,
      case when c.status = 'paid' then c.amount_cents - c.reversed_cents else 0 end,
      case when c.kind = 'clawback' then -c.amount_cents else c.reversed_cents end, 1, 0
    from public.commissions c where c.company_id = p_company_id
    union all
    select r.referrer_user_id, p.currency, 0, 0, 0, 0, 0, 0, 0, p.amount_cents
    from public.payments p join public.referrals r on r.id = p.referral_id
    where p.company_id = p_company_id and p.referral_id is not null
  ) x group by user_id, currency
$$;

-- Expected member_daily of a company (null user = company-only rows, see daily_stats).
create function public.analytics_expected_daily(p_company_id text)
returns table (user_id text, day date, clicks bigint, signups bigint, conversions bigint, revenue_cents bigint,
  commissions_cents bigint, paid_cents bigint)
language sql stable set search_path = '' as $$
  with prog as (select timezone as tz, currency from public.programs where company_id = p_company_id)
  select user_id, day, sum(clicks)::bigint, sum(signups)::bigint, sum(conversions)::bigint, sum(revenue)::bigint,
    sum(commissions)::bigint, sum(paid)::bigint
  from (
    select c.user_id, (k.created_at at time zone prog.tz)::date as day, 1 as clicks, 0 as signups, 0 as conversions,
      0::bigint as revenue, 0::bigint as commissions, 0::bigint as paid
    from public.referral_clicks k join public.referral_codes c on c.id = k.code_id, prog
    where k.company_id = p_company_id and k.counted
    union all
    select r.referrer_user_id, (coalesce(r.signed_up_at, r.converted_at) at time zone prog.tz)::date, 0, 1, 0, 0, 0, 0
    from public.referrals r, prog
    where r.company_id = p_company_id and r.status <> 'cancelled' and coalesce(r.signed_up_at, r.converted_at) is not null
    union all
    select r.referrer_user_id, (r.converted_at at time zone prog.tz)::date, 0, 0, 1, 0, 0, 0
    from public.referrals r, prog where r.company_id = p_company_id and r.status = 'converted'
    union all
    select r.referrer_user_id, (p.created_at at time zone prog.tz)::date, 0, 0, 0, p.amount_cents, 0, 0
    from public.payments p join public.referrals r on r.id = p.referral_id, prog
    where p.company_id = p_company_id and p.currency = prog.currency
    union all
    select case when t.kind = 'payout' then null else t.user_id end, (t.created_at at time zone prog.tz)::date, 0, 0, 0, 0,
      case when t.kind = 'payout' then 0 else t.amount_cents end, case when t.kind = 'payout' then -t.amount_cents else 0 end
    from public.transactions t, prog
    where t.company_id = p_company_id and t.currency = prog.currency and t.amount_cents <> 0
      and t.kind in ('commission', 'reversal', 'clawback', 'cancellation', 'payout')
  ) x group by user_id, day
$$;

-- Expected daily_sources of a company.
create function public.analytics_expected_sources(p_company_id text) returns setof public.daily_sources
language sql stable set search_path = '' as $$
  with prog as (select timezone as tz from public.programs where company_id = p_company_id)
  select p_company_id, dimension, day, value, count(*)::bigint from (
    select 'domain' as dimension, (k.created_at at time zone prog.tz)::date as day, public.referrer_domain(k.referrer_url) as value
    from public.referral_clicks k, prog where k.company_id = p_company_id and k.counted
    union all
    select 'country', (k.created_at at time zone prog.tz)::date, coalesce(k.country, '??')
    from public.referral_clicks k, prog where k.company_id = p_company_id and k.counted
  ) x group by dimension, day, value
$$;

-- Job: check every company's rollups and rebuild those that drifted. Returns
-- {checked, repaired:[company ids]}.
create function public.repair_analytics() returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  p record;
  v_repaired text[] := '{}';
  v_checked integer := 0;
begin
  for p in select company_id from public.programs order by company_id loop
    v_checked := v_checked + 1;
    if not (public.check_analytics(p.company_id)->>'ok')::boolean then
      perform public.rebuild_analytics(p.company_id);
      v_repaired := v_repaired || p.company_id;
    end if;
  end loop;
  return jsonb_build_object('checked', v_checked, 'repaired', to_jsonb(v_repaired));
end $$;

-- The row the members list and the member page show for each member (program currency).
create function public.member_rows(p_company_id text, p_user_ids text[]) returns jsonb
language sql stable set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_object(
    'user_id', s.user_id, 'username', coalesce(u.username, u.name, s.user_id), 'code', c.code, 'code_active', c.is_active,
    'clicks', s.clicks, 'signups', s.signups, 'conversions', s.conversions, 'active_referrals', s.active_referrals,
    'revenue_cents', coalesce(m.revenue_cents, 0), 'earned_cents', coalesce(m.earned_cents, 0),
    'paid_cents', coalesce(m.paid_cents, 0), 'available_cents', coalesce(m.available_cents, 0),
    'pending_cents', coalesce(m.pending_cents, 0), 'on_hold_cents', coalesce(m.on_hold_cents, 0),
    'points', coalesce(b.balance, 0), 'joined_at', u.created_at) order by o.n), '[]')
  from unnest(p_user_ids) with ordinality o(user_id, n)
  join public.referral_stats s on s.company_id = p_company_id and s.user_id = o.user_id
  left join public.users u on u.company_id = p_company_id and u.user_id = o.user_id
  left join public.referral_codes c on c.company_id = p_company_id and c.user_id = o.user_id
  left join public.member_money m on m.company_id = p_company_id and m.user_id = o.user_id and m.currency = public.program_currency(p_company_id)
  left join public.points_balances b on b.company_id = p_company_id and b.user_id = o.user_id
$$;

-- Referrals of a company. p_filter: {status, member (referrer: user id or username),
-- sort (created | converted; default created), dir, after, limit ≤ 50}.
-- Returns {rows:[{id, referrer, referrer_user_id, referee, referee_user_id, status, active,
-- source, created_at, converted_at, signed_up_at}], next}.
create function public.list_referrals(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_sort text := coalesce(p_filter->>'sort', 'created');
  v_desc boolean := coalesce(p_filter->>'dir', 'desc') <> 'asc';
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_after text := p_filter->>'after';
  v_member text;
  v_col text;
  v_rows jsonb;
begin
  if v_sort not in ('created', 'converted') then raise exception 'Unknown sort "%"', v_sort using errcode = 'RL400'; end if;
  v_col := v_sort || '_at';
  if nullif(p_filter->>'member', '') is not null then
    v_member := public.resolve_member(p_company_id, p_filter->>'member');
    if v_member is null then return jsonb_build_object('rows', '[]'::jsonb, 'next', null); end if;
  end if;
  execute format($q$
    select coalesce(jsonb_agg(jsonb_build_object('id', r.id, 'referrer', coalesce(ur.username, r.referrer_user_id),
      'referrer_user_id', r.referrer_user_id, 'referee', coalesce(ue.username, r.referee_user_id), 'referee_user_id', r.referee_user_id,
      'status', r.status, 'active', r.status = 'converted' and r.deactivated_at is null, 'source', r.source,
      'created_at', r.created_at, 'converted_at', r.converted_at, 'signed_up_at', r.signed_up_at,
      'cursor', r.%1$I::text || '|' || r.id) order by r.n), '[]')
    from (select r.*, row_number() over (order by r.%1$I %6$s, r.id %6$s) as n from (
      select * from public.referrals r
      where r.company_id = $1 %2$s %3$s %4$s %5$s
      order by r.%1$I %6$s, r.id %6$s limit $6) r) r
    left join public.users ur on ur.company_id = r.company_id and ur.user_id = r.referrer_user_id
    left join public.users ue on ue.company_id = r.company_id and ue.user_id = r.referee_user_id $q$,
    v_col,
    case when p_filter->>'status' is null then '' else 'and r.status = $2' end,
    case when v_member is null then '' else 'and r.referrer_user_id = $3' end,
    case when v_sort = 'converted' then 'and r.converted_at is not null' else '' end,
    case when v_after is null then '' else format('and (r.%I, r.id) %s ($4::timestamptz, $5::uuid)', v_col, case when v_desc then '<' else '>' end) end,
    case when v_desc then 'desc' else 'asc' end)
  into v_rows using p_company_id, p_filter->>'status', v_member, public.cursor_part(v_after, 1), public.cursor_part(v_after, 2), v_limit + 1;
  return public.page_of(v_rows, v_limit);
end $$;

-- Payouts of a company. p_filter: {status, member, sort (requested | amount), dir, after,
-- limit ≤ 50}. Returns {rows:[{id, user_id, member, amount_cents, currency, status, error,
-- whop_transfer_id, attempts, requested_at, completed_at}], next}.
create function public.list_payouts(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_sort text := coalesce(p_filter->>'sort', 'requested');
  v_desc boolean := coalesce(p_filter->>'dir', 'desc') <> 'asc';
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_after text := p_filter->>'after';
  v_member text;
  v_col text;
  v_rows jsonb;
begin
  if v_sort not in ('requested', 'amount') then raise exception 'Unknown sort "%"', v_sort using errcode = 'RL400'; end if;
  v_col := case v_sort when 'requested' then 'requested_at' else 'amount_cents' end;
  if nullif(p_filter->>'member', '') is not null then
    v_member := public.resolve_member(p_company_id, p_filter->>'member');
    if v_member is null then return jsonb_build_object('rows', '[]'::jsonb, 'next', null); end if;
  end if;
  execute format($q$
    select coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'user_id', o.user_id, 'member', coalesce(u.username, o.user_id),
      'amount_cents', o.amount_cents, 'currency', o.currency, 'status', o.status, 'error', o.error, 'reason', o.reason,
      'whop_transfer_id', o.whop_transfer_id, 'attempts', o.attempts, 'requested_at', o.requested_at,
      'completed_at', o.completed_at, 'cursor', o.%1$I::text || '|' || o.id) order by o.n), '[]')
    from (select o.*, row_number() over (order by o.%1$I %5$s, o.id %5$s) as n from (
      select * from public.payouts o where o.company_id = $1 %2$s %3$s %4$s
      order by o.%1$I %5$s, o.id %5$s limit $6) o) o
    left join public.users u on u.company_id = o.company_id and u.user_id = o.user_id $q$,
    v_col,
    case when p_filter->>'status' is null then '' else 'and o.status = $2' end,
    case when v_member is null then '' else 'and o.user_id = $3' end,
    case when v_after is null then '' else format('and (o.%I, o.id) %s ($4::%s, $5::uuid)', v_col,
      case when v_desc then '<' else '>' end, case v_sort when 'requested' then 'timestamptz' else 'bigint' end) end,
    case when v_desc then 'desc' else 'asc' end)
  into v_rows using p_company_id, p_filter->>'status', v_member, public.cursor_part(v_after, 1), public.cursor_part(v_after, 2), v_limit + 1;
  return public.page_of(v_rows, v_limit);
end $$;

-- The member's money and points (bounded): balances from member_money (program
-- currency, cents: pending, available (incl. a payout in progress), paid, reversed,
-- on_hold), upcoming (the next 20 pending commissions and when each becomes available),
-- payout eligibility, payouts (latest 20), points (balance, latest 50), items, redemptions
-- (latest 20).
create function public.get_member_wallet(p_company_id text, p_user_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_money public.member_money;
  v_open boolean;
  v_reason text;
begin
  v_program := public.ensure_program(p_company_id);
  select * into v_money from public.member_money
  where company_id = p_company_id and user_id = p_user_id and currency = v_program.currency;
  v_open := exists (select 1 from public.payouts where company_id = p_company_id and user_id = p_user_id
    and status in ('requested', 'processing'));
  v_reason := case
    when v_open then 'You have a payout in progress'
    when coalesce(v_money.available_cents, 0) < 0 then 'Your balance is negative after a refund'
    when coalesce(v_money.available_cents, 0) < greatest(v_program.min_payout_cents, 1) then 'Below the minimum payout'
  end;
  return jsonb_build_object(
    'currency', v_program.currency,
    'balances', jsonb_build_object(
      'pending', coalesce(v_money.pending_cents, 0),
      'available', coalesce(v_money.available_cents + v_money.in_payout_cents, 0),
      'paid', coalesce(v_money.paid_cents, 0),
      'on_hold', coalesce(v_money.on_hold_cents, 0),
      'reversed', coalesce(v_money.reversed_cents, 0)),
    'upcoming', coalesce((
      select jsonb_agg(jsonb_build_object('amount_cents', amount_cents - reversed_cents, 'available_at', available_at) order by available_at)
      from (select * from public.commissions where company_id = p_company_id and beneficiary_user_id = p_user_id
            and status = 'pending' order by available_at limit 20) c), '[]'),
    'payout', jsonb_build_object('can_request', v_reason is null, 'reason', v_reason,
      'available_cents', coalesce(v_money.available_cents, 0), 'min_payout_cents', v_program.min_payout_cents),
    'payouts', coalesce((
      select jsonb_agg(jsonb_build_object('id', id, 'amount_cents', amount_cents, 'currency', currency, 'status', status,
        'requested_at', requested_at, 'completed_at', completed_at, 'error', error) order by requested_at desc)
      from (select * from public.payouts where company_id = p_company_id and user_id = p_user_id
            order by requested_at desc limit 20) o), '[]'),
    'points', jsonb_build_object(
      'balance', coalesce((select balance from public.points_balances where company_id = p_company_id and user_id = p_user_id), 0),
      'history', coalesce((
        select jsonb_agg(jsonb_build_object('points', points, 'type', points_type, 'memo', memo, 'created_at', created_at)
          order by created_at desc, id desc)
        from (select * from public.transactions where company_id = p_company_id and user_id = p_user_id and kind = 'points'
              order by created_at desc, id desc limit 50) t), '[]')),
    'items', coalesce((
      select jsonb_agg(jsonb_build_object('id', id, 'name', name, 'cost_points', cost_points, 'grant_type', grant_type)
        order by cost_points)
      from public.points_items where company_id = p_company_id and is_active), '[]'),
    'redemptions', coalesce((
      select jsonb_agg(jsonb_build_object('id', r.id, 'item', i.name, 'cost_points', r.cost_points, 'status', r.status,
        'result', r.result, 'error', r.error, 'created_at', r.created_at) order by r.created_at desc)
      from (select * from public.redemptions where company_id = p_company_id and user_id = p_user_id
            order by created_at desc limit 20) r join public.points_items i on i.id = r.item_id), '[]'));
end $$;

-- Every rollup write of a company takes this lock first (transaction-scoped, re-entrant),
-- so rollup rows (daily_stats, member_money, referral_stats, …) are always locked in the
-- same order and concurrent writers can't deadlock on them; rebuild_analytics takes it too,
-- so writers wait for a rebuild instead of updating rows it is replacing. Writers of one
-- company already queue on today's daily_stats row, so this costs little.
create function public.lock_rollups(p_company_id text) returns void
language sql set search_path = '' as $$
  select pg_advisory_xact_lock(hashtextextended('rollups:' || p_company_id, 0))
$$;

-- A new code: its owner becomes a member of the stats.
create function public.trg_codes_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform public.lock_rollups(new.company_id);
  perform public.touch_member_stats(new.company_id, new.user_id);
  return null;
end $$;

-- A counted click: the code owner's clicks, the day's clicks, its source and country.
-- (counted never changes after insert.)
create function public.trg_clicks_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_user text;
  v_day date;
begin
  if not new.counted then return null; end if;
  perform public.lock_rollups(new.company_id);
  select user_id into v_user from public.referral_codes where id = new.code_id;
  v_day := public.local_day(new.company_id, new.created_at);
  update public.referral_stats set clicks = clicks + 1 where company_id = new.company_id and user_id = v_user;
  perform public.bump_daily(new.company_id, v_user, v_day, 1, 0, 0, 0, 0, 0);
  insert into public.daily_sources as s (company_id, dimension, day, value, clicks)
  values (new.company_id, 'domain', v_day, public.referrer_domain(new.referrer_url), 1),
         (new.company_id, 'country', v_day, coalesce(new.country, '??'), 1)
  on conflict (company_id, dimension, day, value) do update set clicks = s.clicks + 1;
  return null;
end $$;

create function public.trg_referrals_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform public.lock_rollups(coalesce(new.company_id, old.company_id));
  if tg_op = 'INSERT' then
    perform public.touch_member_stats(new.company_id, new.referrer_user_id);
    perform public.touch_member_stats(new.company_id, new.referee_user_id);
    perform public.apply_referral_stats(new, 1);
  elsif tg_op = 'UPDATE' then
    if (old.status, old.signed_up_at, old.converted_at, old.deactivated_at, old.referrer_user_id)
       is distinct from (new.status, new.signed_up_at, new.converted_at, new.deactivated_at, new.referrer_user_id) then
      perform public.apply_referral_stats(old, -1);
      perform public.apply_referral_stats(new, 1);
    end if;
  else
    perform public.apply_referral_stats(old, -1);
  end if;
  return null;
end $$;

-- What one attributed payment adds to its referrer's revenue (gross cents, its currency;
-- the day's revenue when in the program currency).
create function public.apply_payment_stats(p public.payments, p_sign integer) returns void
language plpgsql set search_path = '' as $$
declare v_referrer text;
begin
  if p.referral_id is null then return; end if;
  perform public.lock_rollups(p.company_id);
  select referrer_user_id into v_referrer from public.referrals where id = p.referral_id;
  insert into public.member_money as m (company_id, user_id, currency, revenue_cents)
  values (p.company_id, v_referrer, p.currency, p_sign * p.amount_cents)
  on conflict (company_id, user_id, currency) do update set revenue_cents = m.revenue_cents + excluded.revenue_cents;
  if p.currency = public.program_currency(p.company_id) then
    perform public.bump_daily(p.company_id, v_referrer, public.local_day(p.company_id, p.created_at), 0, 0, 0, p_sign * p.amount_cents, 0, 0);
  end if;
end $$;

-- What one commission row adds to its beneficiary's balances: its net (amount −
-- reversed) in the bucket of its status (available splits by whether a payout holds it),
-- and what refunds took back (reductions, or a clawback's amount).
create function public.apply_commission_stats(c public.commissions, p_sign integer) returns void
language plpgsql set search_path = '' as $$
declare v_net bigint := c.amount_cents - c.reversed_cents;
begin
  perform public.lock_rollups(c.company_id);
  insert into public.member_money as m (company_id, user_id, currency, pending_cents, available_cents, in_payout_cents,
    on_hold_cents, paid_cents, reversed_cents, commissions)
  values (c.company_id, c.beneficiary_user_id, c.currency,
    p_sign * case when c.status = 'pending' then v_net else 0 end,
    p_sign * case when c.status = 'available' and c.payout_id is null then v_net else 0 end,
    p_sign * case when c.status = 'available' and c.payout_id is not null then v_net else 0 end,
    p_sign * case when c.status = 'on_hold' then v_net else 0 end,
    p_sign * case when c.status = 'paid' then v_net else 0 end,
    p_sign * case when c.kind = 'clawback' then -c.amount_cents else c.reversed_cents end,
    p_sign)
  on conflict (company_id, user_id, currency) do update set
    pending_cents = m.pending_cents + excluded.pending_cents, available_cents = m.available_cents + excluded.available_cents,
    in_payout_cents = m.in_payout_cents + excluded.in_payout_cents, on_hold_cents = m.on_hold_cents + excluded.on_hold_cents,
    paid_cents = m.paid_cents + excluded.paid_cents, reversed_cents = m.reversed_cents + excluded.reversed_cents,
    commissions = m.commissions + excluded.commissions;
end $$;

-- Ledger rows in the program currency: the day's net commission movement (commission,
-- reversal, clawback, cancellation) for the company and the beneficiary, and payouts.
-- The ledger is append-only, so inserts are all there is.
create function public.trg_transactions_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.kind not in ('commission', 'reversal', 'clawback', 'cancellation', 'payout') or new.amount_cents = 0
     or new.currency is distinct from public.program_currency(new.company_id) then
    return null;
  end if;
  perform public.lock_rollups(new.company_id);
  if new.kind = 'payout' then
    perform public.bump_daily(new.company_id, null, public.local_day(new.company_id, new.created_at), 0, 0, 0, 0, 0, -new.amount_cents);
  else
    perform public.bump_daily(new.company_id, new.user_id, public.local_day(new.company_id, new.created_at), 0, 0, 0, 0, new.amount_cents, 0);
  end if;
  return null;
end $$;

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

-- Add to a company's day (daily_stats) and, with p_user_id, to the member's day
-- (member_daily); a member-day whose conversions cross zero updates the gaps.
create function public.bump_daily(p_company_id text, p_user_id text, p_day date,
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
-- source rows through analytics_expected_daily).
create function public.analytics_expected_referrer_gaps(p_company_id text)
returns table (company_id text, day date, prev_day date, n bigint)
language sql stable set search_path = '' as $$
  select p_company_id, day, prev_day, count(*) from (
    select day, coalesce(lag(day) over (partition by user_id order by day), '-infinity') as prev_day
    from public.member_daily where company_id = p_company_id and conversions > 0) x
  group by day, prev_day
$$;

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

-- The Overview of [p_from, p_to] (local dates, inclusive, program currency; active
-- referrers counted from the gaps by active_referrers):
-- {currency, timezone, granularity (day | week: weeks beyond 90 days), kpis:{current,
-- previous} each {clicks, signups, conversions, revenue_cents, commissions_cents,
-- paid_cents, active_referrers}, owed_cents (now), series:[{bucket, clicks, signups,
-- conversions, revenue_cents, commissions_cents}], top_by_revenue, top_by_conversions
-- (all time, 5 each), sources, countries (top 8 by counted clicks in the range)}.
-- The previous period is the same number of days just before p_from.
-- Errors: RL400 when p_to < p_from or the range exceeds 3 years.
create function public.get_overview(p_company_id text, p_from date, p_to date) returns jsonb
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

-- The plan rows recomputed from the referrals (the check and the repair).
create function public.analytics_expected_plan_stats(p_company_id text) returns setof public.referral_plan_stats
language sql stable set search_path = '' as $$
  select company_id, referrer_user_id, plan_id, count(*), count(*) filter (where deactivated_at is null)
  from public.referrals where company_id = p_company_id and status = 'converted' and plan_id is not null
  group by 1, 2, 3
$$;

-- Where the kept rollups of a company differ from what the source rows give: {ok,
-- differences: [{table, key, side: 'kept' | 'expected', row}] (the first 20)}. Covers
-- referral_stats, member_money, daily_stats, member_daily, daily_sources, referrer_gaps,
-- referrer_gaps_month and referral_plan_stats; all-zero rollup rows count as absent. Used by
-- the tests after every scenario and by the analytics-repair job.
create function public.check_analytics(p_company_id text) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare v jsonb;
begin
  with
  e_stats as (select * from public.analytics_expected_referral_stats(p_company_id)),
  k_stats as (select * from public.referral_stats where company_id = p_company_id),
  e_money as (select company_id, user_id, currency, pending_cents, available_cents, in_payout_cents, on_hold_cents, paid_cents,
                reversed_cents, commissions, revenue_cents from public.analytics_expected_member_money(p_company_id)),
  k_money as (select company_id, user_id, currency, pending_cents, available_cents, in_payout_cents, on_hold_cents, paid_cents,
                reversed_cents, commissions, revenue_cents from public.member_money where company_id = p_company_id),
  e_all as (select * from public.analytics_expected_daily(p_company_id)),
  e_day as (select day, sum(clicks) as clicks, sum(signups) as signups, sum(conversions) as conversions,
              sum(revenue_cents) as revenue_cents, sum(commissions_cents) as commissions_cents, sum(paid_cents) as paid_cents
            from e_all group by day),
  k_day as (select day, clicks::numeric, signups::numeric, conversions::numeric, revenue_cents::numeric,
              commissions_cents::numeric, paid_cents::numeric from public.daily_stats where company_id = p_company_id),
  e_mday as (select user_id, day, clicks, signups, conversions, revenue_cents, commissions_cents from e_all where user_id is not null),
  k_mday as (select user_id, day, clicks, signups, conversions, revenue_cents, commissions_cents from public.member_daily
             where company_id = p_company_id),
  e_src as (select * from public.analytics_expected_sources(p_company_id)),
  k_src as (select * from public.daily_sources where company_id = p_company_id and clicks <> 0),
  e_gaps as (select * from public.analytics_expected_referrer_gaps(p_company_id)),
  k_gaps as (select * from public.referrer_gaps where company_id = p_company_id),
  e_gmonth as (select company_id, day, public.gap_month(prev_day) as prev_month, sum(n)::bigint as n from e_gaps group by 1, 2, 3),
  k_gmonth as (select * from public.referrer_gaps_month where company_id = p_company_id),
  e_plans as (select * from public.analytics_expected_plan_stats(p_company_id)),
  k_plans as (select * from public.referral_plan_stats where company_id = p_company_id and (conversions, active_referrals) <> (0, 0)),
  diffs as (
    select 'referral_stats' as t, x.user_id as key, to_jsonb(x) as row, 'kept' as side from (select * from k_stats except select * from e_stats) x
    union all select 'referral_stats', x.user_id, to_jsonb(x), 'expected' from (select * from e_stats except select * from k_stats) x
    union all select 'member_money', x.user_id || ' ' || x.currency, to_jsonb(x), 'kept' from (
      select * from k_money where (pending_cents, available_cents, in_payout_cents, on_hold_cents, paid_cents, reversed_cents, commissions, revenue_cents) <> (0,0,0,0,0,0,0,0) or currency = public.program_currency(p_company_id)
      except select * from e_money) x
    union all select 'member_money', x.user_id || ' ' || x.currency, to_jsonb(x), 'expected' from (
      select * from e_money where (pending_cents, available_cents, in_payout_cents, on_hold_cents, paid_cents, reversed_cents, commissions, revenue_cents) <> (0,0,0,0,0,0,0,0) or currency = public.program_currency(p_company_id)
      except select * from k_money) x
    union all select 'daily_stats', x.day::text, to_jsonb(x), 'kept' from (
      select * from k_day where (clicks, signups, conversions, revenue_cents, commissions_cents, paid_cents) <> (0,0,0,0,0,0)
      except select * from e_day) x
    union all select 'daily_stats', x.day::text, to_jsonb(x), 'expected' from (
      select * from e_day where (clicks, signups, conversions, revenue_cents, commissions_cents, paid_cents) <> (0,0,0,0,0,0)
      except select * from k_day) x
    union all select 'member_daily', x.user_id || ' ' || x.day, to_jsonb(x), 'kept' from (
      select * from k_mday where (clicks, signups, conversions, revenue_cents, commissions_cents) <> (0,0,0,0,0)
      except select * from e_mday) x
    union all select 'member_daily', x.user_id || ' ' || x.day, to_jsonb(x), 'expected' from (
      select * from e_mday where (clicks, signups, conversions, revenue_cents, commissions_cents) <> (0,0,0,0,0)
      except select * from k_mday) x
    union all select 'daily_sources', x.dimension || ' ' || x.value || ' ' || x.day, to_jsonb(x), 'kept' from (select * from k_src except select * from e_src) x
    union all select 'daily_sources', x.dimension || ' ' || x.value || ' ' || x.day, to_jsonb(x), 'expected' from (select * from e_src except select * from k_src) x
    union all select 'referrer_gaps', x.day || ' after ' || x.prev_day, to_jsonb(x), 'kept' from (select * from k_gaps except select * from e_gaps) x
    union all select 'referrer_gaps', x.day || ' after ' || x.prev_day, to_jsonb(x), 'expected' from (select * from e_gaps except select * from k_gaps) x
    union all select 'referrer_gaps_month', x.day || ' after ' || x.prev_month, to_jsonb(x), 'kept' from (select * from k_gmonth except select * from e_gmonth) x
    union all select 'referrer_gaps_month', x.day || ' after ' || x.prev_month, to_jsonb(x), 'expected' from (select * from e_gmonth except select * from k_gmonth) x
    union all select 'referral_plan_stats', x.user_id || ' ' || x.plan_id, to_jsonb(x), 'kept' from (select * from k_plans except select * from e_plans) x
    union all select 'referral_plan_stats', x.user_id || ' ' || x.plan_id, to_jsonb(x), 'expected' from (select * from e_plans except select * from k_plans) x)
  select jsonb_build_object('ok', count(*) = 0, 'differences',
    coalesce((select jsonb_agg(jsonb_build_object('table', t, 'key', key, 'side', side, 'row', row)) from (select * from diffs limit 20) d), '[]'))
  into v from diffs;
  return v;
end $$;

-- Repair: replace a company's rollups (every table check_analytics covers) with the ones
-- recomputed from the source rows — the repair job, a time zone change, bulk loads.
-- Returns {rebuilt}.
create function public.rebuild_analytics(p_company_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
begin
  -- writers of this company wait until the rebuilt rows are committed (lock_rollups)
  perform public.lock_rollups(p_company_id);
  delete from public.referral_stats where company_id = p_company_id;
  delete from public.member_money where company_id = p_company_id;
  delete from public.daily_stats where company_id = p_company_id;
  delete from public.member_daily where company_id = p_company_id;
  delete from public.daily_sources where company_id = p_company_id;
  insert into public.referral_stats select * from public.analytics_expected_referral_stats(p_company_id);
  insert into public.member_money (company_id, user_id, currency, pending_cents, available_cents, in_payout_cents, on_hold_cents,
    paid_cents, reversed_cents, commissions, revenue_cents)
  select company_id, user_id, currency, pending_cents, available_cents, in_payout_cents, on_hold_cents, paid_cents,
    reversed_cents, commissions, revenue_cents from public.analytics_expected_member_money(p_company_id);
  create temporary table if not exists pg_temp.expected_daily on commit drop as
    select * from public.analytics_expected_daily(p_company_id);
  insert into public.daily_stats (company_id, day, clicks, signups, conversions, revenue_cents, commissions_cents, paid_cents)
  select p_company_id, day, sum(clicks), sum(signups), sum(conversions), sum(revenue_cents), sum(commissions_cents), sum(paid_cents)
  from pg_temp.expected_daily group by day;
  insert into public.member_daily (company_id, user_id, day, clicks, signups, conversions, revenue_cents, commissions_cents)
  select p_company_id, user_id, day, clicks, signups, conversions, revenue_cents, commissions_cents
  from pg_temp.expected_daily where user_id is not null;
  drop table pg_temp.expected_daily;
  insert into public.daily_sources select * from public.analytics_expected_sources(p_company_id);
  delete from public.referrer_gaps where company_id = p_company_id;
  delete from public.referrer_gaps_month where company_id = p_company_id;
  insert into public.referrer_gaps select * from public.analytics_expected_referrer_gaps(p_company_id);
  insert into public.referrer_gaps_month
  select company_id, day, public.gap_month(prev_day), sum(n) from public.referrer_gaps where company_id = p_company_id group by 1, 2, 3;
  delete from public.referral_plan_stats where company_id = p_company_id;
  insert into public.referral_plan_stats select * from public.analytics_expected_plan_stats(p_company_id);
  return jsonb_build_object('rebuilt', p_company_id);
end $$;

-- One member for the creator: {member (member_rows), referred_by, referrals (latest 20),
-- payouts (latest 20), points (latest 30 ledger rows), plans: their referrals per plan
-- [{plan_id, conversions, active_referrals}] (most conversions first, 20)}; null when not a
-- member.
create function public.get_member_detail(p_company_id text, p_user_id text) returns jsonb
language sql stable security definer set search_path = '' as $$
  select case when not exists (select 1 from public.referral_stats where company_id = p_company_id and user_id = p_user_id) then null
  else jsonb_build_object(
    'member', public.member_rows(p_company_id, array[p_user_id])->0,
    'referred_by', (select jsonb_build_object('user_id', r.referrer_user_id, 'username', coalesce(u.username, r.referrer_user_id))
      from public.referrals r left join public.users u on u.company_id = r.company_id and u.user_id = r.referrer_user_id
      where r.company_id = p_company_id and r.referee_user_id = p_user_id),
    'referrals', coalesce((select jsonb_agg(x order by x->>'created_at' desc) from (
      select jsonb_build_object('id', r.id, 'referee', coalesce(u.username, r.referee_user_id), 'status', r.status,
        'active', r.status = 'converted' and r.deactivated_at is null, 'source', r.source,
        'created_at', r.created_at, 'converted_at', r.converted_at) as x
      from public.referrals r left join public.users u on u.company_id = r.company_id and u.user_id = r.referee_user_id
      where r.company_id = p_company_id and r.referrer_user_id = p_user_id order by r.created_at desc limit 20) s), '[]'),
    'payouts', coalesce((select jsonb_agg(jsonb_build_object('id', o.id, 'amount_cents', o.amount_cents, 'currency', o.currency,
        'status', o.status, 'requested_at', o.requested_at, 'completed_at', o.completed_at, 'error', o.error) order by o.requested_at desc)
      from (select * from public.payouts where company_id = p_company_id and user_id = p_user_id order by requested_at desc limit 20) o), '[]'),
    'points', coalesce((select jsonb_agg(jsonb_build_object('points', t.points, 'type', t.points_type, 'memo', t.memo,
        'created_at', t.created_at) order by t.created_at desc, t.id desc)
      from (select * from public.transactions where company_id = p_company_id and user_id = p_user_id and kind = 'points'
            order by created_at desc, id desc limit 30) t), '[]'),
    'plans', coalesce((
      select jsonb_agg(jsonb_build_object('plan_id', s.plan_id, 'conversions', s.conversions, 'active_referrals', s.active_referrals)
                       order by s.conversions desc, s.plan_id)
      from (select * from public.referral_plan_stats where company_id = p_company_id and user_id = p_user_id and conversions > 0
            order by conversions desc, plan_id limit 20) s), '[]'))
  end
$$;

-- The creator's commissions list. p_filter: {status, level, kind, member, from, to (local
-- dates), sort (created | amount), dir, after, limit ≤ 50}. Each row says how its rate was
-- made: rate_bp = the base rate + campaign_bonus_bp (the campaign's part, with campaign_id) +
-- tier_bonus_bp, times streak_multiplier for a level-1 commission; kind 'bonus' rows are
-- campaign prizes paid as money (no payment). Returns {rows:[…], next}.
create function public.list_commissions(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_sort text := coalesce(p_filter->>'sort', 'created');
  v_desc boolean := coalesce(p_filter->>'dir', 'desc') <> 'asc';
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_after text := p_filter->>'after';
  v_tz text;
  v_member text;
  v_col text;
  v_rows jsonb;
begin
  if v_sort not in ('created', 'amount') then raise exception 'Unknown sort "%"', v_sort using errcode = 'RL400'; end if;
  v_col := case v_sort when 'created' then 'created_at' else 'amount_cents' end;
  v_tz := coalesce((select timezone from public.programs where company_id = p_company_id), 'UTC');
  if nullif(p_filter->>'member', '') is not null then
    v_member := public.resolve_member(p_company_id, p_filter->>'member');
    if v_member is null then return jsonb_build_object('rows', '[]'::jsonb, 'next', null); end if;
  end if;
  execute format($q$
    select coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'beneficiary', coalesce(u.username, c.beneficiary_user_id),
      'beneficiary_user_id', c.beneficiary_user_id, 'payment_id', c.payment_id, 'level', c.level, 'kind', c.kind,
      'base_amount_cents', c.base_amount_cents, 'rate_bp', c.rate_bp, 'amount_cents', c.amount_cents,
      'reversed_cents', c.reversed_cents, 'currency', c.currency, 'status', c.status, 'reason', c.reason,
      'campaign_bonus_bp', c.campaign_bonus_bp, 'campaign_id', c.campaign_id,
      'tier_bonus_bp', c.tier_bonus_bp, 'streak_multiplier', c.streak_multiplier,
      'available_at', c.available_at, 'created_at', c.created_at, 'paid_at', c.paid_at,
      'cursor', c.%1$I::text || '|' || c.id) order by c.n), '[]')
    from (select c.*, row_number() over (order by c.%1$I %9$s, c.id %9$s) as n from (
      select * from public.commissions c
      where c.company_id = $1 %2$s %3$s %4$s %5$s %6$s %7$s %8$s
      order by c.%1$I %9$s, c.id %9$s limit $10) c) c
    left join public.users u on u.company_id = c.company_id and u.user_id = c.beneficiary_user_id $q$,
    v_col,
    case when p_filter->>'status' is null then '' else 'and c.status = $2' end,
    case when p_filter->>'level' is null then '' else 'and c.level = $3::integer' end,
    case when p_filter->>'kind' is null then '' else 'and c.kind = $4' end,
    case when v_member is null then '' else 'and c.beneficiary_user_id = $5' end,
    case when p_filter->>'from' is null then '' else 'and c.created_at >= ($6::date)::timestamp at time zone $11' end,
    case when p_filter->>'to' is null then '' else 'and c.created_at < ($7::date + 1)::timestamp at time zone $11' end,
    case when v_after is null then '' else format('and (c.%I, c.id) %s ($8::%s, $9::uuid)', v_col,
      case when v_desc then '<' else '>' end, case v_sort when 'created' then 'timestamptz' else 'bigint' end) end,
    case when v_desc then 'desc' else 'asc' end)
  into v_rows using p_company_id, p_filter->>'status', p_filter->>'level', p_filter->>'kind', v_member,
    p_filter->>'from', p_filter->>'to', public.cursor_part(v_after, 1), public.cursor_part(v_after, 2), v_limit + 1, v_tz;
  return public.page_of(v_rows, v_limit);
end $$;

-- Members of a company (everyone with a code or a referral); a search lists usernames in
-- byte order. p_filter: {q (username
-- prefix or exact code), sort (conversions | clicks | signups | active_referrals |
-- revenue | earned | paid | available; default conversions), dir (desc | asc), after,
-- limit ≤ 50}. Returns {rows:[member_rows], next: cursor | null}.
create function public.list_members(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_sort text := coalesce(p_filter->>'sort', 'conversions');
  v_desc boolean := coalesce(p_filter->>'dir', 'desc') <> 'asc';
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_after text := p_filter->>'after';
  v_q text := nullif(trim(p_filter->>'q'), '');
  v_col text;
  v_from text;
  v_ids text[];
  v_next text;
begin
  if v_q is not null then
    -- a search is a short list: the exact code, then the first 50 usernames with this
    -- prefix in the index's order (~<~, byte order: the scan stops after 50 however many
    -- match; EXECUTE so the prefix uses the index)
    execute $q$
      select array_agg(user_id order by k, name) from (
        select user_id, min(k) as k, min(name) as name from (
          (select c.user_id, 0 as k, '' collate "C" as name from public.referral_codes c
           where c.company_id = $1 and lower(c.code) = lower($2))
          union all
          (select u.user_id, 1, lower(u.username) collate "C" from public.users u
           where u.company_id = $1 and lower(u.username) like $3
             and exists (select 1 from public.referral_stats s where s.company_id = $1 and s.user_id = u.user_id)
           order by lower(u.username) using ~<~ limit 50)) m
        group by user_id order by min(k), min(name) limit 50) x $q$
    into v_ids
    using p_company_id, v_q, replace(replace(replace(lower(v_q), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    return jsonb_build_object('rows', public.member_rows(p_company_id, coalesce(v_ids, '{}')), 'next', null);
  end if;
  if v_sort in ('conversions', 'clicks', 'signups', 'active_referrals') then
    v_col := v_sort;
    v_from := 'public.referral_stats t where t.company_id = $1';
  elsif v_sort in ('revenue', 'earned', 'paid', 'available') then
    v_col := v_sort || '_cents';
    v_from := 'public.member_money t where t.company_id = $1 and t.currency = public.program_currency($1)';
  else
    raise exception 'Unknown sort "%"', v_sort using errcode = 'RL400';
  end if;
  execute format(
    'select array_agg(x.user_id order by x.v %3$s, x.user_id %3$s) from (select t.user_id, t.%1$I as v from %2$s %4$s order by t.%1$I %3$s, t.user_id %3$s limit $4) x',
    v_col, v_from, case when v_desc then 'desc' else 'asc' end,
    case when v_after is null then '' else format('and (t.%I, t.user_id) %s ($2::bigint, $3)', v_col, case when v_desc then '<' else '>' end) end)
  into v_ids using p_company_id, public.cursor_part(v_after, 1), public.cursor_part(v_after, 2), v_limit + 1;
  v_ids := coalesce(v_ids, '{}');
  if cardinality(v_ids) > v_limit then
    v_ids := v_ids[1:v_limit];
    execute format('select t.%I::text || ''|'' || t.user_id from %s and t.user_id = $2', v_col, v_from)
      into v_next using p_company_id, v_ids[v_limit];
  end if;
  return jsonb_build_object('rows', public.member_rows(p_company_id, v_ids),
    'next', v_next);
end $$;

-- Everything the member's Home shows, its latest referrals read
-- from referrals_referrer_recent_idx alone (the columns shown, not the row):
-- {code, code_active, funnel:{clicks, signups, conversions, active_referrals}, earnings
-- (get_user_referral_earnings), this_month_cents (commissions earned this local month,
-- program currency), series (last 30 local days: clicks, conversions, commissions_cents),
-- referrals (latest 50), referred_by, program:{currency, min_payout_cents, timezone}}.
-- Creates the member's code on first visit.
create function public.get_member_view(p_company_id text, p_user_id text, p_username text, p_name text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_code text;
  v_program public.programs;
  v_today date;
begin
  v_code := public.get_or_create_code(p_company_id, p_user_id, p_username, p_name)->>'code';
  select * into v_program from public.programs where company_id = p_company_id;
  v_today := (now() at time zone v_program.timezone)::date;
  return jsonb_build_object(
    'code', v_code,
    'code_active', (select is_active from public.referral_codes where company_id = p_company_id and user_id = p_user_id),
    'funnel', (select jsonb_build_object('clicks', clicks, 'signups', signups, 'conversions', conversions, 'active_referrals', active_referrals)
               from public.referral_stats where company_id = p_company_id and user_id = p_user_id),
    'earnings', coalesce((select jsonb_agg(to_jsonb(e)) from public.get_user_referral_earnings(p_company_id, p_user_id) e), '[]'::jsonb),
    'this_month_cents', (select coalesce(sum(commissions_cents), 0) from public.member_daily
      where company_id = p_company_id and user_id = p_user_id and day >= date_trunc('month', v_today)::date),
    'series', (select jsonb_agg(jsonb_build_object('bucket', g::date, 'clicks', coalesce(d.clicks, 0),
        'conversions', coalesce(d.conversions, 0), 'commissions_cents', coalesce(d.commissions_cents, 0)) order by g)
      from generate_series(v_today - 29, v_today, interval '1 day') g
      left join public.member_daily d on d.company_id = p_company_id and d.user_id = p_user_id and d.day = g::date),
    'referrals', coalesce((
      select jsonb_agg(jsonb_build_object('referee', coalesce(u.username, u.name, r.referee_user_id),
        'status', r.status, 'active', r.status = 'converted' and r.deactivated_at is null, 'source', r.source,
        'created_at', r.created_at, 'converted_at', r.converted_at) order by r.created_at desc)
      from (select company_id, referee_user_id, status, deactivated_at, source, created_at, converted_at
            from public.referrals where company_id = p_company_id and referrer_user_id = p_user_id
            order by created_at desc limit 50) r
      left join public.users u on u.company_id = r.company_id and u.user_id = r.referee_user_id), '[]'::jsonb),
    'referred_by', (
      select jsonb_build_object('user_id', r.referrer_user_id, 'username', coalesce(u.username, u.name, r.referrer_user_id))
      from public.referrals r
      left join public.users u on u.company_id = r.company_id and u.user_id = r.referrer_user_id
      where r.company_id = p_company_id and r.referee_user_id = p_user_id),
    'program', jsonb_build_object('currency', v_program.currency, 'min_payout_cents', v_program.min_payout_cents,
      'timezone', v_program.timezone));
end $$;

-- Earnings of one member per currency, read from member_money (kept with
-- every commission change): total = pending + available + paid (in a payout counts as
-- available); pending_earnings = pending + available; paid = paid. on_hold, reversed and
-- cancelled count nowhere. Currencies the member never had a commission in are left out.
create function public.get_user_referral_earnings(p_company_id text, p_user_id text)
returns table (currency text, total_earnings bigint, pending_earnings bigint, paid_earnings bigint)
language sql stable security definer set search_path = '' as $$
  select m.currency, m.earned_cents, m.pending_cents + m.available_cents + m.in_payout_cents, m.paid_cents
  from public.member_money m
  where m.company_id = p_company_id and m.user_id = p_user_id and m.commissions > 0
  order by m.currency
$$;

-- ── Triggers ────────────────────────────────────────────────────────────────

create trigger referral_codes_stats after insert on public.referral_codes
  for each row execute function public.trg_codes_stats();

create trigger referral_clicks_stats after insert on public.referral_clicks
  for each row execute function public.trg_clicks_stats();

create trigger referrals_stats after insert or update or delete on public.referrals
  for each row execute function public.trg_referrals_stats();

create trigger payments_stats after insert or update or delete on public.payments
  for each row execute function public.trg_payments_stats();

create trigger commissions_stats after insert or update or delete on public.commissions
  for each row execute function public.trg_commissions_stats();

create trigger transactions_stats after insert on public.transactions
  for each row execute function public.trg_transactions_stats();

create trigger referrals_plan_stats after insert or delete or update of status, deactivated_at, plan_id, referrer_user_id
  on public.referrals for each row execute function public.trg_referrals_plan_stats();

-- ════ supabase/schemas/40_fraud.sql ════

-- Fraud: fraud_checks (the evidence of a conversion's checks) and member_sightings (where
-- members were seen), with run_fraud_checks at conversion, the review (decide_referral,
-- decide_referrals, the queue's reads) and the allow-list (set_member_trusted). Order: the
-- fuzzystrmatch extension, tables, functions, then the programs check that needs
-- fraud_weights_valid. No triggers. See docs/architecture.md "Fraud".

-- levenshtein() for "very similar" emails (a trusted contrib extension; Supabase ships it)
create schema if not exists extensions;
create extension if not exists fuzzystrmatch with schema extensions;

-- ── Tables ──────────────────────────────────────────────────────────────────

-- One row per signal checked at a referral's conversion (stored when anything was flagged)
create table public.fraud_checks (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  referral_id uuid not null references public.referrals(id),
  check_type text not null check (check_type in ('self_referral', 'ip_duplicate', 'device_duplicate', 'email_duplicate',
    'disposable_email', 'velocity_limit', 'fast_conversion', 'ring')),
  flagged boolean not null,
  weight integer not null check (weight between 0 and 100),
  -- what matched, in structured form (lib/fraud words it); never a raw IP, email or card
  details jsonb not null default '{}',
  created_at timestamptz not null default now(),
  unique (referral_id, check_type)
);

alter table public.fraud_checks enable row level security;

-- Where a member has been seen: keyed hashes of their IP, IP prefix (/24, /48) and device,
-- from the member app and from the click that brought them in.
create table public.member_sightings (
  company_id text not null,
  user_id text not null,
  kind text not null check (kind in ('ip', 'ip_prefix', 'device')),
  hash text not null check (hash ~ '^[0-9a-f]{64}$'),
  source text not null check (source in ('member_app', 'own_click')),
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  primary key (company_id, kind, hash, user_id)
);

alter table public.member_sightings enable row level security;

-- ── Functions ───────────────────────────────────────────────────────────────

-- The eight signals and their default weights (a program's fraud_weights override them).
create function public.fraud_default_weights() returns jsonb
language sql immutable set search_path = '' as $$
  select '{"self_referral": 60, "email_duplicate": 60, "ring": 60, "ip_duplicate": 30, "device_duplicate": 30,
           "velocity_limit": 30, "disposable_email": 20, "fast_conversion": 20}'::jsonb
$$;

-- A weights override: only known signals, each an integer 0–100.
create function public.fraud_weights_valid(p jsonb) returns boolean
language sql immutable set search_path = '' as $$
  select jsonb_typeof(p) = 'object' and not exists (
    select 1 from jsonb_each(p) e
    where not (public.fraud_default_weights() ? e.key)
       or jsonb_typeof(e.value) <> 'number' or e.value::text !~ '^\d{1,3}$' or e.value::text::integer > 100)
$$;

-- Remember that p_user_id was seen with these hashes (any may be null). A sighting already
-- recorded within the hour is not written again, so member-app page views stay reads.
create function public.record_sighting(p_company_id text, p_user_id text, p_source text,
  p_ip_hash text, p_ip_prefix_hash text, p_device_hash text) returns void
language plpgsql security definer set search_path = '' as $$
declare s record;
begin
  for s in select * from (values ('ip', p_ip_hash), ('ip_prefix', p_ip_prefix_hash), ('device', p_device_hash)) v(kind, hash)
           where hash is not null loop
    if exists (select 1 from public.member_sightings where company_id = p_company_id and kind = s.kind and hash = s.hash
               and user_id = p_user_id and last_seen_at > now() - interval '1 hour') then
      continue;
    end if;
    insert into public.member_sightings (company_id, user_id, kind, hash, source)
    values (p_company_id, p_user_id, s.kind, s.hash, p_source)
    on conflict (company_id, kind, hash, user_id) do update set last_seen_at = now();
  end loop;
end $$;

-- A member opened the member app (lib/fraud records it from the request headers).
create function public.record_member_visit(p_company_id text, p_user_id text,
  p_ip_hash text, p_ip_prefix_hash text, p_device_hash text) returns void
language sql security definer set search_path = '' as $$
  select public.record_sighting(p_company_id, p_user_id, 'member_app', p_ip_hash, p_ip_prefix_hash, p_device_hash)
$$;

-- The weight of a signal in this program (its override, else the default).
create function public.fraud_weight(p_program public.programs, p_check text) returns integer
language sql immutable set search_path = '' as $$
  select coalesce((p_program.fraud_weights->>p_check)::integer, (public.fraud_default_weights()->>p_check)::integer)
$$;

-- Run the eight checks of a referral at its conversion and decide:
--   self_referral     this payment's method hash (card brand + last4 + billing postal code)
--                     equals one of the referrer's (or their upline's) own payments here
--   ip_duplicate      the attributing click's IP hash was seen for the referrer (member app,
--                     or the click that brought them in); the same /24 or /48 alone is noted,
--                     not flagged
--   device_duplicate  the same with the device hash
--   email_duplicate   the referee's normalised email equals the referrer's, or has the same
--                     domain and a local part 1 edit away (2 when both have 8+ characters)
--   disposable_email  the app found the referee's email domain in a throwaway list (mailchecker)
--   velocity_limit    the referrer has more conversions than fraud_velocity_hour in the last
--                     hour or fraud_velocity_day in the last day (this one included)
--   fast_conversion   click to this payment in under fraud_min_seconds
--   ring              the referee is in the referrer's chain through any referral, cancelled
--                     ones included (A referred B, B now refers A), at any level
-- Score = least(100, Σ weights of flagged checks). Status: trusted referrer → clear; mode
-- 'hold' and score ≥ fraud_hold_score → held; anything flagged → flagged; else clear.
-- fraud_mode 'off' runs nothing. The eight rows are stored only when something was flagged
-- (a clean conversion keeps score 0, status clear and no rows). Idempotent per referral.
-- Returns the referral as updated.
create function public.run_fraud_checks(p_company_id text, p_referral_id uuid, p_payment_id text, p_signals jsonb)
returns public.referrals
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_ref public.referrals;
  v_click public.referral_clicks;
  v_chain text[] := '{}';
  v_next text;
  v_hit record;
  v_referee_email text;
  v_referrer_email text;
  v_distance integer;
  v_allowed integer;
  v_hour bigint;
  v_day bigint;
  v_seconds numeric;
  v_ring integer;
  v_score integer;
  v_any boolean;
  v_trusted boolean;
  v_found jsonb := '[]';  -- [{check_type, flagged, details}]
  c record;
begin
  select * into v_program from public.programs where company_id = p_company_id;
  select * into v_ref from public.referrals where id = p_referral_id and company_id = p_company_id;
  if v_program.fraud_mode = 'off' or v_ref.id is null then return v_ref; end if;
  if v_ref.click_id is not null then select * into v_click from public.referral_clicks where id = v_ref.click_id; end if;

  -- the referrer's chain (referrer, their referrer, …) through live referrals, 5 levels
  v_next := v_ref.referrer_user_id;
  while v_next is not null and cardinality(v_chain) < 5 loop
    v_chain := v_chain || v_next;
    v_next := public.referrer_of(p_company_id, v_next);
  end loop;

  -- self_referral
  select p.user_id, p.created_at into v_hit from public.payments p
  where p.company_id = p_company_id and p.method_hash = p_signals->>'method_hash' and p.user_id = any(v_chain)
  order by p.created_at limit 1;
  v_found := v_found || jsonb_build_object('check_type', 'self_referral', 'flagged', v_hit.user_id is not null, 'details', case when v_hit.user_id is null then jsonb_build_object('checked', case when p_signals->>'method_hash' is null then 'no_payment_method' else 'payment_method' end)
    else jsonb_build_object('match', 'payment_method', 'user_id', v_hit.user_id, 'paid_at', v_hit.created_at,
      'card_brand', p_signals->>'card_brand', 'card_last4', p_signals->>'card_last4') end);

  -- ip_duplicate and device_duplicate: the attributing click against the referrer's sightings
  for c in select * from (values ('ip_duplicate', 'ip', v_click.ip_hash, 'ip_prefix', v_click.ip_prefix_hash),
                                 ('device_duplicate', 'device', v_click.device_hash, null, null)) v(check_type, kind, hash, prefix_kind, prefix_hash) loop
    if c.hash is null then
      v_found := v_found || jsonb_build_object('check_type', c.check_type, 'flagged', false, 'details', jsonb_build_object('checked', case when v_click.id is null then 'no_click' else 'not_known' end));
      continue;
    end if;
    select s.source, s.first_seen_at into v_hit from public.member_sightings s
    where s.company_id = p_company_id and s.kind = c.kind and s.hash = c.hash and s.user_id = v_ref.referrer_user_id;
    if v_hit.source is not null then
      v_found := v_found || jsonb_build_object('check_type', c.check_type, 'flagged', true, 'details', jsonb_build_object('seen', v_hit.source, 'seen_at', v_hit.first_seen_at));
      continue;
    end if;
    if c.prefix_hash is not null then
      select s.source, s.first_seen_at into v_hit from public.member_sightings s
      where s.company_id = p_company_id and s.kind = c.prefix_kind and s.hash = c.prefix_hash and s.user_id = v_ref.referrer_user_id;
    end if;
    v_found := v_found || jsonb_build_object('check_type', c.check_type, 'flagged', false, 'details', case when v_hit.source is not null then jsonb_build_object('same_network', true, 'seen', v_hit.source, 'seen_at', v_hit.first_seen_at)
      else jsonb_build_object('checked', 'no_match') end);
  end loop;

  -- email_duplicate
  v_referee_email := coalesce(p_signals->>'email',
    (select email_normalized from public.users where company_id = p_company_id and user_id = v_ref.referee_user_id));
  v_referrer_email := (select email_normalized from public.users where company_id = p_company_id and user_id = v_ref.referrer_user_id);
  if v_referee_email is null or v_referrer_email is null then
    v_found := v_found || jsonb_build_object('check_type', 'email_duplicate', 'flagged', false, 'details', jsonb_build_object('checked', case when v_referee_email is null then 'no_referee_email' else 'no_referrer_email' end));
  elsif v_referee_email = v_referrer_email then
    v_found := v_found || jsonb_build_object('check_type', 'email_duplicate', 'flagged', true, 'details', jsonb_build_object('match', 'exact'));
  else
    -- similar: the same domain and local parts at most 1 edit apart (2 when both have 8+
    -- characters); short names differ by little by nature (amy@ / ann@ are two people)
    if split_part(v_referee_email, '@', 2) = split_part(v_referrer_email, '@', 2) then
      v_distance := extensions.levenshtein(left(split_part(v_referee_email, '@', 1), 255), left(split_part(v_referrer_email, '@', 1), 255));
      v_allowed := case when least(length(split_part(v_referee_email, '@', 1)), length(split_part(v_referrer_email, '@', 1))) >= 8 then 2
                        when least(length(split_part(v_referee_email, '@', 1)), length(split_part(v_referrer_email, '@', 1))) >= 5 then 1
                        else 0 end;
    end if;
    v_found := v_found || jsonb_build_object('check_type', 'email_duplicate', 'flagged', coalesce(v_distance <= v_allowed, false), 'details', case when v_distance <= v_allowed then jsonb_build_object('match', 'similar', 'distance', v_distance)
      else jsonb_build_object('checked', 'different') end);
  end if;

  -- disposable_email
  v_found := v_found || jsonb_build_object('check_type', 'disposable_email', 'flagged', coalesce((p_signals->>'email_disposable')::boolean, false), 'details', case when coalesce((p_signals->>'email_disposable')::boolean, false)
      then jsonb_build_object('domain', split_part(v_referee_email, '@', 2))
      else jsonb_build_object('checked', case when v_referee_email is null then 'no_referee_email' else 'not_disposable' end) end);

  -- velocity_limit (this referral is already converted, so it counts itself)
  select count(*) filter (where converted_at > now() - interval '1 hour'), count(*) into v_hour, v_day
  from public.referrals
  where company_id = p_company_id and referrer_user_id = v_ref.referrer_user_id and converted_at > now() - interval '1 day'
    and status = 'converted';
  v_found := v_found || jsonb_build_object('check_type', 'velocity_limit', 'flagged', v_hour > v_program.fraud_velocity_hour or v_day > v_program.fraud_velocity_day, 'details', jsonb_build_object('last_hour', v_hour, 'last_day', v_day,
      'limit_hour', v_program.fraud_velocity_hour, 'limit_day', v_program.fraud_velocity_day));

  -- fast_conversion
  if v_click.id is null then
    v_found := v_found || jsonb_build_object('check_type', 'fast_conversion', 'flagged', false, 'details', jsonb_build_object('checked', 'no_click'));
  else
    v_seconds := round(extract(epoch from now() - v_click.created_at)::numeric, 1);
    v_found := v_found || jsonb_build_object('check_type', 'fast_conversion', 'flagged', v_seconds < v_program.fraud_min_seconds, 'details', jsonb_build_object('seconds', v_seconds, 'minimum', v_program.fraud_min_seconds));
  end if;

  -- ring: walk the referrer's chain through every referral, whatever its status
  with recursive up(user_id, depth) as (
    select r.referrer_user_id, 1 from public.referrals r
    where r.company_id = p_company_id and r.referee_user_id = v_ref.referrer_user_id
    union all
    select r.referrer_user_id, u.depth + 1 from public.referrals r join up u on r.referee_user_id = u.user_id
    where r.company_id = p_company_id and u.depth < 50)
  select min(depth) into v_ring from up where user_id = v_ref.referee_user_id;
  v_found := v_found || jsonb_build_object('check_type', 'ring', 'flagged', v_ring is not null, 'details', case when v_ring is null then jsonb_build_object('checked', 'no_loop')
    else jsonb_build_object('level', v_ring) end);

  -- decide, and keep the evidence (all eight checks, flagged or not) of a referral that had
  -- anything flagged; a clean conversion stores none (most conversions: the hot path)
  select least(100, coalesce(sum(public.fraud_weight(v_program, f->>'check_type')) filter (where (f->>'flagged')::boolean), 0)),
         coalesce(bool_or((f->>'flagged')::boolean), false)
  into v_score, v_any from jsonb_array_elements(v_found) f;
  if v_any then
    insert into public.fraud_checks (company_id, referral_id, check_type, flagged, weight, details)
    select p_company_id, v_ref.id, f->>'check_type', (f->>'flagged')::boolean, public.fraud_weight(v_program, f->>'check_type'), f->'details'
    from jsonb_array_elements(v_found) f
    on conflict (referral_id, check_type) do nothing;
  end if;
  -- a second run for the same referral decides from the rows the first one stored
  if exists (select 1 from public.fraud_checks where referral_id = v_ref.id) then
    select least(100, coalesce(sum(weight) filter (where flagged), 0)), coalesce(bool_or(flagged), false) into v_score, v_any
    from public.fraud_checks where referral_id = v_ref.id;
  end if;
  v_trusted := exists (select 1 from public.users where company_id = p_company_id and user_id = v_ref.referrer_user_id
                       and fraud_trusted_at is not null);
  update public.referrals set fraud_score = v_score,
    fraud_status = case when v_trusted then 'clear'
                        when v_program.fraud_mode = 'hold' and v_score >= v_program.fraud_hold_score then 'held'
                        when v_any then 'flagged' else 'clear' end,
    updated_at = now()
  where id = v_ref.id returning * into v_ref;
  return v_ref;
end $$;

-- Decide many referrals at once (the queue's bulk action), each as decide_referral in its
-- own subtransaction: the ones not waiting for review (or unknown) are skipped, not fatal.
-- p_referral_ids is a JSON array of referral ids (jsonb, so every client passes it alike:
-- a JSON array over PostgREST and over a plain driver; repeats count once).
-- Errors: RL400 as decide_referral (checked once, before anything is written), no ids, an
-- id that is not a uuid, or more than 200 ids.
-- Returns {decided:[{id, fraud_status, status, commissions_moved}], skipped:[{id, error}]}.
create function public.decide_referrals(p_company_id text, p_referral_ids jsonb, p_decision text, p_reason text, p_actor text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_id uuid;
  v_decided jsonb := '[]';
  v_skipped jsonb := '[]';
begin
  if p_decision not in ('approve', 'reject') then raise exception 'Decide approve or reject' using errcode = 'RL400'; end if;
  if coalesce(trim(p_reason), '') = '' then raise exception 'Give a reason' using errcode = 'RL400'; end if;
  if coalesce(p_actor, '') !~ '^user_' then raise exception 'The deciding admin''s user id is needed' using errcode = 'RL400'; end if;
  if jsonb_typeof(p_referral_ids) is distinct from 'array' or jsonb_array_length(p_referral_ids) = 0 then
    raise exception 'Pick at least one referral' using errcode = 'RL400';
  end if;
  if jsonb_array_length(p_referral_ids) > 200 then raise exception 'Decide at most 200 referrals at once' using errcode = 'RL400'; end if;
  if exists (select 1 from jsonb_array_elements(p_referral_ids) e
             where jsonb_typeof(e) <> 'string' or e #>> '{}' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') then
    raise exception 'Not a referral id' using errcode = 'RL400';
  end if;
  for v_id in select distinct (e #>> '{}')::uuid from jsonb_array_elements(p_referral_ids) e order by 1 loop
    begin
      v_decided := v_decided || public.decide_referral(p_company_id, v_id, p_decision, p_reason, p_actor);
    exception when sqlstate 'RL409' or sqlstate 'RL404' then
      v_skipped := v_skipped || jsonb_build_object('id', v_id, 'error', sqlerrm);
    end;
  end loop;
  return jsonb_build_object('decided', v_decided, 'skipped', v_skipped);
end $$;

-- Trust a member (the allow-list) or stop trusting them. p_member: user id or username.
-- Errors: RL404 unknown member, RL400 trusting without the admin's user id. Returns
-- {user_id, trusted, trusted_at, trusted_by}.
create function public.set_member_trusted(p_company_id text, p_member text, p_trusted boolean, p_actor text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_user text := public.resolve_member(p_company_id, p_member);
  v public.users;
begin
  if p_trusted and coalesce(p_actor, '') !~ '^user_' then
    raise exception 'The deciding admin''s user id is needed' using errcode = 'RL400';
  end if;
  update public.users set fraud_trusted_at = case when p_trusted then coalesce(fraud_trusted_at, now()) end,
    fraud_trusted_by = case when p_trusted then coalesce(fraud_trusted_by, p_actor) end, updated_at = now()
  where company_id = p_company_id and user_id = v_user returning * into v;
  if v.user_id is null then raise exception 'No such member' using errcode = 'RL404'; end if;
  return jsonb_build_object('user_id', v.user_id, 'trusted', v.fraud_trusted_at is not null,
    'trusted_at', v.fraud_trusted_at, 'trusted_by', v.fraud_trusted_by);
end $$;

-- The allow-list (Settings): trusted members by username, first 200.
-- Returns [{user_id, username, trusted_at, trusted_by}].
create function public.list_trusted_members(p_company_id text) returns jsonb
language sql stable security definer set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_object('user_id', user_id, 'username', coalesce(username, user_id),
    'trusted_at', fraud_trusted_at, 'trusted_by', fraud_trusted_by) order by lower(coalesce(username, user_id)), user_id), '[]')
  from (select * from public.users where company_id = p_company_id and fraud_trusted_at is not null
        order by lower(coalesce(username, user_id)), user_id limit 200) u
$$;

-- One queue row per referral: who, the score, the flagged signals with their evidence, and
-- the referrer's history (their other referrals held, flagged or rejected, and trusted).
create function public.fraud_rows(p_company_id text, p_ids uuid[]) returns jsonb
language sql stable set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_object(
      'id', r.id, 'referrer_user_id', r.referrer_user_id, 'referrer', coalesce(ur.username, r.referrer_user_id),
      'referee_user_id', r.referee_user_id, 'referee', coalesce(ue.username, r.referee_user_id),
      'status', r.status, 'fraud_status', r.fraud_status, 'fraud_score', r.fraud_score, 'source', r.source,
      'created_at', r.created_at, 'converted_at', r.converted_at,
      'decided_at', r.fraud_decided_at, 'decided_by', r.fraud_decided_by, 'reason', r.fraud_reason,
      'referrer_trusted', ur.fraud_trusted_at is not null,
      'referrer_username', ur.username,
      'held_cents', (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions
                     where company_id = r.company_id and referral_id = r.id and status = 'on_hold'),
      'currency', (select currency from public.programs where company_id = r.company_id),
      'checks', (select coalesce(jsonb_agg(jsonb_build_object('check_type', f.check_type, 'weight', f.weight, 'details', f.details)
                   order by f.weight desc, f.check_type), '[]')
                 from public.fraud_checks f where f.referral_id = r.id and f.flagged),
      'history', (select jsonb_build_object(
                     'held', count(*) filter (where h.fraud_status = 'held'),
                     'flagged', count(*) filter (where h.fraud_status = 'flagged'),
                     'rejected', count(*) filter (where h.fraud_status = 'rejected'),
                     'approved', count(*) filter (where h.fraud_status = 'approved'))
                   from public.referrals h
                   where h.company_id = r.company_id and h.referrer_user_id = r.referrer_user_id
                     and h.fraud_status <> 'clear' and h.id <> r.id))
    order by array_position(p_ids, r.id)), '[]')
  from public.referrals r
  left join public.users ur on ur.company_id = r.company_id and ur.user_id = r.referrer_user_id
  left join public.users ue on ue.company_id = r.company_id and ue.user_id = r.referee_user_id
  where r.company_id = p_company_id and r.id = any(p_ids)
$$;

-- The review queue (dashboard section Fraud). p_filter: {status: open (held and flagged,
-- default) | held | flagged | approved | rejected, member (referrer: id or username),
-- after (cursor "score|id"), limit ≤ 50}. Sorted by score (highest first), then id. Returns
-- {rows:[fraud_rows], next, counts:{held, flagged} (each capped at 1000)}. Errors: RL400
-- on a bad status or cursor.
create function public.list_fraud_queue(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_status text := coalesce(nullif(p_filter->>'status', ''), 'open');
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_cursor text := nullif(p_filter->>'after', '');
  v_score integer;
  v_after uuid;
  v_member text;
  v_ids uuid[];
begin
  if v_status not in ('open', 'held', 'flagged', 'approved', 'rejected') then
    raise exception 'Unknown review status "%"', v_status using errcode = 'RL400';
  end if;
  if v_cursor is not null then
    begin
      v_score := public.cursor_part(v_cursor, 1)::integer;
      v_after := public.cursor_part(v_cursor, 2)::uuid;
    exception when others then raise exception 'Bad page cursor' using errcode = 'RL400';
    end;
  end if;
  if nullif(p_filter->>'member', '') is not null then
    v_member := coalesce(public.resolve_member(p_company_id, p_filter->>'member'), '-');
  end if;
  -- one static query per index (the open queue's partial index, or one status)
  if v_status = 'open' then
    select array_agg(id) into v_ids from (
      select r.id from public.referrals r
      where r.company_id = p_company_id and r.fraud_status in ('flagged', 'held')
        and (v_member is null or r.referrer_user_id = v_member)
        and (v_cursor is null or (r.fraud_score, r.id) < (v_score, v_after))
      order by r.fraud_score desc, r.id desc
      limit v_limit + 1) x;
  else
    select array_agg(id) into v_ids from (
      select r.id from public.referrals r
      where r.company_id = p_company_id and r.fraud_status = v_status and r.fraud_status <> 'clear'
        and (v_member is null or r.referrer_user_id = v_member)
        and (v_cursor is null or (r.fraud_score, r.id) < (v_score, v_after))
      order by r.fraud_score desc, r.id desc
      limit v_limit + 1) x;
  end if;
  return jsonb_build_object(
    'rows', public.fraud_rows(p_company_id, (v_ids)[1:v_limit]),
    'next', case when cardinality(v_ids) > v_limit
      then (select fraud_score || '|' || id from public.referrals where id = v_ids[v_limit]) end,
    'counts', jsonb_build_object(
      'held', (select count(*) from (select 1 from public.referrals where company_id = p_company_id and fraud_status = 'held' limit 1000) x),
      'flagged', (select count(*) from (select 1 from public.referrals where company_id = p_company_id and fraud_status = 'flagged' limit 1000) x)));
end $$;

-- A member's side of fraud review (their member page): trusted or not, and their referrals
-- that were flagged, held or decided, latest 50: {trusted, trusted_at, trusted_by, rows}.
create function public.get_member_fraud(p_company_id text, p_user_id text) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object(
    'trusted', u.fraud_trusted_at is not null, 'trusted_at', u.fraud_trusted_at, 'trusted_by', u.fraud_trusted_by,
    'rows', public.fraud_rows(p_company_id, array(
      select id from public.referrals where company_id = p_company_id and referrer_user_id = p_user_id and fraud_status <> 'clear'
      order by created_at desc, id desc limit 50)))
  from (select 1) one
  left join public.users u on u.company_id = p_company_id and u.user_id = p_user_id
$$;

-- A creator decides a flagged or held referral, p_reason
-- and the deciding admin's Whop user id written to the ledger with every movement:
--   approve  on_hold commissions → pending with their original available_at (available at
--            once when that has passed); withheld points are granted; fraud_status approved.
--   reject   every commission of the referral, at every level and on every payment: not yet
--            paid → cancelled (out of a requested payout, whose amount is recomputed; one
--            left with nothing to pay is cancelled); paid or in a payout being sent → a
--            clawback of what is left, netted against the next payout; the referral →
--            cancelled; withheld points are never granted.
-- Either way the counters move with it (sync_referral_counted): an approved held referral
-- starts to count, a rejected one stops. decide_referrals calls this for bulk decisions.
-- Locks: the referral, then its payments (as refunds do), then each beneficiary's payout
-- lock (as request_payout), then the payouts its commissions are in, then the commissions
-- — the order refunds and payouts use, so a decision racing either waits instead of
-- deadlocking, and a payout requested meanwhile never asks for money the decision moved.
-- A decision is applied once: RL409 when the referral is not flagged or held. Errors:
-- RL400 bad decision or no reason, RL404 unknown referral.
-- Returns {id, fraud_status, status, commissions_moved}.
create function public.decide_referral(p_company_id text, p_referral_id uuid, p_decision text, p_reason text, p_actor text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_ref public.referrals;
  c record;
  v_payout_status text;
  v_left bigint;
  v_moved integer := 0;
  v_memo text := 'fraud review: ' || coalesce(trim(p_reason), '');
  v_touched uuid[] := '{}';
  p record;
begin
  if p_decision not in ('approve', 'reject') then raise exception 'Decide approve or reject' using errcode = 'RL400'; end if;
  if coalesce(trim(p_reason), '') = '' then raise exception 'Give a reason' using errcode = 'RL400'; end if;
  if coalesce(p_actor, '') !~ '^user_' then raise exception 'The deciding admin''s user id is needed' using errcode = 'RL400'; end if;
  select * into v_ref from public.referrals where company_id = p_company_id and id = p_referral_id for update;
  if v_ref.id is null then raise exception 'No such referral' using errcode = 'RL404'; end if;
  if v_ref.fraud_status not in ('flagged', 'held') then
    raise exception 'This referral is not waiting for review (it is %)', v_ref.fraud_status using errcode = 'RL409';
  end if;
  perform 1 from public.payments where company_id = p_company_id and referral_id = v_ref.id order by payment_id for update;
  -- each beneficiary's payout lock (request_payout takes it first), in order: a payout
  -- request either committed before this (its payout is seen and locked next, and asks for
  -- what is left) or waits for this decision (and asks only for what is withdrawable after it)
  for p in select distinct beneficiary_user_id as user_id from public.commissions
           where company_id = p_company_id and referral_id = v_ref.id order by 1 loop
    perform pg_advisory_xact_lock(hashtextextended('payout:' || p_company_id || ':' || p.user_id, 0));
  end loop;
  perform 1 from public.payouts
  where id in (select payout_id from public.commissions where company_id = p_company_id and referral_id = v_ref.id)
  order by id for update;
  -- all of the referral's commissions before changing any (a row-by-row lock would hold the
  -- rollup lock of the first change while waiting for the next row)
  perform 1 from public.commissions where company_id = p_company_id and referral_id = v_ref.id order by id for update;

  for c in select * from public.commissions where company_id = p_company_id and referral_id = v_ref.id and kind = 'commission'
           order by id for update loop
    if p_decision = 'approve' then
      continue when c.status <> 'on_hold';
      update public.commissions set status = case when available_at <= now() then 'available' else 'pending' end,
        reason = v_memo, updated_at = now() where id = c.id;
      insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo, actor_user_id)
      values (p_company_id, c.beneficiary_user_id, 'approval', 0, c.currency, 'commission', c.id::text, v_memo, p_actor);
      v_moved := v_moved + 1;
      continue;
    end if;
    continue when c.status in ('reversed', 'cancelled');
    select status into v_payout_status from public.payouts where id = c.payout_id;
    if c.status = 'paid' or v_payout_status is not distinct from 'processing' then
      select c.amount_cents - c.reversed_cents + coalesce(sum(k.amount_cents), 0) into v_left
      from public.commissions k where k.reverses_commission_id = c.id;
      continue when v_left <= 0;
      insert into public.commissions (company_id, referral_id, payment_id, beneficiary_user_id, level, kind,
        base_amount_cents, rate_bp, amount_cents, currency, status, available_at, refund_id, reverses_commission_id, reason)
      values (p_company_id, c.referral_id, c.payment_id, c.beneficiary_user_id, c.level, 'clawback',
        0, c.rate_bp, -v_left, c.currency, 'available', now(), 'fraud:' || v_ref.id, c.id, v_memo);
      insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo, actor_user_id)
      values (p_company_id, c.beneficiary_user_id, 'clawback', -v_left, c.currency, 'commission', c.id::text, v_memo, p_actor);
    else
      if c.payout_id is not null then v_touched := v_touched || c.payout_id; end if;
      update public.commissions set status = 'cancelled', payout_id = null, reason = v_memo, updated_at = now() where id = c.id;
      delete from public.payout_items where commission_id = c.id and payout_id = c.payout_id;
      insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo, actor_user_id)
      values (p_company_id, c.beneficiary_user_id, 'cancellation', -(c.amount_cents - c.reversed_cents), c.currency,
        'commission', c.id::text, v_memo, p_actor);
    end if;
    v_moved := v_moved + 1;
  end loop;

  -- a requested payout that lost commissions asks for what is left; with nothing left it is
  -- cancelled (as start_payout does), so it does not block the member's next request
  update public.payouts o set amount_cents = (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions
                                              where payout_id = o.id and status = 'available'), updated_at = now()
  where o.id = any(v_touched) and o.status = 'requested';
  update public.commissions set payout_id = null, updated_at = now()
  where payout_id in (select id from public.payouts where id = any(v_touched) and status = 'requested' and amount_cents <= 0)
    and status = 'available';
  update public.payouts set status = 'cancelled', reason = 'nothing left to pay', updated_at = now()
  where id = any(v_touched) and status = 'requested' and amount_cents <= 0;

  update public.referrals set fraud_status = case when p_decision = 'approve' then 'approved' else 'rejected' end,
    status = case when p_decision = 'reject' then 'cancelled' else status end,
    fraud_decided_at = now(), fraud_decided_by = p_actor, fraud_reason = trim(p_reason), updated_at = now()
  where id = v_ref.id returning * into v_ref;

  if p_decision = 'approve' then
    for p in select payment_id, row_number() over (order by created_at, payment_id) = 1 as first
             from public.payments where company_id = p_company_id and referral_id = v_ref.id order by created_at, payment_id loop
      perform public.award_payment_points(p_company_id, p.payment_id, p.first);
    end loop;
  end if;
  perform public.sync_referral_counted(v_ref.id);
  return jsonb_build_object('id', v_ref.id, 'fraud_status', v_ref.fraud_status, 'status', v_ref.status, 'commissions_moved', v_moved);
end $$;

-- ── Checks that need this file's functions ──────────────────────────────────

alter table public.programs add constraint programs_fraud_weights_check check (public.fraud_weights_valid(fraud_weights));

-- ════ supabase/schemas/50_campaigns.sql ════

-- Campaigns and rewards: campaigns, campaign_members (a member's tally), campaign_levels
-- (members per count), rewards (milestones), reward_progress (all-time counted
-- conversions), reward_redemptions (what members won: milestones, prizes, tiers' plans,
-- challenges). Order: tables, the foreign keys from earlier files' tables, indexes,
-- functions. No triggers. See docs/architecture.md "Campaigns and rewards".

-- ── Tables ──────────────────────────────────────────────────────────────────

-- A campaign. status is draft → active → ended → archived, moved by the dates:
-- campaign_status() derives it on every read; the stored column follows by job.
create table public.campaigns (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  name text not null check (length(name) between 1 and 80),
  description text check (length(description) <= 1000),
  start_date timestamptz not null,
  end_date timestamptz not null,
  status text not null default 'draft' check (status in ('draft', 'active', 'ended', 'archived')),
  -- published by the creator; a scheduled campaign is 'draft' until its start
  scheduled boolean not null default false,
  -- {bonus_rate_bp, bonus_points, product_ids}
  rules jsonb not null default '{}',
  -- {top: [prize, …] (place 1 first), reach: null | {count, prize}}; prize = {reward_type, reward_data}
  prizes jsonb not null default '{}',
  total_referrals integer not null default 0 check (total_referrals >= 0),
  -- standings frozen and prizes created (award_campaign_prizes), once
  awarded_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (end_date > start_date)
);

alter table public.campaigns enable row level security;

-- A member's tally in a campaign: counted conversions and when they reached that count (ties
-- in the standings go to who got there first); place is frozen at the award.
create table public.campaign_members (
  company_id text not null,
  campaign_id uuid not null references public.campaigns(id),
  user_id text not null,
  conversions integer not null default 0 check (conversions >= 0),
  reached_at timestamptz,
  place integer,
  primary key (campaign_id, user_id)
);

alter table public.campaign_members enable row level security;

-- How many members of a campaign have each count (kept with campaign_members): a member's
-- place adds up the few counts above theirs instead of counting every member ahead.
create table public.campaign_levels (
  campaign_id uuid not null references public.campaigns(id),
  conversions integer not null check (conversions > 0),
  members integer not null check (members >= 0),
  primary key (campaign_id, conversions)
);

alter table public.campaign_levels enable row level security;

-- A milestone reward at `threshold` counted conversions, all-time or within
-- campaign_id.
create table public.rewards (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  name text not null check (length(name) between 1 and 80),
  description text check (length(description) <= 1000),
  threshold integer not null check (threshold between 1 and 1000000),
  reward_type text not null check (reward_type in ('product_unlock', 'discount', 'points', 'custom')),
  reward_data jsonb not null default '{}',
  auto_apply boolean not null default true,
  is_active boolean not null default true,
  campaign_id uuid references public.campaigns(id),
  -- members who unlocked it (its redemptions), kept with them: the dashboard never counts
  unlocked integer not null default 0 check (unlocked >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

alter table public.rewards enable row level security;

-- A member's all-time counted conversions (the milestones' progress), kept with `counted`.
create table public.reward_progress (
  company_id text not null,
  user_id text not null,
  conversions integer not null default 0 check (conversions >= 0),
  updated_at timestamptz not null default now(),
  primary key (company_id, user_id)
);

alter table public.reward_progress enable row level security;

-- What a member won: a milestone (reward_id), a campaign prize (campaign_id + prize
-- 'place:N' | 'reach'), a tier's free plan (tier) or a challenge's reward (challenge_id).
-- name, reward_type and reward_data are a snapshot of what was won. requested_at: null while a claim-it-yourself reward waits for the member.
create table public.reward_redemptions (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  user_id text not null,
  reward_id uuid references public.rewards(id),
  campaign_id uuid references public.campaigns(id),
  prize text check (prize ~ '^(place:\d{1,2}|reach)$'),
  name text not null,
  reward_type text not null check (reward_type in ('product_unlock', 'discount', 'points', 'custom', 'commission')),
  reward_data jsonb not null default '{}',
  status text not null default 'pending' check (status in ('pending', 'granted', 'claimed', 'failed')),
  requested_at timestamptz,
  -- {promo_code, promo_code_id} | {points} | {commission_id, amount_cents} | {fulfilled}
  result jsonb,
  granted_at timestamptz,
  claimed_at timestamptz,
  error_message text,
  attempts integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- A tier's free plan is granted once, as a redemption of its own (tier = the tier's name; a
  -- one-use 100 %-off promo code made by lib/rewards, as a milestone's free access is).
  tier text check (length(tier) between 1 and 40),
  -- A challenge's reward is a redemption like a milestone's (one per member and challenge).
  challenge_id uuid, -- references challenges (60_gamification.sql)
  -- each redemption has exactly one source: a milestone, a campaign prize, a tier or a challenge
  constraint reward_redemptions_source check (
    (reward_id is not null and prize is null and tier is null and challenge_id is null)
    or (reward_id is null and campaign_id is not null and prize is not null and tier is null and challenge_id is null)
    or (tier is not null and reward_id is null and prize is null and challenge_id is null)
    or (challenge_id is not null and reward_id is null and prize is null and tier is null))
);

alter table public.reward_redemptions enable row level security;

-- ── References from earlier domains' tables ─────────────────────────────────

alter table public.referrals add constraint referrals_campaign_id_fkey foreign key (campaign_id) references public.campaigns(id);
alter table public.commissions add constraint commissions_campaign_id_fkey foreign key (campaign_id) references public.campaigns(id);
alter table public.commissions add constraint commissions_reward_redemption_id_fkey
  foreign key (reward_redemption_id) references public.reward_redemptions(id);

-- ── Indexes ─────────────────────────────────────────────────────────────────

create index campaigns_company_idx on public.campaigns (company_id, start_date desc, id desc);

-- the conversion's lookup: scheduled, not archived, by end
create index campaigns_live_idx on public.campaigns (company_id, end_date) where scheduled and status <> 'archived';

create index campaign_members_standings_idx on public.campaign_members (campaign_id, conversions desc, reached_at, user_id);

create index rewards_company_idx on public.rewards (company_id, created_at, id);

-- each member reaches each milestone once, wins each prize once
create unique index reward_redemptions_reward_key on public.reward_redemptions (company_id, reward_id, user_id) where reward_id is not null;

create unique index reward_redemptions_prize_key on public.reward_redemptions (campaign_id, user_id, prize) where prize is not null;

create index reward_redemptions_member_idx on public.reward_redemptions (company_id, user_id, created_at desc);

create index reward_redemptions_status_idx on public.reward_redemptions (company_id, status, created_at desc, id desc);

-- a payment using the code marks it claimed
create index reward_redemptions_promo_idx on public.reward_redemptions (company_id, (result->>'promo_code_id')) where status = 'granted';

create index reward_redemptions_due_idx on public.reward_redemptions (company_id, updated_at)
  where status in ('pending', 'failed') and requested_at is not null;

create unique index reward_redemptions_tier_key on public.reward_redemptions (company_id, user_id, tier) where tier is not null;

create unique index reward_redemptions_challenge_key on public.reward_redemptions (challenge_id, user_id) where challenge_id is not null;

-- ── Functions ───────────────────────────────────────────────────────────────

-- What is wrong with a reward type and its data, in words; null when they are valid:
-- discount {percent_off 1–100 | amount_off_cents, plan_ids?}, product_unlock {plan_id},
-- points {points}, custom {note}, commission {amount_cents} (only when p_prize: prizes).
create function public.reward_data_error(p_type text, p_data jsonb, p_prize boolean) returns text
language plpgsql immutable set search_path = '' as $$
declare v_keys text[];
begin
  if p_type is null or p_type not in ('discount', 'product_unlock', 'points', 'custom', 'commission')
     or (p_type = 'commission' and not p_prize) then
    return format('Unknown reward type "%s"', coalesce(p_type, ''));
  end if;
  if jsonb_typeof(p_data) is distinct from 'object' then return 'reward_data must be an object'; end if;
  select array_agg(k) into v_keys from jsonb_object_keys(p_data) k;
  if p_type = 'discount' then
    if not (coalesce(v_keys, '{}') <@ '{percent_off,amount_off_cents,plan_ids}'::text[]) then return 'A discount takes percent_off or amount_off_cents, and plan_ids'; end if;
    if (p_data ? 'percent_off') = (p_data ? 'amount_off_cents') then return 'A discount is either a percent or an amount off'; end if;
    if p_data ? 'percent_off' and (jsonb_typeof(p_data->'percent_off') <> 'number' or p_data->>'percent_off' !~ '^\d{1,3}$'
       or (p_data->>'percent_off')::integer not between 1 and 100) then
      return 'Percent off is a whole number from 1 to 100';
    end if;
    if p_data ? 'amount_off_cents' and (jsonb_typeof(p_data->'amount_off_cents') <> 'number' or p_data->>'amount_off_cents' !~ '^\d{1,9}$'
       or (p_data->>'amount_off_cents')::bigint < 1) then
      return 'Amount off is a positive amount';
    end if;
    if p_data ? 'plan_ids' and (jsonb_typeof(p_data->'plan_ids') <> 'array' or jsonb_array_length(p_data->'plan_ids') > 20
       or exists (select 1 from jsonb_array_elements(p_data->'plan_ids') e where jsonb_typeof(e) <> 'string' or e #>> '{}' !~ '^plan_[A-Za-z0-9]{1,40}$')) then
      return 'plan_ids are up to 20 Whop plan ids (plan_…)';
    end if;
  elsif p_type = 'product_unlock' then
    if not (coalesce(v_keys, '{}') <@ '{plan_id}'::text[]) or coalesce(p_data->>'plan_id', '') !~ '^plan_[A-Za-z0-9]{1,40}$'
       or jsonb_typeof(p_data->'plan_id') <> 'string' then
      return 'Free access needs a Whop plan id (plan_…)';
    end if;
  elsif p_type = 'points' then
    if not (coalesce(v_keys, '{}') <@ '{points}'::text[]) or jsonb_typeof(p_data->'points') is distinct from 'number'
       or p_data->>'points' !~ '^\d{1,8}$' or (p_data->>'points')::integer not between 1 and 10000000 then
      return 'Points are a whole number from 1 to 10 000 000';
    end if;
  elsif p_type = 'custom' then
    if not (coalesce(v_keys, '{}') <@ '{note}'::text[]) or jsonb_typeof(p_data->'note') is distinct from 'string'
       or length(trim(p_data->>'note')) not between 1 and 500 then
      return 'A custom reward needs a note (up to 500 characters) saying what the member gets';
    end if;
  else
    if not (coalesce(v_keys, '{}') <@ '{amount_cents}'::text[]) or jsonb_typeof(p_data->'amount_cents') is distinct from 'number'
       or p_data->>'amount_cents' !~ '^\d{1,9}$' or (p_data->>'amount_cents')::bigint < 1 then
      return 'A money prize is a positive amount';
    end if;
  end if;
  return null;
end $$;

-- A campaign date from the creator: an ISO timestamp with its offset, or a local date or
-- date-time in the program's time zone; a date-only end means the end of that day.
-- Errors: RL400 when it is not a date (or outside 2000–2100).
create function public.campaign_time(p_text text, p_tz text, p_field text, p_end boolean) returns timestamptz
language plpgsql stable set search_path = '' as $$
declare v timestamptz;
begin
  begin
    if p_text ~ '^\d{4}-\d{2}-\d{2}$' then
      v := ((p_text::date + case when p_end then 1 else 0 end)::timestamp) at time zone p_tz;
    elsif p_text ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$' then
      v := (p_text::timestamp) at time zone p_tz;
    elsif p_text ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$' then
      v := p_text::timestamptz;
    end if;
  exception when others then v := null;
  end;
  if v is null or v < '2000-01-01' or v > '2100-01-01' then
    raise exception '% is not a date', p_field using errcode = 'RL400';
  end if;
  return v;
end $$;

-- A campaign's rules and prizes, checked (RL400 with the reason).
create function public.check_campaign_terms(p_rules jsonb, p_prizes jsonb) returns void
language plpgsql immutable set search_path = '' as $$
declare
  v_err text;
  e jsonb;
begin
  if jsonb_typeof(p_rules) is distinct from 'object'
     or exists (select 1 from jsonb_object_keys(p_rules) k where k not in ('bonus_rate_bp', 'bonus_points', 'product_ids')) then
    raise exception 'rules take bonus_rate_bp, bonus_points and product_ids' using errcode = 'RL400';
  end if;
  if p_rules ? 'bonus_rate_bp' and (jsonb_typeof(p_rules->'bonus_rate_bp') <> 'number' or p_rules->>'bonus_rate_bp' !~ '^\d{1,5}$'
     or (p_rules->>'bonus_rate_bp')::integer > 10000) then
    raise exception 'The bonus rate is between 0 %% and 100 %%' using errcode = 'RL400';
  end if;
  if p_rules ? 'bonus_points' and (jsonb_typeof(p_rules->'bonus_points') <> 'number' or p_rules->>'bonus_points' !~ '^\d{1,7}$') then
    raise exception 'Bonus points are a whole number up to 9 999 999' using errcode = 'RL400';
  end if;
  if p_rules ? 'product_ids' and (jsonb_typeof(p_rules->'product_ids') <> 'array' or jsonb_array_length(p_rules->'product_ids') > 50
     or exists (select 1 from jsonb_array_elements(p_rules->'product_ids') x where jsonb_typeof(x) <> 'string' or x #>> '{}' !~ '^prod_[A-Za-z0-9]{1,40}$')) then
    raise exception 'Eligible products are up to 50 Whop product ids (prod_…)' using errcode = 'RL400';
  end if;
  if jsonb_typeof(p_prizes) is distinct from 'object'
     or exists (select 1 from jsonb_object_keys(p_prizes) k where k not in ('top', 'reach')) then
    raise exception 'prizes take top and reach' using errcode = 'RL400';
  end if;
  if p_prizes ? 'top' and (jsonb_typeof(p_prizes->'top') <> 'array' or jsonb_array_length(p_prizes->'top') > 10) then
    raise exception 'Prizes go to at most the top 10' using errcode = 'RL400';
  end if;
  for e in select x from jsonb_array_elements(coalesce(p_prizes->'top', '[]')) x union all
           select p_prizes->'reach'->'prize' where jsonb_typeof(p_prizes->'reach') = 'object' loop
    v_err := case when jsonb_typeof(e) <> 'object' then 'A prize is {reward_type, reward_data}'
                  else public.reward_data_error(e->>'reward_type', e->'reward_data', true) end;
    if v_err is not null then raise exception 'Prize: %', v_err using errcode = 'RL400'; end if;
  end loop;
  if p_prizes ? 'reach' and jsonb_typeof(p_prizes->'reach') <> 'null' and (jsonb_typeof(p_prizes->'reach') <> 'object'
     or jsonb_typeof(p_prizes->'reach'->'count') is distinct from 'number' or p_prizes->'reach'->>'count' !~ '^\d{1,6}$'
     or (p_prizes->'reach'->>'count')::integer < 1) then
    raise exception 'The "everyone who reaches" prize needs a count of at least 1' using errcode = 'RL400';
  end if;
end $$;

-- The status a campaign has at p_at: archived stays
-- archived; not scheduled, or before its start → draft; [start, end) → active; after → ended.
create function public.campaign_status(c public.campaigns, p_at timestamptz) returns text
language sql stable set search_path = '' as $$
  select case when c.status = 'archived' then 'archived'
              when not c.scheduled or p_at < c.start_date then 'draft'
              when p_at < c.end_date then 'active'
              else 'ended' end
$$;

-- A campaign as the API shows it: the row, its live status, and the counts.
create function public.campaign_json(c public.campaigns) returns jsonb
language sql stable set search_path = '' as $$
  select to_jsonb(c) || jsonb_build_object('status', public.campaign_status(c, now()))
$$;

-- The campaign a conversion at p_at belongs to: scheduled, active at p_at, the product
-- eligible (rules.product_ids empty = all); of several, the one ending soonest.
-- Locked, so the award (which locks it first) waits for the conversion or is seen by it.
create function public.campaign_for_conversion(p_company_id text, p_product_id text, p_at timestamptz) returns public.campaigns
language sql volatile set search_path = '' as $$
  select * from public.campaigns c
  where c.company_id = p_company_id and c.scheduled and c.status <> 'archived' and c.awarded_at is null
    and c.start_date <= p_at and p_at < c.end_date
    and (coalesce(jsonb_array_length(c.rules->'product_ids'), 0) = 0 or c.rules->'product_ids' ? coalesce(p_product_id, ''))
  order by c.end_date, c.created_at, c.id
  limit 1
  for update
$$;

-- Create a campaign (its columns as jsonb keys: name, description, start_date,
-- end_date, rules, prizes; plus scheduled, default false). Errors: RL400 with the reason.
-- Returns the campaign (campaign_json).
create function public.create_campaign(p_company_id text, p_campaign jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs := public.ensure_program(p_company_id);
  c public.campaigns;
begin
  if jsonb_typeof(p_campaign) is distinct from 'object' then raise exception 'A campaign is an object' using errcode = 'RL400'; end if;
  if length(trim(coalesce(p_campaign->>'name', ''))) not between 1 and 80 then
    raise exception 'Give the campaign a name (up to 80 characters)' using errcode = 'RL400';
  end if;
  if length(p_campaign->>'description') > 1000 then raise exception 'The description is at most 1000 characters' using errcode = 'RL400'; end if;
  perform public.check_campaign_terms(coalesce(p_campaign->'rules', '{}'), coalesce(p_campaign->'prizes', '{}'));
  c.start_date := public.campaign_time(p_campaign->>'start_date', v_program.timezone, 'start_date', false);
  c.end_date := public.campaign_time(p_campaign->>'end_date', v_program.timezone, 'end_date', true);
  if c.end_date <= c.start_date then raise exception 'The campaign must end after it starts' using errcode = 'RL400'; end if;
  if p_campaign ? 'scheduled' and jsonb_typeof(p_campaign->'scheduled') <> 'boolean' then
    raise exception 'scheduled is true or false' using errcode = 'RL400';
  end if;
  insert into public.campaigns (company_id, name, description, start_date, end_date, scheduled, rules, prizes)
  values (p_company_id, trim(p_campaign->>'name'), nullif(trim(p_campaign->>'description'), ''), c.start_date, c.end_date,
    coalesce((p_campaign->>'scheduled')::boolean, false), coalesce(p_campaign->'rules', '{}'), coalesce(p_campaign->'prizes', '{}'))
  returning * into c;
  update public.campaigns set status = public.campaign_status(c, now()) where id = c.id returning * into c;
  return public.campaign_json(c);
end $$;

-- Edit a campaign (the same keys, any subset). Before it starts anything may change; once
-- active only name, description and end_date (not before now: end it instead) — members
-- were promised its rules and prizes; ended or archived: nothing. Errors: RL400, RL404, RL409.
create function public.update_campaign(p_company_id text, p_campaign_id uuid, p_campaign jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns;
  v_status text;
  v_tz text := coalesce((select timezone from public.programs where company_id = p_company_id), 'UTC');
begin
  if jsonb_typeof(p_campaign) is distinct from 'object' then raise exception 'A campaign is an object' using errcode = 'RL400'; end if;
  select * into c from public.campaigns where company_id = p_company_id and id = p_campaign_id for update;
  if c.id is null then raise exception 'No such campaign' using errcode = 'RL404'; end if;
  v_status := public.campaign_status(c, now());
  if v_status in ('ended', 'archived') then raise exception 'An % campaign can''t be edited', v_status using errcode = 'RL409'; end if;
  if v_status = 'active' and (p_campaign ?| array['start_date', 'rules', 'prizes', 'scheduled']) then
    raise exception 'The campaign is running: only its name, description and end date can change' using errcode = 'RL409';
  end if;
  if p_campaign ? 'name' then
    if length(trim(coalesce(p_campaign->>'name', ''))) not between 1 and 80 then
      raise exception 'Give the campaign a name (up to 80 characters)' using errcode = 'RL400';
    end if;
    c.name := trim(p_campaign->>'name');
  end if;
  if p_campaign ? 'description' then
    if length(p_campaign->>'description') > 1000 then raise exception 'The description is at most 1000 characters' using errcode = 'RL400'; end if;
    c.description := nullif(trim(p_campaign->>'description'), '');
  end if;
  if p_campaign ? 'start_date' then c.start_date := public.campaign_time(p_campaign->>'start_date', v_tz, 'start_date', false); end if;
  if p_campaign ? 'end_date' then
    c.end_date := public.campaign_time(p_campaign->>'end_date', v_tz, 'end_date', true);
    if v_status = 'active' and c.end_date <= now() then
      raise exception 'To stop a running campaign now, end it' using errcode = 'RL400';
    end if;
  end if;
  if c.end_date <= c.start_date then raise exception 'The campaign must end after it starts' using errcode = 'RL400'; end if;
  if p_campaign ? 'rules' or p_campaign ? 'prizes' then
    perform public.check_campaign_terms(coalesce(p_campaign->'rules', c.rules), coalesce(p_campaign->'prizes', c.prizes));
    c.rules := coalesce(p_campaign->'rules', c.rules);
    c.prizes := coalesce(p_campaign->'prizes', c.prizes);
  end if;
  if p_campaign ? 'scheduled' then
    if jsonb_typeof(p_campaign->'scheduled') <> 'boolean' then raise exception 'scheduled is true or false' using errcode = 'RL400'; end if;
    c.scheduled := (p_campaign->>'scheduled')::boolean;
  end if;
  update public.campaigns set name = c.name, description = c.description, start_date = c.start_date, end_date = c.end_date,
    rules = c.rules, prizes = c.prizes, scheduled = c.scheduled, status = public.campaign_status(c, now()), updated_at = now()
  where id = c.id returning * into c;
  return public.campaign_json(c);
end $$;

-- Freeze a campaign's standings and create its prizes, once (awarded_at under the row lock;
-- a second or concurrent run finds it set and does nothing). Places: by counted conversions
-- in the campaign, ties to who reached the count first. Prize N goes to place N; the
-- "reach" prize to everyone with at least its count. Each prize is a reward_redemption,
-- requested at once; lib/rewards grants them after this commits (points and money in SQL,
-- promo codes through Whop). Only an ended campaign is awarded. Returns prizes created.
create function public.award_campaign_prizes(p_campaign_id uuid) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns;
  m record;
  v_prize jsonb;
  v_count integer := 0;
  v_n integer;
begin
  select * into c from public.campaigns where id = p_campaign_id for update;
  if c.id is null or c.awarded_at is not null or public.campaign_status(c, now()) <> 'ended' then return 0; end if;
  update public.campaign_members cm set place = r.place
  from (select user_id, row_number() over (order by conversions desc, reached_at, user_id) as place
        from public.campaign_members where campaign_id = c.id and conversions > 0) r
  where cm.campaign_id = c.id and cm.user_id = r.user_id;
  for m in select user_id, place, conversions from public.campaign_members
           where campaign_id = c.id and place is not null order by place loop
    v_prize := c.prizes->'top'->(m.place - 1);
    if v_prize is not null then
      insert into public.reward_redemptions (company_id, user_id, campaign_id, prize, name, reward_type, reward_data, requested_at)
      values (c.company_id, m.user_id, c.id, 'place:' || m.place, format('%s — place %s', c.name, m.place),
        v_prize->>'reward_type', v_prize->'reward_data', now())
      on conflict do nothing;
      get diagnostics v_n = row_count;
      v_count := v_count + v_n;
    end if;
    if jsonb_typeof(c.prizes->'reach') = 'object' and m.conversions >= (c.prizes->'reach'->>'count')::integer then
      insert into public.reward_redemptions (company_id, user_id, campaign_id, prize, name, reward_type, reward_data, requested_at)
      values (c.company_id, m.user_id, c.id, 'reach', format('%s — %s referrals', c.name, c.prizes->'reach'->>'count'),
        c.prizes->'reach'->'prize'->>'reward_type', c.prizes->'reach'->'prize'->'reward_data', now())
      on conflict do nothing;
      get diagnostics v_n = row_count;
      v_count := v_count + v_n;
    end if;
  end loop;
  update public.campaigns set awarded_at = now(), status = 'ended', updated_at = now() where id = c.id;
  return v_count;
end $$;

-- A creator moves a campaign: schedule (draft → scheduled), unschedule (scheduled, not yet
-- started → draft), end (active → ended now, prizes awarded in this call), archive (draft
-- or ended → archived; an ended campaign is awarded first). Errors: RL400 unknown action,
-- RL404, RL409 when the action doesn't apply. Returns the campaign.
create function public.set_campaign_status(p_company_id text, p_campaign_id uuid, p_action text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns;
  v_status text;
begin
  if p_action not in ('schedule', 'unschedule', 'end', 'archive') then
    raise exception 'Unknown action "%"', p_action using errcode = 'RL400';
  end if;
  select * into c from public.campaigns where company_id = p_company_id and id = p_campaign_id for update;
  if c.id is null then raise exception 'No such campaign' using errcode = 'RL404'; end if;
  v_status := public.campaign_status(c, now());
  if p_action = 'schedule' and (c.scheduled or v_status <> 'draft') then
    raise exception 'Only a draft can be scheduled' using errcode = 'RL409';
  elsif p_action = 'schedule' and c.end_date <= now() then
    raise exception 'Its end date has passed: change the dates first' using errcode = 'RL409';
  elsif p_action = 'unschedule' and (not c.scheduled or v_status <> 'draft') then
    raise exception 'Only a scheduled campaign that hasn''t started can go back to draft' using errcode = 'RL409';
  elsif p_action = 'end' and v_status <> 'active' then
    raise exception 'Only a running campaign can be ended (it is %)', v_status using errcode = 'RL409';
  elsif p_action = 'archive' and v_status not in ('draft', 'ended') then
    raise exception 'Only a draft or an ended campaign can be archived' using errcode = 'RL409';
  end if;
  if p_action = 'end' then
    update public.campaigns set end_date = now(), updated_at = now() where id = c.id;
  elsif p_action in ('schedule', 'unschedule') then
    update public.campaigns set scheduled = (p_action = 'schedule'), updated_at = now() where id = c.id;
  end if;
  if p_action = 'end' or (p_action = 'archive' and v_status = 'ended') then
    perform public.award_campaign_prizes(c.id);
  end if;
  if p_action = 'archive' then
    update public.campaigns set status = 'archived', updated_at = now() where id = c.id;
  end if;
  select * into c from public.campaigns where id = c.id;
  update public.campaigns set status = public.campaign_status(c, now()) where id = c.id returning * into c;
  return public.campaign_json(c);
end $$;

-- Job: every campaign's stored status follows its dates; ended ones not yet awarded are
-- awarded. Idempotent and safe to run concurrently (award_campaign_prizes locks and checks).
-- Returns {moved, awarded} (campaigns whose status changed, prizes created).
create function public.advance_campaigns() returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_moved integer;
  v_awarded integer := 0;
  v_id uuid;
begin
  update public.campaigns c set status = public.campaign_status(c, now()), updated_at = now()
  where c.status <> 'archived' and c.status is distinct from public.campaign_status(c, now());
  get diagnostics v_moved = row_count;
  for v_id in select id from public.campaigns where scheduled and awarded_at is null and end_date <= now() and status <> 'archived'
              order by end_date loop
    v_awarded := v_awarded + public.award_campaign_prizes(v_id);
  end loop;
  return jsonb_build_object('moved', v_moved, 'awarded', v_awarded);
end $$;

-- Campaigns of a company, newest start first. p_filter: {status (live), after, limit ≤ 50}.
-- Returns {rows:[campaign_json], next}.
create function public.list_campaigns(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_after text := p_filter->>'after';
  v_status text := nullif(p_filter->>'status', '');
  v_rows jsonb;
begin
  if v_status is not null and v_status not in ('draft', 'active', 'ended', 'archived') then
    raise exception 'Unknown status "%"', v_status using errcode = 'RL400';
  end if;
  select coalesce(jsonb_agg(public.campaign_json(c) || jsonb_build_object('cursor', c.start_date::text || '|' || c.id)
    order by c.start_date desc, c.id desc), '[]') into v_rows
  from (select * from public.campaigns c
        where c.company_id = p_company_id
          and (v_status is null or public.campaign_status(c, now()) = v_status)
          and (v_after is null or (c.start_date, c.id) < (public.cursor_part(v_after, 1)::timestamptz, public.cursor_part(v_after, 2)::uuid))
        order by c.start_date desc, c.id desc limit v_limit + 1) c;
  return public.page_of(v_rows, v_limit);
end $$;

-- One campaign with its standings (top 50). Errors: RL404.
create function public.get_campaign(p_company_id text, p_campaign_id uuid) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare c public.campaigns;
begin
  select * into c from public.campaigns where company_id = p_company_id and id = p_campaign_id;
  if c.id is null then raise exception 'No such campaign' using errcode = 'RL404'; end if;
  return public.campaign_json(c) || jsonb_build_object('standings', public.campaign_standings(c, 50));
end $$;

-- Whether a referral counts: converted, fraud status not held or rejected, and its first
-- payment not refunded in full.
create function public.referral_counts(r public.referrals) returns boolean
language sql stable set search_path = '' as $$
  select r.status = 'converted' and r.fraud_status not in ('held', 'rejected')
    and coalesce((select p.refunded_cents < p.amount_cents or p.amount_cents = 0 from public.payments p
                  where p.company_id = r.company_id and p.referral_id = r.id
                  order by p.created_at, p.payment_id limit 1), true)
$$;

-- A reward's fields from jsonb (keys as its columns), checked; p_old gives the values not sent.
create function public.reward_fields(p_company_id text, p_reward jsonb, p_old public.rewards) returns public.rewards
language plpgsql stable set search_path = '' as $$
declare
  v public.rewards := p_old;
  v_err text;
begin
  if jsonb_typeof(p_reward) is distinct from 'object' then raise exception 'A reward is an object' using errcode = 'RL400'; end if;
  if p_reward ? 'name' then v.name := trim(coalesce(p_reward->>'name', '')); end if;
  if length(coalesce(v.name, '')) not between 1 and 80 then
    raise exception 'Give the reward a name (up to 80 characters)' using errcode = 'RL400';
  end if;
  if p_reward ? 'description' then v.description := nullif(trim(p_reward->>'description'), ''); end if;
  if length(v.description) > 1000 then raise exception 'The description is at most 1000 characters' using errcode = 'RL400'; end if;
  if p_reward ? 'threshold' then
    if jsonb_typeof(p_reward->'threshold') is distinct from 'number' or p_reward->>'threshold' !~ '^\d{1,7}$' then
      raise exception 'The threshold is a whole number of referrals' using errcode = 'RL400';
    end if;
    v.threshold := (p_reward->>'threshold')::integer;
  end if;
  if v.threshold is null or v.threshold not between 1 and 1000000 then
    raise exception 'The threshold is from 1 to 1 000 000 referrals' using errcode = 'RL400';
  end if;
  if p_reward ? 'reward_type' then v.reward_type := p_reward->>'reward_type'; end if;
  if p_reward ? 'reward_data' then v.reward_data := p_reward->'reward_data'; end if;
  v_err := public.reward_data_error(v.reward_type, coalesce(v.reward_data, '{}'), false);
  if v_err is not null then raise exception '%', v_err using errcode = 'RL400'; end if;
  foreach v_err in array array['auto_apply', 'is_active'] loop
    if p_reward ? v_err and jsonb_typeof(p_reward->v_err) <> 'boolean' then
      raise exception '% is true or false', v_err using errcode = 'RL400';
    end if;
  end loop;
  if p_reward ? 'auto_apply' then v.auto_apply := (p_reward->>'auto_apply')::boolean; end if;
  if p_reward ? 'is_active' then v.is_active := (p_reward->>'is_active')::boolean; end if;
  if p_reward ? 'campaign_id' then
    if jsonb_typeof(p_reward->'campaign_id') = 'null' or p_reward->>'campaign_id' = '' then
      v.campaign_id := null;
    elsif p_reward->>'campaign_id' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
          or not exists (select 1 from public.campaigns where company_id = p_company_id and id = (p_reward->>'campaign_id')::uuid) then
      raise exception 'No such campaign' using errcode = 'RL400';
    else
      v.campaign_id := (p_reward->>'campaign_id')::uuid;
    end if;
  end if;
  return v;
end $$;

-- Create a milestone reward (keys: name, description, threshold, reward_type, reward_data,
-- auto_apply (default true), is_active (default true), campaign_id (count within that
-- campaign; absent = all-time)). A member already past the threshold unlocks it at their
-- next counted conversion. Errors: RL400 with the reason. Returns the reward.
create function public.create_reward(p_company_id text, p_reward jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.rewards;
begin
  perform public.ensure_program(p_company_id);
  v.auto_apply := true;
  v.is_active := true;
  v := public.reward_fields(p_company_id, p_reward, v);
  if (select count(*) from public.rewards where company_id = p_company_id) >= 100 then
    raise exception 'A program has at most 100 milestone rewards' using errcode = 'RL400';
  end if;
  insert into public.rewards (company_id, name, description, threshold, reward_type, reward_data, auto_apply, is_active, campaign_id)
  values (p_company_id, v.name, v.description, v.threshold, v.reward_type, v.reward_data, v.auto_apply, v.is_active, v.campaign_id)
  returning * into v;
  return to_jsonb(v);
end $$;

-- Edit a milestone (any subset of create_reward's keys). Redemptions already made keep the
-- snapshot they were made with. Errors: RL400, RL404. Returns the reward.
create function public.update_reward(p_company_id text, p_reward_id uuid, p_reward jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.rewards;
begin
  select * into v from public.rewards where company_id = p_company_id and id = p_reward_id for update;
  if v.id is null then raise exception 'No such reward' using errcode = 'RL404'; end if;
  v := public.reward_fields(p_company_id, p_reward, v);
  update public.rewards set name = v.name, description = v.description, threshold = v.threshold, reward_type = v.reward_type,
    reward_data = v.reward_data, auto_apply = v.auto_apply, is_active = v.is_active, campaign_id = v.campaign_id, updated_at = now()
  where id = v.id returning * into v;
  return to_jsonb(v);
end $$;

-- The creator's milestones (≤ 100, creation order), each with its campaign's name and how
-- many members unlocked it (the counter). Returns [reward + {campaign_name}].
create function public.list_rewards(p_company_id text) returns jsonb
language sql stable security definer set search_path = '' as $$
  select coalesce(jsonb_agg(to_jsonb(w) || jsonb_build_object('campaign_name', c.name) order by w.created_at, w.id), '[]')
  from public.rewards w left join public.campaigns c on c.id = w.campaign_id
  where w.company_id = p_company_id
$$;

-- One redemption as lists show it.
create function public.redemption_json(d public.reward_redemptions) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object('id', d.id, 'user_id', d.user_id,
    'member', coalesce((select username from public.users where company_id = d.company_id and user_id = d.user_id), d.user_id),
    'reward_id', d.reward_id, 'campaign_id', d.campaign_id, 'prize', d.prize, 'name', d.name, 'reward_type', d.reward_type,
    'reward_data', d.reward_data, 'status', d.status, 'requested_at', d.requested_at, 'result', d.result,
    'error_message', d.error_message, 'attempts', d.attempts, 'created_at', d.created_at, 'granted_at', d.granted_at,
    'claimed_at', d.claimed_at)
$$;

-- Redemptions of a company, newest first. p_filter: {status, after, limit ≤ 50}.
-- Returns {rows:[redemption_json], next}.
create function public.list_reward_redemptions(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_after text := p_filter->>'after';
  v_status text := nullif(p_filter->>'status', '');
  v_rows jsonb;
begin
  if v_status is not null and v_status not in ('pending', 'granted', 'claimed', 'failed') then
    raise exception 'Unknown status "%"', v_status using errcode = 'RL400';
  end if;
  select coalesce(jsonb_agg(public.redemption_json(d) || jsonb_build_object('cursor', d.created_at::text || '|' || d.id)
    order by d.created_at desc, d.id desc), '[]') into v_rows
  from (select * from public.reward_redemptions d
        where d.company_id = p_company_id and (v_status is null or d.status = v_status)
          and (v_after is null or (d.created_at, d.id) < (public.cursor_part(v_after, 1)::timestamptz, public.cursor_part(v_after, 2)::uuid))
        order by d.created_at desc, d.id desc limit v_limit + 1) d;
  return public.page_of(v_rows, v_limit);
end $$;

-- A member asks for a reward that waits for their claim (auto_apply off): requested now;
-- points are granted at once, a promo code right after (lib/rewards). Errors: RL404 (not
-- theirs), RL409 already asked for. Returns the redemption.
create function public.claim_reward(p_company_id text, p_user_id text, p_redemption_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.reward_redemptions;
begin
  select * into v from public.reward_redemptions where company_id = p_company_id and id = p_redemption_id and user_id = p_user_id for update;
  if v.id is null then raise exception 'No such reward' using errcode = 'RL404'; end if;
  if v.requested_at is not null then raise exception 'You already claimed this reward' using errcode = 'RL409'; end if;
  update public.reward_redemptions set requested_at = now(), updated_at = now() where id = v.id;
  return public.grant_reward_redemption(p_company_id, v.id);
end $$;

-- The outcome of a Whop grant (discount, product_unlock): pending | failed → granted (with
-- {promo_code, promo_code_id}) or failed (with Whop's message); attempts counts the tries.
-- A granted one stays granted. Errors: RL400 bad status, RL404, RL409. Returns the row.
create function public.settle_reward_redemption(p_company_id text, p_redemption_id uuid, p_status text, p_result jsonb, p_error text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.reward_redemptions;
begin
  if p_status not in ('granted', 'failed') then raise exception 'Settle as granted or failed' using errcode = 'RL400'; end if;
  select * into v from public.reward_redemptions where company_id = p_company_id and id = p_redemption_id for update;
  if v.id is null then raise exception 'No such reward' using errcode = 'RL404'; end if;
  if v.status not in ('pending', 'failed') or v.requested_at is null then
    raise exception 'A % reward can''t become %', v.status, p_status using errcode = 'RL409';
  end if;
  update public.reward_redemptions set status = p_status, result = case when p_status = 'granted' then p_result else result end,
    granted_at = case when p_status = 'granted' then now() end,
    error_message = case when p_status = 'failed' then left(coalesce(p_error, 'Whop refused'), 500) end,
    attempts = attempts + 1, updated_at = now()
  where id = v.id returning * into v;
  return public.redemption_json(v);
end $$;

-- The creator gave a custom reward by hand: requested, pending → granted. Errors: RL404, RL409.
create function public.fulfil_reward_redemption(p_company_id text, p_redemption_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.reward_redemptions;
begin
  select * into v from public.reward_redemptions where company_id = p_company_id and id = p_redemption_id for update;
  if v.id is null then raise exception 'No such reward' using errcode = 'RL404'; end if;
  if v.reward_type <> 'custom' or v.status <> 'pending' then
    raise exception 'Only a pending custom reward is fulfilled by hand' using errcode = 'RL409';
  end if;
  update public.reward_redemptions set status = 'granted', requested_at = coalesce(requested_at, now()),
    result = jsonb_build_object('fulfilled', true), granted_at = now(), updated_at = now()
  where id = v.id returning * into v;
  return public.redemption_json(v);
end $$;

-- The creator retries a failed grant: failed → pending, tried again at once (lib/rewards)
-- and by the job. Errors: RL404, RL409. Returns the row.
create function public.retry_reward_redemption(p_company_id text, p_redemption_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.reward_redemptions;
begin
  select * into v from public.reward_redemptions where company_id = p_company_id and id = p_redemption_id for update;
  if v.id is null then raise exception 'No such reward' using errcode = 'RL404'; end if;
  if v.status <> 'failed' then raise exception 'Only a failed reward can be retried' using errcode = 'RL409'; end if;
  update public.reward_redemptions set status = 'pending', updated_at = now() where id = v.id returning * into v;
  return public.redemption_json(v);
end $$;

-- The member used a granted reward (or received a custom one): granted → claimed.
-- Errors: RL404 (not theirs), RL409. Returns the row.
create function public.mark_reward_claimed(p_company_id text, p_user_id text, p_redemption_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.reward_redemptions;
begin
  select * into v from public.reward_redemptions where company_id = p_company_id and id = p_redemption_id and user_id = p_user_id for update;
  if v.id is null then raise exception 'No such reward' using errcode = 'RL404'; end if;
  if v.status <> 'granted' then raise exception 'Only a granted reward can be marked used' using errcode = 'RL409'; end if;
  update public.reward_redemptions set status = 'claimed', claimed_at = now(), updated_at = now() where id = v.id returning * into v;
  return public.redemption_json(v);
end $$;

-- Grants left to do (the rewards job and the after-commit call): requested redemptions not
-- yet granted — pending ones at once, failed ones again after 2^attempts minutes, at most 5
-- tries — oldest first, optionally for one company or one redemption. Custom ones wait for
-- the creator. Returns [{id, company_id, user_id, reward_type, reward_data, attempts, currency}].
create function public.due_reward_grants(p_limit integer, p_company_id text default null, p_id uuid default null) returns jsonb
language sql stable security definer set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', d.id, 'company_id', d.company_id, 'user_id', d.user_id,
    'reward_type', d.reward_type, 'reward_data', d.reward_data, 'attempts', d.attempts,
    'currency', (select currency from public.programs where company_id = d.company_id)) order by d.updated_at), '[]')
  from (select * from public.reward_redemptions d
        where d.status in ('pending', 'failed') and d.requested_at is not null and d.reward_type <> 'custom'
          and (p_company_id is null or d.company_id = p_company_id) and (p_id is null or d.id = p_id)
          and (d.status = 'pending' or (d.attempts < 5 and d.updated_at <= now() - make_interval(mins => (2 ^ d.attempts)::integer)))
        order by d.updated_at limit least(greatest(coalesce(p_limit, 50), 1), 200)) d
$$;

-- One redemption of a company (redemption_json). Errors: RL404.
create function public.get_reward_redemption(p_company_id text, p_redemption_id uuid) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare v public.reward_redemptions;
begin
  select * into v from public.reward_redemptions where company_id = p_company_id and id = p_redemption_id;
  if v.id is null then raise exception 'No such reward' using errcode = 'RL404'; end if;
  return public.redemption_json(v);
end $$;

-- A payment that used a promo code Referly granted marks that reward claimed (Whop's
-- payment.promo_code.id). Returns whether one was.
create function public.mark_promo_code_used(p_company_id text, p_user_id text, p_promo_code_id text) returns boolean
language plpgsql security definer set search_path = '' as $$
begin
  if p_promo_code_id is null then return false; end if;
  update public.reward_redemptions set status = 'claimed', claimed_at = now(), updated_at = now()
  where company_id = p_company_id and status = 'granted' and result->>'promo_code_id' = p_promo_code_id and user_id = p_user_id;
  return found;
end $$;

-- The top p_limit of a campaign's standings with their places and prizes (frozen places once
-- awarded, else live ranks), read from the standings index first.
create function public.campaign_standings(c public.campaigns, p_limit integer) returns jsonb
language sql stable set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_object('place', s.place, 'user_id', s.user_id,
    'member', coalesce((select u.username from public.users u where u.company_id = c.company_id and u.user_id = s.user_id), s.user_id),
    'conversions', s.conversions, 'reached_at', s.reached_at,
    'prize', c.prizes->'top'->(s.place::integer - 1)) order by s.place), '[]')
  -- the top p_limit by the standings index first, then their live ranks among themselves
  from (select cm.user_id, cm.conversions, cm.reached_at,
          coalesce(cm.place, row_number() over (order by cm.conversions desc, cm.reached_at, cm.user_id)) as place
        from (select * from public.campaign_members
              where campaign_id = c.id and conversions > 0
              order by conversions desc, reached_at, user_id limit p_limit) cm) s
$$;

-- The member's rewards page: {conversions (all-time counted), milestones (active, each with
-- progress, remaining and the member's redemption), unlocked (latest 50 redemptions),
-- campaign: the active one ending soonest, with the member's conversions and place (1 +
-- members with more, from campaign_levels, + those with as many who got there first)}.
create function public.get_member_rewards(p_company_id text, p_user_id text) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_all integer := coalesce((select conversions from public.reward_progress where company_id = p_company_id and user_id = p_user_id), 0);
  c public.campaigns;
  m public.campaign_members;
  v_campaign jsonb;
begin
  select * into c from public.campaigns x
  where x.company_id = p_company_id and x.scheduled and x.status <> 'archived' and x.start_date <= now() and now() < x.end_date
  order by x.end_date, x.created_at, x.id limit 1;
  if c.id is not null then
    select * into m from public.campaign_members where campaign_id = c.id and user_id = p_user_id;
    v_campaign := public.campaign_json(c) || jsonb_build_object('conversions', coalesce(m.conversions, 0),
      -- members ahead: more conversions (campaign_levels), or as many reached earlier (ties:
      -- user id; a range count on the standings index)
      'place', case when coalesce(m.conversions, 0) > 0 then 1
        + (select coalesce(sum(l.members), 0) from public.campaign_levels l where l.campaign_id = c.id and l.conversions > m.conversions)
        + (select count(*) from public.campaign_members o where o.campaign_id = c.id and o.conversions = m.conversions
             and (o.reached_at, o.user_id) < (m.reached_at, m.user_id)) end);
  end if;
  return jsonb_build_object('conversions', v_all,
    'milestones', coalesce((select jsonb_agg(jsonb_build_object('id', w.id, 'name', w.name, 'description', w.description,
        'threshold', w.threshold, 'reward_type', w.reward_type, 'reward_data', w.reward_data, 'campaign_id', w.campaign_id,
        'campaign_name', k.name, 'progress', least(s.progress, w.threshold), 'remaining', greatest(w.threshold - s.progress, 0),
        'redemption', (select public.redemption_json(d) from public.reward_redemptions d
                       where d.company_id = p_company_id and d.reward_id = w.id and d.user_id = p_user_id))
        order by w.campaign_id nulls first, w.threshold, w.created_at)
      from public.rewards w
      left join public.campaigns k on k.id = w.campaign_id
      cross join lateral (select case when w.campaign_id is null then v_all
                                      else coalesce((select conversions from public.campaign_members
                                                     where campaign_id = w.campaign_id and user_id = p_user_id), 0) end as progress) s
      where w.company_id = p_company_id and w.is_active
        and (w.campaign_id is null or public.campaign_status(k, now()) in ('active', 'ended'))), '[]'),
    'unlocked', coalesce((select jsonb_agg(public.redemption_json(d) order by d.created_at desc, d.id desc)
      from (select * from public.reward_redemptions where company_id = p_company_id and user_id = p_user_id
            order by created_at desc, id desc limit 50) d), '[]'),
    'campaign', v_campaign);
end $$;

-- Grant a redemption that the database can grant by itself (points, or prize money as a
-- 'bonus' commission with the program's hold), once: one that is not pending or failed, not
-- yet requested, or of a Whop-made type (promo code, free access, custom) is returned as it
-- is. Points are typed CHALLENGE_REWARD, CAMPAIGN_PRIZE or MILESTONE_REWARD in the ledger; a
-- milestone's or challenge's points are also logged as credits in referral_rewards. Errors:
-- RL404 unknown redemption. Returns the redemption.
create function public.grant_reward_redemption(p_company_id text, p_redemption_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.reward_redemptions;
  v_program public.programs;
  v_commission_id uuid;
  v_amount bigint;
begin
  select * into v from public.reward_redemptions where company_id = p_company_id and id = p_redemption_id for update;
  if v.id is null then raise exception 'No such reward' using errcode = 'RL404'; end if;
  if v.status not in ('pending', 'failed') or v.requested_at is null or v.reward_type not in ('points', 'commission') then
    return to_jsonb(v);
  end if;
  if v.reward_type = 'points' then
    perform public.add_points(p_company_id, v.user_id, (v.reward_data->>'points')::bigint,
      case when v.challenge_id is not null then 'CHALLENGE_REWARD' when v.reward_id is null then 'CAMPAIGN_PRIZE' else 'MILESTONE_REWARD' end, 'reward_redemption', v.id::text, v.name);
    v.result := jsonb_build_object('points', (v.reward_data->>'points')::bigint);
  else
    select * into v_program from public.programs where company_id = p_company_id;
    v_amount := (v.reward_data->>'amount_cents')::bigint;
    insert into public.commissions (company_id, beneficiary_user_id, level, kind, base_amount_cents, rate_bp, amount_cents,
      currency, status, available_at, campaign_id, reward_redemption_id, reason)
    values (p_company_id, v.user_id, 1, 'bonus', 0, 0, v_amount, v_program.currency,
      case when v_program.hold_days = 0 then 'available' else 'pending' end, now() + make_interval(days => v_program.hold_days),
      v.campaign_id, v.id, v.name)
    returning id into v_commission_id;
    insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
    values (p_company_id, v.user_id, 'commission', v_amount, v_program.currency, 'commission', v_commission_id::text, v.name);
    v.result := jsonb_build_object('commission_id', v_commission_id, 'amount_cents', v_amount, 'currency', v_program.currency);
  end if;
  update public.reward_redemptions set status = 'granted', result = v.result, granted_at = now(), error_message = null,
    updated_at = now()
  where id = v.id returning * into v;
  if v.reward_type = 'points' and (v.reward_id is not null or v.challenge_id is not null) then
    insert into public.referral_rewards (company_id, user_id, reward_value, reason, source_id, metadata)
    values (p_company_id, v.user_id, (v.result->>'points')::bigint,
      case when v.challenge_id is not null then 'challenge' else 'milestone' end, v.id::text,
      jsonb_build_object('reward_id', v.reward_id, 'challenge_id', v.challenge_id, 'name', v.name))
    on conflict do nothing;
  end if;
  return to_jsonb(v);
end $$;

-- ════ supabase/schemas/60_gamification.sql ════

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

-- ════ supabase/schemas/70_notifications.sql ════

-- Notifications: the notifications outbox (one row per kind, source and member), filled by
-- triggers on the rows events write (commissions, referral_tiers, reward_redemptions,
-- payouts) and sent by lib/notifications (take_due_notifications, settle_notification).
-- Order: table, indexes, functions, then the triggers last (they need their functions).

-- ── Tables ──────────────────────────────────────────────────────────────────

create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  company_id text not null,
  user_id text not null,
  kind text not null check (kind in ('commission_earned', 'tier_reached', 'milestone_reached', 'challenge_completed', 'payout_sent')),
  -- the commission, tier name, redemption or payout it is about
  source_id text not null,
  -- what the words are made from: {amount_cents, currency, level} | {tier, bonus_pct} | {name} | {amount_cents, currency}
  data jsonb not null default '{}',
  -- 'pending' until Whop accepts it ('sent'); 'failed' after the last attempt
  status text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  sent_at timestamptz,
  error_message text,
  created_at timestamptz not null default now(),
  unique (company_id, kind, source_id, user_id)
);

alter table public.notifications enable row level security;

-- ── Indexes ─────────────────────────────────────────────────────────────────

create index notifications_due_idx on public.notifications (next_attempt_at) where status = 'pending';

create index notifications_company_due_idx on public.notifications (company_id, next_attempt_at) where status = 'pending';

create index notifications_member_idx on public.notifications (company_id, user_id, created_at desc);

-- ── Functions ───────────────────────────────────────────────────────────────

-- Queue one notification unless its kind is off or the member muted them; a repeat of the
-- same (kind, source, member) queues nothing.
create function public.queue_notification(p_company_id text, p_user_id text, p_kind text, p_source_id text, p_data jsonb)
returns void
language plpgsql security definer set search_path = '' as $$
begin
  if exists (select 1 from public.programs where company_id = p_company_id and p_kind = any(notifications_off))
     or exists (select 1 from public.users where company_id = p_company_id and user_id = p_user_id and notifications_muted) then
    return;
  end if;
  insert into public.notifications (company_id, user_id, kind, source_id, data)
  values (p_company_id, p_user_id, p_kind, p_source_id, p_data)
  on conflict do nothing;
end $$;

-- The outbox is filled by the rows the events write (the rules that make those rows stay in
-- their functions; these only say "tell the member").
create function public.trg_commissions_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  -- earned: a commission or money prize that counts now (not one held for review)
  if new.kind in ('commission', 'bonus') and new.amount_cents > 0 and new.status in ('pending', 'available') then
    perform public.queue_notification(new.company_id, new.beneficiary_user_id, 'commission_earned', new.id::text,
      jsonb_build_object('amount_cents', new.amount_cents, 'currency', new.currency, 'level', new.level, 'kind', new.kind));
  end if;
  return null;
end $$;

create function public.trg_tiers_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_tier jsonb;
begin
  -- reached by a new best (a changed tiers list re-names tiers without anyone reaching one)
  if new.current_tier is distinct from old.current_tier
     and (new.best_conversions, new.best_commissions_cents) is distinct from (old.best_conversions, old.best_commissions_cents) then
    select * into v_program from public.programs where company_id = new.company_id;
    select t into v_tier from jsonb_array_elements(v_program.tiers) t where t->>'name' = new.current_tier;
    if coalesce(public.tier_min(v_program, v_tier), 0) > 0 then
      perform public.queue_notification(new.company_id, new.user_id, 'tier_reached', new.current_tier,
        jsonb_build_object('tier', new.current_tier, 'bonus_pct', (v_tier->>'bonus_pct')::numeric));
    end if;
  end if;
  return null;
end $$;

create function public.trg_redemptions_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.reward_id is not null then
    perform public.queue_notification(new.company_id, new.user_id, 'milestone_reached', new.id::text, jsonb_build_object('name', new.name));
  elsif new.challenge_id is not null then
    perform public.queue_notification(new.company_id, new.user_id, 'challenge_completed', new.id::text, jsonb_build_object('name', new.name));
  end if;
  return null;
end $$;

create function public.trg_payouts_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.status = 'completed' and old.status is distinct from 'completed' then
    perform public.queue_notification(new.company_id, new.user_id, 'payout_sent', new.id::text,
      jsonb_build_object('amount_cents', new.amount_cents, 'currency', new.currency));
  end if;
  return null;
end $$;

-- Take up to p_limit due notifications (of one company, or all) for sending: each taken row
-- counts an attempt and is not due again until its backoff has passed (1, 2, 4 … 256
-- minutes), so two senders never take the same row at once. Returns [{id, company_id,
-- user_id, kind, data, attempts, experience_id}].
create function public.take_due_notifications(p_limit integer, p_company_id text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v jsonb;
begin
  with due as (
    select id from public.notifications
    where status = 'pending' and next_attempt_at <= now() and (p_company_id is null or company_id = p_company_id)
    order by next_attempt_at limit least(greatest(coalesce(p_limit, 50), 1), 500)
    for update skip locked),
  taken as (
    update public.notifications n set attempts = n.attempts + 1,
      next_attempt_at = now() + make_interval(mins => power(2, least(n.attempts, 8))::integer)
    from due where n.id = due.id returning n.*)
  select coalesce(jsonb_agg(jsonb_build_object('id', t.id, 'company_id', t.company_id, 'user_id', t.user_id, 'kind', t.kind,
    'data', t.data, 'attempts', t.attempts, 'experience_id', p.experience_id) order by t.created_at), '[]') into v
  from taken t join public.programs p on p.company_id = t.company_id;
  return v;
end $$;

-- What the sender learnt: sent (p_error null) or not (kept for the next attempt; 'failed'
-- after the 9th). Returns the notification's status.
create function public.settle_notification(p_id uuid, p_error text) returns text
language plpgsql security definer set search_path = '' as $$
declare v text;
begin
  update public.notifications set
    status = case when p_error is null then 'sent' when attempts >= 9 then 'failed' else 'pending' end,
    sent_at = case when p_error is null then now() end,
    error_message = left(p_error, 500)
  where id = p_id and status = 'pending'
  returning status into v;
  return v;
end $$;

-- The member's choice to mute (or hear) Referly's notifications. Returns it. Errors: RL404.
create function public.set_notifications_muted(p_company_id text, p_user_id text, p_muted boolean) returns boolean
language plpgsql security definer set search_path = '' as $$
begin
  if p_muted is null then raise exception 'Muted is true or false' using errcode = 'RL400'; end if;
  update public.users set notifications_muted = p_muted, updated_at = now() where company_id = p_company_id and user_id = p_user_id;
  if not found then raise exception 'No such member' using errcode = 'RL404'; end if;
  return p_muted;
end $$;

-- Where members are reached: the company's Referly experience, noted when a member opens
-- the app (an update only when it changed).
create function public.note_experience(p_company_id text, p_experience_id text) returns void
language sql security definer set search_path = '' as $$
  update public.programs set experience_id = p_experience_id
  where company_id = p_company_id and experience_id is distinct from p_experience_id
$$;

-- ── Triggers ────────────────────────────────────────────────────────────────

create trigger commissions_notify after insert on public.commissions for each row execute function public.trg_commissions_notify();

create trigger referral_tiers_notify after insert or update of current_tier on public.referral_tiers
  for each row execute function public.trg_tiers_notify();

create trigger reward_redemptions_notify after insert on public.reward_redemptions
  for each row execute function public.trg_redemptions_notify();

create trigger payouts_notify after update of status on public.payouts for each row execute function public.trg_payouts_notify();

-- ════ supabase/schemas/80_pipeline.sql ════

-- Pipeline: the entry points of Whop events, one transaction per event.
-- process_webhook_event records and routes every event; apply_payment_succeeded is the
-- table of contents of a payment (each step a function of its domain); apply_refund takes
-- refunds and disputes; apply_membership_activated / _deactivated take memberships;
-- sync_referral_counted moves every counter when a referral starts or stops counting.
-- Functions only. See docs/architecture.md "The payment pipeline".

-- ── Functions ───────────────────────────────────────────────────────────────

-- membership.activated: counts a signup on the member's referral (attributing it by
-- membership metadata if it has none yet) and marks its click converted; a
-- converted referral whose membership had been deactivated is active again. Returns an
-- outcome word.
create function public.apply_membership_activated(p_company_id text, p_membership jsonb) returns text
language plpgsql security definer set search_path = '' as $$
declare
  v_user_id text := p_membership->'user'->>'id';
  v_ref public.referrals;
begin
  if v_user_id is null then raise exception 'membership needs user.id' using errcode = 'RL400'; end if;
  perform public.ensure_program(p_company_id);
  perform public.upsert_user(p_company_id, v_user_id, p_membership->'user'->>'username', p_membership->'user'->>'name');
  v_ref := public.attribute_referral(p_company_id, v_user_id, p_membership->'metadata');
  if v_ref.id is null then return 'no_attribution'; end if;
  if v_ref.deactivated_at is not null then
    update public.referrals set deactivated_at = null, updated_at = now() where id = v_ref.id;
    return 'referral_reactivated';
  end if;
  update public.referrals set signed_up_at = now(), updated_at = now()
  where id = v_ref.id and signed_up_at is null;
  if not found then return 'signup_already_counted'; end if;
  update public.referral_clicks set converted = true where id = v_ref.click_id and not converted;
  return 'signup_counted';
end $$;

-- membership.deactivated: the member's converted referral stops being active (it stays
-- converted; recurring commissions follow payments, not this). Returns an outcome word.
create function public.apply_membership_deactivated(p_company_id text, p_membership jsonb) returns text
language plpgsql security definer set search_path = '' as $$
declare v_user_id text := p_membership->'user'->>'id';
begin
  if v_user_id is null then raise exception 'membership needs user.id' using errcode = 'RL400'; end if;
  update public.referrals set deactivated_at = now(), updated_at = now()
  where company_id = p_company_id and referee_user_id = v_user_id and status = 'converted' and deactivated_at is null;
  return case when found then 'referral_deactivated' else 'no_active_referral' end;
end $$;

-- Entry point for every verified Whop webhook: records the event once by its id (a repeat
-- returns {duplicate: true, outcome} and does nothing); routes it by type (no biz_ company
-- → 'no_company', an unhandled type → 'recorded'); remembers the member's normalised email
-- from referly_signals on their user row (the email_duplicate check compares it; the stored
-- payload leaves referly_signals out); stores the outcome. Returns {duplicate, outcome}.
create function public.process_webhook_event(p_event_id text, p_type text, p_company_id text, p_data jsonb)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_company text := coalesce(p_company_id, p_data->'company'->>'id');
  v_email text := p_data->'referly_signals'->>'email';
  v_outcome text;
begin
  if p_event_id is null or p_type is null then
    raise exception 'event needs id and type' using errcode = 'RL400';
  end if;
  insert into public.webhook_events (event_id, company_id, type, payload)
  values (p_event_id, v_company, p_type, p_data - 'referly_signals')
  on conflict do nothing;
  if not found then
    return jsonb_build_object('duplicate', true,
      'outcome', (select outcome from public.webhook_events where event_id = p_event_id));
  end if;
  if v_company is null or v_company !~ '^biz_' then
    v_outcome := 'no_company';
  elsif p_type = 'payment.succeeded' then
    v_outcome := public.apply_payment_succeeded(v_company, p_data);
  elsif p_type = 'membership.activated' then
    v_outcome := public.apply_membership_activated(v_company, p_data);
  elsif p_type = 'membership.deactivated' then
    v_outcome := public.apply_membership_deactivated(v_company, p_data);
  elsif p_type in ('refund.created', 'refund.updated') then
    v_outcome := public.apply_refund(v_company, 'refund', p_data);
  elsif p_type = 'dispute.created' then
    v_outcome := public.apply_refund(v_company, 'dispute', p_data);
  else
    v_outcome := 'recorded';
  end if;
  if v_email is not null and v_company ~ '^biz_' then
    update public.users set email_normalized = left(v_email, 320)
    where company_id = v_company and user_id = p_data->'user'->>'id' and email_normalized is distinct from left(v_email, 320);
  end if;
  update public.webhook_events set outcome = v_outcome where event_id = p_event_id;
  return jsonb_build_object('duplicate', false, 'outcome', v_outcome);
end $$;

-- refund.created / refund.updated / dispute.created. A refund counts
-- once its status is 'succeeded' (a dispute counts when created). The payment's refunded
-- total grows by the amount; each level's commission is reversed pro rata:
--   target = amount × refunded / total (round_half_down; all of it when fully refunded),
-- and only the difference to what was already taken back is moved now. A commission not
-- yet paid (nor in a payout being sent) is reduced (→ 'reversed' when nothing is left);
-- one already paid or in flight gets a negative 'clawback' commission, available at once,
-- that nets against the next payout. A refund that takes back the whole converting payment
-- takes the conversion out of what counts (sync_referral_counted: milestones, campaigns,
-- boards, challenges). Unknown payment, a repeat, or a refund that is not (yet) succeeded
-- changes nothing. Returns an outcome word.
create function public.apply_refund(p_company_id text, p_kind text, p_data jsonb) returns text
language plpgsql security definer set search_path = '' as $$
declare
  v_refund_id text := p_data->>'id';
  v_payment_id text := coalesce(p_data->'payment'->>'id', p_data->>'payment_id');
  v_status text := case when p_kind = 'dispute' then 'succeeded' else p_data->>'status' end;
  v_payment public.payments;
  v_refund public.refunds;
  v_amount bigint;
  v_refunded bigint;
  c record;
  v_target bigint;
  v_taken bigint;
  v_delta bigint;
  v_moved integer := 0;
  v_payout_status text;
begin
  if v_refund_id is null or jsonb_typeof(p_data->'amount') is distinct from 'number' then
    raise exception '% needs an id and a numeric amount', p_kind using errcode = 'RL400';
  end if;
  if v_payment_id is null then return 'unknown_payment'; end if;
  select * into v_payment from public.payments
  where company_id = p_company_id and payment_id = v_payment_id for update;
  if v_payment.payment_id is null then return 'unknown_payment'; end if;
  v_amount := public.to_minor_units((p_data->>'amount')::numeric, v_payment.currency);

  insert into public.refunds (company_id, refund_id, kind, payment_id, amount_cents, status)
  values (p_company_id, v_refund_id, p_kind, v_payment_id, v_amount, v_status)
  on conflict (company_id, refund_id) do update set status = excluded.status,
    amount_cents = case when public.refunds.applied_at is null then excluded.amount_cents else public.refunds.amount_cents end,
    updated_at = now();
  select * into v_refund from public.refunds where company_id = p_company_id and refund_id = v_refund_id for update;
  if v_refund.status <> 'succeeded' then return 'refund_' || v_refund.status; end if;
  if v_refund.applied_at is not null then return 'refund_already_applied'; end if;
  update public.refunds set applied_at = now() where company_id = p_company_id and refund_id = v_refund_id;

  v_refunded := least(v_payment.amount_cents, v_payment.refunded_cents + v_refund.amount_cents);
  update public.payments set refunded_cents = v_refunded where company_id = p_company_id and payment_id = v_payment_id;

  -- lock the payouts these commissions are in before the commissions themselves, the same
  -- order as start_payout: a payout being started either sees the reduced amounts or is
  -- seen here as processing (→ clawback), never neither
  perform 1 from public.payouts
  where id in (select payout_id from public.commissions where company_id = p_company_id and payment_id = v_payment_id)
  order by id for update;

  for c in
    select cm.* from public.commissions cm
    where cm.company_id = p_company_id and cm.payment_id = v_payment_id and cm.kind = 'commission'
    order by cm.level for update
  loop
    continue when c.status in ('reversed', 'cancelled');
    -- read the payout's status now that the commission is locked (a join in the locking
    -- query could show a payout state older than the row it waited for)
    select status into v_payout_status from public.payouts where id = c.payout_id;
    v_target := case when v_refunded >= v_payment.amount_cents or v_payment.amount_cents = 0 then c.amount_cents
                     else public.round_half_down(c.amount_cents::numeric * v_refunded / v_payment.amount_cents) end;
    select c.reversed_cents + coalesce(-sum(k.amount_cents), 0) into v_taken
    from public.commissions k where k.reverses_commission_id = c.id;
    v_delta := v_target - v_taken;
    continue when v_delta <= 0;
    if c.status = 'paid' or v_payout_status is not distinct from 'processing' then
      insert into public.commissions (company_id, referral_id, payment_id, beneficiary_user_id, level, kind,
        base_amount_cents, rate_bp, amount_cents, currency, status, available_at, refund_id, reverses_commission_id, reason)
      values (p_company_id, c.referral_id, c.payment_id, c.beneficiary_user_id, c.level, 'clawback',
        0, c.rate_bp, -v_delta, c.currency, 'available', now(), v_refund_id, c.id, p_kind || ' ' || v_refund_id);
      insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
      values (p_company_id, c.beneficiary_user_id, 'clawback', -v_delta, c.currency, 'commission', c.id::text, p_kind || ' ' || v_refund_id);
    else
      update public.commissions set reversed_cents = reversed_cents + v_delta,
        status = case when reversed_cents + v_delta = amount_cents then 'reversed' else status end,
        updated_at = now()
      where id = c.id;
      insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
      values (p_company_id, c.beneficiary_user_id, 'reversal', -v_delta, c.currency, 'commission', c.id::text, p_kind || ' ' || v_refund_id);
    end if;
    v_moved := v_moved + 1;
  end loop;
  if v_payment.referral_id is not null then perform public.sync_referral_counted(v_payment.referral_id); end if;
  return case when v_moved > 0 then p_kind || '_reversed' else p_kind || '_recorded' end;
end $$;

-- Make a referral's `counted` agree with referral_counts and move every counter with it, in
-- the caller's transaction (a conversion, a fraud decision, a refund), in this order:
--  1. the referral's counted / counted_at;
--  2. the referrer's all-time milestone progress (reward_progress);
--  3. the campaign's total_referrals, the referrer's tally and campaign_levels (until the
--     campaign is awarded: its standings are frozen then); reached_at = when they reached
--     their count;
--  4. milestones: counting up unlocks the active ones whose threshold the count has reached
--     (one redemption per member and reward: the unique key makes concurrent crossings one),
--     requested at once when auto_apply (points granted here); counting down withdraws those
--     not yet granted that the count no longer reaches;
--  5. the leaderboards: up on the boards of now, down on those of when it was counted;
--  6. streaks, tiers and surprise drops (advance_gamification), when it starts to count;
--  7. the referrer's challenges, up or down.
-- Steps 5–7 get the referral as it was before step 1. Returns whether it counts now.
create function public.sync_referral_counted(p_referral_id uuid) returns boolean
language plpgsql security definer set search_path = '' as $$
declare
  r public.referrals;
  v_should boolean;
  v_sign integer;
  v_all integer;
  v_campaign integer;
  v_awarded boolean;
  w record;
  v_id uuid;
begin
  select * into r from public.referrals where id = p_referral_id;
  if r.id is null then return false; end if;
  v_should := public.referral_counts(r);
  if v_should = r.counted then return r.counted; end if;
  v_sign := case when v_should then 1 else -1 end;
  update public.referrals set counted = v_should, counted_at = case when v_should then now() end where id = r.id;

  insert into public.reward_progress as p (company_id, user_id, conversions) values (r.company_id, r.referrer_user_id, greatest(v_sign, 0))
  on conflict (company_id, user_id) do update set conversions = p.conversions + v_sign, updated_at = now()
  returning conversions into v_all;

  if r.campaign_id is not null then
    select awarded_at is not null into v_awarded from public.campaigns where id = r.campaign_id for update;
    if not v_awarded then
      update public.campaigns set total_referrals = total_referrals + v_sign, updated_at = now() where id = r.campaign_id;
      insert into public.campaign_members as m (company_id, campaign_id, user_id, conversions, reached_at)
      values (r.company_id, r.campaign_id, r.referrer_user_id, greatest(v_sign, 0), now())
      on conflict (campaign_id, user_id) do update set conversions = m.conversions + v_sign,
        reached_at = case when v_sign > 0 then now()
                          else (select max(x.counted_at) from public.referrals x
                                where x.campaign_id = r.campaign_id and x.referrer_user_id = r.referrer_user_id and x.counted) end
      returning conversions into v_campaign;
      -- the member moved from the count they had to the one they have
      if v_campaign > 0 then
        insert into public.campaign_levels as l (campaign_id, conversions, members) values (r.campaign_id, v_campaign, 1)
        on conflict (campaign_id, conversions) do update set members = l.members + 1;
      end if;
      update public.campaign_levels set members = members - 1
      where campaign_id = r.campaign_id and conversions = v_campaign - v_sign;
    end if;
  end if;

  if v_sign > 0 then
    for w in select * from public.rewards
             where company_id = r.company_id and is_active
               and ((campaign_id is null and threshold <= v_all) or (campaign_id = r.campaign_id and threshold <= v_campaign))
             order by threshold, created_at loop
      insert into public.reward_redemptions (company_id, user_id, reward_id, campaign_id, name, reward_type, reward_data, requested_at)
      values (r.company_id, r.referrer_user_id, w.id, w.campaign_id, w.name, w.reward_type, w.reward_data,
        case when w.auto_apply then now() end)
      on conflict do nothing
      returning id into v_id;
      if v_id is not null then
        update public.rewards set unlocked = unlocked + 1 where id = w.id;
        if w.auto_apply and w.reward_type = 'points' then perform public.grant_reward_redemption(r.company_id, v_id); end if;
      end if;
      v_id := null;
    end loop;
  else
    with withdrawn as (
      delete from public.reward_redemptions d using public.rewards x
      where d.company_id = r.company_id and d.user_id = r.referrer_user_id and d.reward_id = x.id and d.status in ('pending', 'failed')
        and ((x.campaign_id is null and x.threshold > v_all)
             or (x.campaign_id = r.campaign_id and v_campaign is not null and x.threshold > v_campaign))
      returning d.reward_id)
    update public.rewards x set unlocked = x.unlocked - n.n
    from (select reward_id, count(*)::integer as n from withdrawn group by reward_id) n where x.id = n.reward_id;
  end if;

  perform public.bump_leaderboards(r.company_id, r.referrer_user_id, case when v_should then now() else r.counted_at end, v_sign);
  if v_should then perform public.advance_gamification(r); end if;
  perform public.step_challenges(r, v_sign);
  return v_should;
end $$;

-- payment.succeeded, one transaction: the table of contents of a payment. First the input
-- is checked (id, user.id, ISO currency, numeric total; else RL400), then ensure_program,
-- to_minor_units (total, tax), upsert_user. Returns an outcome word.
--   1. payment: insert payments (Whop's id again → 'duplicate_payment'), ledger row
--      'payment'; mark_promo_code_used (a Referly promo code it used → claimed);
--   2. attribution and conversion: attribute_referral (none → 'no_attribution'); lock the
--      referral; pending past expires_at → expired, expired or cancelled → stop; link the
--      payment; on the first payment campaign_for_conversion, status converted with
--      campaign_id and plan_id, its click converted, record_sighting of the referee's click;
--   3. fraud (first payment): run_fraud_checks; 'held' withholds points and commissions;
--   4. points (unless held): award_payment_points;
--   5. counting (first payment): sync_referral_counted — before step 6, so the streak it
--      advances is the one this payment is paid with;
--   6. commissions up the chain (a renewal past recurring_months → 'outside_recurring_window'):
--      base = total − tax; levels follow referrer_of up to max_level (1 unless mlm_enabled),
--      levels ≥ 2 within level2_months. Level 1: product_rates_bp or commission_rate_bp
--      (flat: 0, plus flat_amount_cents on the first payment) + the campaign's bonus_rate_bp
--      (first payment) + tier_bonus_bp, capped at 100 %, times the streak's multiplier
--      (first payment, streaks_enabled), level1_amount rounding once; level n:
--      upper_level_rates_bp[n − 1], round_half_down. Each row is on_hold if held, else
--      pending until now + hold_days (available when 0), with its ledger row 'commission';
--      with tiers by commissions, advance_tier per beneficiary.
--      Outcome: commission_created, commission_held or no_commission.
create function public.apply_payment_succeeded(p_company_id text, p_payment jsonb) returns text
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

-- ════ supabase/schemas/90_privileges.sql ════

-- Privileges, applied last, once every table and function exists. Row-level security is on
-- for every table (each file enables it beside its table) and no policy exists, so nothing
-- is readable through Supabase's anon or authenticated roles; only the server's service
-- role executes the functions, which are the write API. The default privileges give
-- functions created later the same.

-- Supabase has these roles; a plain Postgres (embedded, CI) gets them in 00_core.sql.
revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;

alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke execute on functions from public, anon, authenticated;
alter default privileges in schema public grant execute on functions to service_role;
