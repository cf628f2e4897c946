{#- Overlap users: at least one source-domain and one target-domain positive in the train window. -#}
{%- if scalr_checks_data() -%}
  {%- set q -%}
    select
        count(distinct case when domain_role = 'source' then user_id end),
        count(distinct case when domain_role = 'target' then user_id end),
        count(distinct user_id),
        (select count(*) from (
            select user_id from {{ ref('int_user_items') }}
            group by user_id
            having count(distinct domain_role) = 2
        ) as o)
    from {{ ref('int_user_items') }}
  {%- endset -%}
  {%- set r = run_query(q).rows[0] -%}
  {%- if r[3] == 0 -%}
    {{ scalr_fail('int_overlap_users', "column user_id: 0 of " ~ r[2] ~ " users (" ~ r[0] ~ " with source, "
        ~ r[1] ~ " with target positives) have positives in both a source and the target domain in the"
        ~ " train window; P_hat(i|j) needs overlapping users") }}
  {%- endif -%}
{%- endif -%}

with

user_items as (
    select * from {{ ref('int_user_items') }}
),

per_user as (
    select
        user_id,
        count(distinct case when domain_role = 'source' then item_id end) as n_source_items,
        count(distinct case when domain_role = 'target' then item_id end) as n_target_items
    from user_items
    group by user_id
),

final as (
    select * from per_user
    where n_source_items > 0 and n_target_items > 0
)

select * from final
