-- Referly: fraud checks on the hot path (issue 7, after its migration landed). The eight
-- checks' rows are stored only when something was flagged (a clean conversion — most of
-- them — keeps score 0, status clear and no rows); a referee in the referrer's chain is the
-- ring check's case, no longer also a self_referral (which now means the same payment
-- method); "very similar" emails need the same domain and local parts
-- at most 1 edit apart (2 when both have 8+ characters), since short names differ by little
-- by nature (amy@ / ann@ are two people).

-- Run the eight checks of a referral at its conversion and decide (DESIGN.md "Fraud"):
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
create or replace function public.run_fraud_checks(p_company_id text, p_referral_id uuid, p_payment_id text, p_signals jsonb)
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

-- ── Privileges: only the server (service role) reads and writes ─────────────
revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
