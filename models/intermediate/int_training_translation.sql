{#- P_hat(i|j) of the training fit (the train window without the early-stopping slice's target
    events) over the integer keys of int_training_items: the same formula as int_translation, macro
    scalr_translation_sql (macros/scalr_p_hat.sql). Generates the ranker's synthetic training rows
    (training_synthetic_events). -#}
-- depends_on: {{ ref('int_training_items') }}
{{ scalr_translation_sql(ref('int_training_cooccurrence'), ref('int_training_items')) }}
