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
-- Lock order: an event that writes takes its company's rollups lock (lock_rollups) before
-- any row, the order every writer of a company follows (docs/architecture.md, "Data rules").
-- Each of them takes that lock anyway, through the rollup triggers; taken late, a refund
-- (rollups, then the referral) and a deactivation of the same member (the referral, then
-- rollups) each held what the other waited for.
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
  if v_company ~ '^biz_' and p_type in ('payment.succeeded', 'membership.activated', 'membership.deactivated',
                                        'refund.created', 'refund.updated', 'dispute.created') then
    perform public.lock_rollups(v_company);
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
    from public.commissions k where k.company_id = p_company_id and k.reverses_commission_id = c.id;
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

