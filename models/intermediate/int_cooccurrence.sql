{#- Co-occurrence counts and the unfiltered P_hat(i|j) of the whole train window: macro
    scalr_cooccurrence_sql (macros/scalr_p_hat.sql, shared with int_training_cooccurrence). -#}
{{ scalr_cooccurrence_sql(ref('int_user_items'), ref('int_overlap_users')) }}
