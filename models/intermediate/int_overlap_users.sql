{#- Overlap users of the whole train window: macro scalr_overlap_users_sql (macros/scalr_p_hat.sql,
    shared with int_training_overlap_users); stops the build when there are none. -#}
{{ scalr_overlap_users_sql(ref('int_user_items')) }}
