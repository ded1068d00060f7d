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
