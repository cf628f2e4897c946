import sys, duckdb, time
from scalr.help_diagnostic import DiagnosticConfig, diagnose
from scalr.factors import FactorConfig
db=sys.argv[1]
c=duckdb.connect(db,read_only=True)
items=c.sql("select * from int_user_items order by user_id, domain, item_id").df()
real=items.loc[items.domain_role=="target",["user_id","item_id"]]
source=items.loc[items.domain_role=="source",["user_id","domain","item_id"]].rename(columns={"domain":"source_domain","item_id":"source_item"})
tr=c.sql("select source_domain, source_item, target_item, n_users_ji, n_users_j from translation").df()
for name,q in [("aligned","select user_id,target_item,weight from synthetic_events_aligned where label=1"),
               ("raw","select user_id,target_item,weight from synthetic_events where label=1")]:
    syn=c.sql(q+" order by all").df()
    for lam in [1.0, 0.3]:
      for alpha in [10.0, 40.0]:
        t=time.time()
        cfg=DiagnosticConfig(max_users=3000, synthetic_lambda=lam, mf=FactorConfig(alpha=alpha) if alpha!=10.0 else FactorConfig())
        out=diagnose(real,source,tr,syn,cfg)
        r=out.set_index("scorer")
        print(name,lam,alpha, f"{time.time()-t:.0f}s", r.n_users.iloc[0], " | ".join(f"{s} {r.recall[s]:.4f} {r.lift_vs_popularity[s]:+.4f} [{r.lift_lo[s]:+.4f},{r.lift_hi[s]:+.4f}]" for s in r.index), flush=True)
