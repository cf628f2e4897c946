{#- int_items of the training fit: macro scalr_items_sql (macros/scalr_p_hat.sql). -#}
{{ scalr_items_sql(ref('int_training_user_items')) }}
