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
