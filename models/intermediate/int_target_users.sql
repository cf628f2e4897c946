{#- The target_keep_users draw, one row per user of stg_events: the one record of which users keep
    their target-domain train events (kept) and which become target-cold (int_events_train drops
    the target train-window events of users not kept; their source and eval-window events stay).
    keep_draw = the first 13 hex digits of md5(keep_seed || ':' || user_id) / 16^13, in [0, 1);
    kept iff keep_draw < target_keep_users (all users at 1.0). Depends only on (user_id, keep_seed):
    not on row order, threads, the window or the other users. Python twin (test oracle):
    scalr.learning.keep_target_users. -#}
{%- set fraction = scalr_var_number('target_keep_users', 'int_target_users', min_value=0, max_value=1) -%}
{%- set seed = scalr_var_number('keep_seed', 'int_target_users', integer=true) -%}

with

users as (
    select distinct user_id from {{ ref('stg_events') }}
),

drawn as (
    select
        user_id,
        {{ scalr_md5_uniform(scalr_sql_list([seed ~ ':']) ~ ' || user_id') }} as keep_draw
    from users
),

final as (
    select
        user_id,
        keep_draw,
        keep_draw < cast({{ fraction }} as double) as kept
    from drawn
)

select * from final
order by user_id
