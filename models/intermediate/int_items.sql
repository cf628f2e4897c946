{#- The item dimension of the co-occurrence models (whole train window): macro scalr_items_sql
    (macros/scalr_p_hat.sql, shared with int_training_items). -#}
{{ scalr_items_sql(ref('int_user_items')) }}
