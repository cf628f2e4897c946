{#- The user-item graph the random walks of synthetic_histories run on: one row per distinct
    positive (label = 1) train-window pair of the domains in var walk_domains (null = the target
    domain only). Reads int_events_train, so the train window and target_keep_users apply (users
    not kept have no target-domain edge). Dense 0-based keys for the walker's CSR arrays:
    user_key numbers the users in user_id order, item_key the (domain, item_id) pairs in that
    order; both depend only on the set of ids. user_events, the user's positive train events in
    the walk domains (repeats counted), is the real history length walk_length 'empirical' draws
    from. -#}
{%- set walk_domains = scalr_walk_domains('int_walk_graph') -%}
{%- if scalr_checks_data() -%}
  {%- set q = "select count(*), sum(case when label = 1 then 1 else 0 end) from " ~ ref('int_events_train')
      ~ " where domain in (" ~ scalr_sql_list(walk_domains) ~ ")" -%}
  {%- set r = run_query(q).rows[0] -%}
  {%- if (r[1] or 0) == 0 -%}
    {{ scalr_fail('int_walk_graph', "column label: 0 of " ~ (r[0] or 0) ~ " train-window rows of the walk domains "
        ~ (walk_domains | join(', ')) ~ " are positives; the random walks need at least one edge (var walk_domains)") }}
  {%- endif -%}
{%- endif %}

with

positives as (
    select * from {{ ref('int_events_train') }}
    where
        label = 1
        and domain in ({{ scalr_sql_list(walk_domains) }})
),

edges as (
    select
        user_id,
        item_id,
        domain,
        count(*) as n_events
    from positives
    group by user_id, item_id, domain
),

keyed as (
    select
        user_id,
        item_id,
        domain,
        n_events,
        cast(dense_rank() over (order by user_id) - 1 as bigint) as user_key,
        cast(dense_rank() over (order by domain, item_id) - 1 as bigint) as item_key,
        count(*) over (partition by user_id) as user_degree,
        count(*) over (partition by domain, item_id) as item_degree,
        sum(n_events) over (partition by user_id) as user_events
    from edges
),

final as (
    select
        user_id,
        item_id,
        domain,
        user_key,
        item_key,
        cast(user_degree as bigint) as user_degree,
        cast(item_degree as bigint) as item_degree,
        cast(user_events as bigint) as user_events
    from keyed
)

select * from final
order by user_key, item_key
