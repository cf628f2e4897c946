{#- int_cooccurrence of the training fit: macro scalr_cooccurrence_sql (macros/scalr_p_hat.sql). -#}
{{ scalr_cooccurrence_sql(ref('int_training_user_items'), ref('int_training_overlap_users')) }}
