-- Referly: hardening (issue 10) — retired codes stay their owner's, no late claims as
-- cash-back, landing URLs are https.

-- ── Retired codes ───────────────────────────────────────────────────────────

-- A code a member changed away from: it keeps pointing at their code row (links already
-- shared keep attributing to them) and nobody else can take it. Codes and retired codes
-- share one namespace, unique across companies ignoring case (/r/CODE carries no company).
create table public.retired_codes (
  code text not null check (code ~ '^[A-Za-z0-9_-]{3,32}$'),
  code_id uuid not null references public.referral_codes(id),
  company_id text not null,
  retired_at timestamptz not null default now()
);
create unique index retired_codes_code_key on public.retired_codes (lower(code));
create index retired_codes_code_id_idx on public.retired_codes (code_id);
alter table public.retired_codes enable row level security;

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
create or replace function public.set_referral_code(p_company_id text, p_user_id text, p_code text) returns jsonb
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

-- The member's referral code, made on first call (as in the core migration): up to 8
-- letters of the username plus 4 unambiguous characters, never a code that is taken or
-- retired. Returns {code}.
create or replace function public.get_or_create_code(p_company_id text, p_user_id text, p_username text, p_name text)
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

-- The Whop checkout a counted click opened (/r creates one per counted click only, and a
-- repeat click of the same visitor within the hour reuses it).
alter table public.referral_clicks add column checkout_url text check (checkout_url ~ '^https?://' and length(checkout_url) <= 2048);

-- record_click as in the core migration, plus: the visitor's keyed IP, IP-prefix and device
-- hashes for the fraud checks (null when the request gave none), the code found through
-- find_code (a retired code's link counts for its owner), and for a repeat click the visitor's counted click of
-- the last hour: {found:false} for an unknown or inactive code, else {found, click_id,
-- counted, company_id, code (the current one), plan_id, landing_url, first_click_id,
-- checkout_url} — first_click_id/checkout_url: the counted click this visitor made on this
-- code within the hour and the checkout it opened (this click itself when counted).
drop function if exists public.record_click(text, text, text, text, text, boolean);
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

-- Attribution for a purchase or signup (as in the core migration; metadata.referral_code
-- may be a retired code, which counts for its owner). An existing referral of this user in
-- this company wins; else metadata.referral_code, else metadata.click_id. Codes and clicks
-- of other companies, inactive codes, self-referrals and loops are ignored. Returns the
-- referral, or null.
create or replace function public.attribute_referral(p_company_id text, p_user_id text, p_metadata jsonb)
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

-- "Who invited you?" (DESIGN.md flow 3): a member with no referrer and no payment yet in
-- this company enters a code (a retired one counts for its owner). A member who has already
-- paid can't add a referrer afterwards: every later renewal would pay the code's owner
-- (cash-back through an accomplice), so the claim is refused — commissions only ever come
-- from payments made after the referral existed.
-- Errors: RL404 unknown or inactive code in this company, RL400 own code or a loop,
-- RL409 already referred or already paid. Returns the referral as jsonb.
create or replace function public.claim_referral(p_company_id text, p_user_id text, p_code text, p_username text)
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

-- ── Landing URLs ────────────────────────────────────────────────────────────

-- /r redirects to the landing URL: only a full https URL with a host (today "http://[" made
-- /r answer 500). It replaces the core migration's "http or https" check. NOT VALID:
-- existing rows are left as they are; every write is checked.
alter table public.programs drop constraint programs_landing_url_check;
alter table public.programs add constraint programs_landing_url_https check (
  landing_url is null or (length(landing_url) <= 2048
    and landing_url ~ '^https://[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+(:[0-9]{1,5})?([/?#][^[:space:]]*)?$')
) not valid;

revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
