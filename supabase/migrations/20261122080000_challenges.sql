-- Referly: challenges (issue 9; seed 000 `referral_challenges`: "Refer 5 this month", progress
-- from the counted conversions, completion triggers a reward). The creator defines a
-- challenge (challenges: name, target, a window — this week, this month or dates — and a
-- reward: points, a discount or free access through a Whop promo code, or custom); each
-- member who converts in the window gets their own progress row (referral_challenges, made
-- at their first counted conversion in it); reaching the target completes it once and
-- grants the reward once, through reward_redemptions (points in the database at once, promo
-- codes by lib/rewards, custom by the creator) — concurrent conversions complete it once.
-- A referral that stops counting (fraud rejection, full refund) takes its step back while
-- the challenge is not completed; a completed challenge stays completed.

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
create index challenges_company_idx on public.challenges (company_id, created_at desc, id desc);
create index challenges_running_idx on public.challenges (company_id, ends_at) where is_active;

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
create index referral_challenges_member_idx on public.referral_challenges (company_id, user_id, challenge_id);

alter table public.challenges enable row level security;
alter table public.referral_challenges enable row level security;

-- A challenge's reward is a redemption like a milestone's (one per member and challenge).
alter table public.reward_redemptions add column challenge_id uuid references public.challenges(id);
alter table public.reward_redemptions drop constraint reward_redemptions_source;
alter table public.reward_redemptions add constraint reward_redemptions_source check (
  (reward_id is not null and prize is null and tier is null and challenge_id is null)
  or (reward_id is null and campaign_id is not null and prize is not null and tier is null and challenge_id is null)
  or (tier is not null and reward_id is null and prize is null and challenge_id is null)
  or (challenge_id is not null and reward_id is null and prize is null and tier is null));
create unique index reward_redemptions_challenge_key on public.reward_redemptions (challenge_id, user_id) where challenge_id is not null;

alter table public.referral_rewards drop constraint referral_rewards_reason_check;
alter table public.referral_rewards add constraint referral_rewards_reason_check check (reason in ('drop', 'milestone', 'challenge'));

-- Challenge points have a ledger type of their own (CHALLENGE_REWARD), once per redemption.
alter table public.transactions drop constraint transactions_points_type_check;
alter table public.transactions add constraint transactions_points_type_check check (points_type is null or points_type in (
  'REFERRAL_WELCOME', 'REFERRAL_FIRST_PAYMENT', 'REFERRAL_RECURRING', 'REFERRAL_L2', 'REDEMPTION_PROMO_CODE',
  'REDEMPTION_FREE_ACCESS', 'REDEMPTION_CUSTOM', 'REDEMPTION_REFUND', 'ADMIN_GRANT', 'EXPIRY',
  'CAMPAIGN_BONUS', 'CAMPAIGN_PRIZE', 'MILESTONE_REWARD', 'SURPRISE_DROP', 'CHALLENGE_REWARD'));
drop index public.transactions_reward_points_once;
create unique index transactions_reward_points_once on public.transactions (company_id, user_id, points_type, reference_id)
  where points_type in ('CAMPAIGN_BONUS', 'CAMPAIGN_PRIZE', 'MILESTONE_REWARD', 'CHALLENGE_REWARD');

-- ── Functions ───────────────────────────────────────────────────────────────

-- A challenge as the lists show it: status 'scheduled' | 'running' | 'ended' | 'stopped'.
create function public.challenge_json(c public.challenges) returns jsonb
language sql stable set search_path = '' as $$
  select to_jsonb(c) || jsonb_build_object('status', case when not c.is_active then 'stopped' when now() < c.starts_at then 'scheduled'
                                                          when now() < c.ends_at then 'running' else 'ended' end)
$$;

-- The creator defines a challenge (seed 000 names): {challenge_name, target_referrals,
-- period: 'week' (now to the end of this local week, Monday to Sunday) | 'month' (to the
-- end of this local month) | 'dates' (starts_at, ends_at: dates or date-times in the
-- program's time zone, or ISO with an offset; a date-only end runs through that day),
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

-- Counting also steps the referrer's challenges, up when the referral starts to count, down
-- when it stops (the streaks migration's referral_count_moved, with this added).
create or replace function public.referral_count_moved(r public.referrals, p_counted boolean) returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_counted then perform public.advance_gamification(r); end if;
  perform public.step_challenges(r, case when p_counted then 1 else -1 end);
end $$;

-- The grant in the database (the campaigns migration's grant_reward_redemption, now named
-- grant_reward_redemption_ledger under the streaks migration's wrapper), the same with the
-- challenge's points typed CHALLENGE_REWARD.
create or replace function public.grant_reward_redemption_ledger(p_company_id text, p_redemption_id uuid) returns jsonb
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
  return to_jsonb(v);
end $$;

-- Points granted for a milestone or a challenge are logged as credits in referral_rewards
-- (the streaks migration's wrapper, now with challenges).
create or replace function public.grant_reward_redemption(p_company_id text, p_redemption_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v jsonb := public.grant_reward_redemption_ledger(p_company_id, p_redemption_id);
begin
  if v->>'status' = 'granted' and v->>'reward_type' = 'points' and (v->>'reward_id' is not null or v->>'challenge_id' is not null) then
    insert into public.referral_rewards (company_id, user_id, reward_value, reason, source_id, metadata)
    values (p_company_id, v->>'user_id', (v->'result'->>'points')::bigint,
      case when v->>'challenge_id' is not null then 'challenge' else 'milestone' end, v->>'id',
      jsonb_build_object('reward_id', v->>'reward_id', 'challenge_id', v->>'challenge_id', 'name', v->>'name'))
    on conflict do nothing;
  end if;
  return v;
end $$;

-- The member Home's gamification (the streaks migration's get_member_gamification, renamed
-- and wrapped) gains challenges: the running ones and those ended in the last 7 days,
-- [{id, challenge_name, target_referrals, achieved_referrals, status: active | completed |
-- expired, ends_at, reward_type, reward_data}] (at most 10, ending soonest first).
alter function public.get_member_gamification(text, text) rename to get_member_gamification_boosts;
create function public.get_member_gamification(p_company_id text, p_user_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
begin
  return public.get_member_gamification_boosts(p_company_id, p_user_id) || jsonb_build_object('challenges', coalesce((
    select jsonb_agg(jsonb_build_object('id', c.id, 'challenge_name', c.challenge_name, 'target_referrals', c.target_referrals,
        'achieved_referrals', least(coalesce(p.achieved_referrals, 0), c.target_referrals),
        'status', case when p.status = 'completed' then 'completed' when now() >= c.ends_at then 'expired' else 'active' end,
        'ends_at', c.ends_at, 'reward_type', c.reward_type, 'reward_data', c.reward_data) order by c.ends_at, c.id)
    from (select * from public.challenges
          where company_id = p_company_id and is_active and starts_at <= now() and ends_at > now() - interval '7 days'
          order by ends_at, id limit 10) c
    left join public.referral_challenges p on p.challenge_id = c.id and p.user_id = p_user_id), '[]'));
end $$;

-- ── Privileges: only the server (service role) reads and writes ─────────────
revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
