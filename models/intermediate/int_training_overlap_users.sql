{#- int_overlap_users of the training fit: macro scalr_overlap_users_sql (macros/scalr_p_hat.sql). -#}
{{ scalr_overlap_users_sql(ref('int_training_user_items')) }}
