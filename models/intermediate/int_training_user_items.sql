{#- int_user_items of the training fit (int_training_events: the train window without the
    early-stopping slice's target events): macro scalr_user_items_sql (macros/scalr_p_hat.sql). -#}
{{ scalr_user_items_sql(ref('int_training_events')) }}
