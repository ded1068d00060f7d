-- Referly core schema: programs, cached users, referral codes, clicks, referrals,
-- webhook events, payments, commissions and the append-only transactions ledger.
-- Every state change that touches more than one row is a plpgsql function below,
-- so it runs in one transaction whichever client (supabase-js or pg) calls it.
-- Rules: DESIGN.md "Data" and "Canonical statuses"; earnings: seed 004. The payment,
-- webhook, earnings and settings functions are in 20261121010000_money_lifecycle.sql.

-- Supabase has these roles; a plain Postgres (embedded, CI) gets them here so the
-- grants below mean the same thing everywhere.
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
  landing_url text check (landing_url is null or landing_url ~* '^https?://'),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.users (
  company_id text not null,
  user_id text not null check (user_id ~ '^user_'),
  username text,
  name text,
  avatar_url text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (company_id, user_id)
);

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
-- /r/CODE carries no company, so codes are unique across all companies, case-insensitively.
create unique index referral_codes_code_key on public.referral_codes (lower(code));

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
  created_at timestamptz not null default now()
);
create index referral_clicks_code_idx on public.referral_clicks (company_id, code_id, created_at);
create index referral_clicks_visitor_idx on public.referral_clicks (code_id, visitor_hash, created_at);

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
  unique (company_id, referee_user_id)
);
create index referrals_referrer_idx on public.referrals (company_id, referrer_user_id, created_at desc);

create table public.webhook_events (
  event_id text primary key,
  company_id text,
  type text not null,
  outcome text,
  payload jsonb not null,
  received_at timestamptz not null default now()
);

create table public.payments (
  company_id text not null references public.programs(company_id),
  payment_id text not null,
  user_id text,
  referral_id uuid references public.referrals(id),
  amount_cents bigint not null,
  tax_cents bigint not null default 0,
  currency text not null,
  created_at timestamptz not null default now(),
  primary key (company_id, payment_id)
);

create table public.commissions (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  referral_id uuid not null references public.referrals(id),
  payment_id text not null,
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
  -- one commission per company, payment, beneficiary and level (DESIGN.md "Idempotency")
  unique (company_id, payment_id, beneficiary_user_id, level),
  foreign key (company_id, payment_id) references public.payments(company_id, payment_id)
);
create index commissions_beneficiary_idx on public.commissions (company_id, beneficiary_user_id, status);

-- Append-only ledger of every movement of money (cents) or points.
create table public.transactions (
  id bigint generated always as identity primary key,
  company_id text not null,
  user_id text,
  kind text not null check (kind in ('payment', 'commission', 'reversal', 'clawback', 'payout',
    'points_earned', 'points_spent', 'points_expired', 'admin_grant')),
  amount_cents bigint not null default 0,
  currency text,
  points bigint not null default 0,
  reference_type text not null,
  reference_id text not null,
  memo text,
  created_at timestamptz not null default now()
);
create index transactions_user_idx on public.transactions (company_id, user_id, created_at);

create function public.forbid_ledger_change() returns trigger
language plpgsql set search_path = '' as $$
begin
  raise exception 'transactions is append-only' using errcode = 'RL409';
end $$;
create trigger transactions_append_only before update or delete on public.transactions
  for each row execute function public.forbid_ledger_change();

-- ── Security: RLS on, no grants to anon/authenticated, only service_role executes ──
alter table public.programs enable row level security;
alter table public.users enable row level security;
alter table public.referral_codes enable row level security;
alter table public.referral_clicks enable row level security;
alter table public.referrals enable row level security;
alter table public.webhook_events enable row level security;
alter table public.payments enable row level security;
alter table public.commissions enable row level security;
alter table public.transactions enable row level security;

-- ── Money helpers: the one rounding rule and currency minor units ───────────

-- The one rounding rule (DESIGN.md "Money"): round half down to the minor unit,
-- on the magnitude, so +2.5 → 2 and -2.5 → -2. Input: an exact numeric amount of
-- minor units; output: bigint minor units.
create function public.round_half_down(p_value numeric) returns bigint
language sql immutable strict set search_path = '' as $$
  select (sign(p_value) * ceil(abs(p_value) - 0.5))::bigint
$$;

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

-- Whop sends decimal currency units (49.99); convert exactly (numeric, never float)
-- to integer minor units of that currency.
create function public.to_minor_units(p_amount numeric, p_currency text) returns bigint
language sql immutable strict set search_path = '' as $$
  select public.round_half_down(p_amount * (10::numeric ^ public.currency_minor_units(p_currency)))
$$;

-- ── Programs and members ────────────────────────────────────────────────────

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

-- Cache a Whop user's display fields (never used for identity). Callers ensure the
-- company's program first.
create function public.upsert_user(p_company_id text, p_user_id text, p_username text, p_name text)
returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_user_id is null or p_user_id !~ '^user_' then
    raise exception 'user id must look like user_…' using errcode = 'RL400';
  end if;
  insert into public.users (company_id, user_id, username, name)
  values (p_company_id, p_user_id, p_username, p_name)
  on conflict (company_id, user_id) do update
    set username = coalesce(excluded.username, public.users.username),
        name = coalesce(excluded.name, public.users.name),
        updated_at = now()
    where excluded.username is distinct from public.users.username
       or excluded.name is distinct from public.users.name;
end $$;

-- Program settings as jsonb (creating the program with defaults if new).
create function public.get_program(p_company_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
begin
  return to_jsonb(public.ensure_program(p_company_id));
end $$;

-- ── Codes ───────────────────────────────────────────────────────────────────

-- The member's referral code, made on first call: up to 8 letters of the username
-- plus 4 unambiguous characters (no 0/O/1/I), unique across companies ignoring case.
-- Returns {code}.
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
    v_code := v_base || (select string_agg(substr(v_alphabet, 1 + floor(random() * 32)::integer, 1), '')
                         from generate_series(1, case when v_try > 5 then 6 else 4 end));
    insert into public.referral_codes (company_id, user_id, code) values (p_company_id, p_user_id, v_code)
    on conflict do nothing;
    -- either ours went in, or a concurrent first visit made one: return whichever exists
    select code into v_code from public.referral_codes where company_id = p_company_id and user_id = p_user_id;
    if v_code is not null then return jsonb_build_object('code', v_code); end if;
    if v_try > 20 then raise exception 'could not allocate a referral code' using errcode = 'RL409'; end if;
  end loop;
end $$;

-- Change a member's code to a free vanity code (3–32 of A–Z a–z 0–9 _ -).
-- Errors: RL400 bad format, RL409 taken (by anyone, any case). Returns {code}.
create function public.set_referral_code(p_company_id text, p_user_id text, p_code text) returns jsonb
language plpgsql security definer set search_path = '' as $$
begin
  if p_code is null or p_code !~ '^[A-Za-z0-9_-]{3,32}$' then
    raise exception 'A code is 3 to 32 letters, digits, - or _' using errcode = 'RL400';
  end if;
  if exists (select 1 from public.referral_codes
             where lower(code) = lower(p_code) and not (company_id = p_company_id and user_id = p_user_id)) then
    raise exception 'The code % is taken', p_code using errcode = 'RL409';
  end if;
  update public.referral_codes set code = p_code where company_id = p_company_id and user_id = p_user_id;
  if not found then raise exception 'You have no referral code yet' using errcode = 'RL404'; end if;
  return jsonb_build_object('code', p_code);
exception when unique_violation then
  raise exception 'The code % is taken', p_code using errcode = 'RL409';
end $$;

-- ── Clicks ──────────────────────────────────────────────────────────────────

-- Record a click on /r/CODE. Bots and repeat clicks of one visitor within an hour are
-- stored with counted = false. Returns {found:false} for an unknown or inactive code,
-- else {found, click_id, counted, company_id, code, plan_id, landing_url}.
create function public.record_click(p_code text, p_visitor_hash text, p_user_agent text,
  p_referrer_url text, p_country text, p_is_bot boolean) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_code record;
  v_counted boolean;
  v_click_id uuid;
begin
  -- one lookup on the hot path: the code and where its program sends visitors
  select c.id, c.company_id, c.code, p.plan_id, p.landing_url into v_code
  from public.referral_codes c
  join public.programs p on p.company_id = c.company_id
  where lower(c.code) = lower(p_code) and c.is_active and p.is_active;
  if not found then return jsonb_build_object('found', false); end if;
  -- serialise clicks of one visitor on one code so the hourly dedup holds under concurrency
  perform pg_advisory_xact_lock(hashtextextended(v_code.id::text || p_visitor_hash, 0));
  v_counted := not p_is_bot and not exists (
    select 1 from public.referral_clicks
    where code_id = v_code.id and visitor_hash = p_visitor_hash and counted
      and created_at > now() - interval '1 hour');
  insert into public.referral_clicks (company_id, code_id, visitor_hash, user_agent, referrer_url, country, is_bot, counted)
  values (v_code.company_id, v_code.id, p_visitor_hash, left(p_user_agent, 512), left(p_referrer_url, 2048),
          left(p_country, 2), p_is_bot, v_counted)
  returning id into v_click_id;
  return jsonb_build_object('found', true, 'click_id', v_click_id, 'counted', v_counted,
    'company_id', v_code.company_id, 'code', v_code.code,
    'plan_id', v_code.plan_id, 'landing_url', v_code.landing_url);
end $$;

-- ── Referrals ───────────────────────────────────────────────────────────────

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

-- "Who invited you?": a member with no referrer in this company enters a code.
-- Errors: RL404 unknown code in this company, RL400 own code or a loop, RL409 already referred.
-- Returns the referral as jsonb.
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
  select * into v_code from public.referral_codes
  where company_id = p_company_id and lower(code) = lower(trim(p_code)) and is_active;
  if v_code.id is null then
    raise exception 'No referral code "%" in this community', trim(p_code) using errcode = 'RL404';
  end if;
  if v_code.user_id = p_user_id then
    raise exception 'You can''t use your own referral code' using errcode = 'RL400';
  end if;
  if exists (select 1 from public.referrals where company_id = p_company_id and referee_user_id = p_user_id) then
    raise exception 'You already have a referrer in this community' using errcode = 'RL409';
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

-- Attribution for a purchase or signup by p_user_id (DESIGN.md flow 4): an existing
-- referral of this user in this company wins (one referrer per company); else
-- metadata.referral_code, else metadata.click_id. Codes and clicks of other companies,
-- self-referrals and loops are ignored. Returns the referral, or null.
create function public.attribute_referral(p_company_id text, p_user_id text, p_metadata jsonb)
returns public.referrals
language plpgsql security definer set search_path = '' as $$
declare
  v_ref public.referrals;
  v_code public.referral_codes;
  v_click_id uuid;
  v_window integer;
begin
  select * into v_ref from public.referrals where company_id = p_company_id and referee_user_id = p_user_id;
  if v_ref.id is not null then return v_ref; end if;
  if jsonb_typeof(p_metadata) is distinct from 'object' then return null; end if;

  if p_metadata->>'referral_code' is not null then
    select * into v_code from public.referral_codes
    where company_id = p_company_id and lower(code) = lower(p_metadata->>'referral_code') and is_active;
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

-- ── Webhooks: signups (payments, refunds and the entry point: next migration) ──

-- membership.activated: counts a signup on the member's referral (attributing it by
-- membership metadata if it has none yet). Returns an outcome word.
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
  update public.referrals set signed_up_at = now(), updated_at = now()
  where id = v_ref.id and signed_up_at is null;
  return case when found then 'signup_counted' else 'signup_already_counted' end;
end $$;

-- ── Reads ───────────────────────────────────────────────────────────────────

-- Everything the member view shows: {code, funnel:{clicks,signups,conversions},
-- earnings:[…get_user_referral_earnings], referrals:[{referee, status, source, created_at,
-- converted_at}], referred_by:{user_id, username}|null, program:{currency, min_payout_cents}}.
-- Creates the member's code on first visit.
create function public.get_member_view(p_company_id text, p_user_id text, p_username text, p_name text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_code text;
  v_code_id uuid;
begin
  v_code := public.get_or_create_code(p_company_id, p_user_id, p_username, p_name)->>'code';
  select id into v_code_id from public.referral_codes where company_id = p_company_id and user_id = p_user_id;
  return jsonb_build_object(
    'code', v_code,
    'funnel', jsonb_build_object(
      'clicks', (select count(*) from public.referral_clicks where company_id = p_company_id and code_id = v_code_id and counted),
      'signups', (select count(*) from public.referrals where company_id = p_company_id and referrer_user_id = p_user_id and status <> 'cancelled'),
      'conversions', (select count(*) from public.referrals where company_id = p_company_id and referrer_user_id = p_user_id and status = 'converted')),
    'earnings', coalesce((select jsonb_agg(to_jsonb(e)) from public.get_user_referral_earnings(p_company_id, p_user_id) e), '[]'::jsonb),
    'referrals', coalesce((
      select jsonb_agg(jsonb_build_object('referee', coalesce(u.username, u.name, r.referee_user_id),
        'status', r.status, 'source', r.source, 'created_at', r.created_at, 'converted_at', r.converted_at)
        order by r.created_at desc)
      from public.referrals r
      left join public.users u on u.company_id = r.company_id and u.user_id = r.referee_user_id
      where r.company_id = p_company_id and r.referrer_user_id = p_user_id), '[]'::jsonb),
    'referred_by', (
      select jsonb_build_object('user_id', r.referrer_user_id, 'username', coalesce(u.username, u.name, r.referrer_user_id))
      from public.referrals r
      left join public.users u on u.company_id = r.company_id and u.user_id = r.referrer_user_id
      where r.company_id = p_company_id and r.referee_user_id = p_user_id),
    'program', (select jsonb_build_object('currency', currency, 'min_payout_cents', min_payout_cents)
                from public.programs where company_id = p_company_id));
end $$;

-- ── Grants: nothing for anon/authenticated; only the server's service_role executes ──
revoke all on all tables in schema public from anon, authenticated;
revoke all on all sequences in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke execute on functions from public, anon, authenticated;
alter default privileges in schema public grant execute on functions to service_role;
