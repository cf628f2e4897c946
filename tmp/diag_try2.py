import sys, duckdb
from scalr.help_diagnostic import DiagnosticConfig, diagnose
for db in sys.argv[1:]:
    c=duckdb.connect(db,read_only=True)
    items=c.sql("select * from int_user_items order by user_id, domain, item_id").df()
    real=items.loc[items.domain_role=="target",["user_id","item_id"]]
    source=items.loc[items.domain_role=="source",["user_id","domain","item_id"]].rename(columns={"domain":"source_domain","item_id":"source_item"})
    tr=c.sql("select source_domain, source_item, target_item, n_users_ji, n_users_j from translation").df()
    syn=c.sql("select user_id,target_item,weight from synthetic_events where label=1 order by all").df()
    r=diagnose(real,source,tr,syn,DiagnosticConfig(max_users=3000)).set_index("scorer")
    print(db, r.n_users.iloc[0], " | ".join(f"{s} {r.recall[s]:.4f} {r.lift_vs_popularity[s]:+.4f} [{r.lift_lo[s]:+.4f},{r.lift_hi[s]:+.4f}]" for s in r.index), flush=True)
