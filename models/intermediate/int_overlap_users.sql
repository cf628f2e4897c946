{#- Overlap users: at least one source-domain and one target-domain positive in the train window.
    int_user_items holds distinct (user, domain, item) rows, so counting rows per role counts
    distinct items; everything groups on the integer user_key. -#}
{%- if scalr_checks_data() -%}
  {%- set q -%}
    select
        sum(case when n_source_items > 0 then 1 else 0 end),
        sum(case when n_target_items > 0 then 1 else 0 end),
        count(*),
        sum(case when n_source_items > 0 and n_target_items > 0 then 1 else 0 end)
    from (
        select
            user_key,
            sum(case when domain_role = 'source' then 1 else 0 end) as n_source_items,
            sum(case when domain_role = 'target' then 1 else 0 end) as n_target_items
        from {{ ref('int_user_items') }}
        group by user_key
    ) as per_user
  {%- endset -%}
  {%- set r = run_query(q).rows[0] -%}
  {%- if (r[3] or 0) == 0 -%}
    {{ scalr_fail('int_overlap_users', "column user_id: 0 of " ~ r[2] ~ " users (" ~ (r[0] or 0) ~ " with source, "
        ~ (r[1] or 0) ~ " with target positives) have positives in both a source and the target domain in the"
        ~ " train window; P_hat(i|j) needs overlapping users") }}
  {%- endif -%}
{%- endif -%}

with

user_items as (
    select * from {{ ref('int_user_items') }}
),

per_user as (
    select
        user_key,
        user_id,
        sum(case when domain_role = 'source' then 1 else 0 end) as n_source_items,
        sum(case when domain_role = 'target' then 1 else 0 end) as n_target_items
    from user_items
    group by user_key, user_id
),

final as (
    select * from per_user
    where n_source_items > 0 and n_target_items > 0
)

select * from final
