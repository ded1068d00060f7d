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
-- Locks: the company's rollups lock first (the order of every writer, as webhooks take it),
-- then the referral, then its payments (as refunds do), then each beneficiary's payout
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
  perform public.lock_rollups(p_company_id);
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
      from public.commissions k where k.company_id = p_company_id and k.reverses_commission_id = c.id;
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
